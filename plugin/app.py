"""The Starlette application and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from consent.pages import consent_routes
from graphql_schema.schema import build_schema
from graphql_schema.view import GraphQLEndpoint
from plugin import health
from plugin.composition import serving
from plugin.console.routes import console_routes
from plugin.observability.access_log import AccessLog, AccessWriter
from plugin.observability.exposition import metrics_routes
from plugin.runtime import RuntimeSlot, process_slot
from plugin.settings import Settings, load_settings
from plugin.static_files import static_routes
from plugin.tracking.edge.routes import TrackingFastPath, tracking_routes
from plugin.tracking.pipeline.self_clients import client_observer

__all__ = ["create_app", "graphql_endpoint", "lifespan_for", "plugin_routes"]


def graphql_endpoint(settings: Settings, slot: RuntimeSlot | None = None) -> GraphQLEndpoint:
    schema = build_schema(
        max_depth=settings.graphql_max_depth,
        max_query_bytes=settings.graphql_max_query_bytes,
        max_cost=settings.graphql_max_cost,
    )
    slot = slot if slot is not None else process_slot()
    observer = client_observer(slot)
    return GraphQLEndpoint(schema, settings, client_observer=observer, slot=slot)


def plugin_routes(settings: Settings, slot: RuntimeSlot | None = None) -> list[BaseRoute]:
    """Every route mailbeacon mounts: a host CRM can add these to its own app.

    ``slot``: where the lifespan (plugin.composition) puts the started runtime; this
    process's unless given.
    """
    endpoint = graphql_endpoint(settings, slot)
    return [
        *tracking_routes(settings, slot),  # first: the hot path matches without trying the rest
        *health.routes,
        *metrics_routes(settings),
        Route("/graphql", endpoint, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", endpoint),
        *consent_routes(settings),
        *console_routes(settings),
        *static_routes(),
    ]


def lifespan_for(settings: Settings, *, embedded_worker: bool | None = None):  # type: ignore[no-untyped-def]
    """A lifespan that runs what ``serve`` needs (plugin.composition.serving)."""
    run_worker_here = settings.embedded if embedded_worker is None else embedded_worker

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with serving(settings, embedded_worker=run_worker_here):
            yield

    return lifespan


class _App(Starlette):
    """Starlette with the tracking paths answered in front of its middleware and router.

    In front of both, the access log (unless switched off).
    """

    def __init__(self, settings: Settings) -> None:
        slot = process_slot()  # the one plugin.composition fills at start
        super().__init__(routes=plugin_routes(settings, slot), lifespan=lifespan_for(settings))
        fast = TrackingFastPath(settings, super().__call__, slot)
        self._entry: ASGIApp = (
            AccessLog(fast, AccessWriter(settings.log_format)) if settings.access_log else fast
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    """The standalone app; the hot tracking paths skip Starlette's stack (TrackingFastPath)."""
    settings = settings or load_settings()
    return _App(settings)
