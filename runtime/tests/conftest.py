"""Shared fixtures: a tiny Llama with a locally trained ChatML tokenizer, data and spec helpers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

RUNTIME = Path(__file__).resolve().parents[1]
PROTOCOL = RUNTIME.parent / "protocol"
BUILTIN_TEMPLATES = RUNTIME.parent / "crates" / "chat-template" / "templates"
PYTHON = sys.executable


def under_ci() -> bool:
    """CI=true (as the Rust tests read it): a missing prerequisite fails instead of skipping."""
    return os.environ.get("CI") == "true"


def require_file(path: Path, how_to_get_it: str) -> None:
    """Skips the calling test when ``path`` is missing, but fails it under CI, so that CI never
    passes with a test that quietly did not run."""
    if path.exists():
        return
    if under_ci():
        pytest.fail(f"{path} is missing and CI=true, so this test fails instead of skipping ({how_to_get_it})", pytrace=False)
    pytest.skip(f"{path} is missing ({how_to_get_it})")


CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? The capital of France is Paris.",
    "Hello! How can I help you today?",
    "Two plus two is four, and three plus three is six.",
    "Tunery fine-tunes small language models on your own machine.",
    "Answer briefly: yes or no.",
    "system user assistant",
]


def builtin_template(name: str) -> str:
    """The source of one of the Rust crate's built-in chat templates, as a job's spec carries it."""
    return (BUILTIN_TEMPLATES / f"{name}.jinja").read_text()


def build_tokenizer(directory: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES * 5, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHATML
    fast.save_pretrained(directory)
    return fast


def build_tiny_model(directory: str) -> None:
    """A 2-layer Llama with the tokenizer above, saved to ``directory`` (also used by the Rust
    integration tests through ``tiny_model.py``)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer(directory)
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
    LlamaForCausalLM(cfg).save_pretrained(directory)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = str(tmp_path_factory.mktemp("tiny-llama"))
    build_tiny_model(d)
    return d


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def sft_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        a = SENTENCES[i % len(SENTENCES)]
        b = SENTENCES[(i * 3 + 1) % len(SENTENCES)]
        msgs = []
        if i % 3 == 0:
            msgs.append({"role": "system", "content": "Answer briefly."})
        msgs += [{"role": "user", "content": a}, {"role": "assistant", "content": b}]
        if i % 2 == 0:
            msgs += [{"role": "user", "content": "And?"}, {"role": "assistant", "content": a[: 10 + i % 20]}]
        rows.append({"messages": msgs})
    return rows


def cpt_rows(n: int) -> list[dict]:
    return [{"text": " ".join(SENTENCES[i % len(SENTENCES) :] * 2)} for i in range(n)]


def dpo_rows(n: int) -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": SENTENCES[i % len(SENTENCES)]}],
            "chosen": [{"role": "assistant", "content": "Yes, " + SENTENCES[(i + 1) % len(SENTENCES)]}],
            "rejected": [{"role": "assistant", "content": "No."}],
        }
        for i in range(n)
    ]


def make_spec(model_dir: str, train_path: str, **overrides: Any) -> dict:
    spec: dict[str, Any] = {
        "spec_version": 1,
        "job_id": "job_test",
        "objective": "sft",
        "model": {"path": model_dir},
        "data": {"train_path": train_path, "max_seq_length": 128, "packing": True},
        "method": {"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.0}},
        "training": {
            "max_steps": 4,
            "micro_batch_size": 2,
            "learning_rate": 0.01,
            "lr_scheduler": "constant",
            "checkpoint_every_steps": 2,
            "seed": 7,
        },
        "device": "cpu",
        "threads": 1,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def run_train(spec: dict, workdir: Path, command: str = "train") -> tuple[int, list[dict]]:
    """Runs the CLI in this process; returns (exit code, events)."""
    from tunery_runtime.__main__ import main
    from tunery_runtime.events import validate_event

    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir.parent / f"{workdir.name}-spec.json"
    spec_path.write_text(json.dumps(spec))
    out = io.StringIO()
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with contextlib.redirect_stdout(out):
            code = main([command, "--spec", str(spec_path), "--workdir", str(workdir)])
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    for e in events:
        validate_event(e)
    return code, events


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


def assert_only_whole_checkpoints(checkpoints: Path) -> list[Path]:
    """The checkpoint directory's invariant: every entry whose name starts with ``step-`` is
    named exactly ``step-<digits>`` and opens cleanly (state.json and the SHA-256 of every file
    check out); everything else is a temporary under a ``.tmp-`` name, which ``step-*`` cannot
    match. Returns the checkpoints, oldest first."""
    from tunery_runtime.checkpoint import open_checkpoint

    found = []
    for entry in sorted(checkpoints.iterdir()):
        if entry.name.startswith("step-"):
            assert re.fullmatch(r"step-[0-9]+", entry.name), f"{entry.name}: named like a checkpoint, but not step-<digits>"
            open_checkpoint(str(entry))  # raises checkpoint_corrupt on a torn or partial checkpoint
            found.append(entry)
        else:
            assert entry.name.startswith(".tmp-"), f"{entry.name}: neither a checkpoint nor a .tmp- temporary"
    return found
