"""The hook registry through which a host CRM (and mailbeacon's own modules) plug in.

Modelled on Wagtail's hooks: a registry of name -> ordered handlers and a
``register`` decorator. Unlike Wagtail, every hook name is declared with a typed
signature (``HOOK_SPECS``) and an unknown name fails at once, so a typo cannot
silently never run. Registering does no I/O: handlers run only when called.

Hook grammar: ``before_*`` / ``after_*`` wrap an action (a ``before_*`` handler
that returns False vetoes it: ``vetoed``); ``resolve_*`` and
``authenticate_*`` answer a question (the first non-None answer wins);
``deliver_*`` does the action itself instead of mailbeacon (the first handler
registered wins; the others are not called).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from plugin.errors import UnknownHookError

if TYPE_CHECKING:
    from email.message import EmailMessage

    from starlette.requests import HTTPConnection

    from plugin.accounts.models import User

__all__ = [
    "HOOK_SPECS",
    "HookRegistry",
    "HostDelivery",
    "OutgoingEmail",
    "RecordedEvent",
    "register",
    "registry",
]


@dataclass
class OutgoingEmail:
    """What ``before_email_sent`` handlers see and may restrict.

    ``switch_off_tracking`` is how a handler (the consent module, a host policy)
    turns tracking off for one recipient, with a reason the user will read.
    """

    sender_id: int
    recipients: list[str]
    per_recipient: bool
    track_opens: bool
    track_links: bool
    untracked: dict[str, str] = field(default_factory=dict)  # recipient -> reason

    def switch_off_tracking(self, recipient: str, reason: str) -> None:
        self.untracked.setdefault(recipient, reason)


@dataclass(frozen=True)
class RecordedEvent:
    """What ``after_tracking_event`` handlers receive once an event is committed."""

    event_id: str
    user_id: int
    email_id: int
    kind: str
    source: str
    counted: bool
    url: str | None
    recipient: str | None


@dataclass(frozen=True)
class HostDelivery:
    """What a ``deliver_message`` handler (a host CRM that syncs mailboxes) is given.

    ``message`` is the instrumented MIME message to send as it is (envelope
    ``sender`` and ``recipients``); ``sent_copy`` is the clean one to file in the
    user's Sent folder (the author's HTML: no pixel, no tracked links), so that the
    user reading their own Sent mail never registers an open. The handler returns
    the recipients the server refused (address -> reason) or None when all were
    taken; it raises plugin.sending.delivery's ``TemporaryDeliveryError`` (retried on
    the usual schedule) or ``PermanentDeliveryError`` (the copy fails) when it could
    not deliver. A copy is handed over at most once.
    """

    user: User
    message: EmailMessage
    sent_copy: EmailMessage
    sender: str
    recipients: Sequence[str]


class AuthenticateRequest(Protocol):
    def __call__(self, connection: HTTPConnection, token: str | None) -> Awaitable[User | None]: ...


class ResolveRecipientCountry(Protocol):
    def __call__(self, email: str) -> Awaitable[str | None] | str | None: ...


class BeforeEmailSent(Protocol):
    def __call__(self, email: OutgoingEmail) -> Awaitable[None] | None: ...


class BeforeHitsRecorded(Protocol):
    """False: hits on a copy sent to ``recipients`` must not be recorded (None or True:
    no objection)."""

    def __call__(self, recipients: Sequence[str]) -> Awaitable[bool | None] | bool | None: ...


class ResolveStopTrackingFooter(Protocol):
    """The "Stop tracking" footer ``(html, text)`` of a tracked copy to ``recipients``
    (``message``: the copy's public id, for a copy shared by several), or None."""

    def __call__(
        self, recipients: Sequence[str], message: str | None
    ) -> Awaitable[tuple[str, str] | None] | tuple[str, str] | None: ...


class AfterEmailSent(Protocol):
    def __call__(self, email_id: int, message_id: str | None) -> Awaitable[None] | None: ...


class AfterTrackingEvent(Protocol):
    def __call__(self, event: RecordedEvent) -> Awaitable[None] | None: ...


class DeliverMessage(Protocol):
    def __call__(
        self, delivery: HostDelivery
    ) -> Awaitable[Mapping[str, str] | None] | Mapping[str, str] | None: ...


HOOK_SPECS: dict[str, type] = {
    # The host answers who a request is (return a User) or None to fall back to API tokens.
    "authenticate_request": AuthenticateRequest,
    # The host knows the contact's country (ISO 3166 alpha-2), or None.
    "resolve_recipient_country": ResolveRecipientCountry,
    "before_email_sent": BeforeEmailSent,
    # Event time: may hits on a copy still be recorded (consent's withdrawal gate)?
    "before_hits_recorded": BeforeHitsRecorded,
    # Send time: the footer a tracked copy carries (consent's "Stop tracking" link).
    "resolve_stop_tracking_footer": ResolveStopTrackingFooter,
    "after_email_sent": AfterEmailSent,
    "after_tracking_event": AfterTrackingEvent,
    # The host sends the message through the user's own mailbox and files the Sent copy.
    "deliver_message": DeliverMessage,
}

F = TypeVar("F", bound=Callable[..., Any])


class HookRegistry:
    """Ordered handlers per declared hook name."""

    def __init__(self) -> None:
        # name -> [(order, handler)], kept sorted by order (stable: ties keep registration order).
        self._handlers: dict[str, list[tuple[int, Callable[..., Any]]]] = {
            name: [] for name in HOOK_SPECS
        }

    def _check(self, name: str) -> None:
        if name not in HOOK_SPECS:
            known = ", ".join(sorted(HOOK_SPECS))
            raise UnknownHookError(f"unknown hook {name!r}; known hooks: {known}")

    def register(self, name: str, fn: F | None = None, *, order: int = 0) -> Any:
        """Register ``fn`` for ``name``; usable as ``@register("name")`` too."""
        self._check(name)

        def decorator(handler: F) -> F:
            if not callable(handler):
                raise TypeError(f"hook {name!r} needs a callable, got {handler!r}")
            handlers = self._handlers[name]
            handlers.append((order, handler))
            handlers.sort(key=lambda entry: entry[0])
            return handler

        return decorator(fn) if fn is not None else decorator

    def get_hooks(self, name: str) -> list[Callable[..., Any]]:
        self._check(name)
        return [handler for _, handler in self._handlers[name]]

    async def call_all(self, name: str, *args: Any) -> None:
        """Run every handler in order (``before_*``/``after_*`` hooks)."""
        for handler in self.get_hooks(name):
            result = handler(*args)
            if inspect.isawaitable(result):
                await result

    async def vetoed(self, name: str, *args: Any) -> bool:
        """Run handlers in order until one returns False (a veto: True); else False."""
        for handler in self.get_hooks(name):
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
            if result is False:
                return True
        return False

    async def first_answer(self, name: str, *args: Any) -> Any:
        """Run handlers in order and return the first non-None answer."""
        for handler in self.get_hooks(name):
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                return result
        return None

    def unregister(self, name: str, fn: Callable[..., Any]) -> None:
        """Remove ``fn`` (its first registration) from ``name``; nothing if it is not there."""
        self._check(name)
        entries = self._handlers[name]
        for index, (_, handler) in enumerate(entries):
            if handler is fn or handler == fn:  # (==: the same bound method made again)
                del entries[index]
                break

    @contextmanager
    def registered(self, name: str, fn: Callable[..., Any]) -> Iterator[None]:
        """Register ``fn`` for the duration of a block (tests, temporary host policies)."""
        self.register(name, fn)
        try:
            yield
        finally:
            self.unregister(name, fn)


registry = HookRegistry()
register = registry.register
