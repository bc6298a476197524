"""A test that plays a host CRM: it reads the manifest, mounts mailbeacon's routes and
GraphQL types into its own Starlette app and strawberry schema, and plugs in its hooks."""

from __future__ import annotations

from typing import Any

import httpx
import strawberry
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from strawberry.tools import merge_types

from graphql_schema.view import GraphQLEndpoint
from plugin.accounts.models import User
from plugin.hooks import OutgoingEmail, registry
from plugin.manifest import load_manifest, resolve
from tests.conftest import UserFactory


@strawberry.type
class CrmQueries:
    @strawberry.field
    def crm_name(self) -> str:
        return "Acme CRM"


def build_host_app(settings: Any) -> Starlette:
    mounts = load_manifest()["mounts"]
    plugin_query = resolve(mounts["graphql"]["query_types"][0])
    plugin_mutation = resolve(mounts["graphql"]["mutation_types"][0])
    plugin_subscription = resolve(mounts["graphql"]["subscription_types"][0])
    schema = strawberry.Schema(
        query=merge_types("Query", (CrmQueries, plugin_query)),
        mutation=plugin_mutation,
        subscription=plugin_subscription,
    )
    endpoint = GraphQLEndpoint(schema, settings)

    async def crm_home(request: Request) -> JSONResponse:
        return JSONResponse({"crm": "ok"})

    plugin_routes = resolve(mounts["asgi"]["routes"])(settings)
    return Starlette(
        routes=[
            Route("/", crm_home),
            Route("/graphql", endpoint, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", endpoint),
            Mount("/plugins/mailbeacon", routes=plugin_routes),
        ]
    )


async def test_host_mounts_routes_schema_and_hooks(settings: Any, make_user: UserFactory) -> None:
    user = await make_user(name="Host User")
    app = build_host_app(settings)

    async def crm_session(connection: HTTPConnection, token: str | None) -> User | None:
        # The CRM authenticates with its own session header and maps it to a plugin user.
        email = connection.headers.get("x-crm-session")
        return await User.get_or_none(email=email) if email else None

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        assert (await client.get("/")).json() == {"crm": "ok"}
        assert (await client.get("/plugins/mailbeacon/healthz")).text == "ok"

        query = {"query": "{ crmName me { email name } trackingPreferences { defaultTrackOpens } }"}
        refused = await client.post("/graphql", json=query, headers={"X-CRM-Session": user.email})
        assert refused.status_code == 401

        with registry.registered("authenticate_request", crm_session):
            answer = await client.post(
                "/graphql", json=query, headers={"X-CRM-Session": user.email}
            )
            assert answer.json()["data"] == {
                "crmName": "Acme CRM",
                "me": {"email": user.email, "name": "Host User"},
                "trackingPreferences": {"defaultTrackOpens": True},
            }
            # The plugin's own endpoint, mounted under the host's prefix, honours the hook too.
            mounted = await client.post(
                "/plugins/mailbeacon/graphql",
                json={"query": "{ me { email } }"},
                headers={"X-CRM-Session": user.email},
            )
            assert mounted.json()["data"] == {"me": {"email": user.email}}
        # API tokens keep working next to the host's authentication.
        by_token = await client.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"Authorization": f"Bearer {user.token}"},
        )
        assert by_token.json()["data"] == {"me": {"email": user.email}}


async def test_host_hooks_answer_and_restrict() -> None:
    calls: list[str] = []

    def country(email: str) -> str | None:
        calls.append(email)
        return "DE" if email.endswith("@kunde.example") else None

    def policy(outgoing: OutgoingEmail) -> None:
        for recipient in outgoing.recipients:
            if recipient.startswith("vip"):
                outgoing.switch_off_tracking(recipient, f"{recipient}: the CRM never tracks VIPs")

    with (
        registry.registered("resolve_recipient_country", country),
        registry.registered("before_email_sent", policy),
    ):
        assert await registry.first_answer("resolve_recipient_country", "a@kunde.example") == "DE"
        assert await registry.first_answer("resolve_recipient_country", "a@other.example") is None
        outgoing = OutgoingEmail(
            sender_id=1,
            recipients=["vip@x.example", "b@x.example"],
            per_recipient=True,
            track_opens=True,
            track_links=True,
        )
        await registry.call_all("before_email_sent", outgoing)
        assert outgoing.untracked["vip@x.example"] == "vip@x.example: the CRM never tracks VIPs"
        assert "b@x.example" not in outgoing.untracked
    # (Other before_email_sent handlers, such as consent's, may ask for countries too.)
    assert calls[:2] == ["a@kunde.example", "a@other.example"]
    assert await registry.first_answer("resolve_recipient_country", "a@kunde.example") is None
