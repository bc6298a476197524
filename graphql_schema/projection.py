"""Subscription events answered without executing the operation per event, where that is exact.

graphql-core executes each event of a subscription as a new operation (a per-event
executor, field collection, one resolver call and one value completion per field),
strawberry then runs its result hooks, and the transport encodes one message: most of
``serve``'s CPU per live event (bench/README.md, "Live events: serve's CPU per event").
For a selection made only of plain fields, the answer is known in advance: each
field's value comes from strawberry's default resolver and is completed by its type's
output coercion. A ``Projection`` computes exactly that, with the very resolver and
coercion functions graphql-core would call, once per operation compiled.

It covers fields without arguments or directives whose resolver is strawberry's
default, of scalar, enum or (no ``is_type_of``) object types, and ``__typename``;
anything else (fragments, lists, abstract types, custom resolvers, schema extensions
that wrap resolvers, a transport that cannot take batches) gets no projection and
runs as before. A value it cannot complete exactly as graphql-core would (a null in
a non-null field, an exception, a coercion that fails) makes it give that event up:
the event then goes through full execution, which reports the error as always.

Events projected together travel as one ``ProjectedBatch``: one source event through
graphql-core (``EventScopedExecutionContext`` passes it on unexecuted) and strawberry
(one result, so its per-result hooks run once per batch; with no errors they change
nothing), and the WebSocket transport sends one ``next`` message per event, the same
as full execution sends, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    SelectionSetNode,
    Undefined,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from graphql.pyutils import is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

__all__ = ["BATCHES", "ProjectedBatch", "Projection", "compile_projection", "projection_of"]

BATCHES = "projected_batches"
"""Context key a transport sets (to True) when it sends a ``ProjectedBatch`` event by event."""

_Complete = Callable[[Any], Any]
_Field = tuple[str, Callable[..., Any], _Complete]  # response key, resolver, completion


class _GiveUp(Exception):
    """The value needs full execution (it may be an error there)."""


class ProjectedBatch:
    """Consecutive events of one operation, each already its ``data`` value under ``key``."""

    __slots__ = ("items", "key")

    def __init__(self, key: str, items: list[dict[str, Any]]) -> None:
        self.key = key
        self.items = items


class Projection:
    """The ``data`` of one subscription field's events, computed without executing them."""

    def __init__(self, key: str, complete: _Complete) -> None:
        self.key = key
        self._complete = complete

    def project(self, event: Any) -> dict[str, Any] | None:
        """The field's value for ``event`` as full execution makes it, or None to execute."""
        try:
            value: dict[str, Any] = self._complete(event)
        except Exception:  # anything unusual: full execution decides, errors included
            return None
        return value

    def batches(self, events: Iterable[Any]) -> Iterator[Any]:
        """``events`` as source events, in order: runs of projected ones as one
        ``ProjectedBatch``, each one that needs full execution as itself. If making the
        next event fails, the events before it still go first, as they would one by one."""
        items: list[dict[str, Any]] = []
        source = iter(events)
        while True:
            try:
                event = next(source)
            except StopIteration:
                break
            except Exception:
                if items:
                    yield ProjectedBatch(self.key, items)
                raise
            data = self.project(event)
            if data is not None:
                items.append(data)
                continue
            if items:
                yield ProjectedBatch(self.key, items)
                items = []
            yield event
        if items:
            yield ProjectedBatch(self.key, items)


def projection_of(info: Info) -> Projection | None:
    """The projection of the events of the subscription field being resolved, or None."""
    context = info.context
    if not isinstance(context, dict) or not context.get(BATCHES):
        return None  # a host's view (its context may be any object) sends event by event
    if any(_wraps_resolvers(extension) for extension in info.schema.get_extensions()):
        return None  # a resolve hook must see every field: full execution calls it
    raw = info._raw_info  # graphql-core's: the field's nodes and its GraphQL type
    # strawberry resolves a subscription field of each event to the event itself.
    return compile_projection(str(raw.path.key), raw.return_type, raw.field_nodes)


def compile_projection(
    key: str, return_type: GraphQLOutputType, field_nodes: list[FieldNode]
) -> Projection | None:
    """The projection of a field of ``return_type`` selected by ``field_nodes``, or None."""
    if len(field_nodes) != 1 or field_nodes[0].directives:
        return None
    complete = _completer(return_type, field_nodes[0].selection_set)
    return Projection(key, complete) if complete is not None else None


def _wraps_resolvers(extension: SchemaExtension) -> bool:
    return type(extension).resolve is not SchemaExtension.resolve


def _completer(
    type_: GraphQLOutputType, selection_set: SelectionSetNode | None, *, nullable: bool = True
) -> _Complete | None:
    if is_non_null_type(type_):
        assert isinstance(type_, GraphQLNonNull)
        return _completer(type_.of_type, selection_set, nullable=False)
    if is_leaf_type(type_):
        assert isinstance(type_, GraphQLScalarType | GraphQLEnumType)
        return _leaf(type_, nullable) if selection_set is None else None
    if is_object_type(type_) and selection_set is not None:
        assert isinstance(type_, GraphQLObjectType)
        if type_.is_type_of is not None:
            return None
        fields = _fields(type_, selection_set)
        return None if fields is None else _object(fields, nullable)
    return None  # lists, interfaces, unions


def _fields(parent: GraphQLObjectType, selection_set: SelectionSetNode) -> list[_Field] | None:
    fields: list[_Field] = []
    keys: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            return None
        key = (selection.alias or selection.name).value
        if key in keys:  # graphql-core merges repeated keys: leave that to it
            return None
        keys.add(key)
        name = selection.name.value
        if name == "__typename":
            fields.append((key, _constant(parent.name), _same))
            continue
        field = parent.fields.get(name)
        # strawberry marks the resolver of a field without one of its own as default.
        if field is None or not getattr(field.resolve, "_is_default", False):
            return None
        complete = _completer(field.type, selection.selection_set)
        if complete is None:
            return None
        fields.append((key, field.resolve, complete))
    return fields


# Each completer follows graphql-core's completeValue for its type, and gives up where
# completeValue would raise (a field error) or wait (an awaitable value).


_PLAIN = frozenset({str, int, float, bool})


def _unusual(value: Any) -> bool:
    return isinstance(value, Exception) or is_awaitable(value)


def _null(value: Any, nullable: bool) -> bool:
    """True for a null the field may be; give up on one it may not be, and on an error
    or an awaitable (full execution reports those as graphql-core does)."""
    if value is None or value is Undefined:
        if nullable:
            return True
        raise _GiveUp
    if _unusual(value):
        raise _GiveUp
    return False


def _object(fields: list[_Field], nullable: bool) -> _Complete:
    def complete(value: Any) -> dict[str, Any] | None:
        if _null(value, nullable):
            return None
        # A default resolver reads the attribute and takes no info (strawberry passes none).
        return {key: finish(resolve(value, None)) for key, resolve, finish in fields}

    return complete


def _leaf(type_: GraphQLScalarType | GraphQLEnumType, nullable: bool) -> _Complete:
    coerce = type_.coerce_output_value

    def complete(value: Any) -> Any:
        # Plain values are neither null nor unusual.
        if value.__class__ not in _PLAIN and _null(value, nullable):
            return None
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _GiveUp
        return coerced

    return complete


def _constant(value: str) -> Callable[..., str]:
    return lambda _source, _info: value


def _same(value: Any) -> Any:
    return value
