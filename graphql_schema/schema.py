"""The schema the server serves: domain query and mutation classes merged into one."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types

from graphql_schema.encoding import EncodableText
from graphql_schema.errors import ErrorPolicy
from graphql_schema.execution import EventScopedExecutionContext
from graphql_schema.limits import limit_extensions
from graphql_schema.mutations.connect_mailbox import ConnectMailbox
from graphql_schema.mutations.disconnect_mailbox import DisconnectMailbox
from graphql_schema.mutations.erase_recipient_data import EraseRecipientData
from graphql_schema.mutations.mark_notifications_read import MarkNotificationsRead
from graphql_schema.mutations.record_consent import RecordConsent
from graphql_schema.mutations.request_tracking_consent import RequestTrackingConsent
from graphql_schema.mutations.send_email import SendEmail
from graphql_schema.mutations.update_tracking_preferences import UpdateTrackingPreferences
from graphql_schema.queries.account import AccountQueries
from graphql_schema.queries.consent import ConsentQueries
from graphql_schema.queries.mailbox import MailboxQueries
from graphql_schema.queries.notifications import NotificationQueries
from graphql_schema.queries.sent_emails import SentEmailQueries
from graphql_schema.subscriptions import Subscription
from graphql_schema.text_guard import StorableText
from graphql_schema.types.common import ErrorCodeEnum

__all__ = ["Mutation", "Query", "Subscription", "build_schema", "schema_sdl"]

Query = merge_types(
    "Query",
    (AccountQueries, SentEmailQueries, NotificationQueries, ConsentQueries, MailboxQueries),
)
Mutation = merge_types(
    "Mutation",
    (
        UpdateTrackingPreferences,
        SendEmail,
        MarkNotificationsRead,
        RecordConsent,
        RequestTrackingConsent,
        EraseRecipientData,
        ConnectMailbox,
        DisconnectMailbox,
    ),
)


class MailbeaconSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Expected errors are the client's business; ErrorPolicy logs the unexpected ones."""


def build_schema(
    *, max_depth: int = 12, max_query_bytes: int = 100_000, max_cost: int = 5_000
) -> MailbeaconSchema:
    return MailbeaconSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[ErrorCodeEnum],  # listed for clients, though no field returns it
        extensions=[
            *limit_extensions(
                max_depth=max_depth, max_query_bytes=max_query_bytes, max_cost=max_cost
            ),
            EncodableText,
            ErrorPolicy,
            StorableText,  # after ErrorPolicy: its end-of-operation hook runs before
        ],
        # A long subscription must not keep a memo entry per event it delivered.
        execution_context_class=EventScopedExecutionContext,
    )


def schema_sdl() -> str:
    """The SDL exported to the repository's schema.graphql."""
    return build_schema().as_str() + "\n"
