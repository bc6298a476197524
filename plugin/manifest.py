"""The plugin manifest (plugin.yaml): load it, validate it, resolve what it mounts."""

from __future__ import annotations

import importlib
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

__all__ = ["load_manifest", "manifest_schema", "resolve"]


@cache
def manifest_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files("plugin").joinpath("manifest.schema.json").read_text("utf-8")
    )
    return schema


def load_manifest() -> dict[str, Any]:
    """The shipped plugin.yaml, validated (jsonschema.ValidationError says what is wrong)."""
    manifest: dict[str, Any] = yaml.safe_load(
        resources.files("plugin").joinpath("plugin.yaml").read_text("utf-8")
    )
    jsonschema.validate(manifest, manifest_schema())
    return manifest


def resolve(reference: str) -> Any:
    """Import ``package.module:attribute`` as the manifest names it."""
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise ValueError(f"a mount reference looks like module:attribute, got {reference!r}")
    return getattr(importlib.import_module(module_name), attribute)
