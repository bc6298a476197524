"""/healthz (the process is alive) and /readyz (its database and Redis answer)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from tortoise.connection import get_connection

from plugin.runtime import current_runtime

__all__ = ["routes"]


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(get_connection("default").execute_query("SELECT 1"), 5)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", with its reason
        checks["database"] = f"error: {type(exc).__name__}"
    redis = current_runtime().redis
    if redis is not None:
        try:
            await asyncio.wait_for(redis.ping(), 5)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


routes = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET"]),
]
