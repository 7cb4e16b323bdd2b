#!/usr/bin/env python3
"""Attention on packed rows: SDPA with the dense block-diagonal mask (the baseline: what the
runtime did before, and what transformers builds for SDPA from packed position ids) against
per-example causal SDPA without a mask (``tunery_documents``, what training uses now), for one
forward and backward pass of a LoRA model shaped like SmolLM2-135M (hidden 576, 30 layers, 9
heads over 3 key/value heads; random weights, float32, CPU) on a packed micro-batch of
``--rows`` rows × ``--length`` tokens, each row ``--examples`` examples of equal length, every
position but each example's first trained.

Each mode runs in its own process, twice alternately (mask, documents, mask, documents); a
figure is the lower of its two runs: seconds of the pass, and the process's peak resident
memory (``getrusage``) minus its resident memory before the pass. The per-example losses of
both must agree.

    ~/.cache/tunery/venvs/runtime-*/bin/python bench/training/packed_attention.py [--rows 1] [--length 2048] [--examples 16]
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


def one_pass(mode: str, rows: int, length: int, examples: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunery_runtime import train
    from tunery_runtime.attention import use_document_attention
    from tunery_runtime.data import Batch, segment_sums
    from tunery_runtime.model import attn_implementation

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
        vocab_size=49152, max_position_embeddings=8192, tie_word_embeddings=True, attn_implementation="sdpa",
    )
    base = LlamaForCausalLM(config)
    if mode == "documents" and not use_document_attention(base):
        sys.exit("the model did not switch to per-example attention")
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    impl = attn_implementation(base)
    each = length // examples
    ids = torch.randint(0, config.vocab_size, (rows, examples * each))
    labels = ids.clone()
    labels[:, ::each] = -100
    batch = Batch(
        input_ids=ids,
        labels=labels,
        position_ids=torch.arange(each).repeat(rows, examples),
        segments=torch.arange(1, examples + 1).repeat_interleave(each).repeat(rows, 1),
        packed=True,
        n_examples=rows * examples,
    )
    before = rss_bytes()
    start = time.perf_counter()
    losses = train.token_losses(model, batch, impl, torch.float32)
    losses.sum().backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sums, _ = segment_sums(losses.detach(), batch)
    return {"mode": mode, "attention": impl, "extra_bytes": peak - before, "seconds": seconds, "losses": sums.tolist()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--length", type=int, default=2048)
    ap.add_argument("--examples", type=int, default=16)
    ap.add_argument("--_one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._one:
        print(json.dumps(one_pass(a._one, a.rows, a.length, a.examples)))
        return
    results: dict[str, list[dict]] = {"mask": [], "documents": []}
    for mode in ["mask", "documents", "mask", "documents"]:
        out = subprocess.run(
            [sys.executable, __file__, "--_one", mode, "--rows", str(a.rows), "--length", str(a.length), "--examples", str(a.examples)],
            check=True, capture_output=True, text=True,
        )
        results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    memory = {m: min(r["extra_bytes"] for r in runs) for m, runs in results.items()}
    seconds = {m: min(r["seconds"] for r in runs) for m, runs in results.items()}
    gib = 1 << 30
    print(f"micro-batch {a.rows} x {a.length} tokens, {a.examples} examples per row, LoRA r=8, SmolLM2-135M shape, fp32, CPU")
    for m, label in [("mask", "baseline (SDPA, dense block mask)"), ("documents", "tunery (per-example SDPA)   ")]:
        print(f"{label}: {memory[m] / gib:.2f} GiB above the loaded model, {seconds[m]:.1f} s ({results[m][0]['attention']})")
    print(f"ratio tunery/baseline: memory {memory['documents'] / memory['mask']:.3f}, time {seconds['documents'] / seconds['mask']:.3f}")
    a_l, b_l = results["mask"][0]["losses"], results["documents"][0]["losses"]
    worst = max(abs(x - y) / max(1.0, abs(x)) for x, y in zip(a_l, b_l))
    print(f"per-example losses: largest relative difference {worst:.2e} over {len(a_l)} examples")
    if worst > 1e-5:
        sys.exit("the per-example losses differ")


if __name__ == "__main__":
    main()
