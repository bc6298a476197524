"""Storage: the Tortoise configuration, opening a context, and native migrations.

Tortoise's own migrations store operations, not SQL, so one migration set works
on SQLite (embedded) and PostgreSQL (distributed) alike.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as run_migrations
from tortoise.migrations.executor import MigrationExecutor

from plugin.errors import DatabaseNotMigratedError
from plugin.private_files import private_dir, private_sqlite_file
from plugin.settings import Settings

__all__ = [
    "MODEL_MODULES",
    "database_unavailable",
    "ensure_migrated",
    "migrate",
    "open_orm",
    "pending_migrations",
    "tortoise_config",
]

APP_LABEL = "models"
MODEL_MODULES = [
    "plugin.accounts.models",
    "plugin.preferences.models",
    "plugin.sending.models",
    "plugin.tracking.models",
    "plugin.notifications.models",
    "plugin.mailboxes.models",
    "consent.models",
]
# SQLite: concurrent writers (the app and in-process workers) wait instead of failing.
_SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_transactions_take_the_write_lock_first() -> None:
    """Make Tortoise's SQLite transactions ``BEGIN IMMEDIATE``.

    A deferred SQLite transaction that reads and then writes fails at once with
    "database is locked" when another connection (the in-process workers) wrote
    meanwhile: the busy timeout does not apply to that lock upgrade. Taking the
    write lock at BEGIN makes such transactions wait their turn instead.
    """
    from tortoise.backends.sqlite.client import SqliteTransactionWrapper
    from tortoise.exceptions import TransactionManagementError

    if getattr(SqliteTransactionWrapper, "_mailbeacon_immediate", False):
        return

    async def begin(self: SqliteTransactionWrapper) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc

    SqliteTransactionWrapper.begin = begin  # type: ignore[method-assign]
    SqliteTransactionWrapper._mailbeacon_immediate = True  # type: ignore[attr-defined]


_sqlite_transactions_take_the_write_lock_first()


def _failed_begin_gives_the_connection_back() -> None:
    """Give a pooled transaction's connection back when its BEGIN fails.

    Tortoise (1.1.9) takes the connection from the pool and then sends BEGIN
    outside the try/finally that releases it. A connection that PostgreSQL cut
    while it idled in the pool (a restart) is only found dead at that BEGIN, so
    each outage could keep one connection out of the pool for good; once the
    pool's five were gone, every transaction of the process (a worker's hit
    consumer, its actors) waited forever, and its SIGTERM waited for them.
    """
    from tortoise.backends.base.client import TransactionContextPooled
    from tortoise.connection import get_connections

    if getattr(TransactionContextPooled, "_mailbeacon_release_on_failed_begin", False):
        return
    enter = TransactionContextPooled.__aenter__

    async def __aenter__(self: TransactionContextPooled) -> Any:
        before = self.client._connection
        try:
            return await enter(self)
        except BaseException:
            taken = self.client._connection
            pool = self.client._parent._pool
            if taken is not None and taken is not before and pool is not None:
                # A dead connection is closed, not reused; the BEGIN's error is the one raised.
                with contextlib.suppress(Exception):
                    await pool.release(taken)
            token = getattr(self, "token", None)
            if token is not None:
                get_connections().reset(token)
            raise

    TransactionContextPooled.__aenter__ = __aenter__  # type: ignore[method-assign]
    TransactionContextPooled._mailbeacon_release_on_failed_begin = True  # type: ignore[attr-defined]


_failed_begin_gives_the_connection_back()


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what raised it) says the database cannot be reached right now
    (refused, cut, shutting down or starting up), rather than a fault of the request."""
    from asyncpg.exceptions import OperatorInterventionError, PostgresConnectionError

    down = (OSError, TimeoutError, PostgresConnectionError, OperatorInterventionError)
    seen: BaseException | None = exc
    for _ in range(5):  # the driver's error is at most a few causes down
        if seen is None:
            return False
        if isinstance(seen, down):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def database_url(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").split("?", 1)[0]
        if path != ":memory:":
            _prepare_sqlite_file(Path(path), settings.data_dir)
        if "busy_timeout" not in url:
            url += ("&" if "?" in url else "?") + f"busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}"
    return url


def _prepare_sqlite_file(path: Path, data_dir: Path) -> None:
    # The data dir (and a folder we create for the database) is private; a folder the
    # operator chose for it elsewhere is left as it is, the file itself is made private.
    if path.parent.resolve() == data_dir.resolve() or not path.parent.exists():
        private_dir(path.parent)
    private_sqlite_file(path)


def _connection(url: str) -> str | dict[str, Any]:
    """The default connection: the URL, with PostgreSQL sessions planning every statement
    for its own parameters.

    The recording, bell and sending statements take whole batches as array parameters,
    and asyncpg prepares each statement once per connection. By default PostgreSQL
    switches a prepared statement to one generic plan after five runs, fixed whatever
    the arrays and the tables' size hold later: a plan made while the events table was
    nearly empty (a sequential scan per looked-up client) took seconds a batch once it
    held a few thousand rows (bench/README.md). Planning anew costs well under a
    millisecond a statement.
    """
    if not url.startswith("postgres://"):
        return url
    config = expand_db_url(url)
    credentials = config["credentials"]
    credentials["server_settings"] = {
        **credentials.get("server_settings", {}),
        "plan_cache_mode": "force_custom_plan",
    }
    return config


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """The Tortoise configuration for these settings (also used by the `tortoise` CLI)."""
    return {
        "connections": {"default": _connection(database_url(settings))},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "plugin.migrations.models",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _cli_config() -> dict[str, Any]:
    from plugin.settings import load_settings

    return tortoise_config(load_settings())


def __getattr__(name: str) -> Any:
    # `tortoise -c plugin.db.TORTOISE_ORM makemigrations` reads the config lazily from the env.
    if name == "TORTOISE_ORM":
        return _cli_config()
    raise AttributeError(name)


async def pending_migrations(settings: Settings) -> list[str]:
    """Names of the migrations not yet applied to the configured database."""
    config = tortoise_config(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config, init_connections=False)
        executor = MigrationExecutor(get_connection("default"), config["apps"])
        plan = await executor.plan()
        return [step.migration.name for step in plan if not step.backward]


async def migrate(settings: Settings) -> list[str]:
    """Apply every pending migration; return what was applied."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event.endswith("_done") or event in ("apply_end", "applied"):
            applied.append(name)

    async with TortoiseContext():
        await run_migrations(config=tortoise_config(settings), progress=progress)
    return applied


async def ensure_migrated(settings: Settings) -> None:
    """Refuse an unmigrated database; an embedded SQLite file is migrated in place."""
    pending = await pending_migrations(settings)
    if not pending:
        return
    if settings.is_sqlite:
        await migrate(settings)
        return
    target = urlsplit(settings.database_url)
    raise DatabaseNotMigratedError(
        f"the database {target.hostname}{target.path} has {len(pending)} unapplied "
        f"migration(s) ({', '.join(pending)}): run `mailbeacon migrate` first"
    )


@asynccontextmanager
async def open_orm(
    settings: Settings, *, global_fallback: bool = True
) -> AsyncIterator[TortoiseContext]:
    """Open Tortoise for this process (or this worker loop) and close it afterwards.

    ``global_fallback`` makes the context visible from every task, which the ASGI
    server needs (its lifespan runs in another task than requests). Only one such
    context may exist per process; worker loops open theirs without it.
    """
    ctx = await Tortoise.init(
        config=tortoise_config(settings), _enable_global_fallback=global_fallback
    )
    try:
        yield ctx
    finally:
        await ctx.close_connections()
