"""Upload hardening: sizes, zip bombs, zip-slip, content sniffing, lying headers.

Every refused upload leaves nothing behind (no staged file, no job) and is audited.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin.api import audit

from .conftest import Service, phantom_upload


def _nifti_gz(shape: tuple[int, ...], data_shape: tuple[int, ...] | None = None) -> bytes:
    """A NIfTI whose header says ``shape`` but which holds ``data_shape`` voxels."""
    img = nib.Nifti1Image(np.ones(data_shape or shape, np.float32), np.eye(4))
    raw = img.to_bytes()
    if data_shape is not None:
        hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw))
        hdr.set_data_shape(shape)
        raw = hdr.binaryblock + raw[348:]
    return gzip.compress(raw)


def _zip(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


DICOM_LIKE = b"\0" * 128 + b"DICM" + b"\0" * 64


def _jobs(svc: Service) -> int:
    with svc.client("admin") as c:
        return len(c.get("/jobs").json())


CASES = {
    "empty file": ({"flair": b""}, 422, "the file is empty"),
    "not nifti": ({"flair": b"MZ\x90\0" + b"x" * 2000}, 415, "not a NIfTI file"),
    "gzip not nifti": ({"flair": gzip.compress(b"hello" * 200)}, 415, "not NIfTI"),
    "lying header": ({"flair": _nifti_gz((64, 64, 64), (8, 8, 8))}, 422, "declares more"),
    "gzip bomb nifti": ({"flair": _nifti_gz((512, 512, 160))}, 413, "larger than the upload limit"),
    "2d image": ({"flair": _nifti_gz((32, 32))}, 422, "must be 3D"),
    "zip slip": ({"dicom": _zip({"../../evil.dcm": DICOM_LIKE})}, 422, "'..'"),
    "absolute path": ({"dicom": _zip({"/etc/cron.d/x": DICOM_LIKE})}, 422, "absolute path"),
    "symlink": ({"dicom": _zip({"a.dcm": DICOM_LIKE}, symlink="link")}, 422, "symbolic link"),
    "zip bomb 1000:1": ({"dicom": _zip({"bomb.dcm": b"\0" * (20 << 20)})}, 413, "ratio"),
    "zip without dicom": ({"dicom": _zip({"readme.txt": b"hello"})}, 422, "no DICOM"),
    "corrupt zip": ({"dicom": b"PK\x03\x04" + b"\0" * 100}, 422, "corrupt"),
    "unknown part": ({"passport": b"x"}, 422, "unknown part"),
    "nothing": ({}, 422, "no image"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_upload_is_refused_and_leaves_nothing(service: Service, case: str) -> None:
    files, status, reason = CASES[case]
    pid = service.patients["team-a"]
    before, staged = _jobs(service), service.staged()
    with service.client("clin-a") as c:
        if files:
            data = {"date": "2021-06-01", "segment": "none"}
            r = c.post(f"/patients/{pid}/visits", files=files, data=data)
        else:  # text fields only (httpx sends those url-encoded)
            body = (
                b'--x\r\nContent-Disposition: form-data; name="date"\r\n\r\n2021-06-01\r\n--x--\r\n'
            )
            ctype = {"content-type": "multipart/form-data; boundary=x"}
            r = c.post(f"/patients/{pid}/visits", content=body, headers=ctype)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]
    assert service.staged() == staged
    assert _jobs(service) == before


def test_bad_fields_and_non_multipart(service: Service, tmp_path: Path) -> None:
    pid = service.patients["team-a"]
    files = phantom_upload(tmp_path, 3)
    staged = service.staged()
    with service.client("clin-a") as c:
        assert c.post(f"/patients/{pid}/visits", files=files).status_code == 422  # no date
        bad_date = c.post(f"/patients/{pid}/visits", files=files, data={"date": "01/06/2021"})
        assert bad_date.status_code == 422
        bad_seg = c.post(
            f"/patients/{pid}/visits", files=files, data={"date": "2021-06-01", "segment": "x"}
        )
        assert bad_seg.status_code == 422
        as_json = c.post(f"/patients/{pid}/visits", json={"date": "2021-06-01"})
        assert as_json.status_code == 415
    assert service.staged() == staged


def test_oversized_upload_is_refused_while_streaming(service: Service) -> None:
    pid = service.patients["team-a"]
    staged = service.staged()
    big = b"\x1f\x8b" + b"\0" * (33 * 1024 * 1024)  # over the test server's 32 MiB
    with service.client("clin-a") as c:
        r = c.post(f"/patients/{pid}/visits", files={"flair": big}, data={"date": "2021-06-01"})
    assert r.status_code == 413
    assert service.staged() == staged


def test_declared_5gb_upload_is_refused_before_reading(service: Service) -> None:
    pid = service.patients["team-a"]
    host, port = service.url.removeprefix("http://").split(":")
    head = (
        f"POST /api/v1/patients/{pid}/visits HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {service.tokens['clin-a']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {5 * 1024**3}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + b"--b\r\n")
        answer = s.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")


def test_refusals_are_audited(service: Service) -> None:
    pid = service.patients["team-b"]
    with service.client("clin-b") as c:
        for name in ("empty file", "not nifti", "zip bomb 1000:1"):
            files = CASES[name][0]
            c.post(f"/patients/{pid}/visits", files=files, data={"date": "2021-06-01"})
    records = [json.loads(x) for x in audit.export_lines(service.db())]
    mine = [r for r in records if r["action"] == "upload_visit" and r["actor"] == "clin-b"]
    assert [r["outcome"] for r in mine[-3:]] == [422, 415, 413]
    assert all(r["patient_id"] == pid and r["role"] == "clinician" for r in mine[-3:])


def test_real_files_pass_the_content_checks(brats_case: Path) -> None:
    # real label maps compress ~300:1 and carry header extensions: both must pass
    from braintwin.api.settings import ServiceSettings
    from braintwin.api.sniff import check_nifti

    files = sorted(brats_case.glob("*.nii.gz"))
    assert len(files) >= 5
    for f in files:
        check_nifti(f, f.name, ServiceSettings())
