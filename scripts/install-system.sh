#!/usr/bin/env bash
# Install the Debian packages the test suite drives as real services (as root):
#   chromium  the browser the viewer's Playwright tests run (headless, WebGL2 in software)
#   orthanc, orthanc-dicomweb   a local PACS (with its DICOMweb plugin) for the STOW-RS push tests
# Safe to run any number of times; prints nothing when both are present. Not root: says so and
# exits 1 (the browser and PACS tests then skip, except in CI).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/Orthanc ] || command -v Orthanc >/dev/null 2>&1 || need+=(orthanc)
dpkg -s orthanc-dicomweb >/dev/null 2>&1 || need+=(orthanc-dicomweb)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system: not root, cannot install ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends "${need[@]}" >&2
