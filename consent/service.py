"""Recipients' consent: the current state, appending records, and the policy in force.

State of a recipient: the latest :class:`ConsentRecord` for its normalized
address, else UNKNOWN. The suppression table holds the keyed hash of every
address whose current state is a refusal (DENIED or WITHDRAWN): it is kept in
step with the records (a refusal adds the entry, a GRANTED removes it), it is
what erasure leaves behind (then with status WITHDRAWN and no record), and it
answers the event-time gate in one indexed query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from consent import repository
from consent.jurisdiction import Jurisdiction, normalize_address, resolve_jurisdiction
from consent.models import ConsentState
from consent.policy import (
    DEFAULT_POLICIES,
    ConsentStatus,
    Policy,
    PolicyConfig,
    policy_for,
    requires_consent,
)
from consent.signing import keys_for
from plugin.accounts.models import User
from plugin.errors import ErrorCode, MailbeaconError, ValidationError
from plugin.hooks import registry
from plugin.sending.validation import check_address, check_text
from plugin.settings import Settings

__all__ = [
    "REFUSALS",
    "ConsentState",
    "FormUsedError",
    "RecipientConsentState",
    "RecipientRefusedError",
    "jurisdiction_of",
    "latest_change_at",
    "policy_config",
    "recipient_consent",
    "record_consent",
    "refused_by_recipient",
    "spend_form",
    "statuses_of",
    "validate_address",
]

#: Statuses that switch tracking off wherever the recipient lives.
REFUSALS = frozenset({ConsentState.DENIED, ConsentState.WITHDRAWN})
#: Source reported for a state that only a suppression entry (erasure) still holds.
ERASURE_SOURCE = "erasure"
_MAX_SOURCE = 100
_MAX_NOTE = 1000


@dataclass(frozen=True)
class RecipientConsentState:
    """What ``recipientConsent`` reports."""

    email: str
    jurisdiction: str | None
    requires_consent: bool
    policy: Policy
    status: ConsentStatus
    updated_at: datetime | None
    source: str | None


@dataclass(frozen=True)
class _Current:
    status: ConsentStatus
    updated_at: datetime | None
    source: str | None


@cache
def policy_config(settings: Settings) -> PolicyConfig:
    """The policy configuration of these settings.

    An empty policy map means the defaults (EU, EEA, UK opt-in, CH opt-out): a
    configuration that forgot the map must not silently track Europeans.
    """
    by_region = dict(settings.consent_policies) or dict(DEFAULT_POLICIES)
    return PolicyConfig(
        by_region=by_region,  # type: ignore[arg-type]  # validated by PolicyConfig
        company_country=settings.company_country,
        unknown_policy=settings.unknown_policy,  # type: ignore[arg-type]
    )


def validate_address(email: str, field: str = "email") -> str:
    """The address as consent keys it (see :func:`normalize_address`), after the one address
    validator sendEmail uses: INVALID_ADDRESS, HEADER_INJECTION or INVALID_TEXT otherwise."""
    return normalize_address(check_address(email, field=field).display)


async def jurisdiction_of(email: str) -> Jurisdiction:
    """The host CRM's country for the contact first, then the address's ccTLD."""
    country = await registry.first_answer("resolve_recipient_country", email)
    return resolve_jurisdiction(email, host_country=country if isinstance(country, str) else None)


async def _currents(addresses: Iterable[str], settings: Settings) -> dict[str, _Current]:
    wanted = {normalize_address(a) for a in addresses}
    result = {a: _Current(ConsentStatus.UNKNOWN, None, None) for a in wanted}
    if not wanted:
        return result
    # Oldest first: the last one seen per recipient is the latest.
    for row in await repository.records_of(wanted):
        result[row.recipient] = _Current(
            ConsentStatus(row.status.value), row.recorded_at, row.source
        )
    keys = keys_for(settings)
    by_hash = {h: a for a in wanted for h in keys.address_hashes(a)}
    for entry in await repository.suppressions_among(by_hash):
        address = by_hash[entry.address_hash]
        # Without a record (erased), the entry alone says WITHDRAWN; a record present
        # is itself the refusal that made the entry.
        if result[address].updated_at is None or result[address].status is ConsentStatus.GRANTED:
            result[address] = _Current(
                ConsentStatus(entry.status.value), entry.created_at, ERASURE_SOURCE
            )
    return result


async def statuses_of(
    addresses: Iterable[str], settings: Settings
) -> dict[str, ConsentStatus]:
    """Current status per normalized address (two queries whatever the count)."""
    currents = await _currents(addresses, settings)
    return {address: current.status for address, current in currents.items()}


async def latest_change_at(email: str, settings: Settings) -> datetime | None:
    """When the recipient's consent last changed (a record or a suppression entry)."""
    address = normalize_address(email)
    return (await _currents([address], settings))[address].updated_at


