#!/usr/bin/env bash
# Lint, type-check and run the whole test suite (called by `make test` and CI).
# Starts a local PostgreSQL server for the store tests when it can (root, Debian's package);
# in CI (CI=true) a failure to do so is an error, on a developer machine the PG tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if [ -z "${BRAINTWIN_TEST_PG_URL:-}" ]; then
  if url=$(bash scripts/start-postgres.sh 2>/tmp/braintwin-pg.log | tail -n 1) && [ -n "$url" ]; then
    export BRAINTWIN_TEST_PG_URL="$url"
    echo "PostgreSQL for the store tests: ${url%%:*}://…@127.0.0.1"
  elif [ -n "${CI:-}" ]; then
    echo "could not start PostgreSQL (see /tmp/braintwin-pg.log)" >&2
    cat /tmp/braintwin-pg.log >&2
    exit 1
  else
    echo "PostgreSQL not available: its store tests will be skipped" >&2
  fi
fi

if ! bash scripts/install-system.sh 2>/tmp/braintwin-apt.log; then
  if [ -n "${CI:-}" ]; then
    echo "could not install chromium/orthanc (see /tmp/braintwin-apt.log)" >&2
    cat /tmp/braintwin-apt.log >&2
    exit 1
  fi
  echo "chromium/orthanc not available: the browser and PACS tests will be skipped" >&2
fi

$BIN/ruff check src tests
$BIN/ruff format --check src tests
$BIN/mypy
$BIN/python -m pytest -q --timeout=1800 --durations=15 "$@"
