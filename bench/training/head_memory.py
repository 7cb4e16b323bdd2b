#!/usr/bin/env python3
"""Peak memory of the loss: the language-model head and cross-entropy over every trained position
at once (the baseline) against the runtime's chunked head (``HEAD_CHUNK_TOKENS`` positions × rows at
a time under activation checkpointing), for one forward and backward pass of a LoRA model shaped
like SmolLM2-135M (hidden 576, 30 layers, a 49,152-token vocabulary; random weights, float32, CPU)
on a packed micro-batch of 2 rows × 2,048 tokens, every position trained.

Each mode runs in its own process, twice alternately (whole, chunked, whole, chunked); a figure is
the process's peak resident memory (``getrusage``) minus its resident memory before the pass, the
lower of its two runs. The losses of both are compared (they must agree).

    ~/.cache/tunery/venvs/runtime-*/bin/python bench/training/head_memory.py [--rows 2] [--length 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "runtime")))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_pass(mode: str, rows: int, length: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunery_runtime import train
    from tunery_runtime.data import Batch

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
        vocab_size=49152, max_position_embeddings=8192, tie_word_embeddings=True,
    )
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    ids = torch.randint(0, config.vocab_size, (rows, length))
    batch = Batch(
        input_ids=ids,
        labels=ids.clone(),
        position_ids=torch.arange(length).repeat(rows, 1),
        segments=torch.ones(rows, length, dtype=torch.long),
        packed=False,
        n_examples=rows,
    )
    if mode == "whole":
        train.HEAD_CHUNK_TOKENS = 1 << 40
    before = rss_bytes()
    start = time.perf_counter()
    losses = train.token_losses(model, batch, "sdpa", torch.float32)
    losses.sum().backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"mode": mode, "extra_bytes": peak - before, "seconds": seconds, "loss": float(losses.sum()) / losses.numel()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--length", type=int, default=2048)
    ap.add_argument("--_one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._one:
        print(json.dumps(one_pass(a._one, a.rows, a.length)))
        return
    results: dict[str, list[dict]] = {"whole": [], "chunked": []}
    for mode in ["whole", "chunked", "whole", "chunked"]:
        out = subprocess.run(
            [sys.executable, __file__, "--_one", mode, "--rows", str(a.rows), "--length", str(a.length)],
            check=True, capture_output=True, text=True,
        )
        results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {m: min(r, key=lambda x: x["extra_bytes"]) for m, r in results.items()}
    gib = 1 << 30
    w, c = best["whole"], best["chunked"]
    print(f"micro-batch {a.rows} x {a.length} tokens, every position trained, vocabulary 49152")
    print(f"baseline (whole head):  {w['extra_bytes'] / gib:.2f} GiB above the loaded model, {w['seconds']:.1f} s, loss {w['loss']:.6f}")
    print(f"tunery (chunked head):  {c['extra_bytes'] / gib:.2f} GiB above the loaded model, {c['seconds']:.1f} s, loss {c['loss']:.6f}")
    print(f"ratio chunked/whole:    memory {c['extra_bytes'] / w['extra_bytes']:.3f}, time {c['seconds'] / w['seconds']:.3f}")
    if abs(w["loss"] - c["loss"]) > 1e-5 * max(1.0, abs(w["loss"])):
        sys.exit("the two losses differ")


if __name__ == "__main__":
    main()
