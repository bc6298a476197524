"""The corpus tests must never pass by finding no files."""

from __future__ import annotations

from tests.corpus import CORPUS_DIR, HTML_EMAILS, TEXT_EMAILS


def test_the_corpus_is_in_the_repository() -> None:
    assert len(HTML_EMAILS) >= 50, f"no HTML corpus at {CORPUS_DIR}"
    assert len(TEXT_EMAILS) >= 10, f"no text corpus at {CORPUS_DIR}"
