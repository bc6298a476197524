"""Every Prometheus metric mailbeacon exports, in one place, named ``mailbeacon_*``.

Call the helpers below from the code path that knows the fact; they are cheap
(a lock and an add, or an mmap write in multiprocess mode) and never raise into
the caller's work. In ``serve`` and ``worker`` the values are shared through
prometheus-client's multiprocess mode (``plugin.observability.multiprocess``),
so one scrape of ``/metrics`` sums every server and worker process of the machine.

Label values are small closed sets (kinds, outcomes, classifications, statuses):
never an address, a token or an id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "COPIES_SENT",
    "EVENTS_RECORDED",
    "HANDOFF_BATCH_SECONDS",
    "HANDOFF_BATCH_SIZE",
    "HITS_ANSWERED",
    "INGEST_SECONDS",
    "LIVE_SUBSCRIBERS",
    "NOTIFICATIONS",
    "QUEUE_BACKLOG",
    "QUEUE_LAG_SECONDS",
    "SMTP_SECONDS",
    "observe_handoff_batch",
    "observe_ingest",
    "observe_queue_lag",
    "record_copy_sent",
    "record_events",
    "record_notification",
    "set_queue_backlog",
]

# Batch sizes: a lone hit when idle, up to the hand-off's cap (1000) under load.
_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# Sub-millisecond appends (spool fsync) to multi-second SMTP conversations.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)
# Queue lag: from the hit at the edge to its recording; seconds to minutes (a worker outage).
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

HITS_ANSWERED = Counter(
    "mailbeacon_tracking_hits",
    "Tracking requests answered by the pixel and click endpoints. kind: open|click; outcome: "
    "queued (a valid token, handed to the queue), invalid (bad or foreign token: nothing "
    "recorded), queue_failed (valid, but the queue refused it), repeat_not_stored (one "
    "client's repeat beyond MAILBEACON_FLOOD_LIMIT: answered, not stored), method_not_allowed.",
    ["kind", "outcome"],
)
HANDOFF_BATCH_SIZE = Histogram(
    "mailbeacon_handoff_batch_size",
    "Hits per batch handed from the endpoints to the queue (group commit).",
    buckets=_SIZE_BUCKETS,
)
HANDOFF_BATCH_SECONDS = Histogram(
    "mailbeacon_handoff_batch_seconds",
    "How long writing one hand-off batch to the queue took (Redis round trip or spool fsync).",
    buckets=_LATENCY_BUCKETS,
)
QUEUE_BACKLOG = Gauge(
    "mailbeacon_queue_backlog",
    "Messages waiting in the tracking queue, measured when /metrics is scraped.",
    multiprocess_mode="mostrecent",
)
QUEUE_LAG_SECONDS = Histogram(
    "mailbeacon_queue_lag_seconds",
    "Age of the oldest hit of a batch when a worker starts recording it (edge to worker).",
    buckets=_LAG_BUCKETS,
)
EVENTS_RECORDED = Counter(
    "mailbeacon_events_recorded",
    "Tracking events newly stored. kind: open|click; source: HUMAN|MACHINE|BOT|SELF, or "
    "PENDING for a human-looking click held for its burst window; duplicate: true|false.",
    ["kind", "source", "duplicate"],
)
INGEST_BATCH_SIZE = Histogram(
    "mailbeacon_ingest_batch_size",
    "Hits per batch recorded by a consumer (everything waiting, taken at once).",
    buckets=_SIZE_BUCKETS,
)
INGEST_SECONDS = Histogram(
    "mailbeacon_ingest_seconds",
    "How long recording one batch of hits took (classify, store, fan out).",
    buckets=_LATENCY_BUCKETS,
)
NOTIFICATIONS = Counter(
    "mailbeacon_notifications",
    "Bell notifications for human events. outcome: created (a new notification) or "
    "coalesced (counted into an unread one).",
    ["outcome"],
)
LIVE_SUBSCRIBERS = Gauge(
    "mailbeacon_live_subscribers",
    "Live subscriptions (WebSocket) open now, summed over the running server processes.",
    multiprocess_mode="livesum",
)
COPIES_SENT = Counter(
    "mailbeacon_copies_sent",
    "Email copies by delivery outcome. status: sent, failed (permanently) or retrying.",
    ["status"],
)
SMTP_SECONDS = Histogram(
    "mailbeacon_smtp_seconds",
    "How long one delivery took (the SMTP conversation, or writing the outbox file).",
    buckets=_LATENCY_BUCKETS,
)


def observe_handoff_batch(size: int, seconds: float) -> None:
    """One batch of ``size`` hits was written to the queue in ``seconds``."""
    HANDOFF_BATCH_SIZE.observe(size)
    HANDOFF_BATCH_SECONDS.observe(seconds)


def set_queue_backlog(messages: int) -> None:
    """The tracking queue holds ``messages`` messages now."""
    QUEUE_BACKLOG.set(messages)


def observe_queue_lag(seconds: float) -> None:
    """A worker picked up a batch whose oldest hit happened ``seconds`` ago."""
    QUEUE_LAG_SECONDS.observe(max(seconds, 0.0))


def observe_ingest(seconds: float, size: int | None = None) -> None:
    """One batch (of ``size`` hits) was recorded in ``seconds``."""
    INGEST_SECONDS.observe(seconds)
    if size is not None:
        INGEST_BATCH_SIZE.observe(size)


def record_events(kind: str, source: str, *, duplicate: bool, count: int = 1) -> None:
    """``count`` events of this kind and classification were stored."""
    EVENTS_RECORDED.labels(kind, source, "true" if duplicate else "false").inc(count)


def record_notification(*, coalesced: bool, count: int = 1) -> None:
    """Human events rang the bell: a new notification, or more on an unread one."""
    NOTIFICATIONS.labels("coalesced" if coalesced else "created").inc(count)


def record_copy_sent(status: str, seconds: float | None = None) -> None:
    """A copy's delivery ended with ``status`` (sent|failed|retrying) after ``seconds``."""
    COPIES_SENT.labels(status).inc()
    if seconds is not None:
        SMTP_SECONDS.observe(seconds)
