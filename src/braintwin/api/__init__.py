"""The multi-user REST service over the twin (``braintwin serve``; see ``docs/service.md``).

Thin over :class:`braintwin.twin.Twin`: no science in the web layer. Authentication
(:mod:`.security`, :mod:`.accounts`), per-patient authorisation (:mod:`.deps`), the audit trail
(:mod:`.audit`), the database job queue (:mod:`.queue`) and its worker (:mod:`.worker`), upload
hardening (:mod:`.upload`, :mod:`.sniff`).
"""

from braintwin.api.app import API_PREFIX, create_app
from braintwin.api.context import ServiceContext

__all__ = ["API_PREFIX", "ServiceContext", "create_app"]
