"""One error tree for mailbeacon, each error with a stable machine-readable code.

Expected errors (bad input, missing permission) reach GraphQL clients as
``UserError`` entries or as errors with ``extensions.code``; anything else is
masked and logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AddressInUseError",
    "DatabaseAuthError",
    "DatabaseMissingError",
    "DatabaseNotMigratedError",
    "DatabaseUnreachableError",
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


class MailbeaconError(Exception):
    """Base of every error mailbeacon raises on purpose."""

    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SettingsError(MailbeaconError):
    """The environment does not describe a runnable configuration."""

    code = "BAD_SETTINGS"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid settings:\n  - " + "\n  - ".join(self.problems))


class DatabaseNotMigratedError(MailbeaconError):
    code = "DATABASE_NOT_MIGRATED"


class ServiceError(MailbeaconError):
    """Something the operator configured cannot be used (the commands say what, no traceback)."""

    code = "SERVICE_UNAVAILABLE"


class DatabaseUnreachableError(ServiceError):
    code = "DATABASE_UNREACHABLE"


class DatabaseAuthError(ServiceError):
    code = "DATABASE_AUTH_FAILED"


class DatabaseMissingError(ServiceError):
    code = "DATABASE_MISSING"


class RedisUnreachableError(ServiceError):
    code = "REDIS_UNREACHABLE"


class AddressInUseError(ServiceError):
    code = "ADDRESS_IN_USE"


class UnauthenticatedError(MailbeaconError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "a valid API token is required") -> None:
        super().__init__(message)


class ForbiddenError(MailbeaconError):
    code = "FORBIDDEN"


class NotFoundError(MailbeaconError):
    code = "NOT_FOUND"


class ValidationError(MailbeaconError):
    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, field=field)
        if code:
            self.code = code


class TemplateError(ValidationError):
    code = "TEMPLATE_ERROR"


class MailboxError(MailbeaconError):
    """A mailbox could not be used; ``code`` says how: ``MAILBOX_UNREACHABLE``,
    ``MAILBOX_TLS_FAILED``, ``MAILBOX_AUTH_FAILED`` or ``MAILBOX_NO_SENT_FOLDER``."""

    code = "MAILBOX_UNREACHABLE"

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


class TooManyLinksError(ValidationError):
    """An email with more tracked links than MAILBEACON_MAX_LINKS_PER_EMAIL allows."""

    code = "TOO_MANY_LINKS"

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
    code = "UNKNOWN_HOOK"


class UnknownJobError(MailbeaconError):
    """Code refers to a job (``plugin.jobs.JobName``) that no actor of the broker runs,
    or on another queue: found at start-up, each problem named."""

    code = "UNKNOWN_JOB"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("unknown jobs:\n  - " + "\n  - ".join(self.problems))
