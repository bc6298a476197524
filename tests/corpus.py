"""Where the shared corpus of real emails lies: ../shared/corpus beside the checkout
(the developers' machines and CI both lay shared/ next to the repository)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CORPUS_DIR", "HTML_EMAILS", "TEXT_EMAILS"]

CORPUS_DIR = Path(
    os.environ.get("MAILBEACON_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
HTML_EMAILS = sorted((CORPUS_DIR / "html-email").glob("*.html"))
TEXT_EMAILS = sorted((CORPUS_DIR / "text-email").glob("*.txt"))
