#!/usr/bin/env python3
"""Estimates against measurements: peak memory and step time of real training runs on this machine.

Each row of the matrix is one short training run of the built-in SmolLM2-135M-Instruct (CPU, fp32
or, with ``--precision bf16``, bf16 mixed precision on a CPU with native bfloat16)
through the runtime exactly as a job runs it (`python -m tunery_runtime train`), one at a time:
method (full, freeze, LoRA, QLoRA, DoRA) x sequence length x micro-batch x packing x gradient
checkpointing x objective (SFT, DPO). Measured per row:

* peak memory: the process's peak resident set (the kernel's high-water mark from ``wait4``,
  which is what the runtime's ``system`` events report as ``peak_rss_bytes``);
* step time: the median ``step_time_s`` of the optimizer steps after the first (the first warms
  the allocator and the kernels up).

The figures are written to ``crates/domain/tests/fixtures/estimate_matrix.json`` (fp32) or
``estimate_matrix_bf16.json`` (bf16) (the fixtures the estimate is checked against: ``cargo test -p domain --test estimate_matrix``; ``--fixture`` writes
them elsewhere), and then ``tunery-bench-estimates`` prints the matrix — estimate, measurement and
ratio for both figures — and fails on a row outside ±20% (memory) or ±30% (time).

Every row's batches are full, as the estimate assumes: packed rows of the mixed chat data of
``run.py`` (they fill to within a few tokens), and for rows without packing (and DPO pairs, which
are never packed) examples longer than the sequence length, truncated to it.

    P=$(ls -d ~/.cache/tunery/venvs/runtime-*/bin/python | head -1)
    $P bench/training/estimate_matrix.py                        # 22 rows twice, about 35 minutes on a quiet 2-core machine
    $P bench/training/estimate_matrix.py --only 3,5-7            # those rows, fixture untouched
    $P bench/training/estimate_matrix.py --only 1-11 --merge     # those rows measured again into the fixture
    $P bench/training/estimate_matrix.py --precision bf16        # the bf16 matrix (estimate_matrix_bf16.json)

With ``--repeat N`` (default 2) the matrix runs N times over, row after row, so that a drift of
the machine's speed touches every row alike; a row's step time is the median of its runs'
(each run's own is listed as ``step_seconds_runs``), its peak memory the highest.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import run as training_bench  # noqa: E402  (the model import, the chat data and thread settings)

FIXTURES = {
    "fp32": os.path.join(ROOT, "crates", "domain", "tests", "fixtures", "estimate_matrix.json"),
    "bf16": os.path.join(ROOT, "crates", "domain", "tests", "fixtures", "estimate_matrix_bf16.json"),
}
LORA = training_bench.LORA  # the same adapter as the throughput benchmark
FREEZE_LAYERS = 2
STEPS = 4

# (method, objective, sequence length, micro-batch, packing, gradient checkpointing)
MATRIX = [
    ("lora", "sft", 512, 1, True, False),
    ("lora", "sft", 256, 1, True, False),
    ("lora", "sft", 1024, 1, True, False),
    ("lora", "sft", 512, 2, True, False),
    ("lora", "sft", 512, 4, True, False),
    ("lora", "sft", 512, 1, True, True),
    ("lora", "sft", 1024, 2, True, True),
    ("lora", "sft", 512, 2, False, False),
    ("lora", "dpo", 512, 1, False, False),
    ("qlora", "sft", 512, 1, True, False),
    ("qlora", "sft", 1024, 1, True, True),
    ("dora", "sft", 512, 1, True, False),
    ("dora", "sft", 512, 2, True, True),
    ("dora", "dpo", 256, 1, False, False),
    ("freeze", "sft", 512, 1, True, False),
    ("freeze", "sft", 1024, 2, True, True),
    ("freeze", "dpo", 512, 1, False, False),
    ("full", "sft", 512, 1, True, False),
    ("full", "sft", 512, 1, True, True),
    ("full", "sft", 1024, 2, True, False),
    ("full", "sft", 512, 2, False, True),
    ("full", "dpo", 256, 1, False, False),
]


def write_long_data(workdir: str, n: int = 48, seed: int = 99) -> tuple[str, str]:
    """Chats and preference pairs whose answers run past every sequence length of the matrix
    (about 2,500 tokens), so that each unpacked row is exactly the sequence length."""
    rng = random.Random(seed)

    def answer() -> str:
        return " ".join(training_bench.sentence(rng) for _ in range(170))

    sft, dpo = os.path.join(workdir, "long-sft.jsonl"), os.path.join(workdir, "long-dpo.jsonl")
    with open(sft, "w") as f_sft, open(dpo, "w") as f_dpo:
        for i in range(n):
            prompt = [{"role": "user", "content": f"Tell me a long story, number {i}."}]
            f_sft.write(json.dumps({"messages": prompt + [{"role": "assistant", "content": answer()}]}) + "\n")
            f_dpo.write(json.dumps({"prompt": prompt, "chosen": [{"role": "assistant", "content": answer()}],
                                    "rejected": [{"role": "assistant", "content": answer()}]}) + "\n")
    return sft, dpo


def run_row(row: tuple, model: str, data: dict[str, str], workdir: str, threads: int, precision: str) -> dict:
    method, objective, seq, mb, packing, gc = row
    if os.path.exists(workdir):
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    train_path = data["dpo"] if objective == "dpo" else data["mixed"] if packing else data["long"]
    spec = {
        "spec_version": 1,
        "job_id": "job_bench_estimate_matrix",
        "objective": objective,
        "model": {"path": model},
        "data": {"train_path": train_path, "max_seq_length": seq, "packing": packing},
        "method": {"kind": method, "lora": LORA, "freeze": {"trainable_layers": FREEZE_LAYERS}},
        "training": {
            "max_steps": STEPS,
            "micro_batch_size": mb,
            "gradient_accumulation_steps": 1,
            "gradient_checkpointing": gc,
            "learning_rate": 1e-4,
            "warmup_steps": 0,
            "seed": 42,
            "precision": precision,
            "checkpoint_every_steps": STEPS + 1,
            "keep_checkpoints": 1,
            "log_every_steps": 1,
        },
        "device": "cpu",
        "threads": threads,
    }
    spec_path = os.path.join(workdir, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    log = open(os.path.join(workdir, "stderr.log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "tunery_runtime", "train", "--spec", spec_path, "--workdir", workdir],
                            stdout=subprocess.PIPE, stderr=log, text=True, env=training_bench.thread_env(threads))
    events = []
    for line in proc.stdout:
        if line.startswith("{"):
            events.append(json.loads(line))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    failed = [e for e in events if e["event"] == "failed"]
    if proc.returncode != 0 or failed:
        sys.exit(f"row {row} failed (exit {proc.returncode}): {failed or open(log.name).read()[-2000:]}")
    started = next(e for e in events if e["event"] == "started")
    if started["dtype"] != precision:
        sys.exit(f"row {row} trained in {started['dtype']}, not the {precision} asked for")
    progress = [e for e in events if e["event"] == "progress"]
    reported = max((e["peak_rss_bytes"] for e in events if e["event"] == "system"), default=0)
    return {
        "method": method,
        "objective": objective,
        "sequence_length": seq,
        "micro_batch_size": mb,
        "packing": packing,
        "gradient_checkpointing": gc,
        "peak_memory_bytes": max(usage.ru_maxrss * 1024, reported),
        "step_seconds": round(statistics.median(e["step_time_s"] for e in progress[1:]), 3),
        "real_tokens_per_step": round(statistics.mean(e["tokens"] for e in progress[1:])),
    }


def row_numbers(text: str) -> list[int]:
    """``"3,5-7"`` as [3, 5, 6, 7]; exits naming a part that is no row of the matrix."""
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            sys.exit(f"--only: {part!r} is not a row number or a range like 5-7")
        if not 1 <= lo <= hi <= len(MATRIX):
            sys.exit(f"--only: {part!r} is outside the matrix's rows 1-{len(MATRIX)}")
        out.extend(n for n in range(lo, hi + 1) if n not in out)
    return out


def combine(runs: list[dict]) -> dict:
    """One row from its repeated runs: the median step time, the highest peak memory."""
    row = dict(runs[0])
    row["peak_memory_bytes"] = max(r["peak_memory_bytes"] for r in runs)
    row["step_seconds"] = round(statistics.median(r["step_seconds"] for r in runs), 3)
    if len(runs) > 1:
        row["step_seconds_runs"] = [r["step_seconds"] for r in runs]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", help="run only these 1-based rows (\"3,5-7\"); the fixture is not written unless --merge")
    p.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "tunery-bench-estimates"))
    p.add_argument("--precision", choices=sorted(FIXTURES), default="fp32", help="training.precision of every row (default fp32)")
    p.add_argument("--fixture",
                   help="where to write the measured runs (default: the precision's test fixture); another path is compared "
                        "with cargo run -p tunery-bench-estimates")
    p.add_argument("--repeat", type=int, default=2, help="runs of each row, in passes over the matrix (default 2)")
    p.add_argument("--merge", action="store_true", help="with --only: write the rows measured into the fixture, keeping the others")
    a = p.parse_args()
    a.fixture = a.fixture or FIXTURES[a.precision]
    if a.merge and not a.only:
        p.error("--merge goes with --only (without it every row is written)")
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    model = training_bench.ensure_model()
    os.makedirs(a.workdir, exist_ok=True)
    mixed, _ = training_bench.write_data(a.workdir, 1200, 1)
    long_sft, long_dpo = write_long_data(a.workdir)
    data = {"mixed": mixed, "long": long_sft, "dpo": long_dpo}

    selected = row_numbers(a.only) if a.only else list(range(1, len(MATRIX) + 1))
    runs: dict[int, list[dict]] = {n: [] for n in selected}
    for _ in range(a.repeat):
        for n in selected:
            r = run_row(MATRIX[n - 1], model, data, os.path.join(a.workdir, f"row{n}"), a.threads, a.precision)
            print(f"{n:2} {json.dumps(r)}", flush=True)
            runs[n].append(r)
    measured = {n: combine(rs) for n, rs in runs.items()}
    if a.only and not a.merge:
        return

    import torch

    rows = [measured.get(n) for n in range(1, len(MATRIX) + 1)]
    if any(r is None for r in rows):
        with open(a.fixture) as f:
            kept = json.load(f)["rows"]
        if len(kept) != len(MATRIX):
            sys.exit(f"{a.fixture} holds {len(kept)} rows, the matrix {len(MATRIX)}: measure them all (no --only)")
        rows = [r if r is not None else kept[i] for i, r in enumerate(rows)]
    fixture = {
        "about": "Measured by bench/training/estimate_matrix.py; checked by crates/domain/tests/estimate_matrix.rs",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {training_bench.cpu_name()}",
        "device": "cpu",
        "torch": torch.__version__,
        "threads": a.threads,
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "precision": a.precision,
        "lora": LORA,
        "memory_measure": "the process's peak resident set (wait4 ru_maxrss)",
        "freeze_trainable_layers": FREEZE_LAYERS,
        "rows": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.fixture)), exist_ok=True)
    with open(a.fixture, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {a.fixture}; the comparison:", flush=True)
    r = subprocess.run(["cargo", "run", "--quiet", "--locked", "-p", "tunery-bench-estimates", "--", os.path.abspath(a.fixture)], cwd=ROOT)
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
