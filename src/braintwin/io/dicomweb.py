"""A DICOMweb STOW-RS client (PS3.18 10.5): store DICOM files on a PACS over HTTP, with httpx.

Files are sent as ``multipart/related; type="application/dicom"`` to ``{base}/studies``, a few
at a time (at most :data:`BATCH_FILES` files or :data:`BATCH_BYTES` bytes per request). The
server's answer (``application/dicom+json``) lists each instance as stored (Referenced SOP
Sequence) or failed (Failed SOP Sequence, with a Failure Reason); an HTTP error, a refused
connection or a TLS failure stops the push. Whatever happens, :class:`DicomWebError` says in one
line how many objects were stored and which were not (by content name, e.g. ``seg.dcm``, never
a patient identifier). Credentials (HTTP basic or a bearer token) are sent, never printed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from braintwin.errors import BraintwinError, InputError

__all__ = [
    "BATCH_BYTES",
    "BATCH_FILES",
    "DicomWebAuth",
    "DicomWebError",
    "StowResult",
    "stow_files",
]

BATCH_FILES = 64
BATCH_BYTES = 32 * 1024 * 1024
_REFERENCED_SOP_SEQ = "00081199"
_FAILED_SOP_SEQ = "00081198"
_REFERENCED_SOP_UID = "00081155"
_FAILURE_REASON = "00081197"


@dataclass(frozen=True)
class DicomWebAuth:
    """HTTP credentials: a bearer ``token``, or ``user`` and ``password`` (basic)."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never shows a secret in a log or traceback
        kind = "token" if self.token else "basic" if self.user else "none"
        return f"DicomWebAuth({kind})"


@dataclass
class StowResult:
    """What a push achieved: stored and failed objects by their display names."""

    stored: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_stored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.stored)} stored"]
        if self.failed:
            parts.append(f"{len(self.failed)} refused ({_names(self.failed)})")
        if self.not_stored:
            parts.append(f"{len(self.not_stored)} not stored ({_names(self.not_stored)})")
        return ", ".join(parts)


class DicomWebError(BraintwinError):
    """A STOW-RS push did not store everything; ``result`` says what was and was not stored."""

    def __init__(self, problem: str, result: StowResult, hint: str | None = None) -> None:
        self.result = result
        super().__init__(f"STOW-RS push failed: {problem}; {result.summary()}", hint)


