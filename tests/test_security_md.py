"""SECURITY.md names the tests that show each defence: every one of them must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def test_every_test_named_in_security_md_exists() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    references = REFERENCE.findall(text)
    assert len(references) > 30
    missing = [
        f"{path}::{name}"
        for path, name in references
        if not (ROOT / path).is_file()
        or re.search(rf"^(?:async )?def {name}\(", (ROOT / path).read_text(), re.M) is None
    ]
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"
