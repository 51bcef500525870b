"""Falcon resources serving the web UI: the page at ``/`` and its files.

The page is a shell that loads ``app.js``; everything it shows comes from
the admin API (/api/*) with the key the user signed in with.
"""

from __future__ import annotations

import gzip
from typing import Final

import falcon
import falcon.asgi

from ccbridge.ui.assets import Asset, Assets

__all__ = ("SECURITY_HEADERS", "AssetResource", "PageResource", "render_page")

# No inline script or style anywhere: the page is a shell, code comes from 'self'.
_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The reference's security headers (its Gin middleware), plus the CSP.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_YEAR: Final = "public, max-age=31536000, immutable"


def render_page(assets: Assets) -> bytes:
    """Return the HTML shell pointing at this build's files."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ccbridge</title>
<link rel="icon" href="{assets.url("favicon.svg")}">
<link rel="stylesheet" href="{assets.url("vendor/uplot.css")}">
<link rel="stylesheet" href="{assets.url("app.css")}">
<link rel="modulepreload" href="{assets.url("vendor/preact.js")}">
<script type="module" src="{assets.url("app.js")}"></script>
</head>
<body>
<div id="app"><noscript>The ccbridge web UI needs JavaScript.</noscript></div>
</body>
</html>
""".encode()


def _send(req: falcon.asgi.Request, resp: falcon.asgi.Response, asset: Asset) -> None:
    resp.content_type = asset.content_type
    resp.set_headers(SECURITY_HEADERS)
    resp.vary = ("Accept-Encoding",)
    accepts = req.get_header("Accept-Encoding") or ""
    if asset.gzipped is not None and "gzip" in accepts:
        resp.set_header("Content-Encoding", "gzip")
        resp.data = asset.gzipped
    else:
        resp.data = asset.data


class PageResource:
    """GET / : the UI shell, revalidated on every load (it names the build)."""

    def __init__(self, assets: Assets) -> None:
        page = render_page(assets)
        self.page = Asset(page, gzip.compress(page, 9, mtime=0), "text/html; charset=utf-8")

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Answer the shell."""
        _send(req, resp, self.page)
        resp.cache_control = ("no-cache",)


class AssetResource:
    """GET /ui/{build}/{path}: one static file, cached for a year."""

    def __init__(self, assets: Assets) -> None:
        self.assets = assets

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, build: str, path: str
    ) -> None:
        """Answer a file of the current build, or 404."""
        asset = self.assets.files.get(path)
        if build != self.assets.build or asset is None:
            raise falcon.HTTPNotFound()
        _send(req, resp, asset)
        resp.cache_control = (_YEAR,)
