"""Refuse text that no store keeps: a NUL character anywhere in a request's strings.

PostgreSQL text cannot hold U+0000 (asyncpg raises "invalid byte sequence"), SMTP
forbids it in mail, and no address, subject, search or consent note needs it. One
check at the boundary, over the document's string literals and the variables
(nested JSON included), answers ``INVALID_TEXT`` before any resolver runs,
instead of a masked internal error from the database (found by tests/graphql_schema/
test_fuzz.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

__all__ = ["NulTextGuard"]

_NUL = "\x00"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return _NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if _NUL in node.value:
            self.found = True
            return Visitor.BREAK
        return None


class NulTextGuard(SchemaExtension):
    """Answer INVALID_TEXT for a NUL character in any string of the request."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        literals = _Literals()
        if context.graphql_document is not None:
            visit(context.graphql_document, literals)
        if literals.found or _has_nul(context.variables):
            raise GraphQLError(
                "text must not contain the NUL character (U+0000)",
                extensions={"code": "INVALID_TEXT"},
            )
        yield
