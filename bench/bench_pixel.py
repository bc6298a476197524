"""Benchmark: the pixel and click endpoints against a bare Starlette baseline and nginx.

Run: .venv/bin/python bench/bench_pixel.py [--duration 10] [--connections 64] [--only NAME...]

Needs wrk and (optionally) nginx (``apt-get install -y wrk nginx``), PostgreSQL at
127.0.0.1:5432 and Redis at 127.0.0.1:6379. Every server runs pinned to CPU 0
(``taskset``) and wrk to CPU 1, one after the other, in this run:

- ``bare-uvicorn``: the baseline a user would write (bench/bare_gif_app.py) under
  uvicorn (httptools, uvloop, access log off); ``bare-granian``: the same app under granian;
- ``nginx``: the GIF as a static file (the practical ceiling);
- ``ours-dist-uvicorn`` / ``ours-dist-granian`` (``--no-ws``) / ``ours-dist-granian-ws``
  (WebSockets on, as ``mailbeacon serve`` runs): mailbeacon in distributed mode
  (PostgreSQL, Redis): every answered hit is in Redis before its answer; the
  separate ``mailbeacon worker`` then drains the backlog (after the load, so that
  it does not share wrk's core), or with ``--queued-only`` the hits queued in
  Redis are counted instead;
- ``ours-embedded`` (granian, WebSockets on) / ``ours-embedded-uvicorn``: mailbeacon
  in embedded mode (SQLite, fsynced spool file + in-process workers).

For ours, the stored events are counted afterwards and compared with the hits wrk
saw answered (wrk drops the at most ``connections`` responses in flight when it
stops, so stored - answered lies in [0, connections] per run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    answered: int


@dataclass
class Target:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    ours: str | None = None  # "dist" or "embedded"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def _ms(value: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if found is None:
        return float("nan")
    number, unit = found.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _wrk(url: str, duration: int, connections: int) -> Result:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if errors:
        print(f"    wrk: {errors.group(0)}")
    return Result(rps, p50, p99, total - (int(bad.group(1)) if bad else 0))


async def _prepare(env: dict[str, str]) -> tuple[str, str, int]:
    """Migrate, create a sender with one tracked email; return pixel and click paths, email id."""
    from plugin.accounts.service import create_user
    from plugin.db import migrate, open_orm
    from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
    from plugin.settings import load_settings
    from plugin.tracking.edge.tokens import TokenSigner

    settings = load_settings(env)
    await migrate(settings)  # (each backend in its own process: Tortoise binds one dialect)
    async with open_orm(settings, global_fallback=False) as ctx, ctx:
        user = await create_user(f"bench-{secrets.token_hex(4)}@example.com")
        email = await SentEmail.create(
            user=user, subject="bench", status=EmailStatus.SENT, track_opens=True, track_links=True
        )
        copy = await EmailCopy.create(
            email=email,
            public_id=secrets.token_hex(12),
            status=EmailStatus.SENT,
            envelope_to=["a@example.org"],
        )
        await TrackedLink.create(email=email, position=1, url="https://example.com/landing")
    signer = TokenSigner(settings.secret_keys)
    copy_id = bytes.fromhex(copy.public_id)
    pixel = f"/t/o/{signer.sign_open(copy_id)}.gif"
    click = f"/t/c/{signer.sign_click(copy_id, 1, 'https://example.com/landing')}"
    return pixel, click, email.id


def _prepare_in_child(env: dict[str, str]) -> tuple[str, str, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--prepare"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[-3], out[-2], int(out[-1])


def _forget_redis(prefix: str) -> None:
    from redis import Redis

    client = Redis.from_url(REDIS)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


async def _stored(env: dict[str, str], email_id: int) -> int:
    url = env["MAILBEACON_DATABASE_URL"]
    sql = f"SELECT count(*) FROM mb_tracking_event WHERE email_id = {int(email_id)}"
    if url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            return int(conn.execute(sql).fetchone()[0])
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def _queued(env: dict[str, str]) -> int:
    """Hits queued in Redis (distributed mode), summed over the record messages' batches."""
    import json

    from redis import Redis

    client = Redis.from_url(REDIS)
    try:
        key = f"{env['MAILBEACON_REDIS_PREFIX']}:dramatiq:tracking.msgs"
        return sum(len(json.loads(raw)["args"][0]) for raw in client.hvals(key))
    finally:
        client.close()


