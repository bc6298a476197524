"""sendEmail: map the input to a Draft, call the sending service, map the result."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user, settings_of
from graphql_schema.errors import user_errors_or
from graphql_schema.types.sent_email import (
    SendEmailInput,
    SendEmailPayload,
    SentEmail,
    TrackingDecision,
)
from plugin.sending.service import send_email
from plugin.sending.validation import Draft

__all__ = ["SendEmail"]


def _draft(data: SendEmailInput) -> Draft:
    context: Any = data.context
    return Draft(
        to=list(data.to), cc=list(data.cc or ()), bcc=list(data.bcc or ()),
        subject=data.subject, html=data.html, text=data.text,
        # A non-object context (a list, a string) reaches validation as-is and is refused there.
        context=context,
        track_opens=data.track_opens, track_links=data.track_links,
        track_per_recipient=bool(data.track_per_recipient),
        idempotency_key=data.idempotency_key,
    )


@strawberry.type
class SendEmail:
    @strawberry.mutation(description="Send an email with the tracking decided for it.")
    async def send_email(self, info: Info, input: SendEmailInput) -> SendEmailPayload:
        user = require_user(info)

        async def send() -> SendEmailPayload:
            email, decision = await send_email(user, _draft(input), settings_of(info))
            return SendEmailPayload(
                email=SentEmail.from_model(email),
                tracking=TrackingDecision(
                    opens=decision.opens, links=decision.links, reasons=decision.reasons
                ),
                errors=[],
            )

        # A rejected draft gives one UserError per problem; a template's or a rendered
        # subject's problem (a plain ValidationError) gives one.
        return await user_errors_or(send(), SendEmailPayload.refused)
