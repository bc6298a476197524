"""Jinja2 templates of the consent module, with English and Italian wording.

Templates live in ``consent/templates``; a deployment overrides any of them by
putting a file of the same name in ``$MAILBEACON_DATA_DIR/templates/consent/``
(looked up first). HTML templates are autoescaped.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from consent.messages import MESSAGES

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "environment", "pick_language", "render"]

DEFAULT_LANGUAGE = "en"
LANGUAGES = frozenset(MESSAGES)


def pick_language(accept_language: str | None) -> str:
    """The best supported language for an ``Accept-Language`` header; English by default.

    Honours q-values (``q=0`` excludes); ``it-CH`` matches ``it``.
    """
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, item in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        language = tag.strip().lower().split("-")[0]
        # Earlier entries win ties, as the header lists preferences in order.
        if language in LANGUAGES and q > best_q and position < 50:
            best, best_q = language, q
    return best


@cache
def environment(data_dir: Path) -> Environment:
    """The template environment: overrides in ``data_dir/templates/consent`` first."""
    return Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(data_dir / "templates" / "consent")),
                PackageLoader("consent", "templates"),
            ]
        ),
        autoescape=select_autoescape(["html"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(data_dir: Path, name: str, language: str, **context: object) -> str:
    """Render template ``name`` with the wording ``t`` of ``language``."""
    words = MESSAGES.get(language, MESSAGES[DEFAULT_LANGUAGE])
    return environment(data_dir).get_template(name).render(t=words, lang=language, **context)