def _drain(env: dict[str, str], email_id: int, answered: int, timeout: float = 600) -> int:
    """Wait until the stored count reaches ``answered`` and stops moving."""
    deadline, last, still = time.time() + timeout, -1, 0
    while time.time() < deadline:
        count = asyncio.run(_stored(env, email_id))
        still = still + 1 if count == last else 0
        if count >= answered and still >= 6:
            return count
        last = count
        time.sleep(0.5)
    return last


def _nginx_target(tmp: Path, port: int) -> Target | None:
    if not shutil.which("nginx"):
        return None
    from plugin.tracking.edge.routes import PIXEL_GIF

    www = tmp / "www"
    www.mkdir()
    (www / "pixel.gif").write_bytes(PIXEL_GIF)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;\n"
        "events { worker_connections 4096; }\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:{port}; root {www};\n"
        "  location /t/o/ { default_type image/gif; add_header Cache-Control no-store;"
        " try_files /pixel.gif =404; }\n"
        "  location /t/c/ { return 302 https://example.com/landing; } } }\n"
    )
    return Target("nginx", ["nginx", "-c", str(conf), "-p", str(tmp)])


def _log_config_file(tmp: Path) -> str:
    import json

    sys.path.insert(0, str(ROOT))
    from plugin.observability.logs import logging_config_for

    access = os.environ.get("MAILBEACON_ACCESS_LOG", "true").lower() not in ("0", "false", "no")
    config = logging_config_for(os.environ.get("MAILBEACON_LOG_FORMAT", "text"), access_log=access)
    path = tmp / "logging.json"
    path.write_text(json.dumps(config))
    return str(path)


