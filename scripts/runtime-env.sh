#!/usr/bin/env bash
# Creates (once) the training runtime's Python environment: PyTorch, transformers, PEFT,
# accelerate, bitsandbytes and friends, pinned in runtime/requirements.txt. It lives outside the
# checkout, keyed by the requirements' hash, so a fresh clone (CI's) reuses it:
#
#   ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/venvs/runtime-<hash>/
#
# PyTorch from PyPI is the CUDA build (about 6 GB installed, a few minutes); it runs on the CPU
# too. Idempotent. The last line printed is the environment's python; use it as
# `tunery serve --runtime-python "$(scripts/runtime-env.sh | tail -1)"`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/cached-venv.sh runtime runtime/requirements.txt
