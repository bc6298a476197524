"""The ``mailbeacon`` command line: serve, worker, migrate, users, schema, purge, export."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from plugin.errors import MailbeaconError
from plugin.observability.logs import logging_config
from plugin.settings import Settings, load_settings

__all__ = ["main"]

log = logging.getLogger("mailbeacon")

EXAMPLE_QUERY = "{ me { email } trackingPreferences { openTrackingEnabled defaultTrackOpens } }"


def _run(coro_fn: Callable[[Settings], Coroutine[Any, Any, Any]], settings: Settings) -> Any:
    return asyncio.run(coro_fn(settings))


async def _with_orm(settings: Settings, fn: Callable[[], Awaitable[Any]]) -> Any:
    from plugin.db import ensure_migrated, open_orm

    await ensure_migrated(settings)
    async with open_orm(settings):
        return await fn()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from plugin.db import migrate, pending_migrations

    async def run(s: Settings) -> list[str]:
        pending = await pending_migrations(s)
        if pending:
            await migrate(s)
        return pending

    applied = _run(run, settings)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    from plugin.accounts import service

    async def create() -> str:
        user = await service.create_user(args.email, name=args.name, is_admin=args.admin)
        print(f"created user {user.email} (id {user.id}{', admin' if user.is_admin else ''})")
        return await service.issue_token(user, label="cli")

    async def token() -> str:
        user = await service.get_user_by_email(args.email)
        return await service.issue_token(user, label="cli")

    async def revoke() -> str:
        count = await service.revoke_token(args.prefix)
        return f"revoked {count} token(s)"

    async def listing() -> str:
        return _users_table(await service.list_users())

    actions = {"create": create, "token": token, "revoke": revoke, "list": listing}
    # The token (or result) is the last line of standard output, for scripts.
    print(_run(lambda s: _with_orm(s, actions[args.users_command]), settings))
    return 0


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


def _users_table(users: Sequence[Any]) -> str:
    """One line per user, then one indented line per active token (its prefix first)."""
    if not users:
        return "no users (create one with: mailbeacon users create EMAIL)"
    lines = []
    for user in users:
        lines.append(
            f"{user.email}  name: {user.name or '-'}  admin: {'yes' if user.is_admin else 'no'}"
            f"  created: {_when(user.created_at)}"
        )
        for token in user.tokens:
            lines.append(
                f"    {token.prefix}  label: {token.label or '-'}  created: "
                f"{_when(token.created_at)}  last seen: {_when(token.last_seen_at)}"
            )
        if not user.tokens:
            lines.append("    (no active token)")
    return "\n".join(lines)


def cmd_schema(args: argparse.Namespace) -> int:
    """Print (or write) the SDL; needs no settings, database or data folder."""
    from graphql_schema.schema import schema_sdl

    sdl = schema_sdl()
    if args.output in (None, "-"):
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl)
        print(f"wrote {args.output}")
    return 0


async def _prepare_serve(settings: Settings, base: str) -> None:
    """Migrate an embedded database; in development, make a demo user on first start."""
    from plugin.accounts import repository, service

    async def demo() -> None:
        if settings.env != "development" or await repository.any_user():
            return
        user = await service.create_user("demo@example.com", name="Demo User")
        token = await service.issue_token(user, label="demo")
        console = f"  Console:    {base}/console  (sign in with the token)\n"
        print(
            "\nmailbeacon development setup: created the demo user demo@example.com\n"
            f"  API token:  {token}\n"
            f"{console if settings.console_enabled else ''}"
            f"  GraphiQL:   {base}/graphql  (add the header Authorization: Bearer <token>)\n"
            '  Try:        curl -s -H "Authorization: Bearer $TOKEN" \\\n'
            "                -H 'Content-Type: application/json' \\\n"
            f'                -d \'{{"query":"{EXAMPLE_QUERY}"}}\' {base}/graphql\n',
            flush=True,
        )

    await _with_orm(settings, demo)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    if args.workers > 1 and settings.embedded:
        print(
            "error: --workers above 1 needs Redis (set MAILBEACON_REDIS_URL): the embedded "
            "queue and live events live in one process's memory",
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and settings.is_sqlite:
        print(
            "error: --workers above 1 needs PostgreSQL (MAILBEACON_DATABASE_URL)", file=sys.stderr
        )
        return 2
    host, port = settings.host, settings.port
    _run(lambda s: _prepare_serve(s, f"http://{host}:{port}"), settings)
    # granian: it measured faster than uvicorn on the tracking hot path (bench/README.md).
    # It applies no forwarding headers itself: mailbeacon decides whom to trust
    # (MAILBEACON_TRUSTED_PROXIES). Every worker process builds the app from the environment.
    Granian(
        "plugin.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        loop=Loops.uvloop,
        websockets=True,
        # Our access log (plugin.observability.access_log) elides tokens and client
        # addresses; granian's would print both.
        log_access=False,
        log_dictconfig=logging_config(settings),
    ).serve()
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    import dramatiq

    from plugin.composition import start_hit_consumer, start_runtime
    from plugin.cpu import configure_cpu_pool, shutdown_cpu_pool
    from plugin.heap import freeze_startup_heap
    from workers.periodic import WATCH_SECONDS, restore_lost_chains

    if settings.embedded:
        print(
            "error: `mailbeacon worker` consumes from Redis: set MAILBEACON_REDIS_URL "
            "(in the embedded mode `serve` runs the workers itself)",
            file=sys.stderr,
        )
        return 2
    configure_cpu_pool(settings.cpu_workers, settings.cpu_pool)
    runtime = start_runtime(settings, embedded_worker=False)
    # worker_timeout: how long an idle consumer waits before looking again. Dramatiq backs
    # off up to it on an empty queue (one Lua call per look, per queue and delay queue:
    # eight of them). Live tracking events no longer wait on it (the hit stream's blocking
    # read wakes at once); it bounds when the bell's and the send jobs start after a quiet
    # spell. 200 ms: an idle worker used 7 % of a core at 50 ms, which the serving process
    # shares when both run on one core (bench/README.md, "Open-loop load ladder").
    worker = dramatiq.Worker(runtime.broker, worker_threads=args.threads, worker_timeout=200)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    # Hits come from the Redis hit stream, batched at this consumer; Dramatiq runs the rest.
    consumer = start_hit_consumer(runtime)
    freeze_startup_heap()
    print(f"mailbeacon worker: {args.threads} thread(s) on {settings.redis_prefix}", flush=True)
    while not stop.wait(WATCH_SECONDS):
        try:
            restore_lost_chains(runtime)
        except Exception as exc:  # Redis down: the consumers say so; look again later
            logging.getLogger(__name__).debug("looking for lost schedules failed: %s", exc)
    consumer.stop()  # records and acknowledges the batch in hand, returns what it cannot
    worker.stop(timeout=10_000)
    runtime.broker.close()
    shutdown_cpu_pool()
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    from consent.retention import purge_expired_events

    deleted = _run(lambda s: _with_orm(s, lambda: purge_expired_events(s)), settings)
    print(f"purged {deleted} tracking event(s) older than {settings.event_retention_days} days")
    return 0


def cmd_export_recipient(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from consent.export import export_recipient_data

    data = _run(
        lambda s: _with_orm(s, lambda: export_recipient_data(args.email, None, s)), settings
    )
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return 0


_DESCRIPTION = """\
mailbeacon: email open and click tracking for a CRM.

