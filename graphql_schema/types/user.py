"""The caller."""

from __future__ import annotations

import strawberry

from plugin.accounts.models import User as UserModel

__all__ = ["User"]


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str | None
    is_admin: bool

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=strawberry.ID(str(user.id)), email=user.email, name=user.name, is_admin=user.is_admin
        )