async def recipient_consent(email: str, settings: Settings) -> RecipientConsentState:
    """The recipient's jurisdiction, policy and current consent."""
    address = validate_address(email)
    jurisdiction = await jurisdiction_of(address)
    policy = policy_for(jurisdiction, policy_config(settings))
    current = (await _currents([address], settings))[address]
    return RecipientConsentState(
        email=address,
        jurisdiction=jurisdiction.region,
        requires_consent=requires_consent(policy),
        policy=policy,
        status=current.status,
        updated_at=current.updated_at,
        source=current.source,
    )


class RecipientRefusedError(MailbeaconError):
    """A CRM user's GRANTED over the recipient's own refusal (or an erasure)."""

    code = ErrorCode.RECIPIENT_REFUSED


class FormUsedError(ValidationError):
    """The consent form was used already (one form records one choice)."""

    code = ErrorCode.FORM_USED


def _parse_status(status: ConsentStatus | ConsentState | str) -> ConsentState:
    try:
        return ConsentState(status.value if isinstance(status, ConsentStatus) else str(status))
    except ValueError:
        raise ValidationError(
            "status must be GRANTED, DENIED or WITHDRAWN", field="status"
        ) from None


def _clean_text(value: str | None, field: str, limit: int) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    check_text(text, field=field)
    if len(text) > limit:
        raise ValidationError(f"{field} has at most {limit} characters", field=field,
                              code=ErrorCode.TOO_LARGE)
    return text or None


async def spend_form(nonce: str) -> None:
    """Mark a consent form used (FormUsedError if it was): the insert under a unique key is
    the atomic check, whatever the number of concurrent POSTs."""
    try:
        await repository.insert_form_use(nonce)
    except IntegrityError:
        raise FormUsedError("this consent form was used already", field="form") from None


async def refused_by_recipient(email: str, settings: Settings) -> bool:
    """Whether the recipient's own refusal (consent page, erasure) stands: then only the
    recipient's own grant, or an administrator's with a note of the proof, lifts it."""
    hashes = keys_for(settings).address_hashes(email)
    return await repository.any_suppressed(hashes, by_recipient_only=True)


async def record_consent(
    email: str,
    status: ConsentStatus | ConsentState | str,
    source: str,
    recorded_by: User | None,
    settings: Settings,
    *,
    note: str | None = None,
    by_recipient: bool = False,
    form_nonce: str | None = None,
) -> RecipientConsentState:
    """Append a consent record (who, why, the consent text version in force) and return the
    new state.

    ``by_recipient``: the recipient's own choice (the consent page, through a link mailed to
    the recipient alone; ``recorded_by`` is None then). Otherwise a CRM user
    (``recorded_by``; None is the operator's command line) records it, and a GRANTED over
    the recipient's own refusal or an erasure raises RecipientRefusedError unless an
    administrator (or the operator) gives ``note``, the proof of the recipient's consent.
    ``form_nonce``: the consent form's nonce, spent in the same transaction (FormUsedError
    when it was spent already: a form records one choice, however many POSTs race).
    """
    address = validate_address(email)
    state = _parse_status(status)
    source = _clean_text(source, "source", _MAX_SOURCE) or ""
    if not source:
        raise ValidationError(f"source must be 1 to {_MAX_SOURCE} characters", field="source")
    note = _clean_text(note, "note", _MAX_NOTE)
    if by_recipient and recorded_by is not None:
        raise ValueError("a recipient's own choice has no recording user")
    if state is ConsentState.GRANTED and not by_recipient:
        admin = recorded_by is None or recorded_by.is_admin
        if (not admin or note is None) and await refused_by_recipient(address, settings):
            raise RecipientRefusedError(
                "the recipient refused tracking (on the consent page, or by asking for "
                "erasure); a user cannot record a grant over that. Ask the recipient to allow "
                "tracking on the consent page (requestTrackingConsent), or have an "
                "administrator record it with a note of the proof",
                field="status",
            )
    hashes = keys_for(settings).address_hashes(address)
    async with in_transaction():
        if form_nonce is not None:
            # First: a second POST of the form stops here, and nothing is written.
            await spend_form(form_nonce)
        await repository.append_record(
            recipient=address,
            status=state,
            source=source,
            text_version=settings.consent_text_version,
            recorded_by=recorded_by,
            by_recipient=by_recipient,
            note=note,
        )
        await repository.keep_suppression_in_step(hashes, state, by_recipient)
    return await recipient_consent(address, settings)
