"""The web viewer: a single page (NiiVue + SVG charts) served by ``braintwin serve`` at ``/``.

The page's JavaScript is built from ``web/`` at the repository root with npm/esbuild and the
output is committed into ``braintwin/web/static``, so an installed braintwin serves it without
Node and without any CDN. The page talks to the REST API with the bearer token of its login.
"""

from braintwin.web.caching import cacheable_file, not_modified
from braintwin.web.mount import VIEWER_CSP, mount_viewer

__all__ = ["VIEWER_CSP", "cacheable_file", "mount_viewer", "not_modified"]
