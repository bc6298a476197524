"""The baseline a user would write instead: a bare Starlette app serving the same GIF.

Used by bench_pixel.py under uvicorn and granian; no token check, no hand-off.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from plugin.tracking.edge.routes import PIXEL_GIF

__all__ = ["app"]


async def pixel(request: Request) -> Response:
    return Response(PIXEL_GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})


async def click(request: Request) -> Response:
    return RedirectResponse("https://example.com/landing", status_code=302)


app = Starlette(routes=[Route("/t/o/{token}", pixel), Route("/t/c/{token}", click)])
