"""The loaders stay batched: a page of emails asking links and events costs one query for
the links and two for the events, however many emails the page holds."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import GraphQL, UserFactory
from tests.live.factories import make_email, store_event

QUERY = """query { sentEmails(first: 10) { edges { node {
    links { url } events(first: 5) { id } } } } }"""


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(str(record.args[0]) if record.args else record.getMessage())


def _from(statement: str) -> str | None:
    """The first table a SELECT reads."""
    found = re.search(r'FROM "?(\w+)"?', statement)
    return found.group(1) if found else None


@contextmanager
def _statements() -> Iterator[_Statements]:
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Statements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_page_of_emails_reads_links_once_and_events_twice(
    gql: GraphQL, make_user: UserFactory
) -> None:
    user = await make_user()
    for _ in range(4):
        await store_event(await make_email(user.id))
    with _statements() as seen:
        body = await gql(QUERY, user=user)
    assert len(body["data"]["sentEmails"]["edges"]) == 4
    links = [text for text in seen.texts if _from(text) == "mb_tracked_link"]
    events = [text for text in seen.texts if "FROM mb_tracking_event" in text
              or _from(text) == "mb_tracking_event"]
    assert len(links) == 1, links
    assert len(events) == 2, events
