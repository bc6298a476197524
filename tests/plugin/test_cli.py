"""The mailbeacon command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_DSN, _create_pg_database, _drop_pg_database, free_port

MIGRATIONS = Path(__file__).parents[2] / "plugin" / "migrations" / "models"


def run(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    return subprocess.run(
        [sys.executable, "-m", "plugin.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"MAILBEACON_DATA_DIR": str(tmp_path), "MAILBEACON_ENV": "test"}


def test_users_create_prints_the_token_last_and_tokens_can_be_issued_and_revoked(
    cli_env: dict[str, str],
) -> None:
    created = run(["users", "create", "Ann@Example.com", "--name", "Ann", "--admin"], cli_env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("mb_") and len(token) > 40
    assert "ann@example.com" in created.stdout and "admin" in created.stdout

    again = run(["users", "token", "ann@example.com"], cli_env)
    second = again.stdout.strip().splitlines()[-1]
    assert second.startswith("mb_") and second != token

    revoked = run(["users", "revoke", second], cli_env)
    assert revoked.stdout.strip().splitlines()[-1] == "revoked 1 token(s)"

    duplicate = run(["users", "create", "ann@example.com"], cli_env)
    assert duplicate.returncode == 2
    assert "exists" in duplicate.stderr and "Traceback" not in duplicate.stderr


def test_bad_settings_are_a_clear_error_not_a_traceback(cli_env: dict[str, str]) -> None:
    result = run(["migrate"], {**cli_env, "MAILBEACON_PORT": "eighty", "MAILBEACON_ENV": "prod"})
    assert result.returncode == 2
    assert "MAILBEACON_PORT" in result.stderr and "MAILBEACON_ENV" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_without_a_secret_key(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "MAILBEACON_ENV": "production",
        "MAILBEACON_PUBLIC_URL": "https://t.example.com",
    }
    result = run(["serve", "--port", str(free_port())], env)
    assert result.returncode == 2
    assert "MAILBEACON_SECRET_KEY is required in production" in result.stderr


def test_several_server_processes_need_redis(cli_env: dict[str, str]) -> None:
    result = run(["serve", "--workers", "2"], cli_env)
    assert result.returncode == 2
    assert "needs Redis" in result.stderr


async def test_serve_refuses_an_unmigrated_postgresql_database_until_migrate(
    cli_env: dict[str, str],
) -> None:
    name = f"mbtest_cli_{uuid.uuid4().hex[:8]}"
    await _create_pg_database(name)
    try:
        env = {**cli_env, "MAILBEACON_DATABASE_URL": f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"}
        refused = run(["serve", "--port", str(free_port())], env)
        assert refused.returncode == 2
        assert "run `mailbeacon migrate` first" in refused.stderr
        migrated = run(["migrate"], env)
        assert migrated.returncode == 0, migrated.stderr
        every = sorted(p.stem for p in MIGRATIONS.glob("0*.py"))
        assert f"applied {len(every)} migration(s): {', '.join(every)}" in migrated.stdout
        assert "applied 0 migration(s)" in run(["migrate"], env).stdout
    finally:
        await _drop_pg_database(name)


def test_the_schema_command_prints_the_sdl(cli_env: dict[str, str]) -> None:
    result = run(["schema", "--output", "-"], cli_env)
    assert result.returncode == 0
    assert "type Query" in result.stdout and "sendEmail(input: SendEmailInput!)" in result.stdout
