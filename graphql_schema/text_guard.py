"""Text the database cannot store is the client's error (INVALID_TEXT), not an internal one.

PostgreSQL text cannot hold U+0000 (asyncpg raises CharacterNotInRepertoireError, or
UntranslatableCharacterError for JSON). Validation refuses control characters where
they matter (subjects, addresses: HEADER_INJECTION) before anything is stored; any
other field that carries a NUL to PostgreSQL (a body, an idempotency key, a search,
a consent note) failed as a masked internal error (found by tests/graphql_schema/
test_fuzz.py). The statement fails inside its transaction, so nothing was stored;
this extension turns such an error into ``INVALID_TEXT`` with a plain message.
Listed after ErrorPolicy, its hook runs first when the operation ends.
"""

from __future__ import annotations

from collections.abc import Iterator

from asyncpg.exceptions import CharacterNotInRepertoireError, UntranslatableCharacterError
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from plugin.errors import ErrorCode, ValidationError

__all__ = ["StorableText"]

_UNSTORABLE = (CharacterNotInRepertoireError, UntranslatableCharacterError)


def _unstorable_text(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, _UNSTORABLE):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _as_invalid_text(error: GraphQLError) -> GraphQLError:
    if not _unstorable_text(error.original_error):
        return error
    refusal = ValidationError(
        "text must not contain the NUL character (U+0000)", code=ErrorCode.INVALID_TEXT
    )
    return GraphQLError(
        refusal.message, nodes=error.nodes, source=error.source, positions=error.positions,
        path=error.path, original_error=refusal,
    )


class StorableText(SchemaExtension):
    """Map database refusals of a request's text to INVALID_TEXT."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [_as_invalid_text(error) for error in errors]
