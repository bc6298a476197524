"""Users and API tokens: create, issue, authenticate, revoke."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError

from plugin.accounts import repository
from plugin.accounts.models import User
from plugin.errors import ErrorCode, NotFoundError, ValidationError
from plugin.jobs import JobName, enqueue_async
from plugin.sending.validation import check_header_value

__all__ = [
    "PREFIX_LENGTH",
    "TOKEN_PREFIX",
    "TOUCH_TOKEN",
    "TokenListing",
    "UserListing",
    "authenticate_token",
    "create_user",
    "get_user_by_email",
    "issue_token",
    "list_users",
    "revoke_token",
]

TOKEN_PREFIX = "mb_"  # noqa: S105 - a public prefix, not a secret
# How much of a token is kept in clear and listed (mb_ and 7 random characters).
PREFIX_LENGTH = 10
# A token's last_seen_at is written at most this often, so busy clients don't write per request.
_LAST_SEEN_RESOLUTION = timedelta(minutes=5)
TOUCH_TOKEN = JobName("touch_token", queue="housekeeping")


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
                              code=ErrorCode.TOO_LARGE)
    return name.strip() or None


async def create_user(email: str, *, name: str | None = None, is_admin: bool = False) -> User:
    address = normalize_user_email(email)
    name = _check_name(name)
    try:
        return await repository.insert_user(address, name=name, is_admin=is_admin)
    except IntegrityError:
        raise ValidationError(
            f"a user with the address {address} exists", field="email", code=ErrorCode.USER_EXISTS
        ) from None


async def get_user_by_email(email: str) -> User:
    user = await repository.user_by_email(normalize_user_email(email))
    if user is None:
        raise NotFoundError(f"no user with the address {email.strip()}")
    return user


async def issue_token(user: User, *, label: str | None = None) -> str:
    """Create a new API token for ``user`` and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await repository.insert_token(
        user, token_hash=_hash(token), prefix=token[:PREFIX_LENGTH], label=label
    )
    return token


async def authenticate_token(token: str) -> User | None:
    """The user behind a valid, unrevoked token, or None. Never raises on garbage."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    record = await repository.active_token(_hash(token))
    if record is None:
        return None
    now = datetime.now(UTC)
    if record.last_seen_at is None or now - record.last_seen_at > _LAST_SEEN_RESOLUTION:
        # Off the request path: the housekeeping actor writes it.
        await enqueue_async(TOUCH_TOKEN, record.id, now.isoformat())
    return record.user


async def revoke_token(token_or_prefix: str) -> int:
    """Revoke one active token, given whole or by the prefix ``users list`` shows.

    Raises NotFoundError when nothing active matches and ValidationError when a
    prefix matches several tokens (then the whole token is needed).
    """
    now = datetime.now(UTC)
    given = token_or_prefix.strip()
    matching_tokens: dict[str, str] | None
    if given.startswith(TOKEN_PREFIX) and len(given) > PREFIX_LENGTH:
        matching_tokens = {"token_hash": _hash(given)}
        shown = "the token given"  # never echo a whole secret
    elif 0 < len(given) <= PREFIX_LENGTH:
        matching_tokens = {"prefix": given}
        shown = f"the prefix {given}"
    else:
        matching_tokens, shown = None, "what was given"
    matching = (
        await repository.count_active_tokens(**matching_tokens)
        if matching_tokens is not None else 0
    )
    if matching == 0:
        raise NotFoundError(
            f"no active token matches {shown}: give a prefix as `mailbeacon users list` "
            "shows it, or the whole token"
        )
    if matching > 1:
        raise ValidationError(
            f"{matching} active tokens start with {given}: give the whole token",
            code=ErrorCode.AMBIGUOUS_TOKEN_PREFIX,
        )
    assert matching_tokens is not None
    return await repository.revoke_active_tokens(now, **matching_tokens)


@dataclass(frozen=True)
class TokenListing:
    prefix: str
    label: str | None
    created_at: datetime
    last_seen_at: datetime | None


@dataclass(frozen=True)
class UserListing:
    email: str
    name: str | None
    is_admin: bool
    created_at: datetime
    tokens: list[TokenListing]


async def list_users() -> list[UserListing]:
    """Every user with its active tokens (prefixes only), oldest first."""
    users = await repository.users()
    tokens = await repository.active_tokens()
    by_user: dict[int, list[TokenListing]] = {}
    for token in tokens:
        by_user.setdefault(token.user_id, []).append(  # type: ignore[attr-defined]
            TokenListing(token.prefix, token.label, token.created_at, token.last_seen_at)
        )
    return [
        UserListing(u.email, u.name, u.is_admin, u.created_at, by_user.get(u.id, []))
        for u in users
    ]
