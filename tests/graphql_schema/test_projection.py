"""Projected subscription events equal full graphql-core execution, or are left to it.

The hypothesis runs are bounded and derandomized (the same answer every run, no
example database in the checkout); ``MAILBEACON_FUZZ_RANDOM=1`` explores further.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import strawberry
from graphql import (
    Executor,
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    execute_subscription_event,
    parse,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.extensions import SchemaExtension

from graphql_schema.projection import (
    BATCHES,
    ProjectedBatch,
    Projection,
    compile_projection,
    projection_of,
)
from graphql_schema.schema import build_schema
from graphql_schema.types.client import EventClient
from graphql_schema.types.enums import EventSource, TrackingEventKind
from graphql_schema.types.sent_email import TrackingEvent
from graphql_schema.ws_transport import next_frames, passes_batches

SCHEMA = build_schema()
EVENT_FIELDS = ["id", "emailId", "kind", "occurredAt", "source", "url", "recipient",
                "duplicate", "description", "rule", "__typename"]
CLIENT_FIELDS = ["name", "version", "os", "device", "proxy", "__typename"]

_DERANDOMIZE = not os.environ.get("MAILBEACON_FUZZ_RANDOM")


def _root_field(document: str) -> FieldNode:
    operation = parse(document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    field = operation.selection_set.selections[0]
    assert isinstance(field, FieldNode)
    return field


def _compile(schema: GraphQLSchema, document: str) -> Projection | None:
    field = _root_field(document)
    assert schema.subscription_type is not None
    field_def = schema.subscription_type.fields[field.name.value]
    key = (field.alias or field.name).value
    return compile_projection(key, field_def.type, [field])


def _executed(schema: GraphQLSchema, document: str, event: Any) -> Any:
    """What graphql-core makes of one subscription event (the per-event execution)."""
    executor = Executor.build(schema, parse(document))
    assert not isinstance(executor, list)
    return execute_subscription_event(executor.build_per_event_executor(event))


def _projected_or_executed(schema: GraphQLSchema, document: str, event: Any) -> Any:
    projection = _compile(schema, document)
    assert projection is not None, document
    data = projection.project(event)
    expected = _executed(schema, document, event)
    if data is None:  # given up: only where full execution reports an error
        assert expected.errors, (document, event)
    else:
        assert not expected.errors
        assert {projection.key: data} == expected.data
        # Key order too: it is the order of the JSON a subscriber receives.
        assert json.dumps({projection.key: data}) == json.dumps(expected.data)
    return data


# --- the served schema: trackingEvents, every plain selection --------------------------

_text = st.one_of(st.none(), st.text(max_size=12))
_names = st.from_regex(r"[a-z][A-Za-z0-9_]{0,6}", fullmatch=True)


@st.composite
def _selection(draw: st.DrawFn, fields: list[str], client: bool) -> str:
    chosen = draw(st.lists(st.sampled_from(fields), min_size=1, unique=True))
    if client and draw(st.booleans()):
        chosen.append("client { " + draw(_selection(CLIENT_FIELDS, False)) + " }")
        draw(st.randoms()).shuffle(chosen)
    aliases = draw(st.lists(_names, min_size=len(chosen), max_size=len(chosen), unique=True))
    return " ".join(
        f"{alias}: {field}" if draw(st.booleans()) else field
        for alias, field in zip(aliases, chosen, strict=True)
    )


@st.composite
def _events(draw: st.DrawFn) -> TrackingEvent:
    offset = timedelta(minutes=draw(st.integers(-720, 720)))
    return TrackingEvent(
        id=strawberry.ID(str(draw(st.integers(1, 10**12)))),
        email_id=strawberry.ID(draw(st.text(min_size=1, max_size=8))),
        kind=draw(st.sampled_from(TrackingEventKind)),
        occurred_at=draw(st.datetimes(timezones=st.just(timezone(offset)))),
        source=draw(st.sampled_from(EventSource)),
        url=draw(_text),
        recipient=draw(_text),
        duplicate=draw(st.booleans()),
        client=EventClient(name=draw(_text), version=draw(_text), os=draw(_text),
                           device=draw(st.text(min_size=1, max_size=8)), proxy=draw(_text)),
        description=draw(st.text(max_size=20)),
        rule=draw(_text),
    )


@settings(max_examples=300, deadline=None, database=None, derandomize=_DERANDOMIZE)
@given(selection=_selection(EVENT_FIELDS, True), alias=st.one_of(st.none(), _names),
       event=_events())
def test_a_plain_selection_is_projected_exactly_as_graphql_core_executes_it(
    selection: str, alias: str | None, event: TrackingEvent
) -> None:
    root = f"{alias}: trackingEvents" if alias else "trackingEvents"
    data = _projected_or_executed(SCHEMA._schema, f"subscription {{ {root} {{ {selection} }} }}",
                                  event)
    assert data is not None  # every value of a well-formed event is projected


@pytest.mark.parametrize("document", [
    "subscription { trackingEvents { ...E } } fragment E on TrackingEvent { id }",
    "subscription { trackingEvents { ... on TrackingEvent { id } } }",
    "subscription { trackingEvents { ... { id } } }",
    "subscription { trackingEvents { id @include(if: true) } }",
    "subscription($s: Boolean!) { trackingEvents { id @skip(if: $s) } }",
    "subscription { trackingEvents @include(if: true) { id } }",
    "subscription { trackingEvents { id id } }",
    "subscription { trackingEvents { a: id a: emailId } }",
    "subscription { trackingEvents { client { name name } } }",
])
def test_fragments_directives_and_repeated_keys_are_left_to_full_execution(
    document: str
) -> None:
    assert _compile(SCHEMA._schema, document) is None


# --- a schema with what the projection must not take ----------------------------------

@strawberry.type
class _Inner:
    name: str


@strawberry.type
class _Other:
    name: str


@strawberry.type
class _Item:
    plain: str
    maybe: str | None
    inner: _Inner
    inners: list[_Inner]
    tags: list[str]
    either: _Inner | _Other

    @strawberry.field
    def computed(self) -> str:
        return self.plain.upper()

    @strawberry.field
    def sized(self, size: int = 2) -> str:
        return self.plain[:size]


@strawberry.type
class _Query:
    ready: bool = True


@strawberry.type
class _Subscription:
    @strawberry.subscription
    async def items(self) -> AsyncGenerator[_Item, None]:
        yield _item()


def _item(**changes: Any) -> _Item:
    values: dict[str, Any] = {"plain": "a", "maybe": None, "inner": _Inner(name="n"),
                              "inners": [], "tags": [], "either": _Other(name="o")}
    return _Item(**{**values, **changes})


ITEMS = strawberry.Schema(query=_Query, subscription=_Subscription)._schema


@pytest.mark.parametrize("selection", [
    "computed", "sized", "sized(size: 1)", "inners { name }", "tags",
    "either { ... on _Inner { name } }", "plain computed",
])
def test_resolvers_arguments_lists_and_unions_are_left_to_full_execution(
    selection: str
) -> None:
    assert _compile(ITEMS, f"subscription {{ items {{ {selection} }} }}") is None


def test_a_plain_nested_selection_is_projected() -> None:
    data = _projected_or_executed(ITEMS, "subscription { items { plain maybe inner { name } } }",
                                  _item(maybe="m"))
    assert data == {"plain": "a", "maybe": "m", "inner": {"name": "n"}}


@pytest.mark.parametrize("broken", [
    {"plain": None},  # null in a non-null field
    {"inner": None},
    {"inner": _Inner(name=None)},  # type: ignore[arg-type]
    {"plain": ValueError("stored as a value")},
    {"plain": {"not": "a string"}},  # String's output coercion refuses it
])
def test_a_value_full_execution_reports_as_an_error_is_given_up(broken: dict[str, Any]) -> None:
    data = _projected_or_executed(ITEMS, "subscription { items { plain inner { name } } }",
                                  _item(**broken))
    assert data is None


def test_an_awaitable_value_is_given_up() -> None:
    async def later() -> str:
        return "a"

    projection = _compile(ITEMS, "subscription { items { plain } }")
    assert projection is not None
    value = later()
    assert projection.project(_item(plain=value)) is None
    value.close()


# --- batches: order, fallbacks, failures ----------------------------------------------

def _batches(projection: Projection, events: Iterator[Any]) -> list[Any]:
    return [item.items if isinstance(item, ProjectedBatch) else item
            for item in projection.batches(events)]


def test_batches_keep_the_order_and_let_given_up_events_through_alone() -> None:
    projection = _compile(ITEMS, "subscription { items { plain } }")
    assert projection is not None
    broken = _item(plain=None)
    events = [_item(plain="1"), _item(plain="2"), broken, _item(plain="3")]
    assert _batches(projection, iter(events)) == [[{"plain": "1"}, {"plain": "2"}], broken,
                                                  [{"plain": "3"}]]


def test_events_made_before_a_failure_still_go_first() -> None:
    projection = _compile(ITEMS, "subscription { items { plain } }")
    assert projection is not None

    def events() -> Iterator[_Item]:
        yield _item(plain="1")
        raise KeyError("malformed message")

    batches = projection.batches(events())
    first = next(batches)
    assert isinstance(first, ProjectedBatch) and first.items == [{"plain": "1"}]
    with pytest.raises(KeyError):
        next(batches)


# --- when a projection is offered at all ----------------------------------------------

class _Resolving(SchemaExtension):
    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return _next(root, info, *args, **kwargs)


async def _offered(context: object, extensions: list[Any] | None = None) -> bool:
    offered: list[bool] = []

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def items(self, info: strawberry.Info) -> AsyncGenerator[_Item, None]:
            offered.append(projection_of(info) is not None)
            yield _item()

    schema = strawberry.Schema(query=_Query, subscription=Subscription,
                               extensions=extensions or [])
    stream = await schema.subscribe("subscription { items { plain } }", context_value=context)
    async for result in stream:  # type: ignore[union-attr]
        assert not result.errors
    return offered == [True]


async def test_a_projection_is_offered_only_to_a_transport_that_takes_batches() -> None:
    assert await _offered({BATCHES: True})
    assert not await _offered({})
    assert not await _offered(object())  # a host's own context type


async def test_no_projection_when_an_extension_wraps_resolvers() -> None:
    assert not await _offered({BATCHES: True}, [_Resolving])


def test_the_served_schema_has_no_extension_that_wraps_resolvers() -> None:
    # Else trackingEvents would never be projected (projection_of refuses).
    assert all(type(e).resolve is SchemaExtension.resolve for e in SCHEMA.get_extensions())


# --- the messages sent --------------------------------------------------------------

@settings(max_examples=100, deadline=None, database=None, derandomize=_DERANDOMIZE)
@given(operation_id=st.text(max_size=8), key=_names,
       items=st.lists(st.dictionaries(st.text(max_size=6), st.one_of(
           st.none(), st.booleans(), st.integers(), st.text(max_size=10),
           st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2)),
           max_size=4), min_size=1, max_size=4))
def test_next_frames_are_the_messages_strawberry_sends_for_each_event(
    operation_id: str, key: str, items: list[dict[str, Any]]
) -> None:
    expected = [json.dumps({"id": operation_id, "type": "next",
                            "payload": {"data": {key: item}}}, separators=(",", ":"))
                for item in items]
    assert list(next_frames(operation_id, ProjectedBatch(key, items))) == expected


def test_the_served_views_encoding_is_strawberrys() -> None:
    from strawberry.http.base import BaseView

    from graphql_schema.view import GraphQLEndpoint

    # next_frames encodes as BaseView.encode_json does; a view encoding otherwise breaks that.
    assert GraphQLEndpoint.encode_json is BaseView.encode_json


def test_datetimes_of_every_offset_round_trip() -> None:
    # occurredAt comes from the live message's ISO text; the projection coerces the parsed
    # value like full execution, so both write it back the same.
    moment = datetime(2026, 12, 4, 21, 0, 0, 5, tzinfo=UTC)
    event = TrackingEvent(
        id=strawberry.ID("1"), email_id=strawberry.ID("2"), kind=TrackingEventKind.OPEN,
        occurred_at=moment, source=EventSource.HUMAN, url=None, recipient=None,
        duplicate=False, client=EventClient(name=None, version=None, os=None,
                                            device="unknown", proxy=None),
        description="", rule=None)
    data = _projected_or_executed(SCHEMA._schema,
                                  "subscription { trackingEvents { occurredAt } }", event)
    assert data == {"occurredAt": moment.isoformat()}


def test_batches_are_taken_only_where_the_executor_passes_them_on() -> None:
    assert passes_batches(SCHEMA)
    # A host's schema without our executor would execute a batch as if it were an event.
    assert not passes_batches(strawberry.Schema(query=_Query, subscription=_Subscription))
