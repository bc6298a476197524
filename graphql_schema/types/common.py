"""Types shared by several domains: errors in payloads and pagination."""

from __future__ import annotations

import strawberry

from plugin.errors import ErrorCode, MailbeaconError

__all__ = ["ErrorCodeEnum", "PageInfo", "UserError"]

# The core's enum, shown to clients as it is: no field returns it (UserError.code and
# extensions.code stay strings, as the contract has them), the schema lists it.
ErrorCodeEnum = strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description="Every stable code of an error: the values of UserError.code and of a "
    "GraphQL error's extensions.code. Codes are added, never renamed or removed.",
)


@strawberry.type
class UserError:
    field: str | None
    code: str = strawberry.field(
        description="Stable and machine-readable: one of the ErrorCode enum's values."
    )
    message: str

    @classmethod
    def from_error(cls, error: MailbeaconError) -> UserError:
        return cls(field=error.field, code=str(error.code), message=error.message)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], *, has_next_page: bool) -> PageInfo:
        """The page info of a page whose edges carry ``cursors``, in order."""
        return cls(has_next_page=has_next_page, end_cursor=cursors[-1] if cursors else None)
