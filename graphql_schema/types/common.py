"""Types shared by several domains: errors in payloads and pagination."""

from __future__ import annotations

import strawberry

from plugin.errors import MailbeaconError

__all__ = ["PageInfo", "UserError"]


@strawberry.type
class UserError:
    field: str | None
    code: str
    message: str

    @classmethod
    def from_error(cls, error: MailbeaconError) -> UserError:
        return cls(field=error.field, code=error.code, message=error.message)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], *, has_next_page: bool) -> PageInfo:
        """The page info of a page whose edges carry ``cursors``, in order."""
        return cls(has_next_page=has_next_page, end_cursor=cursors[-1] if cursors else None)
