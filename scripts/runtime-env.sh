#!/usr/bin/env bash
# Creates (once) the training runtime's Python environment: PyTorch, transformers, PEFT,
# accelerate, bitsandbytes and friends, pinned in runtime/requirements.txt. It lives outside the
# checkout, keyed by the requirements' hash, so a fresh clone (CI's) reuses it:
#
#   ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/venvs/runtime-<hash>/
#
# PyTorch from PyPI is the CUDA build (about 6 GB installed); it runs on the CPU too.
# Idempotent. The last line printed is the environment's python; use it as
# `tunery serve --runtime-python "$(scripts/runtime-env.sh | tail -1)"`.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=runtime/requirements.txt
hash=$(sha256sum "$requirements" | cut -c1-12)
venv="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/venvs/runtime-$hash"
python="$venv/bin/python"

if ! { [ -x "$python" ] && [ -f "$venv/.complete" ]; }; then
  echo "runtime-env: creating $venv (PyTorch and friends; several GB, a few minutes)" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
echo "$python"
