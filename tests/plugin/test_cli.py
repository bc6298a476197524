"""The mailbeacon command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_DSN, _create_pg_database, _drop_pg_database, free_port

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "plugin" / "migrations" / "models"


def run(
    args: list[str], env: dict[str, str], timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real ``mailbeacon`` command (the console script of this venv)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    command = Path(sys.executable).parent / "mailbeacon"
    return subprocess.run(
        [str(command), *args],
        env={**clean, **env},
        cwd=cwd or ROOT,
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
    assert run(["migrate"], cli_env).returncode == 0
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


def test_the_schema_command_prints_the_sdl_and_creates_nothing(tmp_path: Path) -> None:
    result = run(["schema"], {}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "type Query" in result.stdout and "sendEmail(input: SendEmailInput!)" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no ./schema.graphql, no ./var/secret_key
    written = run(["schema", "--output", "out.graphql"], {}, cwd=tmp_path)
    assert written.returncode == 0
    assert (tmp_path / "out.graphql").read_text() == result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["out.graphql"]


def test_version_and_help_for_every_command_and_option() -> None:
    from plugin.cli import _parser

    version = run(["--version"], {})
    assert version.returncode == 0 and version.stdout.startswith("mailbeacon 0.")
    top = run(["--help"], {})
    for command in ("serve", "worker", "migrate", "users", "schema", "purge",
                    "export-recipient"):
        assert command in top.stdout
    for args in (["--help"], ["serve", "--help"], ["users", "revoke", "--help"],
                 ["users", "list", "--help"], ["schema", "--help"]):
        shown = run(args, {})
        assert shown.returncode == 0 and "``" not in shown.stdout

    def walk(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from walk(child)

    for parser in walk(_parser()):
        assert parser.description and "``" not in parser.description, parser.prog
        for action in parser._actions:
            assert action.help, f"{parser.prog} {action.dest} has no help"
            assert "``" not in str(action.help)


def test_users_list_shows_prefixes_that_revoke_takes(cli_env: dict[str, str]) -> None:
    assert run(["migrate"], cli_env).returncode == 0
    token = run(["users", "create", "bo@example.com", "--name", "Bo"], cli_env).stdout.split()[-1]
    listed = run(["users", "list"], cli_env)
    assert listed.returncode == 0, listed.stderr
    assert "bo@example.com" in listed.stdout and "name: Bo" in listed.stdout
    assert "admin: no" in listed.stdout and "last seen: never" in listed.stdout
    assert token not in listed.stdout
    words = listed.stdout.split()
    prefix = next(word for word in words if word.startswith("mb_"))
    assert token.startswith(prefix)

    for wrong in (token[:13], "mb_nothing", token + "x", "x" * 40):
        refused = run(["users", "revoke", wrong], cli_env)
        assert refused.returncode == 2, refused.stdout
        assert "no active token matches" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert token not in refused.stderr

    revoked = run(["users", "revoke", prefix], cli_env)
    assert revoked.returncode == 0 and revoked.stdout.split("\n")[-2] == "revoked 1 token(s)"
    assert prefix not in run(["users", "list"], cli_env).stdout
    again = run(["users", "revoke", prefix], cli_env)
    assert again.returncode == 2 and "no active token matches" in again.stderr


def test_a_command_without_a_database_says_where_it_looked_and_creates_nothing(
    tmp_path: Path,
) -> None:
    for args in (["users", "token", "demo@example.com"], ["users", "list"], ["purge"],
                 ["export-recipient", "a@example.com"]):
        result = run(args, {}, cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        assert str(tmp_path / "var" / "mailbeacon.sqlite3") in result.stderr
        assert "MAILBEACON_DATABASE_URL" in result.stderr
        assert "MAILBEACON_DATA_DIR" in result.stderr
        assert "Traceback" not in result.stderr
        assert list(tmp_path.iterdir()) == []
