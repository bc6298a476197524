"""Every query of users and API tokens.

No user owns these rows in the sense the other domains' rows are owned: tokens are
found by the hash of a secret the caller holds (or, for the operator's command
line, by the prefix it lists), users by their address.
"""

from __future__ import annotations

from datetime import datetime

from plugin.accounts.models import ApiToken, User

__all__ = [
    "active_token",
    "active_tokens",
    "any_user",
    "count_active_tokens",
    "insert_token",
    "insert_user",
    "record_token_seen",
    "revoke_active_tokens",
    "user_by_email",
    "users",
]


async def insert_user(email: str, *, name: str | None, is_admin: bool) -> User:
    """Raises IntegrityError when the address is taken."""
    return await User.create(email=email, name=name, is_admin=is_admin)


async def any_user() -> bool:
    return await User.exists()


async def user_by_email(address: str) -> User | None:
    return await User.get_or_none(email=address)


async def users() -> list[User]:
    """Every user, oldest first."""
    return await User.all().order_by("id")


async def insert_token(user: User, *, token_hash: str, prefix: str, label: str | None) -> None:
    await ApiToken.create(user=user, token_hash=token_hash, prefix=prefix, label=label)


async def active_token(token_hash: str) -> ApiToken | None:
    """The unrevoked token with that hash, with its user."""
    return await ApiToken.get_or_none(token_hash=token_hash, revoked_at=None).select_related(
        "user"
    )


async def active_tokens() -> list[ApiToken]:
    """Every unrevoked token, oldest first."""
    return await ApiToken.filter(revoked_at=None).order_by("id")


def _matching(token_hash: str | None, prefix: str | None) -> dict[str, object]:
    if (token_hash is None) == (prefix is None):
        raise ValueError("give a token's hash or its prefix")
    found: dict[str, object] = {"revoked_at": None}
    found.update({"token_hash": token_hash} if token_hash is not None else {"prefix": prefix})
    return found


async def count_active_tokens(*, token_hash: str | None = None, prefix: str | None = None) -> int:
    """How many unrevoked tokens have that hash (or that prefix)."""
    return await ApiToken.filter(**_matching(token_hash, prefix)).count()


async def revoke_active_tokens(
    now: datetime, *, token_hash: str | None = None, prefix: str | None = None
) -> int:
    """Revoke the unrevoked tokens with that hash (or prefix); how many."""
    return await ApiToken.filter(**_matching(token_hash, prefix)).update(revoked_at=now)


async def record_token_seen(token_id: int, when: datetime) -> None:
    """Set the token's last_seen_at to ``when``, never moving it backwards."""
    await ApiToken.filter(id=token_id).filter(last_seen_at__isnull=True).update(last_seen_at=when)
    await ApiToken.filter(id=token_id, last_seen_at__lt=when).update(last_seen_at=when)
