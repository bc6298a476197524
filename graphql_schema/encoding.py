"""Refuse a request whose text is not encodable: a lone surrogate anywhere in it.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``); Python keeps it in the decoded
string, and it only fails much later, when something encodes it (the database, the mail
library), as an internal error. One check before the operation runs, on the document and
every variable, answers ``INVALID_TEXT`` instead, for HTTP and WebSocket alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from plugin.errors import ErrorCode

__all__ = ["EncodableText", "has_lone_surrogate"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_NESTING = 64  # deeper variables than any input type of ours is a document to refuse anyway


def has_lone_surrogate(value: object, depth: int = 0) -> bool:
    """True when any string in ``value`` (nested lists and dicts, keys too) holds a surrogate."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if depth > _MAX_NESTING:
        return True
    if isinstance(value, dict):
        return any(
            has_lone_surrogate(k, depth + 1) or has_lone_surrogate(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(has_lone_surrogate(item, depth + 1) for item in value)
    return False


class EncodableText(SchemaExtension):
    """Answer INVALID_TEXT, before parsing, for a document or variables with a surrogate."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if has_lone_surrogate(context.query or "") or has_lone_surrogate(context.variables or {}):
            raise GraphQLError(
                "the request contains an invalid character (a lone UTF-16 surrogate)",
                extensions={"code": ErrorCode.INVALID_TEXT.value},
            )
        yield
