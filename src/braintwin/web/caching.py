"""HTTP caching of immutable content: strong ETags from content hashes, 304 answers, gzip.

Stored volumes are content-addressed (their SHA-256 is in the store), so the hash is a strong
validator: the browser keeps a copy and revalidates it with ``If-None-Match`` (a 304 costs a
few bytes instead of megabytes). The responses are ``private`` (patient data: shared caches
must not keep them) and must be revalidated, so a revoked account stops seeing them at once.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request, Response
from fastapi.responses import FileResponse

__all__ = ["PRIVATE_REVALIDATE", "cacheable_file", "etag_matches", "not_modified"]

# no-cache = store but revalidate before each use; the 304 needs a valid token, so access
# stays checked on every load
PRIVATE_REVALIDATE = "private, no-cache"


def _tag(value: str) -> str:
    return f'"{value}"'


def etag_matches(request: Request, tag: str) -> bool:
    """Whether the request's ``If-None-Match`` names the strong tag ``tag`` (unquoted)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = _tag(tag)
    return any(part.strip().removeprefix("W/") == wanted for part in header.split(","))


def not_modified(tag: str, cache_control: str = PRIVATE_REVALIDATE) -> Response:
    return Response(status_code=304, headers={"etag": _tag(tag), "cache-control": cache_control})


def cacheable_file(
    request: Request,
    path: Path,
    tag: str,
    *,
    media_type: str,
    filename: str | None = None,
    content_encoding: str | None = None,
    cache_control: str = PRIVATE_REVALIDATE,
) -> Response:
    """``path`` with a strong ETag ``tag`` (304 when the client holds it).

    ``content_encoding="gzip"`` sends a gzip file as the compressed encoding of its content
    (the browser inflates it natively); otherwise the file is sent as it is.
    """
    if etag_matches(request, tag):
        return not_modified(tag, cache_control)
    headers = {"etag": _tag(tag), "cache-control": cache_control, "vary": "accept-encoding"}
    if content_encoding:
        headers["content-encoding"] = content_encoding
    return FileResponse(path, media_type=media_type, filename=filename, headers=headers)
