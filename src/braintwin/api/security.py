"""Credentials: argon2id password hashes, short-lived signed access tokens, API tokens.

* Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile);
  the password itself is never stored or logged.
* Login returns a JWT (HS256, PyJWT) valid for ``access_token_s`` seconds, signed with a key
  kept owner-only in ``$BRAINTWIN_HOME/service-jwt.key``. Its role is not trusted: every request
  re-reads the account, so disabling a user or changing a role takes effect at once.
* API tokens for scripts are random (256 bits) and stored as SHA-256 only; they can be revoked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from braintwin.errors import ConfigurationError, InputError

__all__ = [
    "API_TOKEN_PREFIX",
    "AccessClaims",
    "TokenError",
    "check_password_strength",
    "hash_password",
    "issue_access_token",
    "jwt_key",
    "new_api_token",
    "read_access_token",
    "token_digest",
    "verify_password",
]

API_TOKEN_PREFIX = "btk_"
_JWT_FILE = "service-jwt.key"
_ALGORITHM = "HS256"
_ISSUER = "braintwin"
MIN_PASSWORD = 12

_hasher = PasswordHasher()
_dummy: list[str] = []


def _dummy_hash() -> str:
    """Verified when the account does not exist, so a wrong name costs as much as a wrong
    password (made on first use: hashing takes a noticeable fraction of a second)."""
    if not _dummy:
        _dummy.append(_hasher.hash(secrets.token_hex(16)))
    return _dummy[0]


class TokenError(Exception):
    """An access token that is malformed, forged, expired or not an access token."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    expires: dt.datetime


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"the password is too short (at least {MIN_PASSWORD} characters)",
            "use a passphrase of several words",
        )


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def jwt_key(home: Path) -> bytes:
    """The signing key, created (0600, exclusively) on first use."""
    path = home / _JWT_FILE
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as err:
        raise ConfigurationError(
            "cannot read the service's token signing key",
            f"remove the damaged {_JWT_FILE} in the braintwin home (everyone must log in again)",
        ) from err
    if len(key) < 32:  # a file still being written by a concurrent first start
        raise ConfigurationError("the service's token signing key is incomplete", "retry")
    return key


def issue_access_token(key: bytes, user_id: int, lifetime_s: int) -> tuple[str, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(seconds=lifetime_s)
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": expires,
        "iss": _ISSUER,
        "typ": "access",
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=_ALGORITHM), expires


def read_access_token(key: bytes, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],  # never "none", never the algorithm the token names
            issuer=_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as err:
        raise TokenError("the access token has expired") from err
    except jwt.PyJWTError as err:
        raise TokenError("the access token is not valid") from err
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise TokenError("the access token is not valid")
    return AccessClaims(int(claims["sub"]), dt.datetime.fromtimestamp(claims["exp"], dt.UTC))


def new_api_token() -> tuple[str, str]:
    """A new API token and the digest to store."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
