"""End-to-end training runs in this process (tiny Llama, CPU, one thread)."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from conftest import SENTENCES, builtin_template, cpt_rows, dpo_rows, make_spec, of, run_train, sft_rows, write_jsonl


@pytest.fixture(scope="module")
def sft_path(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", sft_rows(12))


def progress_losses(events):
    return [(e["step"], e["loss"]) for e in of(events, "progress")]


@pytest.mark.parametrize("kind", ["full", "freeze", "lora", "qlora", "dora"])
def test_each_method_trains_and_writes_its_output(tiny_model_dir, sft_path, tmp_path, kind):
    spec = make_spec(
        tiny_model_dir, sft_path,
        method={"kind": kind, "lora": {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"] if kind == "dora" else "all-linear"}, "freeze": {"trainable_layers": 1}},
        training={"max_steps": 3, "micro_batch_size": 2, "learning_rate": 0.01, "checkpoint_every_steps": 2, "lr_scheduler": "linear", "warmup_steps": 1},
        output={"merge_lora": kind in ("lora", "qlora", "dora")},
    )
    code, events = run_train(spec, tmp_path / "w")
    assert code == 0, events[-1]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    started = events[0]
    assert 0 < started["trainable_parameters"] < started["total_parameters"] or kind == "full"
    assert [e["step"] for e in of(events, "progress")] == [1, 2, 3]
    # after `started`, and once more before `finished` with the run's peak
    first, last = of(events, "system")
    assert first["rss_bytes"] > 0 and first["gpus"] == [] and kinds.index("system") == 1
    assert last["peak_rss_bytes"] >= max(last["rss_bytes"], first["peak_rss_bytes"]) and kinds[-2] == "system"
    assert all(e["tokens"] > 0 and e["tokens_per_second"] > 0 and e["step_time_s"] > 0 for e in of(events, "progress"))
    assert [e["step"] for e in of(events, "checkpoint")] == [2, 3]
    out = tmp_path / "w" / "output"
    artifact = of(events, "artifact")[0]
    if kind in ("lora", "qlora", "dora"):
        assert artifact == {**artifact, "kind": "adapter", "path": "output"}
        assert [(e["kind"], e["path"]) for e in of(events, "artifact")[1:]] == [("merged_model", "output-merged")]
        merged = load_file(str(tmp_path / "w" / "output-merged" / "model.safetensors"))
        assert merged and not any("lora" in k or "magnitude" in k for k in merged)
        assert all(v.dtype == torch.float32 for v in merged.values())
        cfg = json.loads((out / "adapter_config.json").read_text())
        assert cfg["use_dora"] == (kind == "dora")
        assert (out / "adapter_model.safetensors").exists()
    else:
        assert artifact["kind"] == "model"
        assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    assert (out / "tokenizer.json").exists()
    ck = load_file(str(tmp_path / "w" / "checkpoints" / "step-00000003" / "trainable.safetensors"))
    if kind == "freeze":
        assert ck and all(k.startswith("model.layers.1.") for k in ck)
    if kind in ("lora", "qlora", "dora"):
        assert ck and all("lora_" in k for k in ck)
        # the last checkpoint carries the adapter as served: the output's, at the same step
        served = tmp_path / "w" / "checkpoints" / "step-00000003" / "adapter"
        assert json.loads((served / "adapter_config.json").read_text()) == cfg
        at_step, final = load_file(str(served / "adapter_model.safetensors")), load_file(str(out / "adapter_model.safetensors"))
        assert at_step.keys() == final.keys() and all(torch.equal(at_step[k], final[k]) for k in final)
        assert (served / "chat_template.jinja").exists()
    else:
        assert not (tmp_path / "w" / "checkpoints" / "step-00000003" / "adapter").exists()
    if kind == "qlora":
        # the base weights really were 4-bit
        assert all(v.dtype == torch.float32 for v in ck.values())
        # rank 4 on the 7 linear layers of both decoder layers: 2 x 2048 (counted unquantized)
        assert started["trainable_parameters"] == 4096 and started["total_parameters"] == 44192 + 4096


def test_qlora_uses_4bit_base_weights(tiny_model_dir, sft_path):
    import bitsandbytes as bnb

    from tunery_runtime.events import Emitter
    from tunery_runtime.model import load_model, pick_precision
    from tunery_runtime.spec import parse_train_spec

    spec = parse_train_spec(make_spec(tiny_model_dir, sft_path, method={"kind": "qlora"}))
    model = load_model(spec, torch.device("cpu"), pick_precision("auto", torch.device("cpu"), Emitter(enabled=False)), None)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


def test_cpt_and_eval_and_merge(tiny_model_dir, tmp_path):
    train = write_jsonl(tmp_path / "cpt.jsonl", cpt_rows(6))
    val = write_jsonl(tmp_path / "val.jsonl", cpt_rows(2))
    spec = make_spec(
        tiny_model_dir, train, objective="cpt",
        data={"train_path": train, "validation_path": val, "max_seq_length": 32, "packing": True},
        training={"max_steps": 4, "eval_every_steps": 2, "checkpoint_every_steps": 10, "learning_rate": 0.01},
        output={"merge_lora": True},
    )
    code, events = run_train(spec, tmp_path / "w")
    assert code == 0, events[-1]
    assert [e["step"] for e in of(events, "eval")] == [2, 4]
    assert all("perplexity" in e["metrics"] for e in of(events, "eval"))
    assert [e["step"] for e in of(events, "checkpoint")] == [4]
    assert [(e["kind"], e["path"]) for e in of(events, "artifact")] == [("adapter", "output"), ("merged_model", "output-merged")]
    merged = load_file(str(tmp_path / "w" / "output-merged" / "model.safetensors"))
    assert not any("lora" in k for k in merged)
    assert events[-1]["summary"]["eval_loss"] == of(events, "eval")[-1]["eval_loss"]


def test_early_stopping(tiny_model_dir, tmp_path, sft_path):
    val = write_jsonl(tmp_path / "val.jsonl", sft_rows(2))
    spec = make_spec(
        tiny_model_dir, sft_path,
        data={"train_path": sft_path, "validation_path": val, "max_seq_length": 128},
        training={"max_steps": 20, "learning_rate": 1e-9, "lr_scheduler": "constant", "eval_every_steps": 1, "early_stopping_patience": 2, "checkpoint_every_steps": 50},
    )
    code, events = run_train(spec, tmp_path / "w")
    assert code == 0
    assert events[-1]["status"] == "early_stopped"
    assert events[-1]["summary"]["steps"] < 20


def test_dpo(tiny_model_dir, tmp_path):
    train = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows(6))
    val = write_jsonl(tmp_path / "dval.jsonl", dpo_rows(2))
    for kind in ("lora", "full"):
        spec = make_spec(
            tiny_model_dir, train, objective="dpo",
            data={"train_path": train, "validation_path": val, "max_seq_length": 64},
            method={"kind": kind, "lora": {"rank": 4, "alpha": 8, "dropout": 0.0}},
            training={"max_steps": 3, "learning_rate": 0.01, "eval_every_steps": 3, "dpo_beta": 0.5},
        )
        code, events = run_train(spec, tmp_path / kind)
        assert code == 0, events[-1]
        losses = [e["loss"] for e in of(events, "progress")]
        # at step 1 the policy equals the reference: the loss is exactly log(2)
        assert losses[0] == pytest.approx(0.6931, abs=1e-3)
        (ev,) = of(events, "eval")
        assert set(ev["metrics"]) == {"reward_accuracy", "reward_margin"}


@pytest.mark.parametrize("kind", ["lora", "full"])
def test_resume_is_exact(tiny_model_dir, sft_path, tmp_path, kind):
    """6 steps straight == 3 steps, then a fresh run resumed from the step-3 checkpoint."""
    common = dict(
        method={"kind": kind, "lora": {"rank": 4, "alpha": 8, "dropout": 0.2}},
        data={"train_path": sft_path, "max_seq_length": 128, "packing": kind == "lora"},
        training={
            "max_steps": 6, "micro_batch_size": 2, "gradient_accumulation_steps": 2, "learning_rate": 0.005,
            "lr_scheduler": "cosine", "warmup_steps": 2, "weight_decay": 0.01, "checkpoint_every_steps": 3, "seed": 11,
        },
    )
    code, straight = run_train(make_spec(tiny_model_dir, sft_path, **common), tmp_path / "a")
    assert code == 0
    ckpt = tmp_path / "a" / "checkpoints" / "step-00000003"
    state = json.loads((ckpt / "state.json").read_text())
    assert state["step"] == 3 and state["seed"] == 11 and set(state["files"]) == {"trainable.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt"}
    assert state["data_position"]["epoch"] >= 0
    code, resumed = run_train(make_spec(tiny_model_dir, sft_path, resume_from=str(ckpt), **common), tmp_path / "b")
    assert code == 0
    assert resumed[0]["resumed_from_step"] == 3
    assert progress_losses(resumed) == progress_losses(straight)[3:]
    assert [e["learning_rate"] for e in of(resumed, "progress")] == [e["learning_rate"] for e in of(straight, "progress")][3:]
    name = "adapter_model.safetensors" if kind == "lora" else "model.safetensors"
    a = load_file(str(tmp_path / "a" / "output" / name))
    b = load_file(str(tmp_path / "b" / "output" / name))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_checkpoints_are_pruned_and_atomic(tiny_model_dir, sft_path, tmp_path):
    spec = make_spec(tiny_model_dir, sft_path, training={"max_steps": 5, "checkpoint_every_steps": 1, "keep_checkpoints": 2})
    code, events = run_train(spec, tmp_path / "w")
    assert code == 0
    assert [e["step"] for e in of(events, "checkpoint")] == [1, 2, 3, 4, 5]
    assert sorted(os.listdir(tmp_path / "w" / "checkpoints")) == ["step-00000004", "step-00000005"]


@pytest.mark.parametrize("damage", ["flip", "missing", "state"])
def test_corrupt_checkpoint_is_refused(tiny_model_dir, sft_path, tmp_path, damage):
    spec = make_spec(tiny_model_dir, sft_path, training={"max_steps": 2, "checkpoint_every_steps": 2})
    assert run_train(spec, tmp_path / "a")[0] == 0
    ckpt = tmp_path / "a" / "checkpoints" / "step-00000002"
    if damage == "flip":
        data = bytearray((ckpt / "optimizer.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (ckpt / "optimizer.pt").write_bytes(bytes(data))
    elif damage == "missing":
        (ckpt / "rng.pt").unlink()
    else:
        (ckpt / "state.json").write_text("{")
    code, events = run_train({**spec, "resume_from": str(ckpt), "training": {**spec["training"], "max_steps": 4}}, tmp_path / "b")
    assert code == 1
    assert events[-1]["event"] == "failed" and events[-1]["code"] == "checkpoint_corrupt"
    assert events[-1]["hint"]


def test_phi3_template_with_several_assistant_turns_trains(tiny_model_dir, tmp_path):
    # The built-in phi3 template as a job's spec carries it; every row has several assistant turns.
    rows = [
        {
            "messages": [
                {"role": "user", "content": SENTENCES[i % len(SENTENCES)]},
                {"role": "assistant", "content": SENTENCES[(i + 1) % len(SENTENCES)]},
                {"role": "user", "content": "And?"},
                {"role": "assistant", "content": SENTENCES[(i + 2) % len(SENTENCES)][:20]},
                {"role": "user", "content": "Thanks"},
                {"role": "assistant", "content": "Answer briefly: yes or no."},
            ]
        }
        for i in range(6)
    ]
    spec = make_spec(
        tiny_model_dir,
        write_jsonl(tmp_path / "phi3.jsonl", rows),
        model={"path": tiny_model_dir, "chat_template": builtin_template("phi3")},
        data={"max_seq_length": 256, "packing": False},
        training={"max_steps": 2, "micro_batch_size": 2, "learning_rate": 0.01, "lr_scheduler": "constant", "checkpoint_every_steps": 2, "seed": 7},
    )
    code, events = run_train(spec, tmp_path / "w")
    assert code == 0, events[-1]
    assert events[-1]["event"] == "finished"
    losses = progress_losses(events)
    assert [step for step, _ in losses] == [1, 2] and all(loss > 0 for _, loss in losses)
    assert not [e for e in of(events, "log") if e["level"] == "warning"], "no example truncated or dropped"


def test_data_and_model_failures(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(sft_rows(1)[0]) + "\n" + '{"messages": [{"role": "user"}]}\n')
    code, events = run_train(make_spec(tiny_model_dir, str(bad)), tmp_path / "w1")
    assert code == 1 and events[-1]["code"] == "invalid_data"
    assert events[-1]["message"] == "train line 2: messages[0].content: expected a string"
    good = write_jsonl(tmp_path / "good.jsonl", sft_rows(2))
    code, events = run_train(make_spec(str(tmp_path / "nope"), good), tmp_path / "w2")
    assert code == 1 and events[-1]["code"] == "model_load_failed"
    code, events = run_train(make_spec(tiny_model_dir, good, method={"kind": "freeze", "freeze": {"trainable_layers": 5}}), tmp_path / "w3")
    assert code == 2 and events[-1]["code"] == "invalid_spec"
    assert events[-1]["message"] == "method.freeze.trainable_layers: must be <= the model's 2 decoder layers, got 5"


def test_out_of_memory_is_reported_with_a_hint(tiny_model_dir, sft_path, tmp_path, monkeypatch):
    import tunery_runtime.train as train

    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(train, "token_losses", boom)
    code, events = run_train(make_spec(tiny_model_dir, sft_path), tmp_path / "w")
    assert code == 1
    assert events[-1]["code"] == "out_of_memory"
    assert "qlora" in events[-1]["hint"] and "micro_batch_size" in events[-1]["hint"]


def test_gradient_checkpointing_and_padded_batches_train_the_same(tiny_model_dir, sft_path, tmp_path):
    """With LoRA dropout: the recomputed forward passes draw the same dropout masks."""
    runs = {}
    for gc in (False, True):
        spec = make_spec(
            tiny_model_dir, sft_path,
            method={"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.1}},
            data={"train_path": sft_path, "max_seq_length": 128, "packing": False},
            # fp32: the same arithmetic either way (bf16 rounds the recomputed pass differently)
            training={"max_steps": 3, "gradient_checkpointing": gc, "learning_rate": 0.01, "checkpoint_every_steps": 10, "precision": "fp32"},
        )
        code, events = run_train(spec, tmp_path / f"gc-{gc}")
        assert code == 0, events[-1]
        runs[gc] = [e["loss"] for e in of(events, "progress")]
    assert runs[True] == pytest.approx(runs[False], rel=1e-5)


def test_packing_does_not_change_the_loss(tiny_model_dir, sft_path, tmp_path):
    """One optimizer step over the whole data set: packed rows and padded rows give the same loss."""
    losses = {}
    for packing in (True, False):
        spec = make_spec(
            tiny_model_dir, sft_path,
            data={"train_path": sft_path, "max_seq_length": 128, "packing": packing},
            # fp32: the same arithmetic either way (bf16 rounds rows of other lengths differently)
            training={"max_steps": 1, "micro_batch_size": 64, "checkpoint_every_steps": 10, "precision": "fp32"},
        )
        code, events = run_train(spec, tmp_path / f"p-{packing}")
        assert code == 0
        (p,) = of(events, "progress")
        losses[packing] = (p["loss"], p["tokens"], p["samples_per_second"] > 0)
    assert losses[True][0] == pytest.approx(losses[False][0], rel=1e-5)
    assert losses[True][1] == losses[False][1]


@pytest.mark.filterwarnings("ignore:Setting `save_embedding_layers` to `True`:UserWarning")
def test_keep_best_saves_the_weights_of_the_best_evaluation(tiny_model_dir, tmp_path):
    # The saved adapter must be the one of the lowest evaluation, and the finished summary says
    # which step. For that the evaluation loss has to fall, then climb, by construction rather
    # than by luck of the training dynamics: the validation set asks the training set's prompts
    # but answers them otherwise. Training makes the model ever surer of the training answer, so
    # the validation loss falls at first (on what both answers share: the full stop, the end of
    # the turn) and then climbs far past its untrained value. The adapter is on the output layer
    # only: over the frozen body's features it trains smoothly, and fast enough to get there in
    # 12 steps.
    def rows(answer, n):
        return [{"messages": [{"role": "user", "content": SENTENCES[i % len(SENTENCES)]}, {"role": "assistant", "content": answer}]}
                for i in range(n)]

    train = write_jsonl(tmp_path / "t.jsonl", rows("The capital of France is Paris.", 24))
    val = write_jsonl(tmp_path / "v.jsonl", rows("Two plus two is four.", 6))
    spec = make_spec(
        tiny_model_dir,
        train,
        data={"train_path": train, "validation_path": val, "max_seq_length": 128, "packing": True},
        method={"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["lm_head"]}},
        training={"max_steps": 12, "micro_batch_size": 2, "learning_rate": 0.05, "lr_scheduler": "constant", "eval_every_steps": 1,
                  "checkpoint_every_steps": 1, "keep_checkpoints": 12, "seed": 7, "keep_best": True},
    )
    code, events = run_train(spec, tmp_path / "w")
    assert code == 0, events[-1]
    evals = [(e["step"], e["eval_loss"]) for e in of(events, "eval")]
    best_step, best_loss = min(evals, key=lambda x: x[1])
    assert evals[-1][0] == 12 and best_step < 12, f"the fixture should get worse after its best evaluation: {evals}"
    summary = events[-1]["summary"]
    assert (summary["best_step"], summary["best_eval_loss"]) == (best_step, pytest.approx(best_loss))
    saved = load_file(str(tmp_path / "w" / "output" / "adapter_model.safetensors"))
    at_best = load_file(str(tmp_path / "w" / "checkpoints" / f"step-{best_step:08d}" / "trainable.safetensors"))
    last = load_file(str(tmp_path / "w" / "checkpoints" / "step-00000012" / "trainable.safetensors"))

    def as_saved(name):  # PEFT saves adapter weights without the adapter's name
        return name.replace(".default.weight", ".weight")

    # Besides the adapter, PEFT saves the frozen weight of a targeted output layer
    # (save_embedding_layers="auto"): that copy must be the base model's, untouched (at the
    # precision the base was loaded in: bf16 where `auto` trains in bf16).
    trained = {as_saved(n) for n in at_best}
    base = load_file(os.path.join(tiny_model_dir, "model.safetensors"))
    assert trained <= set(saved), sorted(trained - set(saved))
    for name in set(saved) - trained:
        copy = saved[name]
        assert name == "base_model.model.lm_head.base_layer.weight" and torch.equal(copy, base["lm_head.weight"].to(copy.dtype)), name
    for name, tensor in at_best.items():
        assert torch.equal(saved[as_saved(name)], tensor), name
    assert any(not torch.equal(saved[as_saved(n)], t) for n, t in last.items()), "the last step's weights were saved"
    # Without an evaluation to choose by, keep_best is refused.
    bad = make_spec(tiny_model_dir, train, training={"keep_best": True})
    code, failed = run_train(bad, tmp_path / "bad")
    assert code == 2 and "training.keep_best: needs training.eval_every_steps" in failed[-1]["message"], failed[-1]


@pytest.mark.parametrize("optimizer,state_key", [("adamw", "exp_avg"), ("adamw_8bit", "__bnb_optimizer_quant_state__")])
def test_the_spec_names_the_optimizer_and_nothing_switches_it(tiny_model_dir, tmp_path, optimizer, state_key):
    # The server resolves the user's "auto"; the runtime uses exactly what the spec names, on any
    # device (8-bit AdamW runs on the CPU too), as its checkpointed state shows.
    train = write_jsonl(tmp_path / "t.jsonl", sft_rows(8))
    spec = make_spec(tiny_model_dir, train, training={"max_steps": 2, "micro_batch_size": 2, "optimizer": optimizer,
                                                      "checkpoint_every_steps": 2})
    code, events = run_train(spec, tmp_path / "w")
    assert code == 0, events[-1]
    state = torch.load(tmp_path / "w" / "checkpoints" / "step-00000002" / "optimizer.pt", weights_only=False)
    first = next(iter(state["state"].values()))
    assert state_key in first, sorted(first)


def test_a_checkpoint_gathers_only_the_trainable_weights(monkeypatch):
    """`full_trainable_state` takes the trainable parameters alone: the whole-model gather (for a
    LoRA run, the entire frozen base model) is never made for a checkpoint."""
    from tunery_runtime import sharding

    def whole_model_gather(model):
        raise AssertionError("a checkpoint gathered the whole model, frozen weights included")

    monkeypatch.setattr(sharding, "full_state", whole_model_gather)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model[0].requires_grad_(False)
    state = sharding.full_trainable_state(model)
    assert sorted(state) == ["1.bias", "1.weight"]
    assert torch.equal(state["1.weight"], model[1].weight.detach())


def test_auto_precision_is_bf16_where_the_cpu_multiplies_bfloat16(tiny_model_dir, sft_path, tmp_path):
    """`auto` trains in bf16 mixed precision on a CPU with AVX512-BF16 or AMX (fp32 elsewhere),
    with losses close to fp32's."""
    from tunery_runtime.model import cpu_has_native_bf16

    runs = {}
    for precision in ("auto", "fp32"):
        spec = make_spec(tiny_model_dir, sft_path, training={"precision": precision, "max_steps": 3, "checkpoint_every_steps": 10})
        code, events = run_train(spec, tmp_path / precision)
        assert code == 0, events[-1]
        runs[precision] = (events[0]["dtype"], [e["loss"] for e in of(events, "progress")])
    assert runs["auto"][0] == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert runs["fp32"][0] == "fp32"
    assert runs["auto"][1] == pytest.approx(runs["fp32"][1], rel=0.02)


