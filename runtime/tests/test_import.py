"""import-model: the real SmolLM2 GGUF (skipped only when the file is missing, and never under
CI=true, where a missing file fails) and a directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import of, require_file, run_train, under_ci

SMOLLM2_DIR = Path(os.environ.get("TUNERY_CACHE_DIR", Path.home() / ".cache" / "tunery")) / "models" / "smollm2-135m-instruct"
GGUF = SMOLLM2_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf"
FETCH = "scripts/fetch-smollm2-tokenizer.sh fetches it"


@pytest.mark.slow
def test_import_smollm2_gguf(tmp_path):
    require_file(GGUF, FETCH)  # skips when missing; under CI=true fails, saying so
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
    reference = SMOLLM2_DIR / "tokenizer.json"  # the tokenizer that scripts/fetch-smollm2-tokenizer.sh builds
    if reference.exists() or under_ci():  # under CI=true it must be there
        assert reference.exists(), f"{reference} is missing and CI=true (scripts/fetch-smollm2-tokenizer.sh builds it)"
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


def _tar(path, entries, mode="w:gz"):
    """entries: (name, bytes | None for a directory | ("symlink", target))."""
    import io
    import tarfile

    with tarfile.open(path, mode) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def _model_files(tiny_model_dir):
    return [(f, (Path(tiny_model_dir) / f).read_bytes()) for f in sorted(os.listdir(tiny_model_dir))]


def test_import_archive_tar_and_zip(tiny_model_dir, tmp_path):
    import zipfile

    files = _model_files(tiny_model_dir)
    # A tar.gz holding the model in one top-level directory, and a zip holding it at the root.
    tgz = tmp_path / "tiny.tar.gz"
    _tar(tgz, [("tiny-model", None)] + [(f"tiny-model/{n}", b) for n, b in files])
    zipped = tmp_path / "tiny.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in files:
            z.writestr(n, b)
    for archive in (tgz, zipped):
        out = tmp_path / f"out-{archive.name}"
        spec = {"spec_version": 1, "source": {"kind": "archive", "path": str(archive)}, "output_dir": str(out)}
        work = tmp_path / f"work-{archive.name}"
        code, events = run_train(spec, work, command="import-model")
        assert code == 0, events[-1]
        s = events[-1]["summary"]
        assert (s["architecture"], s["layers"], s["parameters"]) == ("LlamaForCausalLM", 2, 44192)
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(out))
        assert not (work / "extracted").exists(), "the extracted copy is removed"


@pytest.mark.parametrize(
    "case, message",
    [
        ("traversal", "points outside the archive"),
        ("absolute", "points outside the archive"),
        ("symlink", "is a link"),
        ("bomb", "decompression bomb"),
        ("no-config", "has no config.json"),
        ("two-models", "several model directories"),
        ("not-an-archive", "is not a tar or zip archive"),
        ("truncated", "corrupt or truncated"),
    ],
)
def test_bad_archives_are_refused_with_the_member_and_reason(case, message, tiny_model_dir, tmp_path):
    files = _model_files(tiny_model_dir)
    path = tmp_path / "model.tar.gz"
    if case == "traversal":
        _tar(path, files + [("../../escape.txt", b"x")])
    elif case == "absolute":
        _tar(path, files + [("/tmp/escape.txt", b"x")])
    elif case == "symlink":
        _tar(path, files + [("weights.safetensors", ("symlink", "/etc/passwd"))])
    elif case == "bomb":
        _tar(path, files + [("zeros.bin", bytes(80 << 20))])
    elif case == "no-config":
        _tar(path, [(n, b) for n, b in files if n != "config.json"])
    elif case == "two-models":
        _tar(path, [(f"a/{n}", b) for n, b in files] + [(f"b/{n}", b) for n, b in files])
    elif case == "not-an-archive":
        path.write_bytes(b"just some bytes, not an archive at all")
    elif case == "truncated":
        _tar(path, files)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    out = tmp_path / "out"
    spec = {"spec_version": 1, "source": {"kind": "archive", "path": str(path)}, "output_dir": str(out)}
    code, events = run_train(spec, tmp_path / "work", command="import-model")
    assert code == 1 and events[-1]["code"] == "model_load_failed", events[-1]
    assert message in events[-1]["message"], events[-1]
    assert not out.exists() and not (tmp_path / "escape.txt").exists() and not (tmp_path / "work" / "extracted").exists()
