#!/usr/bin/env bash
# Creates (once) a Python virtual environment for a requirements file, outside the checkout and
# keyed by the file's hash, so that a fresh clone (CI's) reuses it:
#
#   ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/venvs/NAME-<hash>/
#
# Usage: scripts/cached-venv.sh NAME REQUIREMENTS. Idempotent; a half-made environment (no
# `.complete` marker) is made again. The last line printed is the environment's python.
set -euo pipefail
name="$1"
requirements="$2"
hash=$(sha256sum "$requirements" | cut -c1-12)
venv="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/venvs/$name-$hash"
python="$venv/bin/python"

if ! { [ -x "$python" ] && [ -f "$venv/.complete" ]; }; then
  echo "$name: creating $venv (from $requirements)" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
echo "$python"
