# Shared settings for the scripts: build caches outside the checkout, so that a fresh clone
# (CI's, or a second worktree) reuses what an earlier build compiled.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/cargo-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
