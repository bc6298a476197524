"""The ``mailbeacon`` command line: serve, worker, migrate, users, schema."""

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
        count = await service.revoke_token(args.token)
        return f"revoked {count} token(s)"

    action = {"create": create, "token": token, "revoke": revoke}[args.users_command]
    # The token (or result) is the last line of standard output, for scripts.
    print(_run(lambda s: _with_orm(s, action), settings))
    return 0


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    from graphql_schema.schema import schema_sdl

    sdl = schema_sdl()
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl)
        print(f"wrote {args.output}")
    return 0


async def _prepare_serve(settings: Settings, base: str) -> None:
    """Migrate an embedded database; in development, make a demo user on first start."""
    from plugin.accounts import service
    from plugin.accounts.models import User

    async def demo() -> None:
        if settings.env != "development" or await User.exists():
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

    from plugin.composition import start_runtime
    from plugin.tracking.pipeline import start_consumer

    if settings.embedded:
        print(
            "error: `mailbeacon worker` consumes from Redis: set MAILBEACON_REDIS_URL "
            "(in the embedded mode `serve` runs the workers itself)",
            file=sys.stderr,
        )
        return 2
    runtime = start_runtime(settings, embedded_worker=False)
    # worker_timeout: how long an idle consumer waits before looking again. Dramatiq backs
    # off up to it on an empty queue, so it bounds the delay of a lone open after a quiet
    # spell (1 s measured a p99 of 475 ms to live subscribers; 50 ms, 51 ms).
    worker = dramatiq.Worker(runtime.broker, worker_threads=args.threads, worker_timeout=50)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    # Hits come from the Redis hit stream, batched at this consumer; Dramatiq runs the rest.
    consumer = start_consumer(runtime)
    print(f"mailbeacon worker: {args.threads} thread(s) on {settings.redis_prefix}", flush=True)
    stop.wait()
    consumer.stop()  # records and acknowledges the batch in hand, returns what it cannot
    worker.stop(timeout=10_000)
    runtime.broker.close()
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailbeacon", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP and WebSocket server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes (needs Redis above 1)"
    )
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser("worker", help="run Dramatiq workers against Redis")
    worker.add_argument("--threads", type=int, default=8)
    worker.set_defaults(handler=cmd_worker)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(handler=cmd_migrate)

    users = sub.add_parser("users", help="manage users and API tokens")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user and print its API token last")
    create.add_argument("email")
    create.add_argument("--name", default=None)
    create.add_argument("--admin", action="store_true")
    token = users_sub.add_parser("token", help="issue another API token for a user")
    token.add_argument("email")
    revoke = users_sub.add_parser("revoke", help="revoke a token (whole, or by its listed prefix)")
    revoke.add_argument("token")
    users.set_defaults(handler=cmd_users)

    schema = sub.add_parser("schema", help="print or write the GraphQL schema (SDL)")
    schema.add_argument("--output", "-o", default="schema.graphql", help="file, or - for stdout")
    schema.set_defaults(handler=cmd_schema)

    purge = sub.add_parser("purge", help="delete tracking events past the retention period")
    purge.set_defaults(handler=cmd_purge)
    export = sub.add_parser(
        "export-recipient", help="print a recipient's tracking data and consent history as JSON"
    )
    export.add_argument("email")
    export.set_defaults(handler=cmd_export_recipient)
    return parser


def _prepare_process(settings: Settings, command: str) -> None:
    """Logging for every command; shared metrics for the long-running ones."""
    from plugin.observability.logs import configure_logging

    configure_logging(settings)
    if command in ("serve", "worker") and settings.metrics_dir is not None:
        from plugin.observability.multiprocess import enable

        enable(settings.metrics_dir)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        # The app (and PUBLIC_URL's default) read these from the environment, in every
        # server process uvicorn starts: pass the command line on that way.
        if args.host:
            os.environ["MAILBEACON_HOST"] = args.host
        if args.port:
            os.environ["MAILBEACON_PORT"] = str(args.port)
    try:
        settings = load_settings()
        _prepare_process(settings, args.command)
        return int(args.handler(settings, args))
    except MailbeaconError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
