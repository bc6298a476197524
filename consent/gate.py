"""Consent gates used by the sending and tracking pipelines.

(Owned by the consent work; until it lands every recipient may be tracked.)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["hits_may_be_recorded"]


async def hits_may_be_recorded(recipients: Sequence[str]) -> bool:
    """Whether hits on a copy sent to ``recipients`` may still be recorded (event-time gate):
    False once any of them has DENIED or WITHDRAWN consent."""
    return True
