#!/usr/bin/env python3
"""Training throughput: Tunery's runtime (packing) against a plain HF Trainer + PEFT baseline.

Both fine-tune SmolLM2-135M-Instruct with the same LoRA (r=8, alpha=16, dropout 0.05, all-linear),
on the same generated variable-length chat data (tokenized once, identically, for both), with the
same learning rate, schedule, seed, number of optimizer steps, thread count and (on average)
tokens per optimizer step. Measured: real (non-padding) training tokens per second over the
training loop (model loading excluded), and the validation loss of both adapters computed
afterwards by one shared function (token-weighted mean cross-entropy on assistant tokens).

The two trainings run as two processes, alternately, one optimizer step at a time: each is paused
(SIGSTOP) after printing the end of a step and resumed (SIGCONT) when its turn comes, and a step's
time is the wall clock from its resume to that line. So both see the same machine state (to within
a step, a few seconds) and never compete for the cores; ``--sequential`` runs one after the other.

Run with the runtime's Python (torch, transformers, peft):

    ~/.cache/tunery/venvs/runtime-*/bin/python bench/training/run.py [--steps 30] [--threads 2] [--quick]

Internal sub-commands (started by the script itself): ``_baseline CONFIG.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.normpath(os.path.join(HERE, "..", "..", "runtime"))
sys.path.insert(0, RUNTIME)

GGUF = os.path.expanduser("~/.cache/tunery/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
MODEL_DIR = os.path.expanduser("~/.cache/tunery/bench/smollm2-hf")

LORA = {"rank": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}


def cpu_name() -> str:
    """The processor's model name, for the record of a measurement."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or platform.platform()


def thread_env(threads: int) -> dict[str, str]:
    # No OMP_WAIT_POLICY: each side runs OpenMP as its users get it — Tunery the runtime's
    # training default (sleep once idle after a short spin), the baseline OpenMP's own.
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=RUNTIME + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
    )
    return env


# ------------------------------------------------------------------------------------------------
# the model (imported once from the built-in GGUF, cached)


def ensure_model() -> str:
    if os.path.exists(os.path.join(MODEL_DIR, "config.json")):
        return MODEL_DIR
    os.makedirs(os.path.dirname(MODEL_DIR), exist_ok=True)
    work = MODEL_DIR + ".import-work"
    os.makedirs(work, exist_ok=True)
    spec = os.path.join(work, "import.json")
    with open(spec, "w") as f:
        json.dump({"spec_version": 1, "source": {"kind": "gguf", "path": GGUF}, "output_dir": MODEL_DIR}, f)
    print(f"importing {GGUF} into {MODEL_DIR} (once)", flush=True)
    r = subprocess.run(
        [sys.executable, "-m", "tunery_runtime", "import-model", "--spec", spec, "--workdir", work],
        env=thread_env(os.cpu_count() or 2), stdout=subprocess.DEVNULL,
    )
    if r.returncode != 0:
        sys.exit(f"import-model failed with exit code {r.returncode}")
    return MODEL_DIR


# ------------------------------------------------------------------------------------------------
# deterministic variable-length chat data

SYL = ["ka", "lo", "mi", "ren", "to", "va", "shi", "dor", "el", "na", "qu", "bri", "sa", "tem", "ul", "zor", "fi", "gan"]
COLORS = ["red", "blue", "green", "amber", "silver", "violet", "white", "black", "golden", "grey"]
ANIMALS = ["fox", "heron", "otter", "badger", "lynx", "falcon", "tortoise", "owl", "hare", "salmon"]
TOOLS = ["hammer", "lantern", "compass", "kettle", "rope", "ladder", "notebook", "shovel", "needle", "telescope"]
ADJ = ["quiet", "busy", "ancient", "narrow", "bright", "windy", "crowded", "peaceful", "steep", "humid"]
VERBS = ["repairs", "paints", "collects", "measures", "guards", "studies", "sells", "builds", "cleans", "maps"]
PLACES = ["harbor", "market", "valley", "library", "bridge", "orchard", "station", "tower", "mill", "garden"]
TIMES = ["at dawn", "every morning", "in the evening", "before the rain", "after lunch", "on market days", "at night"]
TASKS = ["bake bread", "plant a tree", "fix a bicycle", "paint a fence", "pack for a trip", "clean a window",
         "brew tea", "build a shelf", "train a puppy", "write a letter"]
