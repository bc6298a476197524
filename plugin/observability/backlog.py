"""The tracking queue's backlog, measured when /metrics is scraped.

Distributed: hits wait in the Redis hit stream (``<prefix>:hits``); the backlog is
the consumer group's lag (entries not yet read) plus its pending entries (read,
not yet acknowledged). Entries carry a group-commit batch each, so this counts
batches, not hits. Embedded: the hits waiting in the in-process consumer's queue.
"""

from __future__ import annotations

from plugin.runtime import current_runtime

__all__ = ["measure_backlog"]

_GROUP = b"ingest"  # plugin.tracking.edge.hit_stream.GROUP


async def measure_backlog() -> int | None:
    """Hit entries (distributed) or hits (embedded) waiting now, or None when unknown."""
    try:
        runtime = current_runtime()
    except RuntimeError:
        return None
    if runtime.redis is not None:
        key = f"{runtime.settings.redis_prefix}:hits"
        if not await runtime.redis.exists(key):
            return 0
        for group in await runtime.redis.xinfo_groups(key):
            if group.get("name") in (_GROUP, _GROUP.decode()):
                return int(group.get("lag") or 0) + int(group.get("pending") or 0)
        return int(await runtime.redis.xlen(key))  # no consumer has started yet
    local = runtime.handoff.local if runtime.handoff is not None else None
    return local.waiting() if local is not None else None
