"""Reports and native-space exports over HTTP: contents, pseudonyms only, authorisation."""

from __future__ import annotations

import io
import zipfile

from .conftest import IDENTIFIERS, Service


def test_report_and_export(service: Service) -> None:
    pid, date = service.patients["team-a"], service.visit["team-a"]
    with service.client("res-a") as c:
        report = c.get(f"/patients/{pid}/report")
        assert report.status_code == 200, report.text
        assert report.headers["content-type"].startswith("text/html")
        assert report.headers["content-disposition"].startswith("attachment")
        assert pid in report.text and IDENTIFIERS["team-a"] not in report.text
        export = c.get(f"/patients/{pid}/visits/{date}/export")
        assert export.status_code == 200, export.text
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    suffixes = {n.rsplit(".", 1)[-1] for n in names}
    assert {"gz", "dcm", "stl", "csv"} <= suffixes, names
    assert not any(IDENTIFIERS["team-a"] in n for n in names)
    with service.client("clin-b") as c:
        assert c.get(f"/patients/{pid}/report").status_code == 403
        assert c.get(f"/patients/{pid}/visits/{date}/export").status_code == 403
    with service.client(None) as c:
        assert c.get(f"/patients/{pid}/report").status_code == 401


def test_report_as_pdf(service: Service) -> None:
    pid = service.patients["team-a"]
    with service.client("res-a") as c:
        pdf = c.get(f"/patients/{pid}/report", params={"format": "pdf"})
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"].startswith("attachment")
        assert pdf.content.startswith(b"%PDF-")
        assert IDENTIFIERS["team-a"].encode() not in pdf.content
        assert c.get(f"/patients/{pid}/report", params={"format": "docx"}).status_code == 422