STEPS = ["gather what you need", "read the instructions twice", "clear a space to work", "measure carefully",
         "start with the simplest part", "check your progress", "take a short break", "ask someone to help",
         "clean up as you go", "test the result", "write down what worked", "put the tools away"]


def make_world(rng: random.Random, n: int = 40) -> list[dict[str, str]]:
    """Fictional countries with fixed facts: learnable, shared by the train and validation splits."""
    seen, out = set(), []
    while len(out) < n:
        name = "".join(rng.choice(SYL) for _ in range(rng.randint(2, 3))).capitalize()
        if name in seen:
            continue
        seen.add(name)
        out.append({
            "name": name,
            "capital": "".join(rng.choice(SYL) for _ in range(2)).capitalize() + rng.choice(["ton", "ia", "grad", "holm"]),
            "animal": rng.choice(ANIMALS),
            "color": rng.choice(COLORS),
            "river": "".join(rng.choice(SYL) for _ in range(2)).capitalize(),
        })
    return out


def sentence(rng: random.Random) -> str:
    name = "".join(rng.choice(SYL) for _ in range(2)).capitalize()
    return (f"{name} {rng.choice(VERBS)} the {rng.choice(ADJ)} {rng.choice(PLACES)} {rng.choice(TIMES)}, "
            f"carrying a {rng.choice(COLORS)} {rng.choice(TOOLS)}.")


def example(rng: random.Random, world: list[dict[str, str]]) -> dict:
    kind = rng.random()
    c = rng.choice(world)
    if kind < 0.30:  # short arithmetic, half with a short system prompt (~25-50 tokens)
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        op = rng.choice(["plus", "minus", "times"])
        v = a + b if op == "plus" else a - b if op == "minus" else a * b
        system = [{"role": "system", "content": "Be brief."}] if rng.random() < 0.5 else []
        return {"messages": system + [{"role": "user", "content": f"What is {a} {op} {b}?"},
                                      {"role": "assistant", "content": f"{a} {op} {b} is {v}."}]}
    if kind < 0.48:  # short facts (~45-70 tokens)
        q, a = rng.choice([
            (f"What is the capital of {c['name']}?", f"The capital of {c['name']} is {c['capital']}."),
            (f"Which animal is the symbol of {c['name']}?", f"The symbol of {c['name']} is the {c['color']} {c['animal']}."),
            (f"Which river flows through {c['capital']}?", f"The {c['river']} flows through {c['capital']}, the capital of {c['name']}."),
        ])
        return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    if kind < 0.76:  # medium: a description (~90-270 tokens)
        body = " ".join(sentence(rng) for _ in range(rng.randint(2, 10)))
        return {"messages": [
            {"role": "user", "content": f"Tell me about daily life in {c['capital']}."},
            {"role": "assistant", "content": f"{c['capital']} is the capital of {c['name']}, on the {c['river']}. {body}"},
        ]}
    # long multi-turn (~170-420 tokens)
    task = rng.choice(TASKS)
    k = rng.randint(4, 9)
    steps = rng.sample(STEPS, k)
    msgs = [
        {"role": "user", "content": f"How do I {task}? I am visiting {c['name']}."},
        {"role": "assistant", "content": f"Here is how to {task}:\n" + "\n".join(f"{i + 1}. {s.capitalize()}." for i, s in enumerate(steps))},
        {"role": "user", "content": "And what should I see while I am there?"},
        {"role": "assistant", "content": f"Visit {c['capital']} and walk along the {c['river']}. "
         + " ".join(sentence(rng) for _ in range(rng.randint(1, 6)))},
    ]
    if rng.random() < 0.6:
        msgs += [
            {"role": "user", "content": f"What is {c['name']} known for?"},
            {"role": "assistant", "content": f"{c['name']} is known for the {c['color']} {c['animal']}. "
             + " ".join(sentence(rng) for _ in range(rng.randint(1, 4)))},
        ]
    return {"messages": msgs}


