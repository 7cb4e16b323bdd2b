"""Real subprocesses: SIGTERM stop + exact resume, and DDP across two CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import RUNTIME, assert_only_whole_checkpoints, make_spec, of, run_train, sft_rows, write_jsonl
from tunery_runtime.events import validate_event

pytestmark = pytest.mark.slow


def env() -> dict:
    e = dict(os.environ)
    e.update(PYTHONPATH=str(RUNTIME), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return e


def test_sigterm_saves_a_checkpoint_and_exits_75_then_resumes_exactly(tiny_model_dir, tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", sft_rows(12))
    spec = make_spec(
        tiny_model_dir, train,
        method={"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.1}},
        training={"max_steps": 150, "checkpoint_every_steps": 1000, "learning_rate": 0.002, "lr_scheduler": "cosine"},
    )
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    work = tmp_path / "stopped"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunery_runtime", "train", "--spec", str(tmp_path / "spec.json"), "--workdir", str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=str(RUNTIME),
    )
    events = []
    sent = False
    for line in proc.stdout:
        ev = json.loads(line)
        validate_event(ev)
        events.append(ev)
        if not sent and ev["event"] == "progress" and ev["step"] >= 2:
            proc.send_signal(signal.SIGTERM)
            sent = True
    code = proc.wait(timeout=120)
    stderr = proc.stderr.read()
    assert sent, stderr[-2000:]
    assert code == 75, stderr[-2000:]
    stopped = events[-1]
    assert stopped["event"] == "stopped"
    step = stopped["step"]
    assert 2 <= step < 150
    assert stopped["checkpoint"] == f"checkpoints/step-{step:08d}"
    assert of(events, "checkpoint")[-1]["step"] == step
    assert of(events, "progress")[-1]["step"] == step
    assert json.loads((work / stopped["checkpoint"] / "state.json").read_text())["step"] == step

    code, resumed = run_train({**spec, "resume_from": stopped["checkpoint"]}, work)
    assert code == 0
    code, straight = run_train(spec, tmp_path / "straight")
    assert code == 0
    losses = lambda evs: [(e["step"], e["loss"]) for e in of(evs, "progress")]
    assert losses(events) == losses(straight)[:step]
    assert losses(resumed) == losses(straight)[step:]
    a = load_file(str(work / "output" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "straight" / "output" / "adapter_model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_match_one_process(tiny_model_dir, tmp_path):
    # 14 examples, 2 per micro-batch: 7 micro-batches; 2 ranks x 2 accumulation = 4 per step, so the
    # second step has 3 and rank 1 runs a zero-weight filler to keep the all-reduces in step.
    train = write_jsonl(tmp_path / "t.jsonl", sft_rows(14))
    common = dict(
        method={"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.0}},
        data={"train_path": train, "max_seq_length": 128, "packing": False},
        training={"epochs": 1, "max_steps": None, "micro_batch_size": 2, "gradient_accumulation_steps": 2, "learning_rate": 0.01, "checkpoint_every_steps": 1, "lr_scheduler": "constant"},
    )
    spec = make_spec(tiny_model_dir, train, **common)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    work = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), "-m", "tunery_runtime", "train", "--spec", str(tmp_path / "spec.json"), "--workdir", str(work)],
        capture_output=True, text=True, env=env(), cwd=str(RUNTIME), timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(l) for l in proc.stdout.splitlines()]  # stdout carries only events
    for e in events:
        validate_event(e)
    assert len(of(events, "started")) == 1 and events[0]["world_size"] == 2
    assert [e["step"] for e in of(events, "progress")] == [1, 2]
    assert [e["step"] for e in of(events, "checkpoint")] == [1, 2]
    assert events[-1]["event"] == "finished"
    rng = torch.load(str(work / "checkpoints" / "step-00000002" / "rng.pt"), weights_only=True)
    assert rng["world_size"] == 2 and len(rng["ranks"]) == 2
    # one process with twice the accumulation sees the same batches per step
    single = {**common, "training": {**common["training"], "gradient_accumulation_steps": 4}}
    code, one = run_train(make_spec(tiny_model_dir, train, **single), tmp_path / "one")
    assert code == 0
    assert len(of(one, "progress")) == 2
    for a, b in zip(of(events, "progress"), of(one, "progress")):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["tokens"] == b["tokens"]


@pytest.mark.parametrize("zero_stage, method", [(2, "lora"), (3, "lora"), (3, "full")])
def test_sharded_ranks_match_one_process_and_resume(zero_stage, method, tiny_model_dir, tmp_path):
    """ZeRO-2/3 (FSDP2) over two CPU processes: the same losses and evaluation as one process,
    checkpoints with gathered weights, a sharded resume that continues, and the final adapter."""
    train = write_jsonl(tmp_path / "t.jsonl", sft_rows(16))
    val = write_jsonl(tmp_path / "v.jsonl", sft_rows(5))  # uneven over two ranks: 3 and 2 batches of 1
    common = dict(
        method={"kind": method, "lora": {"rank": 4, "alpha": 8, "dropout": 0.0}},
        data={"train_path": train, "validation_path": val, "max_seq_length": 128, "packing": False},
        training={"epochs": 1, "max_steps": 3, "micro_batch_size": 1, "gradient_accumulation_steps": 2, "learning_rate": 0.01,
                  "checkpoint_every_steps": 1, "eval_every_steps": 3, "lr_scheduler": "constant", "zero_stage": zero_stage},
    )
    spec = make_spec(tiny_model_dir, train, **common)
    work = tmp_path / "sharded"

    def launch(spec_doc, workdir):
        (tmp_path / "spec.json").write_text(json.dumps(spec_doc))
        proc = subprocess.run(
            [sys.executable, "-m", "tunery_runtime", "train", "--nproc-per-node", "2", "--spec", str(tmp_path / "spec.json"), "--workdir", str(workdir)],
            capture_output=True, text=True, env=env(), cwd=str(RUNTIME), timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        events = [json.loads(l) for l in proc.stdout.splitlines()]
        for e in events:
            validate_event(e)
        return events

    events = launch(spec, work)
    assert of(events, "started")[0]["world_size"] == 2 and events[-1]["event"] == "finished"
    assert any("sharded over 2 ranks" in e.get("message", "") for e in of(events, "log")), of(events, "log")
    state = json.loads((work / "checkpoints" / "step-00000003" / "state.json").read_text())
    assert (state["zero_stage"], state["sharded"]) == (zero_stage, True)
    # One process with twice the accumulation: the same batches per step, the same losses.
    single = {**common, "training": {**common["training"], "gradient_accumulation_steps": 4, "zero_stage": 0}}
    code, one = run_train(make_spec(tiny_model_dir, train, **single), tmp_path / "one")
    assert code == 0
    assert [e["step"] for e in of(events, "progress")] == [1, 2, 3]
    for a, b in zip(of(events, "progress"), of(one, "progress")):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert of(events, "eval")[0]["eval_loss"] == pytest.approx(of(one, "eval")[0]["eval_loss"], rel=1e-4)
    assert of(events, "eval")[0]["metrics"]["tokens"] == of(one, "eval")[0]["metrics"]["tokens"]
    # The gathered adapter or model is whole: it loads, and differs from the base it started from.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    if method == "lora":
        PeftModel.from_pretrained(base, str(work / "output"))
    else:
        tuned = AutoModelForCausalLM.from_pretrained(str(work / "output"))
        changed = [n for n, p in tuned.named_parameters() if not torch.equal(p, base.get_parameter(n))]
        assert len(changed) == len(list(base.parameters())), "every trained weight was saved"
    # A sharded resume from step 1 continues to the same last loss.
    resumed = launch({**spec, "resume_from": str(work / "checkpoints" / "step-00000002")}, tmp_path / "resumed")
    assert of(resumed, "started")[0]["resumed_from_step"] == 2
    assert of(resumed, "progress")[-1]["loss"] == pytest.approx(of(events, "progress")[-1]["loss"], rel=1e-4)
    # A replicated run refuses the sharded checkpoint, saying why.
    code, refused = run_train({**make_spec(tiny_model_dir, train, **single), "resume_from": str(work / "checkpoints" / "step-00000002")}, tmp_path / "refused")
    assert code == 1 and refused[-1]["code"] == "checkpoint_corrupt" and "sharded" in refused[-1]["message"], refused[-1]


def test_launcher_two_ranks_sigterm_exits_75(tiny_model_dir, tmp_path):
    """`train --nproc-per-node 2`: SIGTERM reaches both ranks, a checkpoint is saved, exit code 75."""
    train = write_jsonl(tmp_path / "t.jsonl", sft_rows(10))
    spec = make_spec(tiny_model_dir, train, training={"max_steps": 3000, "checkpoint_every_steps": 10000})
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    work = tmp_path / "w"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunery_runtime", "train", "--nproc-per-node", "2", "--spec", str(tmp_path / "spec.json"), "--workdir", str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=str(RUNTIME),
    )
    events, sent = [], False
    for line in proc.stdout:
        ev = json.loads(line)
        validate_event(ev)
        events.append(ev)
        if not sent and ev["event"] == "progress" and ev["step"] >= 2:
            proc.send_signal(signal.SIGTERM)
            sent = True
    code = proc.wait(timeout=120)
    assert code == 75, proc.stderr.read()[-3000:]
    assert events[0]["event"] == "started" and events[0]["world_size"] == 2
    stopped = events[-1]
    assert stopped["event"] == "stopped" and stopped["checkpoint"] == f"checkpoints/step-{stopped['step']:08d}"
    state = json.loads((work / stopped["checkpoint"] / "state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == stopped["step"]


def test_kills_during_checkpoint_saves_never_leave_a_broken_checkpoint(tiny_model_dir, tmp_path):
    """SIGKILL at many moments of a run that checkpoints every step (so most kills land in or
    near a save): every ``checkpoints/step-*`` left behind opens cleanly, and the run resumes
    from the newest one to the end."""
    import random

    train = write_jsonl(tmp_path / "t.jsonl", sft_rows(12))
    spec = make_spec(tiny_model_dir, train, training={"max_steps": 400, "checkpoint_every_steps": 1, "keep_checkpoints": 3})
    work = tmp_path / "work"
    rng = random.Random(5)
    resumed_from = []
    for round_ in range(6):
        newest = sorted((work / "checkpoints").glob("step-*")) if (work / "checkpoints").exists() else []
        spec["resume_from"] = str(newest[-1]) if newest else None
        if newest:
            resumed_from.append(newest[-1].name)
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tunery_runtime", "train", "--spec", str(tmp_path / "spec.json"), "--workdir", str(work)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(), cwd=str(RUNTIME),
        )
        # Wait for the first checkpoint of this round, then kill after a random short delay.
        for line in proc.stdout:
            if json.loads(line)["event"] == "checkpoint":
                break
        import time

        time.sleep(rng.uniform(0.0, 0.3))
        proc.kill()
        proc.wait(timeout=60)
        assert_only_whole_checkpoints(work / "checkpoints")
    assert len(set(resumed_from)) >= 3, resumed_from
    newest = sorted((work / "checkpoints").glob("step-*"))[-1]
    spec["resume_from"] = str(newest)
    spec["training"]["max_steps"] = int(newest.name.split("-")[1]) + 3
    code, events = run_train(spec, work)
    assert code == 0, events
    assert of(events, "started")[0]["resumed_from_step"] == int(newest.name.split("-")[1])
