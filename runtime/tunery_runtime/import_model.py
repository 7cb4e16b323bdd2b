"""``import-model``: a GGUF file, a Hugging Face directory or an archive of one → a normalised
Hugging Face directory.

GGUF: transformers dequantizes the tensors to float32; the tokenizer (with its chat template)
comes from the GGUF metadata. Directory: the config, tokenizer and weights are checked, then
copied (safetensors) or converted (``pytorch_model*.bin`` → safetensors). Archive (tar, tar.gz,
tar.bz2, tar.xz or zip): extracted into the work directory with the checks of ``archive.py``
(no links, no paths outside, bounded size), then imported as a directory.
Output is written to ``<output_dir>.tmp-import`` and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any

from .archive import extract_model_archive
from .errors import RuntimeFailure
from .events import Emitter
from .spec import ImportSpec

log = logging.getLogger("tunery_runtime")

WEIGHT_SUFFIXES = (".safetensors", ".bin")


def _fail(message: str, hint: str | None = None) -> RuntimeFailure:
    return RuntimeFailure("model_load_failed", message, hint)


def _gguf_field(path: str, key: str) -> Any:
    try:
        from gguf import GGUFReader

        field = GGUFReader(path).fields.get(key)
        return None if field is None else field.contents()
    except Exception:  # pragma: no cover - metadata is optional
        return None


def _fix_gguf_tokenizer(tok: Any, gguf_path: str) -> None:
    """transformers' GGUF conversion drops llama.cpp's digit split of the `smollm` pre-tokenizer."""
    pre = _gguf_field(gguf_path, "tokenizer.ggml.pre")
    if pre == "smollm" and hasattr(tok, "backend_tokenizer"):
        from tokenizers import pre_tokenizers

        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            ]
        )


def summary_of(config: Any, parameters: int, dtype: str) -> dict[str, Any]:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(text, "num_attention_heads", None)
    archs = getattr(config, "architectures", None) or []
    return {
        "architecture": archs[0] if archs else None,
        "model_type": getattr(config, "model_type", None),
        "parameters": parameters,
        "layers": getattr(text, "num_hidden_layers", None),
        "hidden_size": getattr(text, "hidden_size", None),
        "attention_heads": heads,
        "kv_heads": getattr(text, "num_key_value_heads", None) or heads,
        "context_length": getattr(text, "max_position_embeddings", None),
        "vocab_size": getattr(text, "vocab_size", None),
        "dtype": dtype,
    }


def _safetensors_parameters(directory: str) -> tuple[int, str]:
    """Counts parameters from the safetensors headers without loading the tensors."""
    import struct

    total = 0
    dtypes: set[str] = set()
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for key, info in header.items():
            if key == "__metadata__":
                continue
            count = 1
            for d in info["shape"]:
                count *= d
            total += count
            dtypes.add(info["dtype"])
    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    dtype = ",".join(sorted(names.get(d, d.lower()) for d in dtypes))
    return total, dtype


def run_import(spec: ImportSpec, workdir: str, emitter: Emitter) -> int:
    out = spec.output_dir
    tmp = out.rstrip("/") + ".tmp-import"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    src = spec.source.path
    if spec.source.kind == "gguf":
        if not os.path.isfile(src):
            raise _fail(f"source.path: no such file {src}")
        summary = _import_gguf(src, tmp, emitter)
    elif spec.source.kind == "archive":
        if not os.path.isfile(src):
            raise _fail(f"source.path: no such file {src}")
        extracted = os.path.join(workdir, "extracted")
        if os.path.exists(extracted):
            shutil.rmtree(extracted)
        emitter.log("info", f"extracting {os.path.basename(src)}")
        try:
            summary = _import_directory(extract_model_archive(src, extracted), tmp, emitter)
        finally:
            shutil.rmtree(extracted, ignore_errors=True)
    else:
        if not os.path.isdir(src):
            raise _fail(f"source.path: no such directory {src}")
        summary = _import_directory(src, tmp, emitter)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    os.rename(tmp, out)
    emitter.emit("finished", status="completed", summary=summary)
    return 0


def _import_gguf(path: str, tmp: str, emitter: Emitter) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory, name = os.path.split(path)
    emitter.log("info", f"reading {name} and dequantizing its tensors to float32")
    try:
        tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    except Exception as e:
        raise _fail(f"cannot read the GGUF file {path}: {e}", "the GGUF architecture may not be supported by transformers") from e
    _fix_gguf_tokenizer(tok, path)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if hasattr(model.config, "quantization_config"):
        try:
            delattr(model.config, "quantization_config")
        except Exception:
            pass
    model.config.architectures = [type(model).__name__]
    if not getattr(tok, "chat_template", None):
        emitter.log("warning", "the GGUF file has no chat template; SFT will need model.chat_template")
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    return summary_of(model.config, params, "float32")


def _import_directory(src: str, tmp: str, emitter: Emitter) -> dict[str, Any]:
    from transformers import AutoConfig, AutoTokenizer

    files = os.listdir(src)
    if "config.json" not in files:
        raise _fail(f"{src}: config.json is missing", "a Hugging Face model directory has config.json")
    try:
        config = AutoConfig.from_pretrained(src)
    except Exception as e:
        raise _fail(f"{src}: config.json is not a usable model config: {e}") from e
    try:
        tok = AutoTokenizer.from_pretrained(src)
    except Exception as e:
        raise _fail(f"{src}: cannot load the tokenizer: {e}", "the directory needs tokenizer.json or the tokenizer's own files") from e
    safetensors = [f for f in files if f.endswith(".safetensors")]
    bins = [f for f in files if f.startswith("pytorch_model") and f.endswith(".bin")]
    if not safetensors and not bins:
        raise _fail(f"{src}: no model weights (*.safetensors or pytorch_model*.bin)")
    os.makedirs(tmp)
    if safetensors:
        for f in files:
            p = os.path.join(src, f)
            if os.path.isfile(p) and (f.endswith(".safetensors") or f == "model.safetensors.index.json" or f in ("config.json", "generation_config.json")):
                shutil.copy2(p, os.path.join(tmp, f))
    else:
        import torch
        from transformers import AutoModelForCausalLM

        emitter.log("info", "converting pytorch_model*.bin to safetensors")
        try:
            model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
        except Exception as e:
            raise _fail(f"{src}: cannot load the weights: {e}") from e
        model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    params, dtype = _safetensors_parameters(tmp)
    if not getattr(config, "architectures", None):
        emitter.log("warning", "config.json names no architectures")
    return summary_of(config, params, dtype)
