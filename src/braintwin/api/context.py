"""What every request handler needs: the store, the service tables, settings, signing key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from braintwin.api.db import ServiceDB
from braintwin.api.security import jwt_key
from braintwin.api.settings import ServiceSettings
from braintwin.store import Store

__all__ = ["ServiceContext"]


@dataclass
class ServiceContext:
    store: Store
    db: ServiceDB
    settings: ServiceSettings
    key: bytes

    @classmethod
    def open(
        cls,
        url: str | None = None,
        home: Path | None = None,
        settings: ServiceSettings | None = None,
    ) -> ServiceContext:
        store = Store.open(url=url, home=home)
        return cls(
            store,
            ServiceDB(store.engine),
            settings or ServiceSettings.from_env(),
            jwt_key(store.home),
        )
