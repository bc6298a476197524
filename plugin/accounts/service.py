"""Users and API tokens: create, issue, authenticate, revoke."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError

from plugin.accounts.models import ApiToken, User
from plugin.errors import NotFoundError, ValidationError
from plugin.jobs import enqueue_async
from plugin.sending.validation import check_header_value

__all__ = [
    "TOKEN_PREFIX",
    "authenticate_token",
    "create_user",
    "get_user_by_email",
    "issue_token",
    "revoke_token",
]

TOKEN_PREFIX = "mb_"  # noqa: S105 - a public prefix, not a secret
# A token's last_seen_at is written at most this often, so busy clients don't write per request.
_LAST_SEEN_RESOLUTION = timedelta(minutes=5)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_user_email(email: str) -> str:
    check_header_value(email, field="email", what="an address")
    try:
        result = validate_email(email.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValidationError(f"invalid email address: {exc}", field="email") from None
    return result.normalized.lower()


_MAX_NAME = 200  # the column's size


def _check_name(name: str | None) -> str | None:
    """The display name (it goes into the From header of the user's mail), or an error."""
    if name is None:
        return None
    check_header_value(name, field="name", what="a name")
    if len(name) > _MAX_NAME:
        raise ValidationError(f"a name has at most {_MAX_NAME} characters", field="name",
                              code="TOO_LARGE")
    return name.strip() or None


async def create_user(email: str, *, name: str | None = None, is_admin: bool = False) -> User:
    address = normalize_user_email(email)
    name = _check_name(name)
    try:
        return await User.create(email=address, name=name, is_admin=is_admin)
    except IntegrityError:
        raise ValidationError(
            f"a user with the address {address} exists", field="email", code="USER_EXISTS"
        ) from None


async def get_user_by_email(email: str) -> User:
    user = await User.get_or_none(email=normalize_user_email(email))
    if user is None:
        raise NotFoundError(f"no user with the address {email.strip()}")
    return user


async def issue_token(user: User, *, label: str | None = None) -> str:
    """Create a new API token for ``user`` and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(user=user, token_hash=_hash(token), prefix=token[:10], label=label)
    return token


async def authenticate_token(token: str) -> User | None:
    """The user behind a valid, unrevoked token, or None. Never raises on garbage."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    record = await ApiToken.get_or_none(token_hash=_hash(token), revoked_at=None).select_related(
        "user"
    )
    if record is None:
        return None
    now = datetime.now(UTC)
    if record.last_seen_at is None or now - record.last_seen_at > _LAST_SEEN_RESOLUTION:
        # Off the request path: the housekeeping actor writes it.
        await enqueue_async("touch_token", record.id, now.isoformat())
    return record.user


async def revoke_token(token_or_prefix: str) -> int:
    """Revoke a token given whole or by its listed prefix; return how many were revoked."""
    now = datetime.now(UTC)
    if token_or_prefix.startswith(TOKEN_PREFIX) and len(token_or_prefix) > 20:
        query = ApiToken.filter(token_hash=_hash(token_or_prefix), revoked_at=None)
    else:
        query = ApiToken.filter(prefix=token_or_prefix, revoked_at=None)
    return await query.update(revoked_at=now)
