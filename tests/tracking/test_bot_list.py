"""The maintained crawler list: compiled faithfully, our exclusions applied and kept honest."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from plugin.tracking.pipeline import bot_list
from plugin.tracking.pipeline.bot_list import load_bot_list, published_patterns
from plugin.tracking.pipeline.user_agents import machine_user_agent_rule


def _published_instances() -> list[tuple[str, str]]:
    text = resources.files("crawleruseragents").joinpath("crawler-user-agents.json").read_text()
    return [
        (str(entry["pattern"]), str(instance))
        for entry in json.loads(text)
        for instance in entry.get("instances", [])
    ]


def test_every_published_example_of_a_kept_pattern_is_matched() -> None:
    """The prefix tree says exactly what the published patterns say, on their own examples."""
    bots = load_bot_list()
    excluded = set(bots.excluded)
    checked = 0
    for pattern, instance in _published_instances():
        if pattern in excluded or not re.search(pattern, instance):
            continue  # an example of an excluded pattern, or one its own pattern misses
        assert bots.matches(instance), (pattern, instance)
        checked += 1
    assert checked > 1000


def test_the_compiled_list_agrees_with_the_patterns_one_by_one() -> None:
    bots = load_bot_list()
    kept = [re.compile(p) for p in bots.patterns]
    for _, instance in _published_instances()[::7]:
        assert bots.matches(instance) == any(p.search(instance) for p in kept), instance


def test_excluded_patterns_are_left_out() -> None:
    bots = load_bot_list()
    assert "GoogleImageProxy" in bots.excluded and "YahooMailProxy" in bots.excluded
    assert not set(bots.excluded) & set(bots.patterns)
    assert len(bots.patterns) == len(published_patterns()) - len(bots.excluded)


def test_a_bot_only_the_maintained_list_knows_is_a_machine() -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 zgrab/0.x"
    assert machine_user_agent_rule(ua) == "bot-list"
    # Our own rules come first and keep their names.
    assert machine_user_agent_rule("curl/8.5.0") == "http-library"


def test_an_exclusion_the_release_no_longer_has_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        bot_list, "_exclusions", lambda: {"NoSuchPattern-xyz": "gone from the list"}
    )
    bot_list.load_bot_list.cache_clear()
    try:
        with pytest.raises(ValueError, match="NoSuchPattern-xyz"):
            bot_list.load_bot_list()
    finally:
        monkeypatch.undo()
        bot_list.load_bot_list.cache_clear()
    assert load_bot_list().excluded