def test_bf16_is_refused_on_a_cpu_without_it(tiny_model_dir, sft_path, tmp_path, monkeypatch):
    # The machine's answer replaced by a CPU's without bfloat16 arithmetic.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    code, events = run_train(make_spec(tiny_model_dir, sft_path, training={"precision": "bf16"}), tmp_path / "w")
    assert code != 0
    failed = events[-1]
    assert failed["event"] == "failed" and failed["code"] == "unsupported"
    assert "no native bfloat16" in failed["message"] and "fp32" in failed["hint"]
    code, events = run_train(make_spec(tiny_model_dir, sft_path, training={"precision": "auto", "max_steps": 1}), tmp_path / "auto")
    assert code == 0 and events[0]["dtype"] == "fp32"


def test_under_autocast_adapters_keep_no_fp32_copy_of_their_inputs(tiny_model_dir, sft_path):
    """PEFT casts each adapter's input to the adapter's fp32, a copy the A projection keeps for
    its gradient; under autocast the runtime passes the input as it is: less kept for the backward
    pass, the same loss to bf16's rounding."""
    from tunery_runtime.events import Emitter
    from tunery_runtime.model import Precision, load_model
    from tunery_runtime.spec import parse_train_spec

    spec = parse_train_spec(make_spec(tiny_model_dir, sft_path, method={"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.1}}))
    bf16 = Precision("bf16", torch.bfloat16, True, False)
    model = load_model(spec, torch.device("cpu"), bf16, Emitter(enabled=False))
    adapted = [m for m in model.modules() if hasattr(m, "lora_A") and hasattr(m, "cast_input_dtype_enabled")]
    assert adapted and all(m.cast_input_dtype_enabled is False for m in adapted)
    model.set_attn_implementation("sdpa")  # one plain causal row: no packed spans to pass
    ids = torch.randint(0, 100, (2, 48))

    def kept_bytes_and_loss() -> tuple[int, float]:
        kept: list[torch.Tensor] = []

        def pack(t: torch.Tensor) -> torch.Tensor:
            kept.append(t)
            return t

        torch.manual_seed(3)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        unique = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in kept}
        return sum(unique.values()), float(loss.detach())

    uncast = kept_bytes_and_loss()
    for m in adapted:
        m.cast_input_dtype_enabled = True  # PEFT's default
    cast = kept_bytes_and_loss()
    assert uncast[0] < cast[0]
    assert uncast[1] == pytest.approx(cast[1], rel=1e-2)