def write_data(workdir: str, n_train: int, n_val: int, seed: int = 1234) -> tuple[str, str]:
    world = make_world(random.Random(seed))
    paths = []
    for name, n, s in (("train", n_train, seed + 1), ("validation", n_val, seed + 2)):
        rng = random.Random(s)
        path = os.path.join(workdir, f"{name}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for _ in range(n):
                f.write(json.dumps(example(rng, world)) + "\n")
        paths.append(path)
    return paths[0], paths[1]


def tokenize(path: str, name: str, tokenizer, max_len: int):
    """The same token ids and labels for both sides: the runtime's SFT tokenization (chat template,
    loss on assistant content + end-of-turn only). Examples here are shorter than max_len."""
    from tunery_runtime.data import load_dataset

    return load_dataset(path, name, "sft", tokenizer, max_len)


def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


# ------------------------------------------------------------------------------------------------
# the baseline: HF Trainer + PEFT, default padding collator (a subprocess)


def baseline_main(config_path: str) -> None:
    with open(config_path) as f:
        cfg = json.load(f)
    import torch

    torch.set_num_threads(cfg["threads"])
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainerCallback,
                              TrainingArguments)

    tok = load_tokenizer(cfg["model"])
    examples = tokenize(cfg["train_path"], "train", tok, cfg["max_seq_length"])

    class ListDataset(torch.utils.data.Dataset):
        def __init__(self, rows):
            self.rows = rows

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, i):
            ex = self.rows[i]
            return {"input_ids": ex.input_ids, "attention_mask": [1] * len(ex), "labels": ex.labels}

    # bench/gpu/measure.py also runs it in bf16 on a GPU, and for full fine-tuning.
    on_gpu = cfg.get("device", "cpu") == "cuda"
    bf16 = cfg.get("precision", "fp32") == "bf16"
    lora = cfg.get("method", "lora") == "lora"
    # In bf16 a LoRA's frozen base is loaded in bf16 (as PEFT's examples do); full training keeps
    # fp32 weights under the Trainer's autocast.
    dtype = torch.bfloat16 if bf16 and lora else torch.float32
    model = AutoModelForCausalLM.from_pretrained(cfg["model"], dtype=dtype)
    if on_gpu:
        model.to("cuda")
    model.config.use_cache = False
    if lora:
        lo = cfg["lora"]
        model = get_peft_model(model, LoraConfig(
            r=lo["rank"], lora_alpha=lo["alpha"], lora_dropout=lo["dropout"], target_modules=lo["target_modules"],
            bias="none", task_type="CAUSAL_LM",
        ))

    collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
    padded = {"real": 0, "all": 0}

    def counting_collator(features):
        batch = collator(features)
        padded["real"] += int(batch["attention_mask"].sum())
        padded["all"] += int(batch["attention_mask"].numel())
        return batch

    steps: list[dict] = []

    class Marks(TrainerCallback):
        """Marker lines on stdout for the orchestrator, which times the steps (and may pause us)."""

        def on_train_begin(self, args, state, control, **kw):
            print("@@READY", flush=True)

        def on_step_end(self, args, state, control, **kw):
            tokens = int(state.num_input_tokens_seen) - (steps[-1]["total"] if steps else 0)
            steps.append({"step": state.global_step, "total": int(state.num_input_tokens_seen)})
            print("@@STEP " + json.dumps({"step": state.global_step, "tokens": tokens}), flush=True)

    args = TrainingArguments(
        output_dir=os.path.join(cfg["workdir"], "trainer"),
        per_device_train_batch_size=cfg["batch_size"],
        gradient_accumulation_steps=cfg["grad_accum"],
        learning_rate=cfg["learning_rate"],
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_steps=cfg["steps"],
        seed=cfg["seed"],
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=not on_gpu,
        bf16=bf16,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        train_sampling_strategy=cfg["sampler"],
    )
    trainer = Trainer(model=model, args=args, train_dataset=ListDataset(examples), data_collator=counting_collator,
                      callbacks=[Marks()])
    trainer.train()
    adapter = os.path.join(cfg["workdir"], "adapter")
    if cfg.get("save", True):
        model.save_pretrained(adapter)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    out = {
        "final_loss": losses[-1] if losses else None,
        "padding_share": 1 - padded["real"] / max(padded["all"], 1),
        "adapter": adapter,
        "optim": getattr(args.optim, "value", str(args.optim)),
        "peak_memory_bytes": int(torch.cuda.max_memory_reserved()) if on_gpu else None,
    }
    with open(os.path.join(cfg["workdir"], "result.json"), "w") as f:
        json.dump(out, f)


