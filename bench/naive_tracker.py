"""The naive tracker the load benchmark compares against: what one would write first.

Starlette on uvicorn; ``GET /t/o/{email_id}.gif`` inserts one row and bumps one
counter in PostgreSQL (one transaction), then answers the GIF. Nothing is
queued, classified or signed: the request waits for its commit, so the lag from
request to "counted" is its answer time. ``NAIVE_DSN`` names the database
(tables made by ``create_tables``).

    NAIVE_DSN=postgresql://... uvicorn naive_tracker:app --app-dir bench \
        --loop uvloop --http httptools
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
TABLES = """
CREATE TABLE IF NOT EXISTS naive_email (
    id serial PRIMARY KEY, open_count integer NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS naive_open (
    id bigserial PRIMARY KEY, email_id integer NOT NULL REFERENCES naive_email (id),
    occurred_at timestamptz NOT NULL DEFAULT now(), client text NOT NULL, user_agent text NOT NULL);
"""
pool: Any = None


async def create_tables(conn: Any, emails: int) -> None:
    await conn.execute(TABLES)
    await conn.execute("INSERT INTO naive_email (open_count) SELECT 0 FROM generate_series(1, $1)",
                       emails)


async def pixel(request: Request) -> Response:
    email_id = int(request.path_params["email_id"])
    client = request.headers.get("x-forwarded-for") or getattr(request.client, "host", "")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO naive_open (email_id, client, user_agent) VALUES ($1, $2, $3)",
            email_id, client, request.headers.get("user-agent", ""))
        await conn.execute("UPDATE naive_email SET open_count = open_count + 1 WHERE id = $1",
                           email_id)
    return Response(GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(os.environ["NAIVE_DSN"], min_size=10, max_size=20)
    yield
    await pool.close()


app = Starlette(routes=[Route("/t/o/{email_id:int}.gif", pixel)], lifespan=lifespan)
