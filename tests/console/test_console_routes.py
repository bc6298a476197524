"""The console's page and assets over HTTP: on by default in development only, a strict
Content-Security-Policy, no inline script, nothing from another host."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx

from plugin.console.routes import GRAPHQL_WS, console_routes
from plugin.settings import load_settings

STATIC_DIR = Path(__file__).resolve().parents[2] / "plugin" / "static"


def test_the_console_is_on_in_development_and_a_setting_elsewhere(tmp_path: Path) -> None:
    base = {"MAILBEACON_DATA_DIR": str(tmp_path), "MAILBEACON_SECRET_KEY": "k" * 40}
    assert load_settings({**base, "MAILBEACON_ENV": "development"}).console_enabled
    assert not load_settings({**base, "MAILBEACON_ENV": "test"}).console_enabled
    off = load_settings({**base, "MAILBEACON_ENV": "development", "MAILBEACON_CONSOLE": "false"})
    assert console_routes(off) == []
    on = load_settings({**base, "MAILBEACON_ENV": "test", "MAILBEACON_CONSOLE": "true"})
    assert {getattr(route, "path", None) for route in console_routes(on)} == {"/", "/console"}


async def test_the_page_has_a_strict_policy_and_no_inline_script(http: httpx.AsyncClient) -> None:
    response = await http.get("/console")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    host = http.base_url.netloc.decode()
    assert f"connect-src 'self' ws://{host} wss://{host};" in policy
    assert response.headers["x-frame-options"] == "DENY"
    html = response.text
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(' src="' in tag for tag in scripts)
    assert re.search(r"<script\b[^>]*>\s*[^<\s]", html) is None  # no inline body
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handlers
    assert re.search(r"\sstyle=", html) is None  # no inline style
    assert re.search(r"(?:src|href)=\"(?:https?:)?//", html) is None  # nothing from another host


async def test_a_forged_host_header_cannot_widen_the_policy(http: httpx.AsyncClient) -> None:
    response = await http.get("/console", headers={"Host": "evil.example; script-src *"})
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "script-src *" not in policy
    assert "ws://evil.examplescript-src" in policy  # the junk is squeezed into one bad host


async def test_home_leads_to_the_console(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code == 307 and response.headers["location"] == "/console"


async def test_the_modules_and_the_vendored_client_are_served_from_here(
    http: httpx.AsyncClient,
) -> None:
    for path in ("console/js/main.js", "console/console.css", *GRAPHQL_WS):
        response = await http.get(f"/static/{path}")
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff"
    main = await http.get("/static/console/js/main.js")
    assert "javascript" in main.headers["content-type"]
    # Every module imports only relative paths (no CDN, no bare specifier a browser cannot load).
    checked = 0
    for module in [*(STATIC_DIR / "console").rglob("*.js"), *(STATIC_DIR / "vendor").rglob("*.js")]:
        imports = re.findall(
            r"^(?:import|export)\b[^'\"]*?from\s+['\"]([^'\"]+)['\"]", module.read_text(), re.M
        )
        for specifier in imports:
            assert specifier.startswith("./") or specifier.startswith("../"), (module, specifier)
            checked += 1
    assert checked >= 10
    assert (STATIC_DIR / "vendor" / "graphql-ws-6.4.2" / "LICENSE.md").is_file()


async def test_the_vendored_client_is_the_pinned_one(http: httpx.AsyncClient) -> None:
    page = (await http.get("/console")).text
    for path, integrity in GRAPHQL_WS.items():
        served = (await http.get(f"/static/{path}")).content
        digest = base64.b64encode(hashlib.sha384(served).digest()).decode()
        assert integrity == f"sha384-{digest}", path
        # The page preloads it with that hash: a changed file is refused by the browser.
        assert f'<link rel="modulepreload" href="/static/{path}" integrity="{integrity}">' in page
        assert digest in (STATIC_DIR / "vendor" / "README.md").read_text()
