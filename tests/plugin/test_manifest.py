"""plugin.yaml is valid, complete, and names things that exist."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest

from plugin.hooks import HOOK_SPECS
from plugin.manifest import load_manifest, manifest_schema, resolve
from plugin.settings import load_settings
from workers.broker import ACTOR_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_the_manifest_validates_against_its_schema() -> None:
    manifest = load_manifest()
    assert manifest["id"] == "mailbeacon"


def test_the_root_manifest_is_the_shipped_one() -> None:
    assert (ROOT / "plugin.yaml").read_text() == (ROOT / "plugin" / "plugin.yaml").read_text()


def test_an_invalid_manifest_is_rejected_with_a_reason() -> None:
    manifest = copy.deepcopy(load_manifest())
    del manifest["mounts"]["hooks"]
    manifest["settings"].append({"name": "NOT_OURS", "type": "string"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, manifest_schema())


def test_every_mount_reference_resolves() -> None:
    mounts = load_manifest()["mounts"]
    assert callable(resolve(mounts["graphql"]["schema"]))
    assert callable(resolve(mounts["asgi"]["routes"]))
    assert callable(resolve(mounts["asgi"]["lifespan"]))
    assert resolve(mounts["actors"]["modules"]) == ACTOR_MODULES
    assert resolve(mounts["hooks"]["registry"]) is not None


def test_the_manifest_declares_exactly_the_hooks_that_exist() -> None:
    provided = {hook["name"] for hook in load_manifest()["mounts"]["hooks"]["provided"]}
    assert provided == set(HOOK_SPECS)


def test_every_setting_the_code_reads_is_declared(tmp_path: Path) -> None:
    declared = {item["name"] for item in load_manifest()["settings"]}
    source = (ROOT / "plugin" / "settings.py").read_text()
    import re

    read = {"MAILBEACON_" + name for name in re.findall(r'reader\.\w+\(\s*"([A-Z_]+)"', source)}
    read |= {"MAILBEACON_SECRET_KEY", "MAILBEACON_PREVIOUS_SECRET_KEYS"}
    assert read - declared == set()
    # And the declared defaults load.
    load_settings({"MAILBEACON_DATA_DIR": str(tmp_path)})


def test_secrets_are_marked_secret() -> None:
    settings = {item["name"]: item for item in load_manifest()["settings"]}
    for name in ("MAILBEACON_SECRET_KEY", "MAILBEACON_PREVIOUS_SECRET_KEYS", "MAILBEACON_SMTP_URL"):
        assert settings[name].get("secret") is True
