"""Writes the tiny test model (a 2-layer Llama with a locally trained ChatML tokenizer, the same
one the runtime's own tests use) into a directory, for the Rust integration tests:

    python runtime/tests/tiny_model.py OUTPUT_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(output: str) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from conftest import build_tokenizer

    tmp = f"{output}.partial-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    tok = build_tokenizer(tmp)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=len(tok),
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(cfg).save_pretrained(tmp)
    try:
        os.rename(tmp, output)
    except OSError:  # another process finished first: its copy is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
