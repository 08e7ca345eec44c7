"""The service's settings: limits and lifetimes, from environment variables with safe defaults.

Every limit can be lowered (or raised) by an environment variable named in ``ENV``; the
defaults suit one hospital department on one machine. Values are read once per process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from braintwin.errors import ConfigurationError

__all__ = ["ENV", "ServiceSettings", "uploads_dir"]

GiB = 1024**3


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and lifetimes of the REST service (units in the names)."""

    access_token_s: int = 900  # signed login tokens live 15 minutes
    api_token_days: int = 90  # default lifetime of a script token
    login_failures: int = 5  # failed logins per account (or 4x per client) ...
    login_window_s: int = 900  # ... within this window before login is refused (429)
    max_upload_bytes: int = 2 * GiB  # one request's body
    max_files: int = 16  # files in one upload
    max_zip_entries: int = 4000  # entries in a DICOM zip
    max_unpacked_bytes: int = 4 * GiB  # decompressed size of a zip or a .nii.gz
    max_ratio: int = 200  # decompressed / compressed size of any entry (zip bombs)
    job_lease_s: float = 30.0  # a worker renews its job's lease every lease/3 seconds
    job_max_attempts: int = 2  # a job whose worker died is retried until this many attempts
    sse_max_s: float = 600.0  # one server-sent-events stream stays open at most this long

    @classmethod
    def from_env(cls) -> ServiceSettings:
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = os.environ.get(ENV[f.name])
            if raw is None:
                continue
            try:
                value = float(raw) if f.type == "float" else int(raw)
            except ValueError as err:
                raise ConfigurationError(
                    f"{ENV[f.name]} must be a number", f"e.g. {ENV[f.name]}={f.default}"
                ) from err
            if value <= 0:
                raise ConfigurationError(f"{ENV[f.name]} must be positive")
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]


#: Environment variable of each setting.
ENV = {f.name: "BRAINTWIN_API_" + f.name.upper() for f in fields(ServiceSettings)}


def uploads_dir(home: Path) -> Path:
    """Where uploads wait for their ingest job (owner-only, inside the store's home)."""
    path = home / "uploads"
    path.mkdir(mode=0o700, exist_ok=True)
    return path