def _names(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _batches(files: Sequence[_Item]) -> list[list[_Item]]:
    out: list[list[_Item]] = []
    size = 0
    for item in files:
        n = item.path.stat().st_size
        if not out or len(out[-1]) >= BATCH_FILES or (out[-1] and size + n > BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(item)
        size += n
    return out


def _body(paths: Sequence[Path], boundary: str) -> bytes:
    chunks: list[bytes] = []
    for path in paths:
        chunks += [
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(),
            path.read_bytes(),
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


@dataclass(frozen=True)
class _Item:
    name: str
    path: Path
    uid: str


def _item(name: str, path: Path) -> _Item:
    """A file to send, with its SOP Instance UID; refuses (before anything is sent) non-DICOM."""
    import pydicom

    try:
        uid = pydicom.dcmread(path, stop_before_pixels=True).get("SOPInstanceUID")
    except (OSError, pydicom.errors.InvalidDicomError) as err:
        raise InputError(
            f"{name} is not a readable DICOM file; nothing was sent",
            "push only the .dcm files that `braintwin export dicom` wrote",
        ) from err
    if not uid:
        raise InputError(f"{name} has no SOP Instance UID; nothing was sent")
    return _Item(name, path, str(uid))


def _uids_in(answer: Any, sequence: str) -> dict[str, str]:
    """``{SOP Instance UID: failure reason or ""}`` listed in one sequence of the answer."""
    items = ((answer or {}).get(sequence) or {}).get("Value") or []
    out: dict[str, str] = {}
    for item in items:
        uid = ((item.get(_REFERENCED_SOP_UID) or {}).get("Value") or [""])[0]
        reason = ((item.get(_FAILURE_REASON) or {}).get("Value") or [""])[0]
        out[str(uid)] = f"0x{int(reason):04X}" if str(reason).isdigit() else str(reason)
    return out


def _answer(response: Any) -> Any:
    try:
        data = response.json()
    except ValueError:
        return None
    return data[0] if isinstance(data, list) and data else data if isinstance(data, dict) else None


def _headers(auth: DicomWebAuth | None, boundary: str) -> dict[str, str]:
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json",
    }
    if auth is not None and auth.token:
        headers["Authorization"] = f"Bearer {auth.token}"
    return headers


def _check_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(
            "the DICOMweb address is not an http(s) URL",
            "give the server's DICOMweb root, e.g. https://pacs.example.org/dicom-web",
        )
    if parts.username or parts.password:
        raise InputError(
            "the DICOMweb address carries credentials",
            "pass --user with $BRAINTWIN_DICOMWEB_PASSWORD, or $BRAINTWIN_DICOMWEB_TOKEN",
        )
    return url.rstrip("/") + "/studies"


def _send(
    client: Any, endpoint: str, batch: Sequence[_Item], auth: DicomWebAuth | None
) -> tuple[list[str], list[str], str | None]:
    """POST one batch; the (stored, refused) names and the problem with the request, if any."""
    import httpx

    boundary = "braintwin-" + secrets.token_hex(12)
    basic = (auth.user, auth.password or "") if auth is not None and auth.user else None
    try:
        response = client.post(
            endpoint,
            content=_body([it.path for it in batch], boundary),
            headers=_headers(auth, boundary),
            auth=basic,
        )
    except httpx.ConnectError as err:
        cause = str(err).lower()
        if "ssl" in cause or "certificate" in cause or "tls" in cause:
            return [], [], "TLS handshake failed (certificate not trusted, or no https there)"
        return [], [], "cannot connect to the server (connection refused or host unknown)"
    except httpx.TimeoutException:
        return [], [], "the server did not answer in time"
    except httpx.HTTPError as err:
        return [], [], f"HTTP transport error ({type(err).__name__})"
    answer = _answer(response)
    ok = _uids_in(answer, _REFERENCED_SOP_SEQ)
    bad = _uids_in(answer, _FAILED_SOP_SEQ)
    stored = [it.name for it in batch if it.uid in ok and it.uid not in bad]
    failed = [
        f"{it.name} ({bad[it.uid]})" if bad[it.uid] else it.name for it in batch if it.uid in bad
    ]
    if response.status_code >= 400 and response.status_code != 409:
        reason = response.reason_phrase or "error"
        return stored, failed, f"the server answered HTTP {response.status_code} {reason}"
    if answer is None and response.status_code == 200:
        stored = [it.name for it in batch]  # servers may omit the body on full success
    unknown = [it.name for it in batch if it.name not in stored and it.uid not in bad]
    return stored, failed + [f"{n} (not acknowledged)" for n in unknown], None


def stow_files(
    url: str,
    files: Sequence[tuple[str, str | os.PathLike[str]]],
    *,
    auth: DicomWebAuth | None = None,
    timeout_s: float = 60.0,
    verify: bool | str = True,
) -> StowResult:
    """Store ``files`` on the DICOMweb server at ``url`` (its root, e.g. ``…/dicom-web``).

    Args:
        url: the server's DICOMweb base URL (http or https; no credentials inside).
        files: ``(display name, path)`` pairs; the name (e.g. ``v1/seg.dcm``) is what
            messages show, so it must carry no identifier.
        auth: basic or bearer credentials, or None.
        timeout_s: per-request timeout (s).
        verify: TLS verification (True, or a CA bundle path); never disable it for patient data.

    Returns:
        The stored names (all of them).

    Raises:
        DicomWebError: anything not stored (refusals per instance, HTTP 4xx/5xx, connection,
            timeout or TLS failure): the message names what was stored and what was not.
    """
    import httpx

    endpoint = _check_url(url)
    items = [_item(name, Path(p)) for name, p in files]
    result = StowResult()
    problem: str | None = None
    with httpx.Client(timeout=timeout_s, verify=verify) as client:
        for batch in _batches(items):
            if problem is not None:
                result.not_stored += [it.name for it in batch]
                continue
            stored, failed, problem = _send(client, endpoint, batch, auth)
            result.stored += stored
            result.failed += failed
            seen = set(stored) | {f.split(" (")[0] for f in failed}
            result.not_stored += [it.name for it in batch if it.name not in seen]
    if problem is not None:
        hint = "check the address, the server and its certificate, then push again"
        if "HTTP 401" in problem or "HTTP 403" in problem:
            hint = "check the credentials (--user with $BRAINTWIN_DICOMWEB_PASSWORD, or the token)"
        raise DicomWebError(problem, result, hint)
    if result.failed:
        raise DicomWebError(
            "the server refused some objects",
            result,
            "see the server's log for the failure reasons (PS3.18 status codes in brackets)",
        )
    return result
