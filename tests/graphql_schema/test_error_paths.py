"""One way for a mutation to refuse: raise; graphql_schema.errors decides the shape."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType

from graphql_schema.errors import user_errors_or
from graphql_schema.schema import build_schema
from graphql_schema.types.common import UserError
from plugin.errors import ErrorCode, ForbiddenError, MailboxError, ValidationError
from plugin.sending.validation import InvalidDraft

MUTATIONS = Path(__file__).resolve().parents[2] / "graphql_schema" / "mutations"


def test_the_schema_lists_every_error_code_and_user_error_code_stays_a_string() -> None:
    schema = build_schema()._schema
    enum = schema.type_map["ErrorCode"]
    assert isinstance(enum, GraphQLEnumType)
    assert list(enum.values) == [code.name for code in ErrorCode]
    user_error = schema.type_map["UserError"]
    assert isinstance(user_error, GraphQLObjectType)
    code = user_error.fields["code"]
    assert isinstance(code.type, GraphQLNonNull) and str(code.type) == "String!"
    assert "ErrorCode" in (code.description or "")


@pytest.mark.parametrize("path", sorted(MUTATIONS.glob("*.py")), ids=lambda path: path.name)
def test_no_mutation_catches_or_builds_errors_itself(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Try)]
    assert "UserError(" not in path.read_text()


def test_one_mutation_per_file() -> None:
    for path in MUTATIONS.glob("*.py"):
        mutations = path.read_text().count("@strawberry.mutation")
        assert mutations == (0 if path.name == "__init__.py" else 1), path.name


async def _raise(error: Exception) -> str:
    raise error


def _refused(errors: list[UserError]) -> list[tuple[str | None, str]]:
    return [(error.field, error.code) for error in errors]


async def test_a_rejected_draft_gives_one_user_error_per_problem() -> None:
    draft = InvalidDraft([
        ValidationError("no one", field="to", code=ErrorCode.NO_RECIPIENT),
        ValidationError("empty", field="html", code=ErrorCode.EMPTY_BODY),
    ])
    assert await user_errors_or(_raise(draft), _refused) == [
        ("to", "NO_RECIPIENT"), ("html", "EMPTY_BODY"),
    ]


async def test_a_mailbox_error_gives_one_user_error() -> None:
    error = MailboxError(ErrorCode.MAILBOX_AUTH_FAILED, "refused", field="input.smtpUrl")
    assert await user_errors_or(_raise(error), _refused) == [
        ("input.smtpUrl", "MAILBOX_AUTH_FAILED"),
    ]
    codes = await user_errors_or(_raise(error), lambda errors: [e.code for e in errors])
    assert type(codes[0]) is str  # a plain string, as the field is String!


async def test_an_error_that_is_not_the_input_goes_on_to_the_error_policy() -> None:
    with pytest.raises(ForbiddenError):
        await user_errors_or(_raise(ForbiddenError("admins only")), _refused)


async def test_a_payload_is_returned_as_it_is() -> None:
    async def work() -> str:
        return "payload"

    assert await user_errors_or(work(), _refused) == "payload"
