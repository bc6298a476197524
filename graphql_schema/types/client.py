"""Who opened, on what: an event's client, and an email's opens by device and client."""

from __future__ import annotations

import strawberry

from plugin.tracking.pipeline.clients import ClientInfo
from plugin.tracking.repository import OpenBreakdown as OpenBreakdownData

__all__ = ["EventClient", "OpenBreakdown", "OpenCount"]


@strawberry.type(description="The mail client or browser behind an event, from its user agent.")
class EventClient:
    name: str | None = strawberry.field(
        description='The mail client or browser ("Outlook", "Apple Mail", "Chrome Mobile").'
    )
    version: str | None
    os: str | None = strawberry.field(description='The operating system ("Windows 10").')
    device: str = strawberry.field(description="desktop, mobile, tablet or unknown.")
    proxy: str | None = strawberry.field(
        description='The proxy that fetched for the person ("Gmail image proxy", '
        '"Apple Mail Privacy Protection"), which hides the device; null when none.'
    )

    @classmethod
    def of(cls, client: ClientInfo) -> EventClient:
        return cls(
            name=client.name,
            version=client.version,
            os=client.os,
            device=client.device.value,
            proxy=client.proxy,
        )


@strawberry.type
class OpenCount:
    name: str
    count: int


@strawberry.type(description="Counted opens (people only), most first.")
class OpenBreakdown:
    by_device: list[OpenCount] = strawberry.field(
        description="Per device type: desktop, mobile, tablet, unknown (e.g. behind a proxy)."
    )
    by_client: list[OpenCount] = strawberry.field(
        description='Per mail client or browser; "Unknown" when the user agent names none.'
    )

    @classmethod
    def of(cls, data: OpenBreakdownData) -> OpenBreakdown:
        return cls(
            by_device=[OpenCount(name=name, count=count) for name, count in data.by_device],
            by_client=[OpenCount(name=name, count=count) for name, count in data.by_client],
        )
