"""Request context and authentication for GraphQL over HTTP and WebSocket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection
from strawberry.types import Info

from plugin.accounts.service import authenticate_token
from plugin.errors import UnauthenticatedError
from plugin.hooks import registry

if TYPE_CHECKING:
    from plugin.accounts.models import User
    from plugin.live.bus import LiveBus
    from plugin.runtime import RuntimeSlot
    from plugin.settings import Settings

__all__ = [
    "Context",
    "authenticate",
    "bearer_token",
    "live_bus_of",
    "require_user",
    "settings_of",
]

# Strawberry stores connection_init params into the context, which therefore must be a dict.
Context = dict[str, Any]


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, or None."""
    if not value or not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(connection: HTTPConnection, token: str | None) -> User | None:
    """The host CRM's authentication hook first, then mailbeacon's own API tokens."""
    user: User | None = await registry.first_answer("authenticate_request", connection, token)
    if user is None and token:
        user = await authenticate_token(token)
    return user


def require_user(info: Info) -> User:
    user: User | None = info.context.get("user")
    if user is None:
        raise UnauthenticatedError()
    return user


def settings_of(info: Info) -> Settings:
    settings: Settings = info.context["settings"]
    return settings


def live_bus_of(info: Info) -> LiveBus:
    """The live bus of the runtime the composition root started (the endpoint's slot)."""
    slot: RuntimeSlot = info.context["runtime_slot"]
    runtime = slot.runtime
    if runtime is None or runtime.live is None:
        raise RuntimeError("the live bus is not started in this process")
    return runtime.live
