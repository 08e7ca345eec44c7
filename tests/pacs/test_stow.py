"""STOW-RS pushes to a real Orthanc on 127.0.0.1 (started per test), and the ways a push fails:
refused per instance, HTTP 401/404, connection refused, TLS handshake failure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braintwin.errors import InputError
from braintwin.io.dicom_pdf import encapsulate_pdf, save_encapsulated_pdf
from braintwin.io.dicomseg import save_dicom_seg
from braintwin.io.dicomweb import DicomWebAuth, DicomWebError, stow_files
from braintwin.types import Modality, Volume

from .conftest import OrthancServer, free_port

DAY = dt.date(2000, 1, 2)
MINIMAL_PDF = (
    b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def objects(tmp: Path) -> list[tuple[str, Path]]:
    """A SEG with its synthesised reference series (6 slices) and a PDF in the same study."""
    d = np.zeros((16, 16, 6), np.uint8)
    d[4:10, 4:10, 1:4] = 2
    d[6:8, 6:8, 2] = 4
    image = Volume(np.random.default_rng(0).normal(size=d.shape), np.eye(4), Modality.T1CE)
    seg = save_dicom_seg(
        Volume(d, np.eye(4), Modality.SEG), image, tmp / "seg.dcm", patient_id="BT-TEST",
        study_date=DAY, reference_dir=tmp / "reference",
    )  # fmt: skip
    pdf = encapsulate_pdf(MINIMAL_PDF, pydicom.dcmread(seg), title="braintwin report",
                          series_uid="2.25.1", sop_uid="2.25.2")  # fmt: skip
    save_encapsulated_pdf(pdf, tmp / "report_pdf.dcm")
    refs = sorted((tmp / "reference").glob("*.dcm"))
    return [(f"reference/{p.name}", p) for p in refs] + [
        ("seg.dcm", seg),
        ("report_pdf.dcm", tmp / "report_pdf.dcm"),
    ]


def test_push_lands_in_one_study_listed_by_rest_and_qido(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    files = objects(tmp_path)
    result = stow_files(orthanc.dicomweb, files)
    assert sorted(result.stored) == sorted(n for n, _ in files) and not result.failed
    assert len(orthanc.get("/instances")) == len(files) == 8
    studies = orthanc.get("/studies")
    assert len(studies) == 1
    study = orthanc.get(f"/studies/{studies[0]}")
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    assert study["MainDicomTags"]["StudyInstanceUID"] == seg.StudyInstanceUID
    assert study["PatientMainDicomTags"]["PatientID"] == "BT-TEST"
    qido = orthanc.get("/dicom-web/studies")
    assert [s["0020000D"]["Value"][0] for s in qido] == [seg.StudyInstanceUID]
    series = orthanc.get(f"/dicom-web/studies/{seg.StudyInstanceUID}/series")
    assert sorted(s["00080060"]["Value"][0] for s in series) == ["DOC", "MR", "SEG"]
    # Pushing again is harmless: the server already has every instance.
    assert len(stow_files(orthanc.dicomweb, files).stored) == len(files)
    assert len(orthanc.get("/instances")) == len(files)


def test_instances_the_server_refuses_are_named(orthanc: OrthancServer, tmp_path: Path) -> None:
    files = objects(tmp_path)[-2:]
    broken = pydicom.dcmread(files[0][1])
    del broken.StudyInstanceUID  # Orthanc cannot file an instance without its study
    broken.SOPInstanceUID = "2.25.999"
    broken.save_as(tmp_path / "broken.dcm")
    with pytest.raises(DicomWebError) as info:
        stow_files(orthanc.dicomweb, [*files, ("broken.dcm", tmp_path / "broken.dcm")])
    message = str(info.value)
    assert "\n" not in message and "2 stored" in message and "broken.dcm" in message
    assert sorted(info.value.result.stored) == ["report_pdf.dcm", "seg.dcm"]
    assert "BT-TEST" not in message


def test_credentials_are_required_and_never_shown(
    orthanc_factory: Callable[..., OrthancServer], tmp_path: Path
) -> None:
    server = orthanc_factory(users={"alice": "s3cret-pw"})
    files = objects(tmp_path)[-1:]
    with pytest.raises(DicomWebError, match="HTTP 401") as info:
        stow_files(server.dicomweb, files)
    assert "0 stored, 1 not stored (report_pdf.dcm)" in str(info.value)
    with pytest.raises(DicomWebError, match="HTTP 401") as info:
        stow_files(server.dicomweb, files, auth=DicomWebAuth(user="alice", password="wrong"))
    assert "wrong" not in str(info.value) and "credentials" in str(info.value)
    auth = DicomWebAuth(user="alice", password="s3cret-pw")
    assert "s3cret" not in repr(auth)
    assert stow_files(server.dicomweb, files, auth=auth).stored == ["report_pdf.dcm"]
    assert len(server.get("/instances")) == 1


def test_transport_failures_say_nothing_was_stored(orthanc: OrthancServer, tmp_path: Path) -> None:
    files = objects(tmp_path)[-2:]
    cases = {
        f"http://127.0.0.1:{free_port()}/dicom-web": "cannot connect",
        orthanc.dicomweb.replace("http://", "https://"): "TLS handshake failed",
        orthanc.base + "/no-dicom-web-here": "HTTP 404",
    }
    for url, problem in cases.items():
        with pytest.raises(DicomWebError) as info:
            stow_files(url, files, timeout_s=10)
        message = str(info.value)
        assert problem in message and "0 stored, 2 not stored (seg.dcm, report_pdf.dcm)" in message
        assert "\n" not in message
    assert orthanc.get("/instances") == []


def test_bad_urls_and_files_are_refused_before_sending(tmp_path: Path) -> None:
    (tmp_path / "notes.dcm").write_bytes(b"\0" * 200)
    with pytest.raises(InputError, match="not a readable DICOM file; nothing was sent"):
        stow_files("http://127.0.0.1:9/dicom-web", [("notes.dcm", tmp_path / "notes.dcm")])
    with pytest.raises(InputError, match="carries credentials"):
        stow_files("http://bob:pw@127.0.0.1:9/dicom-web", [])
    with pytest.raises(InputError, match="not an http"):
        stow_files("ftp://127.0.0.1/dicom-web", [])


def test_cli_push_failure_is_one_line_and_keeps_the_files(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``export dicom --stow`` to a server that is not there: exit 2, one line naming what was
    not stored; the objects stay on disk to push later. Credentials are checked first."""
    from braintwin.cli import main
    from braintwin.twin import Twin

    twin = Twin.open("stow-cli-test", create=True)
    visit_files = objects(tmp_path / "src")
    monkeypatch.setattr(
        "braintwin.twin.pacs.export_dicom",
        lambda twin, out, **kw: _fake_export(out, visit_files),
    )
    monkeypatch.setattr("braintwin.twin.Twin.open", lambda *a, **k: twin)

    def run(args: list[str]) -> tuple[int, str, str]:
        try:
            main(args)
            code = 0
        except SystemExit as ex:
            code = int(ex.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    code, out, err = run(["export", "dicom", twin.id, str(tmp_path / "out"), "--stow", url])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot connect" in err and "0 stored, 8 not stored" in err
    assert "wrote visit-1/seg.dcm" in out
    monkeypatch.setenv("BRAINTWIN_DICOMWEB_USER", "alice")
    code, out, err = run(["export", "dicom", twin.id, str(tmp_path / "out"), "--stow", url])
    assert code == 2 and "no password" in err and out == ""
    monkeypatch.setenv("BRAINTWIN_DICOMWEB_TOKEN", "tok-123")
    code, out, err = run(["export", "dicom", twin.id, str(tmp_path / "out"), "--stow", url])
    assert code == 2 and "both a bearer token and a user" in err and "tok-123" not in err


def _fake_export(out: Path, files: list[tuple[str, Path]]) -> object:
    """The real objects of :func:`objects`, laid out as ``export_dicom`` lays them out."""
    import shutil

    from braintwin.twin.pacs import PacsExport

    result = PacsExport()
    for name, path in files:
        target = Path(out) / "visit-1" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        result.add(Path(out), target)
    return result


def test_per_instance_refusals_in_a_202_answer_are_named(tmp_path: Path) -> None:
    """A server that accepts the request but refuses one instance (HTTP 202 with a Failed SOP
    Sequence, PS3.18 10.5.3): the refused object is named with its failure reason."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    files = objects(tmp_path)[-2:]
    seg_uid = str(pydicom.dcmread(files[0][1]).SOPInstanceUID)
    pdf_uid = str(pydicom.dcmread(files[1][1]).SOPInstanceUID)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the http.server API names it
            seen.append(self.headers["Content-Type"])
            self.rfile.read(int(self.headers["Content-Length"]))
            body = {
                "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [seg_uid]}}]},
                "00081198": {"vr": "SQ", "Value": [{
                    "00081155": {"vr": "UI", "Value": [pdf_uid]},
                    "00081197": {"vr": "US", "Value": [0xA700]},
                }]},
            }  # fmt: skip
            data = json.dumps(body).encode()
            self.send_response(202)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/dicom-web"
        with pytest.raises(DicomWebError, match="refused some objects") as info:
            stow_files(url, files)
    finally:
        server.shutdown()
        server.server_close()
    assert "1 stored, 1 refused (report_pdf.dcm (0xA700))" in str(info.value)
    assert seen and seen[0].startswith('multipart/related; type="application/dicom"; boundary=')
