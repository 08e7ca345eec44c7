"""Authentication flows against a real server: login, tokens, expiry, forgery, rate limit."""

from __future__ import annotations

import datetime as dt

import httpx
import jwt

from braintwin.api import accounts
from braintwin.api.security import issue_access_token, jwt_key

from .conftest import PASSWORD, Service


def test_login_me_and_wrong_password(service: Service) -> None:
    with service.client("clin-a") as c:
        me = c.get("/auth/me").json()
    assert me == {"name": "clin-a", "role": "clinician", "teams": ["team-a"], "via": "jwt"}
    bad = service.login("clin-a", "not the password at all")
    assert bad.status_code == 401 and bad.json() == {"detail": "wrong user name or password"}
    assert service.login("nobody", PASSWORD).status_code == 401


def test_no_token_expired_forged_and_none_algorithm_are_refused(service: Service) -> None:
    key = jwt_key(service.home)
    uid = 1
    expired, _ = issue_access_token(key, uid, -60)
    forged, _ = issue_access_token(b"x" * 32, uid, 600)
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": "1", "iat": now, "exp": now + dt.timedelta(minutes=5), "iss": "braintwin"}
    unsigned = jwt.encode({**claims, "typ": "access"}, key="", algorithm="none")
    cases = {
        None: "authentication required",
        expired: "the access token has expired",
        forged: "the access token is not valid",
        unsigned: "the access token is not valid",
        "garbage": "the access token is not valid",
        "btk_notarealtoken": "the API token is not valid or was revoked",
    }
    for token, detail in cases.items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        r = httpx.get(f"{service.api}/patients", headers=headers)
        assert r.status_code == 401, (token, r.text)
        assert r.json() == {"detail": detail}
        assert r.headers["www-authenticate"] == "Bearer"


def test_api_token_lifecycle(service: Service) -> None:
    with service.client("res-a") as c:
        made = c.post("/auth/tokens", json={"name": "nightly", "days": 1})
        assert made.status_code == 201
        token = made.json()["token"]
        assert token.startswith("btk_")
        listed = c.get("/auth/tokens").json()
        assert [t["name"] for t in listed] == ["nightly"] and "token" not in listed[0]
    auth = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{service.api}/auth/me", headers=auth).json()
    assert me["name"] == "res-a" and me["via"] == "api-token"
    # an API token cannot mint further tokens
    again = httpx.post(f"{service.api}/auth/tokens", json={"name": "x2"}, headers=auth)
    assert again.status_code == 403
    with service.client("res-a") as c:
        assert c.delete(f"/auth/tokens/{made.json()['id']}").status_code == 204
    assert httpx.get(f"{service.api}/auth/me", headers=auth).status_code == 401


def test_disabled_account_loses_access_at_once(service: Service) -> None:
    db = service.db()
    accounts.add_user(db, "temp-user", "clinician", PASSWORD, ["team-a"])
    token = service.login("temp-user").json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{service.api}/patients", headers=auth).status_code == 200
    with service.client("admin") as c:
        assert c.post("/admin/users/temp-user/disable").status_code == 204
    assert httpx.get(f"{service.api}/patients", headers=auth).status_code == 401
    assert service.login("temp-user").status_code == 401


def test_repeated_wrong_passwords_are_rate_limited(service: Service) -> None:
    db = service.db()
    accounts.add_user(db, "victim", "clinician", PASSWORD, [])
    codes = [service.login("victim", f"guess number {i}").status_code for i in range(5)]
    assert codes == [401] * 5
    locked = service.login("victim", PASSWORD)  # even the right password, for the window
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert service.login("clin-b").status_code == 200  # other accounts unaffected


def test_fresh_service_has_no_account(service: Service) -> None:
    names = [n for n, *_ in accounts.list_users(service.db())]
    assert "admin" in names  # created explicitly by the fixture, like a real installation
    for user, pw in [("admin", "admin"), ("root", "root"), ("braintwin", "braintwin")]:
        assert service.login(user, pw).status_code == 401


def test_security_headers_no_cors_no_leaks(service: Service) -> None:
    r = httpx.get(f"{service.api}/patients", headers={"Origin": "https://evil.example"})
    assert r.status_code == 401
    h = r.headers
    assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
    assert "default-src 'none'" in h["content-security-policy"]
    assert h["cache-control"] == "no-store" and "server" not in h
    assert not any(k.lower().startswith("access-control-") for k in h)
    pre = httpx.options(
        f"{service.api}/patients",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in pre.headers
    # malformed input: a one-line reason, no traceback, no path, no echo of the value
    with service.client("clin-a") as c:
        bad = c.post(
            "/patients", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 422 and "Traceback" not in bad.text
        echo = c.post("/patients", json={"identifier": "SECRET-ID-123" * 20, "team": "team-a"})
        assert echo.status_code == 422 and "SECRET-ID" not in echo.text
        assert str(service.home) not in echo.text
