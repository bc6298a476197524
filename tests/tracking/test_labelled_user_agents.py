"""The labelled user agents (labelled_user_agents.tsv): class, rule and client of each.

Every rule change (our lists, the mail-client names, the exclusions from the
maintained crawler list, an update of a pinned data package) runs against this
table of real user-agent strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
import yaml

from plugin.tracking.pipeline.bot_list import load_bot_list
from plugin.tracking.pipeline.classify import (
    ClassificationContext,
    EventSource,
    Hit,
    HitKind,
    classify,
)
from plugin.tracking.pipeline.clients import client_for_event
from plugin.tracking.pipeline.user_agents import machine_user_agent_rule

TABLE = Path(__file__).with_name("labelled_user_agents.tsv")
NETWORKS = {"home": "203.0.113.7", "apple": "17.58.101.23"}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Labelled:
    cls: str
    rule: str
    client: str | None
    version: str | None
    os: str | None
    device: str
    proxy: str | None
    network: str
    source: str
    user_agent: str

    def __str__(self) -> str:  # the test id
        return self.user_agent[:80]


def _none(value: str) -> str | None:
    return None if value == "-" else value


def _load() -> list[Labelled]:
    rows = []
    lines = [line for line in TABLE.read_text("utf-8").splitlines() if not line.startswith("#")]
    header, *body = lines
    assert header.split("\t")[-1] == "user_agent"
    for line in body:
        cls, rule, client, version, os, device, proxy, network, source, ua = line.split("\t")
        rows.append(
            Labelled(cls, rule, _none(client), _none(version), _none(os), device, _none(proxy),
                     network, source, ua)
        )  # fmt: skip
    return rows


ROWS = _load()
HUMANS = [row for row in ROWS if row.cls == "HUMAN"]


def _open(row: Labelled) -> Hit:
    return Hit(HitKind.OPEN, "GET", row.user_agent, NETWORKS[row.network], T0)


def test_the_table_is_large_unique_and_labelled() -> None:
    assert len(ROWS) >= 200
    assert len({row.user_agent for row in ROWS}) == len(ROWS)
    assert {row.cls for row in ROWS} == {"HUMAN", "MACHINE"}
    assert {row.device for row in ROWS} <= {"desktop", "mobile", "tablet", "unknown"}
    assert len(HUMANS) >= 100
    sources = {row.source for row in ROWS}
    assert {"mail client", "classifier tests", "crawler-user-agents instances"} <= sources


def test_the_table_holds_every_user_agent_the_classifier_tests_rely_on() -> None:
    from tests.tracking import test_classify

    table = {row.user_agent: row for row in ROWS}
    for ua in test_classify.HUMAN_UAS:
        assert table[ua].cls == "HUMAN", ua
    for ua in (test_classify.GOOGLEBOT, test_classify.BARRACUDA, test_classify.HEADLESS):
        assert table[ua].cls == "MACHINE", ua


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_classification(row: Labelled) -> None:
    verdict = classify(_open(row), ClassificationContext())
    assert (verdict.source.value, verdict.rule) == (row.cls, row.rule)


@pytest.mark.parametrize("row", [r for r in ROWS if r.network == "home"], ids=str)
def test_a_click_gets_the_same_verdict_as_bot_or_human(row: Labelled) -> None:
    hit = Hit(HitKind.CLICK, "GET", row.user_agent, NETWORKS["home"], T0, link_index=1)
    verdict = classify(hit, ClassificationContext())
    expected = EventSource.HUMAN if row.cls == "HUMAN" else EventSource.BOT
    assert verdict.source is expected


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_client(row: Labelled) -> None:
    client = client_for_event(row.user_agent, row.rule)
    assert (client.name, client.version, client.os, client.device.value, client.proxy) == (
        row.client,
        row.version,
        row.os,
        row.device,
        row.proxy,
    )


@pytest.mark.parametrize("row", HUMANS, ids=str)
def test_no_person_is_on_the_maintained_bot_list(row: Labelled) -> None:
    bots = load_bot_list()
    assert not bots.matches(row.user_agent), bots.matching_patterns(row.user_agent)
    assert machine_user_agent_rule(row.user_agent) is None


def test_every_exclusion_from_the_bot_list_protects_a_labelled_person() -> None:
    for pattern in load_bot_list().excluded:
        assert any(re.search(pattern, row.user_agent) for row in HUMANS), pattern


def test_every_mail_client_entry_has_labelled_cases() -> None:
    text = (
        resources.files("plugin.tracking.pipeline").joinpath("data/mail_clients.yaml").read_text("utf-8")
    )
    for entry in yaml.safe_load(text)["clients"]:
        matching = [row for row in ROWS if re.search(entry["match"], row.user_agent)]
        assert matching, entry["match"]
        assert any(row.client == entry["name"] for row in matching), entry["match"]
