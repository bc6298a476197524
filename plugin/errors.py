"""One error tree for mailbeacon, each error with a stable machine-readable code.

Every code is a member of :class:`ErrorCode`. Code raises a :class:`MailbeaconError`
subclass; it reaches a GraphQL client in one of two shapes, decided in
``graphql_schema/errors.py`` and nowhere else: a ``UserError`` entry of the payload
when the mutation's payload has ``errors`` and the client's input is at fault, else
a GraphQL error with ``extensions.code``. Anything else is masked and logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

__all__ = [
    "AddressInUseError",
    "DatabaseAuthError",
    "DatabaseMissingError",
    "DatabaseNotMigratedError",
    "DatabaseUnreachableError",
    "ErrorCode",
    "ForbiddenError",
    "MailbeaconError",
    "MailboxError",
    "NotFoundError",
    "RedisUnreachableError",
    "ServiceError",
    "SettingsError",
    "TemplateError",
    "TooManyLinksError",
    "UnauthenticatedError",
    "UnknownHookError",
    "UnknownJobError",
    "ValidationError",
]


class ErrorCode(StrEnum):
    """Every stable, machine-readable code mailbeacon gives an error.

    Clients compare them (``UserError.code``, ``extensions.code``; the GraphQL enum
    ``ErrorCode`` lists them), so a code is added, never renamed or removed.
    """

    # Anything mailbeacon raised on purpose without a more precise code.
    INTERNAL = "INTERNAL"

    # The operator's: configuration and services, reported by the command line.
    BAD_SETTINGS = "BAD_SETTINGS"
    DATABASE_NOT_MIGRATED = "DATABASE_NOT_MIGRATED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    DATABASE_UNREACHABLE = "DATABASE_UNREACHABLE"
    DATABASE_AUTH_FAILED = "DATABASE_AUTH_FAILED"
    DATABASE_MISSING = "DATABASE_MISSING"
    REDIS_UNREACHABLE = "REDIS_UNREACHABLE"
    ADDRESS_IN_USE = "ADDRESS_IN_USE"
    UNKNOWN_HOOK = "UNKNOWN_HOOK"
    UNKNOWN_JOB = "UNKNOWN_JOB"

    # The request as a whole (HTTP answers and GraphQL errors).
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_REQUEST = "BAD_REQUEST"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"

    # The client's input.
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TEXT = "INVALID_TEXT"
    TOO_LARGE = "TOO_LARGE"
    HEADER_INJECTION = "HEADER_INJECTION"
    INVALID_ADDRESS = "INVALID_ADDRESS"
    DUPLICATE_RECIPIENT = "DUPLICATE_RECIPIENT"
    NO_RECIPIENT = "NO_RECIPIENT"
    TOO_MANY_RECIPIENTS = "TOO_MANY_RECIPIENTS"
    EMPTY_BODY = "EMPTY_BODY"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    TOO_MANY_LINKS = "TOO_MANY_LINKS"
    INVALID_PAGE_SIZE = "INVALID_PAGE_SIZE"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    USER_EXISTS = "USER_EXISTS"
    AMBIGUOUS_TOKEN_PREFIX = "AMBIGUOUS_TOKEN_PREFIX"  # noqa: S105 (a code, not a secret)

    # Connecting a mailbox.
    MAILBOX_UNREACHABLE = "MAILBOX_UNREACHABLE"
    MAILBOX_TLS_FAILED = "MAILBOX_TLS_FAILED"
    MAILBOX_TLS_REQUIRED = "MAILBOX_TLS_REQUIRED"
    MAILBOX_AUTH_FAILED = "MAILBOX_AUTH_FAILED"
    MAILBOX_NO_SENT_FOLDER = "MAILBOX_NO_SENT_FOLDER"

    # Consent.
    RECIPIENT_REFUSED = "RECIPIENT_REFUSED"
    FORM_USED = "FORM_USED"
    DELIVERY_FAILED = "DELIVERY_FAILED"


class MailbeaconError(Exception):
    """Base of every error mailbeacon raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def client_errors(self) -> Sequence[MailbeaconError]:
        """What a client is told, one entry per problem: this error, or each of the
        errors it gathers (a rejected draft lists every problem at once)."""
        return [self]


class SettingsError(MailbeaconError):
    """The environment does not describe a runnable configuration."""

    code = ErrorCode.BAD_SETTINGS

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid settings:\n  - " + "\n  - ".join(self.problems))


class DatabaseNotMigratedError(MailbeaconError):
    code = ErrorCode.DATABASE_NOT_MIGRATED


class ServiceError(MailbeaconError):
    """Something the operator configured cannot be used (the commands say what, no traceback)."""

    code = ErrorCode.SERVICE_UNAVAILABLE


class DatabaseUnreachableError(ServiceError):
    code = ErrorCode.DATABASE_UNREACHABLE


class DatabaseAuthError(ServiceError):
    code = ErrorCode.DATABASE_AUTH_FAILED


class DatabaseMissingError(ServiceError):
    code = ErrorCode.DATABASE_MISSING


class RedisUnreachableError(ServiceError):
    code = ErrorCode.REDIS_UNREACHABLE


class AddressInUseError(ServiceError):
    code = ErrorCode.ADDRESS_IN_USE


class UnauthenticatedError(MailbeaconError):
    code = ErrorCode.UNAUTHENTICATED

    def __init__(self, message: str = "a valid API token is required") -> None:
        super().__init__(message)


class ForbiddenError(MailbeaconError):
    code = ErrorCode.FORBIDDEN


class NotFoundError(MailbeaconError):
    code = ErrorCode.NOT_FOUND


class ValidationError(MailbeaconError):
    code = ErrorCode.INVALID_INPUT

    def __init__(
        self, message: str, *, field: str | None = None, code: ErrorCode | None = None
    ) -> None:
        super().__init__(message, field=field)
        if code:
            self.code = code


class TemplateError(ValidationError):
    code = ErrorCode.TEMPLATE_ERROR


class MailboxError(MailbeaconError):
    """A mailbox could not be used; ``code`` says how: ``MAILBOX_UNREACHABLE``,
    ``MAILBOX_TLS_FAILED``, ``MAILBOX_AUTH_FAILED`` or ``MAILBOX_NO_SENT_FOLDER``."""

    code = ErrorCode.MAILBOX_UNREACHABLE

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


class TooManyLinksError(ValidationError):
    """An email with more tracked links than MAILBEACON_MAX_LINKS_PER_EMAIL allows."""

    code = ErrorCode.TOO_MANY_LINKS

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the email has more than {limit} tracked links (HTML and text together); "
            "send it with fewer links or with link tracking off",
            field="html",
        )
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.limit,))  # it crosses from a pool process


class UnknownHookError(MailbeaconError):
    code = ErrorCode.UNKNOWN_HOOK


class UnknownJobError(MailbeaconError):
    """Code refers to a job (``plugin.jobs.JobName``) that no actor of the broker runs,
    or on another queue: found at start-up, each problem named."""

    code = ErrorCode.UNKNOWN_JOB

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("unknown jobs:\n  - " + "\n  - ".join(self.problems))
