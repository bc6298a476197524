"""Checks a command runs before it starts: can the database, Redis and the port be used?

Each failure is a ``ServiceError`` naming what could not be used (host and
port, database name) and what to do, so that the command line prints one
clear message instead of a driver's traceback: an unreachable host, a refused
login, a PostgreSQL database that does not exist, an SQLite file that is not
there, Redis not answering, an address already in use.
"""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from plugin.errors import (
    AddressInUseError,
    DatabaseAuthError,
    DatabaseMissingError,
    DatabaseUnreachableError,
    RedisUnreachableError,
)
from plugin.settings import Settings

__all__ = ["check_address_free", "check_database", "check_redis", "sqlite_path"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
_POINT_ELSEWHERE = (
    "point MAILBEACON_DATABASE_URL at the database to use (or MAILBEACON_DATA_DIR at the "
    "folder that holds mailbeacon.sqlite3)"
)


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file of these settings (None for PostgreSQL or an in-memory database)."""
    if not settings.is_sqlite:
        return None
    path = settings.database_url.removeprefix("sqlite://").split("?", 1)[0]
    return None if path == ":memory:" else Path(path)


async def check_database(settings: Settings, *, may_create: bool) -> None:
    """Raise a ServiceError unless the configured database can be opened.

    ``may_create``: an SQLite file may be created (``serve`` and ``migrate`` do);
    other commands must find it. A PostgreSQL database is never created.
    """
    path = sqlite_path(settings)
    if settings.is_sqlite:
        if path is not None and not may_create and not path.is_file():
            raise DatabaseMissingError(
                f"no database at {path}: run `mailbeacon migrate` to create it there, or "
                + _POINT_ELSEWHERE
            )
        return
    await _check_postgres(settings.database_url)


async def _check_postgres(url: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    user = unquote(parts.username or "postgres")
    name = unquote(parts.path.lstrip("/")) or user
    where = f"{host}:{port}"
    try:
        conn = await asyncpg.connect(
            host=parts.hostname or None,
            port=port,
            user=user,
            password=unquote(parts.password) if parts.password else None,
            database=name,
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except asyncpg.InvalidCatalogNameError:
        raise DatabaseMissingError(
            f"the PostgreSQL server at {where} has no database named {name!r}: create it "
            f"(e.g. createdb -h {host} -p {port} -U {user} {name}), then run "
            "`mailbeacon migrate`; or " + _POINT_ELSEWHERE
        ) from None
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise DatabaseAuthError(
            f"the PostgreSQL server at {where} refused user {user!r} for database {name!r} "
            f"({_first_line(exc)}): check the user and password in MAILBEACON_DATABASE_URL"
        ) from None
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnreachableError(
            f"cannot reach the PostgreSQL server at {where} (database {name!r}): "
            f"{_reason(exc)}; check that it runs and that MAILBEACON_DATABASE_URL names it"
        ) from None
    except asyncpg.PostgresError as exc:
        raise DatabaseUnreachableError(
            f"the PostgreSQL server at {where} refused the connection to database {name!r}: "
            f"{_first_line(exc)}"
        ) from None
    await conn.close()


async def check_redis(url: str) -> None:
    """Raise RedisUnreachableError unless Redis at ``url`` answers a PING."""
    from redis.asyncio import Redis
    from redis.exceptions import AuthenticationError, RedisError

    parts = urlsplit(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
    client = Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=CONNECT_TIMEOUT_SECONDS
    )
    try:
        await client.ping()
        await _warn_without_persistence(client, where)
    except AuthenticationError as exc:
        raise RedisUnreachableError(
            f"Redis at {where} refused the login ({_first_line(exc)}): check the password in "
            "MAILBEACON_REDIS_URL"
        ) from None
    except (RedisError, OSError, TimeoutError) as exc:
        raise RedisUnreachableError(
            f"cannot reach Redis at {where}: {_reason(exc)}; check that it runs and that "
            "MAILBEACON_REDIS_URL names it"
        ) from None
    finally:
        await client.aclose()


async def _warn_without_persistence(client: Any, where: str) -> None:
    """Say once at start when Redis keeps no append-only file: a restart of it then loses
    the hits answered but not yet recorded and every queued job (README: "Running it
    distributed")."""
    from redis.exceptions import ResponseError

    try:
        info = await client.info("persistence")
    except ResponseError:  # INFO renamed or refused (some managed services): cannot tell
        return
    if str(info.get("aof_enabled", "1")) == "0":
        log.warning(
            "Redis at %s keeps no append-only file (appendonly no): if it restarts, hits "
            "answered but not yet recorded and queued jobs are lost; set appendonly yes",
            where,
        )


def check_address_free(host: str, port: int) -> None:
    """Raise AddressInUseError if something already listens on ``host:port``.

    granian binds with SO_REUSEPORT, so a second server on the same port would
    start and silently share the port's connections with the first one.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise AddressInUseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            # SO_REUSEADDR: a port whose old connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise AddressInUseError(
                        f"the address {host}:{port} is in use (another mailbeacon serve, or "
                        "another program, listens there): stop it or choose another port with "
                        "--port or MAILBEACON_PORT"
                    ) from None
                raise AddressInUseError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                ) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS:.0f} s"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        return "connection refused (nothing listens there)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _first_line(exc)
