"""``GET /metrics``: the Prometheus text format, for a scraper holding the metrics token.

Off (404, as if the route did not exist) while ``MAILBEACON_METRICS_TOKEN`` is
unset; otherwise a request without ``Authorization: Bearer <token>`` gets 401.
The token is compared in constant time. Before rendering, the queue backlog is
measured (``plugin.observability.backlog``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from plugin.observability.backlog import measure_backlog
from plugin.observability.metrics import set_queue_backlog
from plugin.observability.multiprocess import multiprocess_dir, remove_dead_process_files
from plugin.settings import Settings

__all__ = ["metrics_routes", "render_metrics"]

log = logging.getLogger(__name__)

_BACKLOG_TIMEOUT_SECONDS = 2.0


def render_metrics() -> bytes:
    """Every metric of this machine's processes (multiprocess) or of this process."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    remove_dead_process_files(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry)


def _authorised(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_routes(settings: Settings) -> list[Route]:
    token = settings.metrics_token

    async def metrics(request: Request) -> Response:
        if token is None:
            return PlainTextResponse("Not Found", status_code=404)
        if not _authorised(request, token):
            return PlainTextResponse(
                "unauthorized", status_code=401, headers={"www-authenticate": "Bearer"}
            )
        try:
            backlog = await asyncio.wait_for(measure_backlog(), _BACKLOG_TIMEOUT_SECONDS)
        except Exception as exc:  # the figure is stale, the scrape still answers
            log.warning("metrics: could not measure the queue backlog (%s)", type(exc).__name__)
            backlog = None
        if backlog is not None:
            set_queue_backlog(backlog)
        body = await asyncio.to_thread(render_metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"})

    return [Route("/metrics", metrics, methods=["GET"])]
