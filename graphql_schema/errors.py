"""How errors reach clients: expected ones with their stable code, the rest masked and logged.

The one way for a resolver to refuse is to raise a :class:`MailbeaconError` (its code an
``ErrorCode``). Two places here turn it into what the client sees, as the contract says
for the operation:

- a mutation whose payload has ``errors: [UserError!]!`` (sendEmail, connectMailbox)
  wraps its work in :func:`user_errors_or`: the client's input errors
  (:data:`INPUT_ERRORS`) become the payload's ``errors``, one per problem;
- everything else (other mutations, queries, subscriptions, and errors that are not the
  input's) reaches the client as a GraphQL error with ``extensions.code`` (and
  ``extensions.field``) through :class:`ErrorPolicy`; unexpected errors are masked.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from graphql_schema.types.common import UserError
from plugin.errors import ErrorCode, MailbeaconError, MailboxError, ValidationError

__all__ = ["INPUT_ERRORS", "ErrorPolicy", "user_errors_or"]

Payload = TypeVar("Payload")

# The errors that are the client's input at fault: what a payload's ``errors`` lists.
INPUT_ERRORS: tuple[type[MailbeaconError], ...] = (ValidationError, MailboxError)

log = logging.getLogger("mailbeacon.graphql")


def _without_personal_data(error: GraphQLError, original: BaseException) -> str:
    """Where it failed and with what, but no exception message and no variables: messages
    quote the values they choke on (addresses, subjects, bodies), and those are personal."""
    causes: list[str] = []
    cause: BaseException | None = original
    while cause is not None and len(causes) < 5:
        causes.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    path = ".".join(str(part) for part in error.path or ()) or "(document)"
    frames = "".join(traceback.format_tb(original.__traceback__))
    return f"unexpected {' <- '.join(causes)} at {path} (message withheld)\n{frames}"


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return False  # parse and validation errors are the client's own and safe to show
    if isinstance(original, MailbeaconError):
        return False
    log.error("%s", _without_personal_data(error, original))
    return True


class ErrorPolicy(MaskErrors):
    """MaskErrors that also gives every expected error ``extensions.code``."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_should_mask, error_message="Unexpected error.")

    def _process_result(self, result: object) -> None:
        # MaskErrors' own test is isinstance() of a runtime-checkable Protocol, which
        # walks the protocol's attributes on every call: ~9 us on every event of every
        # subscription (measured with timeit), against well under 1 us for this.
        errors = getattr(result, "errors", None)
        if errors:
            cast(Any, result).errors = self._process_errors(errors)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        result = []
        for error in processed:
            original = error.original_error
            if isinstance(original, MailbeaconError):
                extensions = dict(error.extensions or {})
                extensions["code"] = str(original.code)  # a plain string on the wire
                if original.field:
                    extensions["field"] = original.field
                error = GraphQLError(
                    error.message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=original,
                    extensions=extensions,
                )
            elif error.original_error is None and not (error.extensions or {}).get("code"):
                error.extensions = {
                    **(error.extensions or {}), "code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value
                }
            result.append(error)
        return result


async def user_errors_or(
    work: Awaitable[Payload], refused: Callable[[list[UserError]], Payload]
) -> Payload:
    """The payload ``work`` returns; or, when it raises one of :data:`INPUT_ERRORS`, the
    payload ``refused`` builds from one ``UserError`` per problem. Any other error goes
    on to :class:`ErrorPolicy`."""
    try:
        return await work
    except INPUT_ERRORS as error:
        return refused([UserError.from_error(problem) for problem in error.client_errors()])
