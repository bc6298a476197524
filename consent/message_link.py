"""What the message-level link of a shared message may do, and nothing more.

A message sent to several recipients in one copy carries one link for all of them
(DESIGN.md, consent), so whoever holds it is *some* recipient of that message, not a
particular one. It may therefore only:

- stop the tracking of that message, for everyone on it (it only reduces tracking):
  hits on the copy are no longer recorded (see ``load_copies`` in plugin.tracking);
- ask for a personal link, mailed to one address alone, and only to an address that
  was a recipient of that message (to, cc or bcc): whoever reads that mail is that
  recipient. At most one such mail per address per day (a unique key on the address's
  keyed hash and the day, taken atomically before sending), so the page cannot be
  turned into a mail cannon: an attacker holding the link reaches only the message's
  own recipients, once a day each, with a pixel-free mail they can ignore.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from consent import repository
from consent.jurisdiction import normalize_address
from consent.request import request_tracking_consent
from consent.signing import keys_for
from plugin.accounts.models import User
from plugin.errors import MailbeaconError
from plugin.settings import Settings

__all__ = ["claim_personal_link_mail", "mail_personal_link", "stop_message_tracking"]

log = logging.getLogger(__name__)

_SECONDS_PER_DAY = 86_400


async def stop_message_tracking(public_id: str) -> bool:
    """Stop recording hits on the copy (idempotent); False when no such copy exists."""
    return await repository.stop_copy_tracking(public_id)


async def _recipients_of(public_id: str) -> tuple[User, set[str]] | None:
    copy = await repository.copy_with_sender(public_id)
    if copy is None:
        return None
    email = copy.email
    listed = (
        [copy.recipient]
        if copy.recipient
        else [*email.to_addresses, *email.cc_addresses, *email.bcc_addresses]
    )
    return email.user, {normalize_address(str(address)) for address in listed}


async def claim_personal_link_mail(public_id: str, address: str, settings: Settings) -> User | None:
    """The user to send the personal link from, when ``address`` (normalized) was a
    recipient of the message and no personal link was mailed to it today; else None.
    The claim is an insert under a unique key, so racing requests send one mail."""
    found = await _recipients_of(public_id)
    if found is None or address not in found[1]:
        return None
    day = int(datetime.now(UTC).timestamp()) // _SECONDS_PER_DAY
    try:
        await repository.insert_link_mail(keys_for(settings).address_hash(address), day)
    except IntegrityError:
        return None
    return found[0]


async def mail_personal_link(address: str, sender: User, settings: Settings) -> None:
    """Mail the personal link (the pixel-free consent request) to ``address`` alone.

    Runs after the page answered (a background task), so the answer's timing does not
    tell whether the address was on the message; failures are logged without the address.
    """
    try:
        await request_tracking_consent(address, sender, settings)
    except MailbeaconError as error:
        log.warning("a personal consent link could not be mailed (%s)", error.code)
