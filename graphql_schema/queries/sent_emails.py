"""sentEmails and sentEmail: the Mail tab, scoped to the caller."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.pagination import decode_cursor, encode_cursor, page_size
from graphql_schema.types.common import PageInfo
from graphql_schema.types.sent_email import (
    SentEmail,
    SentEmailConnection,
    SentEmailEdge,
    SentEmailFilter,
)
from plugin.sending.repository import EmailFilter, get_email, list_emails

__all__ = ["SentEmailQueries"]


@strawberry.type
class SentEmailQueries:
    @strawberry.field(description="The caller's sent emails, newest first.")
    async def sent_emails(
        self,
        info: Info,
        filter: SentEmailFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> SentEmailConnection:
        user = require_user(info)
        size = page_size(first)
        flt = EmailFilter(**vars(filter)) if filter else EmailFilter()
        page = await list_emails(user.id, flt, first=size, after=decode_cursor(after))
        edges = [
            SentEmailEdge(
                cursor=encode_cursor(email.created_at, email.id), node=SentEmail.from_model(email)
            )
            for email in page.emails
        ]
        return SentEmailConnection(
            edges=edges,
            page_info=PageInfo.of([e.cursor for e in edges], has_next_page=page.has_next_page),
            total_count=page.total_count,
        )

    @strawberry.field
    async def sent_email(self, info: Info, id: strawberry.ID) -> SentEmail | None:
        email = await get_email(require_user(info).id, id)
        return SentEmail.from_model(email) if email else None
