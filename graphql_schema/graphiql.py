"""GraphiQL, served entirely by mailbeacon (development only): no CDN, no inline script.

The page loads the pinned, vendored React, ReactDOM and GraphiQL from ``/static/``
(plugin/static_files.py) with their SRI hashes, and its own start-up script
``static/graphiql/start.js``; its Content-Security-Policy allows nothing from another host.
Every request needs an API token: GraphiQL's Headers tab starts with the header to fill in.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse

__all__ = ["CONTENT_SECURITY_POLICY", "graphiql_page"]

# Relative URLs: the page is /graphql, so they resolve under the same mount point when a
# host CRM mounts mailbeacon's routes under a prefix.
_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>mailbeacon GraphiQL</title>
    <link rel="stylesheet" href="static/vendor/graphiql-3.8.3/graphiql.min.css"
      integrity="sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM">
    <link rel="stylesheet" href="static/graphiql/page.css">
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL&hellip;</div>
    <script src="static/vendor/react-18.2.0/react.production.min.js"
      integrity="sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8"></script>
    <script src="static/vendor/react-dom-18.2.0/react-dom.production.min.js"
      integrity="sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"></script>
    <script src="static/vendor/graphiql-3.8.3/graphiql.min.js"
      integrity="sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie"></script>
    <script src="static/graphiql/start.js"></script>
  </body>
</html>
"""

# GraphiQL's editors set element styles and its bundled fonts are data: URLs; everything
# else comes from this origin (connect-src 'self' covers the same-origin WebSocket too).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(
        _PAGE,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )
