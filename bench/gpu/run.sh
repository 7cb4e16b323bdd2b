#!/usr/bin/env bash
# Training on a GPU (issue 14): Tunery's runtime against Hugging Face Trainer + PEFT with LoRA and
# full fine-tuning of a ~1B Llama-shaped model in bf16 — real tokens per second, their ratio, peak
# memory — then Tunery's runs beside the product's estimate (peak memory, and model FLOPs
# utilization from the estimate's FLOPs per token). See bench/gpu/measure.py.
#
#   bench/gpu/run.sh [--out DIR]          # on a machine with an NVIDIA GPU (torch, transformers, peft)
#   bench/gpu/run.sh --dry-run [--out DIR] # anywhere: a tiny model on the CPU, a few steps (CI runs it)
#
# Python: $TUNERY_RUNTIME_PYTHON, else the runtime's cached environment, else python3. The
# comparison with the estimate needs cargo; without it, run it where cargo is:
#   cargo run -p tunery-bench-estimates -- DIR/runs.json
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${TMPDIR:-/tmp}/tunery-bench-gpu"
dry_run=false
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    *) shift ;;
  esac
done
py="${TUNERY_RUNTIME_PYTHON:-}"
if [ -z "$py" ]; then
  py=$(ls -d "${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}"/venvs/runtime-*/bin/python 2>/dev/null | head -n 1 || true)
fi
py="${py:-python3}"
PYTHONPATH="$PWD/runtime${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 \
  "$py" bench/gpu/measure.py "${args[@]}" --out "$out"
if command -v cargo >/dev/null; then
  source scripts/env.sh
  # A dry run's tiny model measures the script, not the estimate: its table is printed, not judged.
  report=()
  if $dry_run; then report=(--report-only); fi
  cargo run --quiet --locked -p tunery-bench-estimates -- "$out/runs.json" "${report[@]}"
else
  echo "cargo is not here: compare with the estimate where it is: cargo run -p tunery-bench-estimates -- $out/runs.json"
fi
