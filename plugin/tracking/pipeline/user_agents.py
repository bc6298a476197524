"""User-agent rules of the classifier: one compiled pattern per category of
``data/user_agents.yaml`` (a list in data, not code), a predicate per category, and
the maintained crawler list (:mod:`plugin.tracking.pipeline.bot_list`) after our own."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml

from plugin.tracking.pipeline.bot_list import load_bot_list

__all__ = [
    "UserAgentRules",
    "is_crawler",
    "is_headless",
    "is_http_library",
    "is_human_proxy",
    "is_on_bot_list",
    "is_prefetcher",
    "is_scanner_ua",
    "load_user_agent_rules",
    "machine_user_agent_rule",
]

_CATEGORIES = ("human_proxies", "scanners", "headless", "crawlers", "http_libraries", "prefetchers")


@dataclass(frozen=True)
class UserAgentRules:
    """One compiled pattern per category of ``user_agents.yaml``.

    Each pattern is meant for a lowercased UA (see :meth:`matches`), which makes
    the match case-insensitive.
    """

    human_proxies: re.Pattern[str]
    scanners: re.Pattern[str]
    headless: re.Pattern[str]
    crawlers: re.Pattern[str]
    http_libraries: re.Pattern[str]
    prefetchers: re.Pattern[str]

    def matches(self, category: str, ua: str) -> bool:
        """Whether ``ua`` matches ``category`` (one of the YAML's top-level keys)."""
        pattern: re.Pattern[str] = getattr(self, category)
        return pattern.search(ua.lower()) is not None


def _compile(category: str, spec: object) -> re.Pattern[str]:
    if not isinstance(spec, dict) or set(spec) - {"contains", "regex"}:
        raise ValueError(f"user_agents.yaml: {category} needs only 'contains' and 'regex' lists")
    # Matched against the lowercased UA: literal alternatives without re.IGNORECASE
    # are several times faster in CPython's engine; regexes keep a scoped (?i:).
    parts = [re.escape(str(text).lower()) for text in spec.get("contains") or ()]
    parts += [f"(?i:{pattern})" for pattern in spec.get("regex") or ()]
    # (?!) never matches: an empty category must not match every UA.
    return re.compile("|".join(parts) or "(?!)")


@functools.cache
def load_user_agent_rules() -> UserAgentRules:
    """Load and compile ``plugin/tracking/pipeline/data/user_agents.yaml`` (once, on first use)."""
    text = (
        resources.files("plugin.tracking.pipeline").joinpath("data/user_agents.yaml").read_text("utf-8")
    )
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or set(raw) != set(_CATEGORIES):
        raise ValueError(f"user_agents.yaml must have exactly the categories {_CATEGORIES}")
    return UserAgentRules(**{name: _compile(name, raw[name]) for name in _CATEGORIES})


def is_human_proxy(ua: str) -> bool:
    """Whether ``ua`` is an image proxy fetching for a person (Gmail, Yahoo)."""
    return load_user_agent_rules().matches("human_proxies", ua)


def is_scanner_ua(ua: str) -> bool:
    """Whether ``ua`` names a security gateway or link scanner."""
    return load_user_agent_rules().matches("scanners", ua)


def is_headless(ua: str) -> bool:
    """Whether ``ua`` is a program-driven browser (HeadlessChrome, PhantomJS...)."""
    return load_user_agent_rules().matches("headless", ua)


def is_crawler(ua: str) -> bool:
    """Whether ``ua`` is a search-engine crawler or link-preview fetcher."""
    return load_user_agent_rules().matches("crawlers", ua)


def is_http_library(ua: str) -> bool:
    """Whether ``ua`` is an HTTP client library or command-line tool."""
    return load_user_agent_rules().matches("http_libraries", ua)


def is_prefetcher(ua: str) -> bool:
    """Whether ``ua`` is a service that fetches mail images with no person looking."""
    return load_user_agent_rules().matches("prefetchers", ua)


def is_on_bot_list(ua: str) -> bool:
    """Whether ``ua`` is on the maintained crawler list (less our exclusions)."""
    return load_bot_list().matches(ua)


_UA_RULES = (
    ("scanner-ua", is_scanner_ua),
    ("headless-browser", is_headless),
    ("crawler", is_crawler),
    ("http-library", is_http_library),
    ("prefetcher", is_prefetcher),
    ("bot-list", is_on_bot_list),
)


# The answer depends on the UA alone, and a backlog repeats the same few UAs: remember them.
@functools.lru_cache(maxsize=8192)
def machine_user_agent_rule(ua: str) -> str | None:
    """Return the rule name of the first machine UA category ``ua`` matches, or None.

    Our own categories come first, then ``bot-list`` (the maintained list). Human
    image proxies never match, whatever else their UA contains.
    """
    if is_human_proxy(ua):
        return None
    for rule, matches in _UA_RULES:
        if matches(ua):
            return rule
    return None