def _targets(tmp: Path, port: int, dist: dict[str, str], emb: dict[str, str]) -> list[Target]:
    uv = [
        str(BIN / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    gr = [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    ours_uv = [*uv, "--no-proxy-headers", "--lifespan", "on", "--factory", "plugin.app:create_app"]
    # Ours log as `mailbeacon serve` does: the app's access log (MAILBEACON_ACCESS_LOG,
    # on by default) on stderr, in MAILBEACON_LOG_FORMAT.
    log_config = _log_config_file(tmp)
    ours_gr_ws = [*gr, "--log-config", log_config, "--factory", "plugin.app:create_app"]
    ours_gr = [*gr, "--log-config", log_config, "--no-ws", "--factory", "plugin.app:create_app"]
    targets = [
        Target("bare-uvicorn", [*uv, "bare_gif_app:app"], cwd=ROOT / "bench"),
        Target("bare-granian", [*gr, "--no-ws", "bare_gif_app:app"], cwd=ROOT / "bench"),
    ]
    nginx = _nginx_target(tmp, port)
    if nginx:
        targets.append(nginx)
    targets += [
        Target("ours-dist-uvicorn", ours_uv, dist, ours="dist"),
        Target("ours-dist-granian", ours_gr, dist, ours="dist"),
        Target("ours-dist-granian-ws", ours_gr_ws, dist, ours="dist"),
        Target("ours-embedded", ours_gr_ws, emb, ours="embedded"),  # faster than uvicorn
        Target("ours-embedded-uvicorn", ours_uv, emb, ours="embedded"),
    ]
    return targets


def _run_target(
    target: Target, port: int, paths: tuple[str, str], args: argparse.Namespace, email_id: int
) -> dict[str, Result]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **target.env}
    server = subprocess.Popen(["taskset", "-c", "0", *target.command], cwd=target.cwd, env=env)
    results: dict[str, Result] = {}
    try:
        _wait_port(port)
        time.sleep(0.5)
        base = f"http://127.0.0.1:{port}"
        before = asyncio.run(_stored(target.env, email_id)) if target.ours else 0
        warm = _wrk(base + paths[0], 2, args.connections)  # warm-up: stored, not timed
        for label, path in zip(("pixel", "click"), paths, strict=True):
            results[label] = _wrk(base + path, args.duration, args.connections)
            print(
                f"  {target.name:18} {label:5} {results[label].rps:9.0f} req/s  "
                f"p50 {results[label].p50_ms:6.2f} ms  p99 {results[label].p99_ms:6.2f} ms"
            )
        if target.ours == "embedded":
            answered = warm.answered + sum(r.answered for r in results.values())
            stored = _drain(target.env, email_id, before + answered) - before
            print(f"  {target.name:18} stored {stored} events for {answered} answered hits")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    if target.ours == "dist":
        answered = warm.answered + sum(r.answered for r in results.values())
        if args.queued_only:
            queued = _queued(target.env)
            _forget_redis(target.env["MAILBEACON_REDIS_PREFIX"])
            print(f"  {target.name:18} queued {queued} hits for {answered} answered hits")
            return results
        worker = subprocess.Popen(
            [str(BIN / "mailbeacon"), "worker", "--threads", "4"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        start = time.perf_counter()
        stored = _drain(target.env, email_id, before + answered) - before
        seconds = time.perf_counter() - start
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        print(
            f"  {target.name:18} stored {stored} events for {answered} answered hits "
            f"(worker drained the backlog in {seconds:.1f} s)"
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument(
        "--queued-only",
        action="store_true",
        help="distributed: count the hits queued in Redis instead of draining them with a worker",
    )
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        print(*asyncio.run(_prepare(dict(os.environ))))
        return
    tmp = Path(tempfile.mkdtemp(prefix="mbbench-"))
    port = _free_port()
    run = secrets.token_hex(4)
    common = {
        "MAILBEACON_ENV": "test",
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    dist = {
        **common,
        "MAILBEACON_DATA_DIR": str(tmp / "dist"),
        "MAILBEACON_REDIS_URL": REDIS,
        "MAILBEACON_DATABASE_URL": f"{PG}/mbbench_{run}",
        "MAILBEACON_REDIS_PREFIX": f"mbbench:{run}",
    }
    emb = {
        **common,
        "MAILBEACON_DATA_DIR": str(tmp / "emb"),
        "MAILBEACON_DATABASE_URL": f"sqlite://{tmp / 'emb' / 'db.sqlite3'}",
    }
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE mbbench_{run}"],
        check=True,
    )
    try:
        dist_paths = _prepare_in_child(dist)
        emb_paths = _prepare_in_child(emb)
        table: dict[str, dict[str, Result]] = {}
        for target in _targets(tmp, port, dist, emb):
            if args.only and target.name not in args.only:
                continue
            paths, email_id = (
                (emb_paths[:2], emb_paths[2])
                if target.ours == "embedded"
                else (dist_paths[:2], dist_paths[2])
            )
            print(f"{target.name} ...", flush=True)
            table[target.name] = _run_target(target, port, paths, args, email_id)
        _report(table)
    finally:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f"DROP DATABASE IF EXISTS mbbench_{run} WITH (FORCE)",
            ],
            check=False,
        )
        _forget_redis(f"mbbench:{run}")
        shutil.rmtree(tmp, ignore_errors=True)


def _report(table: dict[str, dict[str, Result]]) -> None:
    base = table.get("bare-uvicorn")
    ceiling = table.get("nginx")
    print("\nendpoint target              req/s   p50 ms   p99 ms  vs bare-uvicorn  vs nginx")
    for label in ("pixel", "click"):
        for name, results in table.items():
            r = results[label]
            ratio = f"{r.rps / base[label].rps:6.2f}" if base else "   n/a"
            top = f"{r.rps / ceiling[label].rps:6.2f}" if ceiling else "   n/a"
            print(
                f"{label:8} {name:18} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f}"
                f"           {ratio}    {top}"
            )


if __name__ == "__main__":
    main()
