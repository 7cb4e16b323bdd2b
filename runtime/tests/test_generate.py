"""``generate``: greedy answers to chat prompts, from a base model and from base + adapter."""

from __future__ import annotations

import json

from conftest import make_spec, of, run_train, sft_rows, write_jsonl


def _generate(tiny_model_dir, tmp_path, name, adapter=None):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"messages": r["messages"][:1]} for r in sft_rows(3)])
    out = tmp_path / f"{name}.jsonl"
    spec = {
        "spec_version": 1,
        "model_path": tiny_model_dir,
        "adapter_path": adapter,
        "prompts_path": prompts,
        "output_path": str(out),
        "max_new_tokens": 5,
        "device": "cpu",
        "threads": 1,
    }
    code, events = run_train(spec, tmp_path / f"w-{name}", command="generate")
    return code, events, out


def test_generate_answers_every_prompt_with_and_without_an_adapter(tiny_model_dir, tmp_path):
    code, events, out = _generate(tiny_model_dir, tmp_path, "base")
    assert code == 0, events
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert of(events, "finished")[0]["summary"]["prompts"] == 3

    train = write_jsonl(tmp_path / "train.jsonl", sft_rows(8))
    code, events = run_train(make_spec(tiny_model_dir, train), tmp_path / "train")
    assert code == 0, events
    code, events, out = _generate(tiny_model_dir, tmp_path, "adapter", adapter=str(tmp_path / "train" / "output"))
    assert code == 0, events
    assert len(out.read_text().splitlines()) == 3


def test_generate_spec_is_strict(tiny_model_dir, tmp_path):
    code, events = run_train({"spec_version": 1, "model_path": tiny_model_dir, "prompts": "x"}, tmp_path / "w", command="generate")
    assert code == 2
    assert of(events, "failed")[0]["code"] == "invalid_spec"
