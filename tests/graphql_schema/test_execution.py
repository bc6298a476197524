"""A subscription keeps no memo entry per delivered event (graphql_schema.execution)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_schema.execution import EventScopedExecutionContext
from graphql_schema.schema import build_schema

EVENTS = 2000


@strawberry.type
class _Client:
    name: str


@strawberry.type
class _Event:
    id: int
    client: _Client


@strawberry.type
class _Query:
    ready: bool = True


@strawberry.type
class _Subscription:
    @strawberry.subscription
    async def events(self, count: int) -> AsyncGenerator[_Event, None]:
        for i in range(count):
            yield _Event(id=i, client=_Client(name=f"client {i}"))


def _capturing(base: type[StrawberryGraphQLCoreExecutionContext]) -> tuple[type, list[Any]]:
    """A subclass of ``base`` that remembers the subscription's own executor."""
    roots: list[Any] = []

    class Capture(base):  # type: ignore[misc, valid-type]
        def build_per_event_executor(self, payload: Any) -> Any:
            if not roots:
                roots.append(self)
            return super().build_per_event_executor(payload)

    return Capture, roots


async def _memo_after_events(base: type[StrawberryGraphQLCoreExecutionContext]) -> int:
    context_class, roots = _capturing(base)
    schema = strawberry.Schema(
        query=_Query, subscription=_Subscription, execution_context_class=context_class
    )
    stream = await schema.subscribe(
        "subscription($n: Int!) { events(count: $n) { id client { name } } }",
        variable_values={"n": EVENTS},
    )
    seen = []
    async for result in stream:  # type: ignore[union-attr]
        assert not result.errors
        seen.append(result.data["events"])
    assert len(seen) == EVENTS
    assert seen[-1] == {"id": EVENTS - 1, "client": {"name": f"client {EVENTS - 1}"}}
    return len(roots[0]._relevant_sub_fields)


async def test_a_long_subscription_keeps_no_memo_entry_per_event() -> None:
    assert await _memo_after_events(EventScopedExecutionContext) == 0


async def test_graphql_core_alone_keeps_one_per_event_and_object_field() -> None:
    # Why EventScopedExecutionContext exists. If this fails after an upgrade, graphql-core
    # no longer shares the memo across events and graphql_schema/execution.py can go.
    assert await _memo_after_events(StrawberryGraphQLCoreExecutionContext) == 2 * EVENTS


def test_the_served_schema_uses_it() -> None:
    assert issubclass(build_schema().execution_context_class, EventScopedExecutionContext)
