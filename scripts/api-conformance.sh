#!/usr/bin/env bash
# API conformance: schemathesis (from PyPI) against a real `tunery serve` and the OpenAPI
# document it serves, authenticated, every phase and every check (scripts/api-conformance/).
# No 5xx, no request the document calls valid refused as malformed, no request it calls invalid
# accepted. Usage: scripts/api-conformance.sh TUNERY_BINARY [extra `st run` arguments].
# Schemathesis lives in a venv outside the checkout, keyed by its pinned requirements:
#   ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/venvs/schemathesis-<hash>/
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$1"
shift

requirements=scripts/api-conformance/requirements.txt
hash=$(sha256sum "$requirements" | cut -c1-12)
venv="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/venvs/schemathesis-$hash"
if ! { [ -x "$venv/bin/st" ] && [ -f "$venv/.complete" ]; }; then
  echo "api-conformance: creating $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
exec python3 scripts/api-conformance/run.py "$binary" "$venv/bin/st" "$@"
