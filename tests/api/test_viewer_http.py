"""The web viewer over real HTTP: page and assets (CSP, ETag/304, gzip), display renditions of
volumes (compressed, cached by content hash, values in real units), the viewer's JSON, and
the authorisation of its endpoints in the role matrix of ``test_matrix``."""

from __future__ import annotations

import gzip
import io

import httpx
import nibabel as nib
import numpy as np
import pytest

from braintwin.web.display import RENDITION_VERSION

from .conftest import IDENTIFIERS, USERS, Service

VIEWER_READS = [
    "/patients/{pid}/viewer",
    "/patients/{pid}/visits/{date}/display/segmentation",
    "/patients/{pid}/visits/{date}/display/flair",
]


def _nifti(body: bytes) -> nib.Nifti1Image:
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return nib.Nifti1Image.from_bytes(body)


def test_page_is_served_with_a_strict_csp(service: Service) -> None:
    r = httpx.get(f"{service.url}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "http" not in csp  # no CDN may be named, so none can be reached
    assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    page = r.text
    assert 'id="login-name"' in page and 'id="error-banner"' in page
    assert "http://" not in page and "https://" not in page  # every asset is our own
    assert 'src="static/app.js?v=' in page


def test_assets_are_compressed_and_revalidated(service: Service) -> None:
    url = f"{service.url}/static/app.js"
    r = httpx.get(url, headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"  # not the API's no-store
    tag = r.headers["etag"]
    assert tag.startswith('"') and len(tag) == 66  # strong: the SHA-256 of the file
    again = httpx.get(url, headers={"if-none-match": tag})
    assert again.status_code == 304 and again.content == b""
    assert int(r.headers["content-length"]) < len(r.content)  # gzip on the wire
    assert httpx.get(f"{service.url}/static/nothing.js").status_code == 404
    assert httpx.get(f"{service.url}/static/index.html").status_code == 404


def test_api_answers_stay_uncached(service: Service) -> None:
    with service.client("admin") as c:
        r = c.get("/patients")
    assert r.headers["cache-control"] == "no-store"


def test_display_rendition_is_compressed_cached_and_exact(service: Service) -> None:
    pid, date = service.patients["team-a"], service.visit["team-a"]
    with service.client("clin-a") as c:
        listed = {v["name"]: v for v in c.get(f"/patients/{pid}/visits/{date}/volumes").json()}
        assert "flair" in listed
        orig = c.get(f"/patients/{pid}/visits/{date}/volumes/flair")
        r = c.get(
            f"/patients/{pid}/visits/{date}/display/flair", headers={"accept-encoding": "gzip"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["cache-control"] == "private, no-cache"
        tag = r.headers["etag"]
        assert tag.endswith(f'.{RENDITION_VERSION}"') and not tag.startswith("W/")
        assert (
            c.get(
                f"/patients/{pid}/visits/{date}/display/flair", headers={"if-none-match": tag}
            ).status_code
            == 304
        )
        # the original download is cached on its content hash too
        otag = orig.headers["etag"]
        assert otag == tag.split(".")[0] + '"'
        assert (
            c.get(
                f"/patients/{pid}/visits/{date}/volumes/flair", headers={"if-none-match": otag}
            ).status_code
            == 304
        )
        seg = c.get(f"/patients/{pid}/visits/{date}/display/segmentation")
        seg_orig = c.get(f"/patients/{pid}/visits/{date}/volumes/segmentation")
    src, disp = _nifti(orig.content), _nifti(r.content)
    assert disp.get_data_dtype() == np.int16 and disp.shape == src.shape
    np.testing.assert_allclose(disp.affine, src.affine, atol=1e-4)
    truth = np.asarray(src.dataobj, dtype=np.float64)
    shown = np.asarray(disp.get_fdata())
    slope = float(disp.dataobj.slope)  # type: ignore[attr-defined]
    inside = disp.dataobj.get_unscaled() != -32768  # type: ignore[attr-defined]
    # quantisation error: half a step (the step 1/32767 of the largest magnitude), plus the
    # rounding of scl_slope to float32 times up to 32767 steps (< 1 % of a step)
    assert np.abs(shown[inside] - truth[inside]).max() <= slope * 0.51
    assert slope <= np.abs(truth).max() / 32767 * 1.0001
    assert float(disp.header["cal_max"]) > float(disp.header["cal_min"])
    labels = _nifti(seg.content)
    assert labels.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(
        np.asarray(labels.dataobj), np.asarray(_nifti(seg_orig.content).dataobj)
    )
    assert len(r.content) < truth.size * 4  # the wire carries less than the float32 volume


def test_display_of_unknown_volume_is_404(service: Service) -> None:
    pid, date = service.patients["team-a"], service.visit["team-a"]
    with service.client("admin") as c:
        assert c.get(f"/patients/{pid}/visits/{date}/display/t2").status_code == 404
        assert c.get(f"/patients/{pid}/visits/1999-01-01/display/flair").status_code == 404
        assert (
            c.get(f"/patients/{pid}/forecasts/999999/display/probability_flair").status_code == 404
        )


def test_viewer_json(service: Service) -> None:
    pid, date = service.patients["team-a"], service.visit["team-a"]
    with service.client("clin-a") as c:
        rows = c.get("/viewer/patients").json()
        page = c.get(f"/patients/{pid}/viewer").json()
    mine = {r["id"]: r for r in rows}
    assert set(mine) >= {pid} and service.patients["team-b"] not in mine
    row = mine[pid]
    assert row["n_visits"] >= 1 and row["model"] in ("current", "needs update")
    assert row["last_change"] and row["teams"] == ["team-a"]
    visit = next(v for v in page["visits"] if v["date"] == date)
    assert {"flair", "segmentation"} <= set(visit["volumes"])
    assert visit["measurements"]["WT"]["volume_ml"] > 0
    assert set(page) >= {"visits", "forecasts", "treatment", "posterior", "plans", "model"}


@pytest.mark.parametrize("team", ["team-a", "team-b"])
def test_viewer_endpoints_follow_the_role_matrix(service: Service, team: str) -> None:
    failures = []
    bodies = []
    for user in [None, *USERS]:
        headers = {} if user is None else {"Authorization": f"Bearer {service.tokens[user]}"}
        with httpx.Client(base_url=service.api, headers=headers, timeout=30) as c:
            listed = c.get("/viewer/patients")
            if (listed.status_code == 200) != (user is not None):
                failures.append(f"{user} list {listed.status_code}")
            bodies.append(listed.text)
            for path in VIEWER_READS:
                r = c.get(path.format(pid=service.patients[team], date=service.visit[team]))
                bodies.append(r.text if r.headers.get("content-type", "").startswith("app") else "")
                if user is None:
                    expect = 401
                else:
                    role, teams = USERS[user]
                    expect = 200 if role == "admin" or team in teams else 403
                if r.status_code != expect:
                    failures.append(f"{user} {path} {team}: {r.status_code} != {expect}")
    assert failures == []
    for identifier in IDENTIFIERS.values():
        assert not any(identifier in b for b in bodies)


def test_researcher_list_has_no_other_team(service: Service) -> None:
    with service.client("res-a") as c:
        ids = {r["id"] for r in c.get("/viewer/patients").json()}
    assert service.patients["team-a"] in ids and service.patients["team-b"] not in ids


def test_rendition_bytes_are_a_valid_nifti_stream(service: Service) -> None:
    # a client that does not accept gzip gets the .nii.gz file as a download, not an encoding
    pid, date = service.patients["team-a"], service.visit["team-a"]
    with service.client("admin") as c:
        r = c.get(
            f"/patients/{pid}/visits/{date}/display/flair",
            headers={"accept-encoding": "identity"},
        )
    assert r.status_code == 200 and "content-encoding" not in r.headers
    assert r.content[:2] == b"\x1f\x8b"
    assert _nifti(io.BytesIO(r.content).getvalue()).shape
