"""What an operator gets wrong: one clear message naming what failed, no traceback, exit 2.

Each case runs the real ``mailbeacon`` command in a subprocess.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_DSN, _create_pg_database, _drop_pg_database, free_port
from tests.plugin.test_cli import run

PG_BASE = PG_ADMIN_DSN.rsplit("/", 1)[0]  # postgresql://postgres@127.0.0.1:5432


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"MAILBEACON_DATA_DIR": str(tmp_path), "MAILBEACON_ENV": "test"}


def refused(args: list[str], env: dict[str, str], *expected: str) -> str:
    result = run(args, env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["migrate"], ["users", "list"]])
def test_an_unreachable_database_host_is_named(env: dict[str, str], command: list[str]) -> None:
    if command[0] == "serve":
        command = ["serve", "--port", str(free_port())]
    port = free_port()  # nothing listens there
    bad = {**env, "MAILBEACON_DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/mb_x"}
    message = refused(command, bad, f"127.0.0.1:{port}", "cannot reach", "'mb_x'",
                      "connection refused")
    assert "migration" not in message
    unknown = {**env, "MAILBEACON_DATABASE_URL": "postgres://nowhere.invalid:1/x"}
    refused(command, unknown, "nowhere.invalid:1", "unknown host")


def test_a_refused_login_is_its_own_message(env: dict[str, str]) -> None:
    role = f"mb_nobody_{uuid.uuid4().hex[:6]}"
    bad = {**env, "MAILBEACON_DATABASE_URL": f"postgres://{role}@127.0.0.1:5432/postgres"}
    for command in (["migrate"], ["users", "list"]):
        refused(command, bad, "refused user", role, "127.0.0.1:5432", "MAILBEACON_DATABASE_URL")


def test_a_missing_postgresql_database_is_not_created(env: dict[str, str]) -> None:
    name = f"mbtest_missing_{uuid.uuid4().hex[:8]}"
    bad = {**env, "MAILBEACON_DATABASE_URL": f"{PG_BASE}/{name}"}
    for command in (["migrate"], ["serve", "--port", str(free_port())], ["purge"]):
        refused(command, bad, f"no database named '{name}'", "127.0.0.1:5432", "createdb")


async def test_an_unmigrated_database_is_its_own_message(env: dict[str, str]) -> None:
    name = f"mbtest_unmigrated_{uuid.uuid4().hex[:8]}"
    await _create_pg_database(name)
    try:
        bad = {**env, "MAILBEACON_DATABASE_URL": f"{PG_BASE}/{name}"}
        refused(["users", "list"], bad, "unapplied migration", "mailbeacon migrate")
    finally:
        await _drop_pg_database(name)


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_unreachable_redis_is_named(env: dict[str, str], command: list[str]) -> None:
    assert run(["migrate"], env).returncode == 0
    port = free_port()
    bad = {**env, "MAILBEACON_REDIS_URL": f"redis://127.0.0.1:{port}/0",
           "MAILBEACON_PORT": str(free_port())}
    refused(command, bad, f"Redis at 127.0.0.1:{port}", "cannot reach", "MAILBEACON_REDIS_URL")


def test_a_port_in_use_is_refused(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused(["serve", "--port", str(port)], env, f"127.0.0.1:{port}", "in use")


def test_bad_settings_list_every_problem(env: dict[str, str]) -> None:
    bad = {**env, "MAILBEACON_LOG_FORMAT": "xml", "MAILBEACON_METRICS_TOKEN": "short",
           "MAILBEACON_ACCESS_LOG": "maybe"}
    result = run(["serve"], bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for name in ("MAILBEACON_LOG_FORMAT", "MAILBEACON_METRICS_TOKEN", "MAILBEACON_ACCESS_LOG"):
        assert name in result.stderr
