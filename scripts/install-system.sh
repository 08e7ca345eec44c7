#!/usr/bin/env bash
# Install the Debian packages the test suite drives as real services (as root):
#   chromium  the browser the viewer's Playwright tests run (headless, WebGL2 in software)
#   orthanc, orthanc-dicomweb   a local PACS (with its DICOMweb plugin) for the STOW-RS push tests
#   bids-validator (npm, 1.15.0)  checks the BIDS export (runs offline once installed)
# Safe to run any number of times; prints nothing when all are present. Not root: says so and
# exits 1 (the browser and PACS tests then skip, except in CI).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/Orthanc ] || command -v Orthanc >/dev/null 2>&1 || need+=(orthanc)
dpkg -s orthanc-dicomweb >/dev/null 2>&1 || need+=(orthanc-dicomweb)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -eq 0 ] && command -v bids-validator >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system: not root, cannot install ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#need[@]} -gt 0 ]; then
    apt-get update >&2
    apt-get install -y --no-install-recommends "${need[@]}" >&2
fi
command -v bids-validator >/dev/null 2>&1 ||
    npm install -g --no-audit --no-fund bids-validator@1.15.0 >&2
