"""The process's token signer and tracking URLs, built once from the settings."""

from __future__ import annotations

from functools import cache

from plugin.settings import Settings
from plugin.tracking.edge.tokens import TokenSigner, TrackingUrls

__all__ = ["signer_for", "urls_for"]


@cache
def signer_for(settings: Settings) -> TokenSigner:
    """Signs with the newest secret key; verifies with every configured one (rotation)."""
    return TokenSigner(settings.secret_keys)


@cache
def urls_for(settings: Settings) -> TrackingUrls:
    return TrackingUrls(settings.public_url, signer_for(settings))