Settings come from MAILBEACON_* environment variables (see the README); the
database is MAILBEACON_DATABASE_URL, by default the SQLite file
mailbeacon.sqlite3 in MAILBEACON_DATA_DIR (./var).
"""
_EPILOG = "Run 'mailbeacon COMMAND --help' for the options of a command."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbeacon",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of these commands:"
    )

    serve = sub.add_parser(
        "serve", help="run the HTTP and WebSocket server",
        description="Serve GraphQL, the tracking endpoints and the consent pages (granian). "
        "Migrates an embedded SQLite database; refuses an unmigrated PostgreSQL one.",
    )
    serve.add_argument("--host", default=None, help="address to listen on (MAILBEACON_HOST)")
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (MAILBEACON_PORT, 8000)"
    )
    serve.add_argument(
        "--workers", type=int, default=1,
        help="server processes (default 1; more need Redis and PostgreSQL)",
    )
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser(
        "worker", help="run background workers against Redis (distributed mode)",
        description="Consume the queues in Redis: sending, recording hits, notifications.",
    )
    worker.add_argument(
        "--threads", type=int, default=8, help="worker threads in this process (default 8)"
    )
    worker.set_defaults(handler=cmd_worker)

    sub.add_parser(
        "migrate",
        help="apply database migrations (creates an SQLite file, never a PostgreSQL database)",
        description="Apply pending migrations to MAILBEACON_DATABASE_URL. A PostgreSQL "
        "database must exist already (createdb).",
    ).set_defaults(handler=cmd_migrate)

    users = sub.add_parser(
        "users", help="manage users and API tokens",
        description="Create users; issue, list and revoke their API tokens.",
    )
    users_sub = users.add_subparsers(
        dest="users_command", required=True, metavar="ACTION", help="one of these actions:"
    )
    create = users_sub.add_parser(
        "create", help="create a user and print its API token last",
        description="Create a user; its first API token is the last line printed.",
    )
    create.add_argument("email", help="the user's email address (their login)")
    create.add_argument("--name", default=None, help="display name (the sender name of mail)")
    create.add_argument(
        "--admin", action="store_true", help="may erase and export recipients' data"
    )
    token = users_sub.add_parser(
        "token", help="issue another API token for a user",
        description="Issue a new API token for a user; it is the last line printed.",
    )
    token.add_argument("email", help="the user's email address")
    users_sub.add_parser(
        "list", help="list users and their active tokens (by prefix)",
        description="Every user (address, name, admin, created) and each of its active "
        "tokens: the prefix, label, when it was created and last seen.",
    )
    revoke = users_sub.add_parser(
        "revoke", help="revoke a token by the prefix 'users list' shows (or the whole token)",
        description="Revoke one active API token, given by the prefix 'users list' shows "
        "(such as mb_AbC1234) or whole.",
    )
    revoke.add_argument("prefix", metavar="PREFIX", help="a token prefix as listed, or a token")
    users.set_defaults(handler=cmd_users)

    schema = sub.add_parser(
        "schema", help="print the GraphQL schema (SDL)",
        description="Print the GraphQL schema (SDL) to standard output, or write it to a file. "
        "Needs no settings and no database.",
    )
    schema.add_argument(
        "--output", "-o", default=None, metavar="FILE", help="write to FILE instead of stdout"
    )
    schema.set_defaults(handler=None)

    sub.add_parser(
        "purge", help="delete tracking events past the retention period",
        description="Delete tracking events older than MAILBEACON_EVENT_RETENTION_DAYS "
        "(the aggregate figures stay). The server also does it daily.",
    ).set_defaults(handler=cmd_purge)
    export = sub.add_parser(
        "export-recipient", help="print a recipient's tracking data and consent history as JSON",
        description="Print everything stored about one recipient (events, consent history) "
        "as JSON, for a data subject's access request.",
    )
    export.add_argument("email", help="the recipient's email address")
    export.set_defaults(handler=cmd_export_recipient)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mailbeacon")
    except PackageNotFoundError:
        return "unknown"


def _prepare_process(settings: Settings, command: str) -> None:
    """Logging for every command; the allocator and shared metrics for the long-running ones."""
    from plugin.observability.logs import configure_logging

    if command in ("serve", "worker"):
        from plugin.allocator import fix_mmap_threshold

        # Before granian forks its workers: they inherit it.
        fix_mmap_threshold()
    configure_logging(settings)
    if command in ("serve", "worker") and settings.metrics_dir is not None:
        from plugin.observability.multiprocess import enable

        enable(settings.metrics_dir)


# Commands that may create the SQLite database (and the development key beside it).
_CREATING_COMMANDS = ("serve", "migrate")


def _settings_for(command: str) -> Settings:
    """The settings, once what the command needs is known to be reachable.

    Only serve and migrate create an SQLite database (and the development key);
    any other command that finds no database says where it looked and stops.
    """
    from plugin.preflight import check_address_free, check_database, check_redis

    creating = command in _CREATING_COMMANDS
    settings = load_settings(generate_key=creating)
    if command == "serve":
        check_address_free(settings.host, settings.port)
    asyncio.run(check_database(settings, may_create=creating))
    if command in ("serve", "worker") and settings.redis_url:
        asyncio.run(check_redis(settings.redis_url))
    # The database exists: its development key (if any) may be read or made now.
    return settings if creating else load_settings()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "schema":
        return cmd_schema(args)
    if args.command == "serve":
        # The app (and PUBLIC_URL's default) read these from the environment, in every
        # server process granian starts: pass the command line on that way.
        if args.host:
            os.environ["MAILBEACON_HOST"] = args.host
        if args.port:
            os.environ["MAILBEACON_PORT"] = str(args.port)
    try:
        settings = _settings_for(args.command)
        _prepare_process(settings, args.command)
        return int(args.handler(settings, args))
    except MailbeaconError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
