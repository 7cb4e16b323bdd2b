"""import-model: the real SmolLM2 GGUF (skipped only when the file is missing) and a directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import of, run_train

SMOLLM2_DIR = Path(os.environ.get("TUNERY_CACHE_DIR", Path.home() / ".cache" / "tunery")) / "models" / "smollm2-135m-instruct"
GGUF = SMOLLM2_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
@pytest.mark.skipif(not GGUF.exists(), reason=f"{GGUF} is missing (scripts/fetch-smollm2-tokenizer.sh fetches it)")
def test_import_smollm2_gguf(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    out = tmp_path / "models" / "smollm2"
    spec = {"spec_version": 1, "source": {"kind": "gguf", "path": str(GGUF)}, "output_dir": str(out)}
    code, events = run_train(spec, tmp_path / "work", command="import-model")
    assert code == 0, events[-1]
    summary = events[-1]["summary"]
    assert events[-1]["status"] == "completed"
    assert summary["architecture"] == "LlamaForCausalLM"
    assert (summary["layers"], summary["hidden_size"], summary["attention_heads"], summary["kv_heads"]) == (30, 576, 9, 3)
    assert summary["vocab_size"] == 49152 and summary["context_length"] == 8192
    assert 130_000_000 < summary["parameters"] < 140_000_000
    assert (out / "model.safetensors").stat().st_size > 500_000_000
    cfg = AutoConfig.from_pretrained(out)
    assert cfg.architectures == ["LlamaForCausalLM"] and getattr(cfg, "quantization_config", None) is None
    tok = AutoTokenizer.from_pretrained(out)
    assert "<|im_start|>" in tok.chat_template
    ids = tok("<|im_start|>user\nWhat is 2024?<|im_end|>", add_special_tokens=False)["input_ids"]
    assert ids[0] == 1 and ids[-1] == 2
    reference = SMOLLM2_DIR / "tokenizer.json"
    if reference.exists():  # the tokenizer that scripts/fetch-smollm2-tokenizer.sh builds
        from tokenizers import Tokenizer

        ref = Tokenizer.from_file(str(reference))
        for text in ["What is 2024? It's 12,345.67 apples", "Paris est la capitale de la France.", "  spaces\tand\nnewlines 42"]:
            assert tok(text, add_special_tokens=False)["input_ids"] == ref.encode(text, add_special_tokens=False).ids


def test_import_directory_and_failures(tiny_model_dir, tmp_path):
    out = tmp_path / "imported"
    spec = {"spec_version": 1, "source": {"kind": "directory", "path": tiny_model_dir}, "output_dir": str(out)}
    code, events = run_train(spec, tmp_path / "work", command="import-model")
    assert code == 0, events[-1]
    s = events[-1]["summary"]
    assert (s["architecture"], s["layers"], s["hidden_size"], s["attention_heads"], s["kv_heads"]) == ("LlamaForCausalLM", 2, 32, 4, 2)
    assert s["parameters"] == 44192 and s["dtype"] == "float32"
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(os.listdir(out))
    empty = tmp_path / "empty"
    empty.mkdir()
    code, events = run_train({**spec, "source": {"kind": "directory", "path": str(empty)}}, tmp_path / "work2", command="import-model")
    assert code == 1 and events[-1]["code"] == "model_load_failed"
    assert "config.json is missing" in events[-1]["message"]
    code, events = run_train({**spec, "source": {"kind": "gguf", "path": str(tmp_path / "x.gguf")}}, tmp_path / "work3", command="import-model")
    assert code == 1 and events[-1]["code"] == "model_load_failed"