def baseline_proc(cfg: dict) -> "Proc":
    os.makedirs(cfg["workdir"], exist_ok=True)
    if os.path.exists(os.path.join(cfg["workdir"], "result.json")):
        os.remove(os.path.join(cfg["workdir"], "result.json"))
    path = os.path.join(cfg["workdir"], "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)

    def step(line: str):
        return json.loads(line[7:])["tokens"] if line.startswith("@@STEP ") else None

    return Proc("baseline", [sys.executable, os.path.abspath(__file__), "_baseline", path], cfg,
                ready=lambda line: line.startswith("@@READY"), step=step)


def baseline_result(proc: "Proc") -> dict:
    with open(os.path.join(proc.cfg["workdir"], "result.json")) as f:
        return json.load(f)


# ------------------------------------------------------------------------------------------------
# Tunery: the runtime's CLI with packing


def tunery_proc(cfg: dict) -> "Proc":
    wd = cfg["workdir"]
    if os.path.exists(wd):
        shutil.rmtree(wd)
    os.makedirs(wd)
    spec = {
        "spec_version": 1,
        "job_id": "job_bench_training",
        "objective": "sft",
        "model": {"path": cfg["model"]},
        "data": {"train_path": cfg["train_path"], "max_seq_length": cfg["max_seq_length"], "packing": True},
        "method": {"kind": cfg.get("method", "lora"), "lora": cfg["lora"]},
        "training": {
            "max_steps": cfg["steps"],
            "micro_batch_size": cfg["micro_batch_size"],
            "gradient_accumulation_steps": cfg["grad_accum"],
            "learning_rate": cfg["learning_rate"],
            "lr_scheduler": "cosine",
            "warmup_steps": 0,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "seed": cfg["seed"],
            "precision": cfg.get("precision", "fp32"),
            "checkpoint_every_steps": cfg["steps"] + 1,  # only the final one, after the loop
            "keep_checkpoints": 1,
            "log_every_steps": 1,
        },
        "device": cfg.get("device", "cpu"),
        "threads": cfg["threads"],
    }
    spec_path = os.path.join(wd, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)

    def event(line: str) -> dict:
        try:
            return json.loads(line)
        except ValueError:
            return {}

    def step(line: str):
        e = event(line)
        return e["tokens"] if e.get("event") == "progress" else None

    # the `started` event is printed just before the first step
    return Proc("tunery", [sys.executable, "-m", "tunery_runtime", "train", "--spec", spec_path, "--workdir", wd], cfg,
                ready=lambda line: event(line).get("event") == "started", step=step)


def tunery_result(proc: "Proc") -> dict:
    events = [json.loads(line) for line in proc.lines if line.startswith("{")]
    finished = next(e for e in events if e["event"] == "finished")
    started = next(e for e in events if e["event"] == "started")
    return {"final_loss": finished["summary"]["final_loss"], "padding_share": 0.0, "precision": started["dtype"],
            "adapter": os.path.join(proc.cfg["workdir"], "output")}


# ------------------------------------------------------------------------------------------------
# running them: one optimizer step at a time, alternately (SIGSTOP / SIGCONT)


class Proc:
    """A training subprocess driven step by step: ``advance`` lets it run (SIGCONT) until it has
    printed the line that ends the next optimizer step, then pauses it (SIGSTOP). A step's time is
    the wall clock from the SIGCONT to that line, so the two runs share the machine's state at a
    granularity of one step (seconds) while never competing for the cores."""

    def __init__(self, name, argv, cfg, *, ready, step):
        self.name, self.argv, self.cfg, self.ready, self.step = name, argv, cfg, ready, step
        self.lines: list[str] = []
        self.seconds = 0.0
        self.tokens = 0
        self.steps = 0
        self.p = None

    def start(self) -> None:
        """Starts the process and lets it load the model and data, up to just before the first step."""
        self.err = open(os.path.join(self.cfg["workdir"], "stderr.log"), "w")
        self.p = subprocess.Popen(self.argv, env=thread_env(self.cfg["threads"]), stdout=subprocess.PIPE,
                                  stderr=self.err, text=True, bufsize=1)
        self._until(self.ready)

    def _until(self, pred):
        while True:
            line = self.p.stdout.readline()
            if not line:
                code = self.p.wait()
                sys.exit(f"{self.name} ended early (exit {code}); see {self.cfg['workdir']}/stderr.log "
                         f"(last output: {self.lines[-1:]})")
            self.lines.append(line)
            v = pred(line)
            if v is not None and v is not False:
                os.kill(self.p.pid, signal.SIGSTOP)
                return v

    def advance(self) -> None:
        t = time.perf_counter()
        os.kill(self.p.pid, signal.SIGCONT)
        tokens = self._until(lambda line: self.step(line))
        self.seconds += time.perf_counter() - t
        self.tokens += tokens
        self.steps += 1

    def finish(self) -> None:
        os.kill(self.p.pid, signal.SIGCONT)
        for line in self.p.stdout:
            self.lines.append(line)
        _, status, usage = os.wait4(self.p.pid, 0)
        self.p.returncode = code = os.waitstatus_to_exitcode(status)
        self.peak_rss_bytes = usage.ru_maxrss * 1024  # Linux reports kilobytes
        if code != 0:
            sys.exit(f"{self.name} failed (exit {code}); see {self.cfg['workdir']}/stderr.log")


# ------------------------------------------------------------------------------------------------
# shared evaluation


def evaluate(model_dir: str, adapter: str | None, val, threads: int) -> tuple[float, int]:
    """Token-weighted mean cross-entropy over the validation labels (assistant tokens), one example
    per forward pass (no padding), the same function for every model."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ex in val:
            ids = torch.tensor([ex.input_ids])
            labels = torch.tensor(ex.labels[1:])
            logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
            total += float(F.cross_entropy(logits, labels, ignore_index=-100, reduction="sum"))
            count += int((labels != -100).sum())
    return total / max(count, 1), count


# ------------------------------------------------------------------------------------------------


# Issue 14's goals: real tokens/s against the padded baseline, and against the same baseline with
# group_by_length (what a careful user switches on).
GOALS = {"random": 2.0, "group_by_length": 1.3}


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "_baseline":
        baseline_main(sys.argv[2])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30, help="optimizer steps of each run (default 30)")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads of each run (default 2)")
    p.add_argument("--quick", action="store_true", help="a short smoke run (4 steps, small validation set)")
    p.add_argument("--max-seq-length", type=int, default=512, help="Tunery's packed row length (default 512)")
    p.add_argument("--micro-batch", type=int, default=1, help="Tunery's packed rows per forward pass (default 1)")
    p.add_argument("--grad-accum", type=int, default=2, help="Tunery's gradient accumulation (default 2)")
    p.add_argument("--baseline-batch", type=int, default=4, help="the baseline's per_device_train_batch_size (default 4)")
    p.add_argument("--baseline-sampler", choices=["random", "group_by_length"], default="random",
                   help="the baseline's train_sampling_strategy (default: the Trainer's default, random)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="Tunery's training.precision (default auto, what a job gets: bf16 on a CPU with native bfloat16)")
    p.add_argument("--baseline-precision", choices=["fp32", "bf16"], default="fp32",
                   help="the baseline's precision: fp32 (the Trainer's default on a CPU) or bf16 (bf16=True)")
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train-examples", type=int, default=1200)
    p.add_argument("--val-examples", type=int, default=64)
    p.add_argument("--order", choices=["baseline-first", "tunery-first"], default="baseline-first")
    p.add_argument("--sequential", action="store_true",
                   help="run the baseline to its end, then Tunery (default: alternate one optimizer step at a time)")
    p.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "tunery-bench-training"))
    a = p.parse_args()
    if a.quick:
        a.steps, a.val_examples = min(a.steps, 4), min(a.val_examples, 16)

    os.environ.update({k: v for k, v in thread_env(a.threads).items() if k != "PYTHONPATH"})
    import torch

    torch.set_num_threads(a.threads)
    model_dir = ensure_model()
    os.makedirs(a.workdir, exist_ok=True)
    train_path, val_path = write_data(a.workdir, a.train_examples, a.val_examples)

    # Tokens per optimizer step: Tunery's from its own packing plan, the baseline's accumulation
    # chosen so that batch_size x accumulation x mean example length comes closest.
    from tunery_runtime.data import epoch_batches

    tok = load_tokenizer(model_dir)
    train = tokenize(train_path, "train", tok, a.max_seq_length)
    val = tokenize(val_path, "validation", tok, a.max_seq_length)
    lengths = [len(x) for x in train]
    mean_len = sum(lengths) / len(lengths)
    rows = [r for b in epoch_batches(lengths, seed=a.seed, epoch=0, micro_batch_size=1, packing=True,
                                     capacity=a.max_seq_length) for r in b]
    mean_fill = sum(lengths) / len(rows)
    tunery_tps_plan = a.micro_batch * a.grad_accum * mean_fill
    base_accum = max(1, round(tunery_tps_plan / (a.baseline_batch * mean_len)))
    print(f"data: {len(train)} train examples, {min(lengths)}-{max(lengths)} tokens (mean {mean_len:.0f}), "
          f"{len(val)} validation examples; packed rows of {a.max_seq_length} hold {mean_fill:.0f} tokens on average")
    print(f"plan: Tunery {a.micro_batch} row x {a.grad_accum} accumulation (~{tunery_tps_plan:.0f} tokens/step); "
          f"baseline {a.baseline_batch} examples x {base_accum} accumulation (~{a.baseline_batch * base_accum * mean_len:.0f} tokens/step); "
          f"{a.steps} steps, {a.threads} threads, lr {a.learning_rate} cosine, seed {a.seed}", flush=True)

    common = dict(model=model_dir, train_path=train_path, max_seq_length=a.max_seq_length, lora=LORA,
                  learning_rate=a.learning_rate, steps=a.steps, seed=a.seed, threads=a.threads)
    bcfg = dict(common, workdir=os.path.join(a.workdir, "baseline"), batch_size=a.baseline_batch, grad_accum=base_accum,
                 sampler=a.baseline_sampler, precision=a.baseline_precision)
    tcfg = dict(common, workdir=os.path.join(a.workdir, "tunery"), micro_batch_size=a.micro_batch, grad_accum=a.grad_accum,
                precision=a.precision)
    procs = {"baseline": baseline_proc(bcfg), "tunery": tunery_proc(tcfg)}
    order = ["baseline", "tunery"] if a.order == "baseline-first" else ["tunery", "baseline"]
    load0 = os.getloadavg()[0]
    t0 = time.time()
    if a.sequential:
        for who in order:
            procs[who].start()
            for _ in range(a.steps):
                procs[who].advance()
            procs[who].finish()
    else:
        for who in order:
            procs[who].start()  # loads the model and data, then waits (stopped) before its first step
        for i in range(a.steps):
            for who in order:
                procs[who].advance()
            if (i + 1) % 5 == 0 or i + 1 == a.steps:
                print(f"  step {i + 1}/{a.steps}: " + ", ".join(
                    f"{w} {procs[w].tokens / procs[w].seconds:.1f} tokens/s" for w in order), flush=True)
        for who in order:
            procs[who].finish()
    results = {}
    for who in order:
        pr = procs[who]
        results[who] = (baseline_result(pr) if who == "baseline" else tunery_result(pr)) | {
            "seconds": pr.seconds, "tokens": pr.tokens, "steps": pr.steps, "peak_rss_bytes": pr.peak_rss_bytes}
    print(f"training done in {time.time() - t0:.0f} s ({'sequential' if a.sequential else 'alternating step by step'}); "
          f"load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after", flush=True)

    print("evaluating both adapters (and the base model) on the validation set ...", flush=True)
    base_loss, n_val_tokens = evaluate(model_dir, None, val, a.threads)
    for who in order:
        results[who]["val_loss"], _ = evaluate(model_dir, results[who]["adapter"], val, a.threads)

    b, t = results["baseline"], results["tunery"]
    b_tps, t_tps = b["tokens"] / b["seconds"], t["tokens"] / t["seconds"]
    ratio = t_tps / b_tps
    rel = (t["val_loss"] - b["val_loss"]) / b["val_loss"]
    print()
    print(f"SmolLM2-135M-Instruct, LoRA r={LORA['rank']} alpha={LORA['alpha']} dropout={LORA['dropout']} "
          f"{LORA['target_modules']}, CPU, {a.threads} threads, {a.steps} optimizer steps, "
          f"lr {a.learning_rate} cosine, seed {a.seed}; baseline sampler {a.baseline_sampler}, "
          f"DataCollatorForSeq2Seq, optim {b.get('optim')}")
    w = 34
    print(f"{'':{w}} {'baseline (HF Trainer)':>22} {'Tunery (packing)':>18}")
    print(f"{'batching':{w}} {f'{a.baseline_batch} ex x {base_accum} accum, padded':>22} "
          f"{f'{a.micro_batch}x{a.max_seq_length} x {a.grad_accum} accum':>18}")
    print(f"{'precision':{w}} {a.baseline_precision:>22} {t['precision']:>18}")
    print(f"{'padding share of computed tokens':{w}} {b['padding_share'] * 100:>21.1f}% {t['padding_share'] * 100:>17.1f}%")
    print(f"{'optimizer steps':{w}} {b['steps']:>22} {t['steps']:>18}")
    print(f"{'real tokens trained':{w}} {b['tokens']:>22} {t['tokens']:>18}")
    print(f"{'real tokens per optimizer step':{w}} {b['tokens'] / b['steps']:>22.0f} {t['tokens'] / t['steps']:>18.0f}")
    print(f"{'training loop seconds':{w}} {b['seconds']:>22.1f} {t['seconds']:>18.1f}")
    print(f"{'real tokens per second':{w}} {b_tps:>22.1f} {t_tps:>18.1f}")
    print(f"{'last training step loss':{w}} {b['final_loss']:>22.4f} {t['final_loss']:>18.4f}")
    print(f"{'validation loss':{w}} {b['val_loss']:>22.4f} {t['val_loss']:>18.4f}")
    gib = 1024 ** 3
    print(f"{'peak resident memory (GiB)':{w}} {b['peak_rss_bytes'] / gib:>22.2f} {t['peak_rss_bytes'] / gib:>18.2f}")
    print(f"(validation: {len(val)} examples, {n_val_tokens} assistant tokens; untrained base model {base_loss:.4f})")
    print()
    goal = GOALS[a.baseline_sampler]
    print(f"throughput ratio Tunery / baseline: {ratio:.2f}x  (goal >= {goal}x: {'met' if ratio >= goal else 'NOT met'})")
    mem = t["peak_rss_bytes"] / b["peak_rss_bytes"]
    print(f"peak memory Tunery / baseline: {mem:.2f}  (goal <= 1: {'met' if mem <= 1 else 'NOT met'})")
    print(f"validation loss, Tunery vs baseline: {rel * 100:+.2f}%  (goal within 2%: {'met' if abs(rel) <= 0.02 else 'NOT met'})")
    with open(os.path.join(a.workdir, "summary.json"), "w") as f:
        json.dump({"baseline": b, "tunery": t, "ratio": ratio, "val_loss_rel": rel, "base_val_loss": base_loss,
                   "args": vars(a)}, f, indent=1)


if __name__ == "__main__":
    main()
