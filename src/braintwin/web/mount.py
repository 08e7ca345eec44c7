"""Serve the viewer's page and assets: ``/`` (the single page) and ``/static/<file>``.

Assets are read once at start-up, gzip-compressed in memory and answered with a strong ETag
(their SHA-256) so a reload costs a 304. ``index.html`` refers to the bundle with its hash in
the query string, so a new build is fetched at once.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response

from braintwin.web.caching import etag_matches, not_modified

__all__ = ["STATIC_DIR", "VIEWER_CSP", "mount_viewer"]

STATIC_DIR = Path(str(resources.files("braintwin.web") / "static"))
# NiiVue draws with WebGL2 (no eval); its fonts/colour bars come as data:/blob: images.
VIEWER_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    b"font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_ASSET_CACHE = "no-cache"  # revalidate (304) on each load; the page holds no patient data
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gz: bytes
    tag: str
    media_type: str


def _asset(name: str, body: bytes) -> Asset:
    suffix = Path(name).suffix
    media = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith("text/"):
        media += "; charset=utf-8"
    return Asset(body, gzip.compress(body, 9, mtime=0), hashlib.sha256(body).hexdigest(), media)


def load_assets(folder: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every file of the built viewer, by name; ``index.html`` with hashed asset links."""
    if not (folder / "index.html").is_file():
        return {}
    assets = {
        p.name: _asset(p.name, p.read_bytes())
        for p in folder.iterdir()
        if p.is_file() and p.name != "index.html"
    }
    page = (folder / "index.html").read_text("utf-8")
    for name, a in assets.items():  # cache busting: app.js -> app.js?v=<hash>
        page = page.replace(f'"static/{name}"', f'"static/{name}?v={a.tag[:12]}"')
    assets["index.html"] = _asset("index.html", page.encode())
    return assets


def _answer(request: Request, a: Asset) -> Response:
    if etag_matches(request, a.tag):
        return not_modified(a.tag, _ASSET_CACHE)
    headers = {"etag": f'"{a.tag}"', "cache-control": _ASSET_CACHE, "vary": "accept-encoding"}
    body = a.body
    if "gzip" in request.headers.get("accept-encoding", "") and len(a.body) > 1024:
        body = a.gz
        headers["content-encoding"] = "gzip"
    return Response(body, media_type=a.media_type, headers=headers)


def mount_viewer(app: FastAPI, folder: Path = STATIC_DIR) -> bool:
    """Add ``GET /`` and ``GET /static/{name}`` to ``app``; False if the viewer is not built."""
    assets = load_assets(folder)
    if not assets:
        return False

    @app.get("/", include_in_schema=False, name="viewer")
    def viewer_page(request: Request) -> Response:
        return _answer(request, assets["index.html"])

    @app.get("/static/{name}", include_in_schema=False, name="viewer_asset")
    def viewer_asset(name: str, request: Request) -> Response:
        a = assets.get(name)
        if a is None or name == "index.html":
            raise HTTPException(404, "no such file")
        return _answer(request, a)

    return True
