"""The cost of a GraphQL document: how many field values it may make the server produce.

Depth and alias limits bound the shape of a document, not its work: 30 aliases of
``sentEmails(first: 100) { ... events(first: 500) ... }`` stay shallow and under
the alias limit, yet ask for 1.5 million events. The cost is the number of field
values the answer may hold: every field counts once per parent value; a field with a
``first`` argument yields up to that many values (its default when not given) and a
list of objects without one is assumed to hold ``LIST_ESTIMATE`` values (a list
of scalars is one value); ``edges`` of a connection add nothing of their own (the
connection's ``first`` counts them). Introspection (``__schema``, ``__type``) is
free: its size is the schema's.

The check runs before execution, so a refused document costs only its parse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

from plugin.errors import ErrorCode

__all__ = ["LIST_ESTIMATE", "QueryCostLimiter", "document_cost", "query_cost_limiter"]

LIST_ESTIMATE = 20
"""Values assumed in a list field without ``first`` (an email's tracked links...)."""

MAX_FIRST = 500
"""No field gives more than this many values (a larger ``first`` is refused or clamped by
its resolver, whose own error is the clearer one)."""

_FREE_FIELDS = frozenset({"__schema", "__type", "__typename"})


class _Estimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        ceiling: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.ceiling = ceiling  # stop counting once over: the answer is "too costly" anyway

    def selection_cost(
        self, selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str]
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for field, owner in self._fields(selection_set, parent, seen):
            total += self.field_cost(field, owner, seen)
            if total > self.ceiling:
                break
        return total

    def _fields(
        self, selection_set: SelectionSetNode, parent: Any, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, Any]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                owner = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(selection.selection_set, owner, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # validation reports unknown and cyclic fragments
                owner = self.schema.get_type(fragment.type_condition.name.value)
                yield from self._fields(fragment.selection_set, owner, seen | {name})

    def field_cost(self, field: FieldNode, parent: Any, seen: frozenset[str]) -> int:
        name = field.name.value
        if name in _FREE_FIELDS:
            return 0
        definition = parent.fields.get(name) if isinstance(parent, GraphQLObjectType) else None
        field_type = definition.type if definition is not None else None
        if field.selection_set is None:
            return 1  # a leaf, a list of scalars too (to, cc): one value to serialize
        count = self._first(field, definition)
        if count is None:
            count = LIST_ESTIMATE if _is_list(field_type) and name != "edges" else 1
        child_type = get_named_type(field_type) if field_type is not None else None
        return count * (1 + self.selection_cost(field.selection_set, child_type, seen))

    def _first(self, field: FieldNode, definition: Any) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return min(MAX_FIRST, max(1, int(value.value)))
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    return min(MAX_FIRST, max(1, given))
            break
        if definition is not None and "first" in definition.args:
            default = definition.args["first"].default_value
            return max(1, default) if isinstance(default, int) else LIST_ESTIMATE
        return None


def _is_list(field_type: Any) -> bool:
    while isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return isinstance(field_type, GraphQLList)


def document_cost(
    schema: GraphQLSchema,
    document: Any,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    ceiling: int,
) -> int:
    """The cost of the operation a request runs (capped a little above ``ceiling``)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    estimator = _Estimator(schema, fragments, variables or {}, ceiling)
    worst = 0
    for operation in operations:
        if operation_name and (operation.name is None or operation.name.value != operation_name):
            continue
        root = schema.get_root_type(operation.operation)
        worst = max(worst, estimator.selection_cost(operation.selection_set, root, frozenset()))
    return worst


class QueryCostLimiter(SchemaExtension):
    """Refuse a document whose cost is over ``max_cost`` (code QUERY_TOO_COSTLY)."""

    max_cost = 5_000

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            cost = document_cost(
                context.schema._schema,
                document,
                context.variables,
                context.operation_name,
                self.max_cost,
            )
            if cost > self.max_cost:
                raise GraphQLError(
                    f"the query asks for too much at once (cost over {self.max_cost}): "
                    "ask for fewer items per page or fewer aliases",
                    extensions={"code": ErrorCode.QUERY_TOO_COSTLY.value, "maxCost": self.max_cost},
                )
        yield


def query_cost_limiter(max_cost: int) -> type[QueryCostLimiter]:
    """A QueryCostLimiter class bound to ``max_cost`` (strawberry wants classes)."""
    return type("BoundQueryCostLimiter", (QueryCostLimiter,), {"max_cost": max_cost})
