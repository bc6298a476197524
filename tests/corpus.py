"""Where the corpus of real emails lies: tests/data/corpus, in the repository, so that a
clean clone runs the whole suite (sources and licences in its README.md and LICENSES.md)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CORPUS_DIR", "HTML_EMAILS", "TEXT_EMAILS"]

CORPUS_DIR = Path(__file__).resolve().parent / "data" / "corpus"
HTML_EMAILS = sorted((CORPUS_DIR / "html-email").glob("*.html"))
TEXT_EMAILS = sorted((CORPUS_DIR / "text-email").glob("*.txt"))
