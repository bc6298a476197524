"""Which way a copy leaves, and the clean copy filed in the sender's Sent folder.

In order: a host CRM's ``deliver_message`` hook (it delivers through the user's
mailbox and files the Sent copy itself), else the user's own connected mailbox
(AUTH as that user, envelope sender and From its address, then a clean copy
APPENDed to its Sent folder), else the server-wide transport (``SMTP_URL`` or
the outbox).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from plugin.accounts.models import User
from plugin.errors import MailboxError
from plugin.hooks import HostDelivery, registry
from plugin.mailboxes.imap import append_to_folder
from plugin.mailboxes.smtp_check import smtp_options
from plugin.mailboxes.transport import CredentialsUnreadable, UserMailbox, user_mailbox
from plugin.sending.delivery import (
    DeliveryResult,
    PermanentDeliveryError,
    deliver,
    deliver_many,
)
from plugin.sending.repository import claim_sent_copy_filing
from plugin.sending.wire import Flat
from plugin.settings import Settings

__all__ = ["Route", "file_sent_copy", "route_for", "send_many_through", "send_through"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    from_address: str
    sender: str  # the envelope sender
    host: Callable[..., Any] | None = None
    mailbox: UserMailbox | None = None


async def route_for(user: User, settings: Settings) -> Route:
    """How ``user``'s mail leaves. Raises PermanentDeliveryError when the user's mailbox
    credentials can no longer be decrypted (a secret key was dropped): sending from the
    company's account instead would not be what the user chose."""
    hosts = registry.get_hooks("deliver_message")
    try:
        mailbox = await user_mailbox(user.id, settings)
    except CredentialsUnreadable as error:
        if hosts:
            mailbox = None
        else:
            raise PermanentDeliveryError(f"{error}: connect the mailbox again") from None
    if mailbox is not None:
        address = mailbox.address
        return Route(from_address=address, sender=address, host=hosts[0] if hosts else None,
                     mailbox=mailbox)
    return Route(
        from_address=user.email, sender=settings.bounce_address or user.email,
        host=hosts[0] if hosts else None,
    )


async def send_through(
    route: Route, message: EmailMessage | Flat, *, clean: Callable[[], Awaitable[EmailMessage]],
    user: User,
    recipients: Sequence[str], settings: Settings,
) -> DeliveryResult:
    if route.host is not None:
        assert isinstance(message, EmailMessage)  # built whole for a host (see dispatch)
        answer = route.host(HostDelivery(
            user=user, message=message, sent_copy=await clean(), sender=route.sender,
            recipients=list(recipients),
        ))
        if inspect.isawaitable(answer):
            answer = await answer
        refused: Mapping[str, str] = answer or {}
        return DeliveryResult(refused=dict(refused))
    if route.mailbox is not None:
        smtp = route.mailbox.smtp
        # One pool per server and account; the key holds no password in clear.
        key = "mailbox:" + hashlib.sha256(smtp.url.encode("utf-8")).hexdigest()
        return await deliver(message, sender=route.sender, recipients=recipients,
                             settings=settings, through=(key, smtp_options(smtp)))
    return await deliver(message, sender=route.sender, recipients=recipients, settings=settings)


async def send_many_through(
    route: Route, messages: Sequence[tuple[EmailMessage | Flat, Sequence[str]]], *,
    clean: Callable[[], Awaitable[EmailMessage]], user: User, settings: Settings,
) -> list[DeliveryResult | Exception]:
    """``send_through`` for several messages (each with its recipients); for each, in
    order, its result or the error it ended with. SMTP routes send them together over the
    pool's connections; a host hook gets them one at a time."""
    if route.host is not None:
        results: list[DeliveryResult | Exception] = []
        for message, recipients in messages:
            try:
                results.append(await send_through(route, message, clean=clean, user=user,
                                                  recipients=recipients, settings=settings))
            except Exception as error:
                results.append(error)
        return results
    through = None
    if route.mailbox is not None:
        smtp = route.mailbox.smtp
        # One pool per server and account; the key holds no password in clear.
        key = "mailbox:" + hashlib.sha256(smtp.url.encode("utf-8")).hexdigest()
        through = (key, smtp_options(smtp))
    return list(await deliver_many(messages, sender=route.sender, settings=settings,
                                   through=through))


async def file_sent_copy(
    route: Route, email_id: int, clean: Callable[[], Awaitable[EmailMessage]]
) -> None:
    """APPEND the clean copy to the user's Sent folder, once per email (never retried: a
    second attempt after an unclear failure could file it twice)."""
    mailbox = route.mailbox
    if route.host is not None or mailbox is None or mailbox.imap is None:
        return
    if not mailbox.sent_folder:
        return
    if not await claim_sent_copy_filing(email_id):
        return
    try:
        message = await clean()
        await append_to_folder(mailbox.imap, mailbox.sent_folder, message.as_bytes())
    except MailboxError as error:
        log.warning("email %s: the Sent copy was not filed (%s: %s)", email_id, error.code,
                    error.message)
    except Exception:
        log.exception("email %s: filing the Sent copy failed", email_id)
