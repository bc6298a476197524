"""Settings: defaults that run, clear messages for everything wrong, secrets handled."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.errors import SettingsError
from plugin.settings import load_settings


def test_development_defaults_run_embedded_and_keep_a_generated_key(tmp_path: Path) -> None:
    settings = load_settings({"MAILBEACON_DATA_DIR": str(tmp_path)})
    assert settings.env == "development"
    assert settings.embedded and settings.is_sqlite
    assert settings.database_url == f"sqlite://{tmp_path / 'mailbeacon.sqlite3'}"
    key = settings.secret_keys[0]
    assert len(key) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    # A second start reuses the same key: tokens in mail already sent keep verifying.
    assert load_settings({"MAILBEACON_DATA_DIR": str(tmp_path)}).secret_keys[0] == key


def test_production_refuses_to_start_without_a_real_secret(tmp_path: Path) -> None:
    env = {
        "MAILBEACON_ENV": "production",
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_PUBLIC_URL": "https://t.example.com",
    }
    with pytest.raises(SettingsError, match="SECRET_KEY is required in production"):
        load_settings(env)
    with pytest.raises(SettingsError, match="at least 32 characters"):
        load_settings({**env, "MAILBEACON_SECRET_KEY": "short"})
    settings = load_settings({**env, "MAILBEACON_SECRET_KEY": "k" * 40})
    assert settings.secret_keys == ("k" * 40,)
    assert not (tmp_path / "secret_key").exists()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "MAILBEACON_DATA_DIR": str(tmp_path),
                "MAILBEACON_ENV": "staging",
                "MAILBEACON_PORT": "eighty",
                "MAILBEACON_DATABASE_URL": "mysql://x",
                "MAILBEACON_TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip",
                "MAILBEACON_SCANNER_WINDOW_SECONDS": "-3",
                "MAILBEACON_PUBLIC_URL": "javascript:alert(1)",
                "MAILBEACON_CONSENT_POLICIES": "EU=maybe",
                "MAILBEACON_TRACK_TEXT_LINKS": "perhaps",
            }
        )
    text = str(caught.value)
    for name in (
        "ENV",
        "PORT",
        "DATABASE_URL",
        "TRUSTED_PROXIES",
        "SCANNER_WINDOW_SECONDS",
        "PUBLIC_URL",
        "CONSENT_POLICIES",
        "TRACK_TEXT_LINKS",
    ):
        assert f"MAILBEACON_{name}" in text
    assert len(caught.value.problems) == 8


def test_secrets_never_appear_in_error_messages(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {"MAILBEACON_DATA_DIR": str(tmp_path), "MAILBEACON_SECRET_KEY": "hunter2-secret"}
        )
    assert "hunter2" not in str(caught.value)


def test_key_rotation_keeps_older_keys_for_verification(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "MAILBEACON_DATA_DIR": str(tmp_path),
            "MAILBEACON_SECRET_KEY": "n" * 40,
            "MAILBEACON_PREVIOUS_SECRET_KEYS": "o" * 40 + ", " + "p" * 40,
        }
    )
    assert settings.secret_keys == ("n" * 40, "o" * 40, "p" * 40)


def test_trusted_proxies_and_policies_parse(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "MAILBEACON_DATA_DIR": str(tmp_path),
            "MAILBEACON_TRUSTED_PROXIES": "127.0.0.1/32, 10.0.0.0/8,::1",
            "MAILBEACON_CONSENT_POLICIES": "eu=opt-in,US=none",
            "MAILBEACON_DATABASE_URL": "postgresql://u@db/mb",
        }
    )
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert dict(settings.consent_policies) == {"EU": "opt-in", "US": "none"}
    assert not settings.is_sqlite
