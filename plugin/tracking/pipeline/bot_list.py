"""The maintained list of crawler, bot and HTTP-library user agents, as one fast matcher.

The patterns come from the ``crawler-user-agents`` package (pinned in
pyproject.toml; a community list released about monthly), less the patterns that
``data/bot_list_exclusions.yaml`` leaves out because they match people (image
proxies that fetch when the person opens the mail, browsers whose name contains a
crawler's). Our own rules (``data/user_agents.yaml``) are applied first; this list
catches what they do not know yet.

Most of the 1,500 patterns are plain text. Python's ``re`` tries every alternative
of a flat alternation at every position of the UA (about 1 ms per UA); the plain
ones are therefore merged into one prefix tree (``Googlebot/|Google-Site...`` becomes
``Google(?:bot/|-Site...)``), which brings a search to some 30 µs. The few real
regular expressions stay as they are.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

__all__ = ["BotList", "load_bot_list"]

# A pattern is plain text when it has no regex syntax other than escaped characters.
_REGEX_SYNTAX = re.compile(r"(?<!\\)[\^$.\[\]()|*+?{}]|\\[dDwWsSbBAZz]")


@dataclass(frozen=True)
class BotList:
    """The compiled maintained list; :meth:`matches` says whether a UA is on it."""

    plain: re.Pattern[str]
    #: Patterns anchored at the start (``^curl``): tried at position 0 only.
    anchored: re.Pattern[str]
    regex: re.Pattern[str]
    patterns: tuple[str, ...]
    excluded: tuple[str, ...]

    def matches(self, ua: str) -> bool:
        """Whether ``ua`` matches one of the list's patterns (case-sensitive, as published)."""
        return (
            self.plain.search(ua) is not None
            or self.anchored.match(ua) is not None
            or self.regex.search(ua) is not None
        )

    def matching_patterns(self, ua: str) -> list[str]:
        """Every pattern matching ``ua`` (slow: for tests and for explaining a verdict)."""
        return [pattern for pattern in self.patterns if re.search(pattern, ua)]


def _prefix_tree(words: list[str]) -> str:
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # A word ends here and longer ones go on: the rest is optional.
        return f"(?:{body})?" if "" in node else body

    return emit(root) or "(?!)"


def _exclusions() -> dict[str, str]:
    text = (
        resources.files("plugin.tracking.pipeline")
        .joinpath("data/bot_list_exclusions.yaml")
        .read_text("utf-8")
    )
    raw = yaml.safe_load(text)
    entries = raw.get("exclude") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("pattern"), str) and e.get("why")
        for e in entries
    ):
        raise ValueError("bot_list_exclusions.yaml: 'exclude' must list {pattern, why} entries")
    return {str(e["pattern"]): str(e["why"]) for e in entries}


def published_patterns() -> list[str]:
    """Every pattern of the installed ``crawler-user-agents`` release, in its order."""
    # Imported here: the package reads its JSON when imported, which only the first
    # classification should pay.
    import crawleruseragents

    return [str(entry["pattern"]) for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA]


@functools.cache
def load_bot_list() -> BotList:
    """Compile the maintained list less our exclusions (once, on first use).

    ``ValueError`` when an exclusion names a pattern the release no longer has:
    the exclusions must be reviewed with each update of the package.
    """
    published = published_patterns()
    excluded = _exclusions()
    stale = sorted(set(excluded) - set(published))
    if stale:
        raise ValueError(f"bot_list_exclusions.yaml names patterns not in the list: {stale}")
    kept = [pattern for pattern in published if pattern not in excluded]
    plain = [re.sub(r"\\(.)", r"\1", p) for p in kept if not _REGEX_SYNTAX.search(p)]
    regexes = [p for p in kept if _REGEX_SYNTAX.search(p)]
    # "^a|b" is not anchored as a whole: only patterns without a top-level choice qualify.
    anchored = [p for p in regexes if p.startswith("^") and "|" not in p]
    floating = [p for p in regexes if p not in anchored]
    return BotList(
        plain=re.compile(_prefix_tree(plain)),
        anchored=re.compile("|".join(f"(?:{p[1:]})" for p in anchored) or "(?!)"),
        regex=re.compile("|".join(f"(?:{p})" for p in floating) or "(?!)"),
        patterns=tuple(kept),
        excluded=tuple(excluded),
    )
