#!/usr/bin/env bash
# API conformance: schemathesis (from PyPI) against a real `tunery serve` and the OpenAPI
# document it serves, authenticated, every phase and every check (scripts/api-conformance/).
# No 5xx, no request the document calls valid refused as malformed, no request it calls invalid
# accepted. Usage: scripts/api-conformance.sh TUNERY_BINARY [extra `st run` arguments].
# Schemathesis lives in a cached venv keyed by its pinned requirements (scripts/cached-venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$1"
shift
python=$(scripts/cached-venv.sh schemathesis scripts/api-conformance/requirements.txt | tail -n 1)
exec python3 scripts/api-conformance/run.py "$binary" "$(dirname "$python")/st" "$@"
