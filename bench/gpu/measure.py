#!/usr/bin/env python3
"""Training on a GPU: Tunery's runtime against Hugging Face `Trainer` + PEFT, and the estimate's
peak memory against PyTorch's.

A Llama-shaped model of about 1.07 B parameters (hidden 2048, 16 layers, 32 query and 8 key-value
heads, MLP 8192, vocabulary 49,152; random weights, since the model hub is out of reach and speed
and memory do not depend on the values) is fine-tuned with LoRA (r=8, all-linear) and fully, in
bf16, on the chat data of `bench/training/run.py` tokenized by a byte-level BPE trained here:

* Tunery: `python -m tunery_runtime train`, packing into rows of 2,048 tokens, 4 rows per step;
* the baseline: `Trainer` with its padding collator (`DataCollatorForSeq2Seq`), once with the
  random sampler and once with `group_by_length=True`, as many examples per step as Tunery's
  tokens per step hold on average.

Each run is timed over its optimizer steps after the warm-up ones (`--warmup`), one run at a time.
Printed: real (non-padding) tokens per second, the ratio to each baseline, and peak memory
(PyTorch's peak reserved on CUDA, the process's peak resident set on the CPU). Tunery's runs are
also written as a file of measured runs (`runs.json` in `--out`), which
`cargo run -p tunery-bench-estimates -- runs.json` sets beside the product's estimate (memory,
and model FLOPs utilization from the estimate's FLOPs per token).

`--dry-run` runs the same steps on the CPU with a tiny model of the same shape family (CI runs it),
so the script is known to work before a GPU is lent.

    bench/gpu/run.sh              # on a machine with an NVIDIA GPU
    bench/gpu/run.sh --dry-run    # anywhere: tiny model, CPU, a few steps
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "training"))

import run as training_bench  # noqa: E402  (the chat data, the two trainings and their stepping)

SHAPES = {
    "llama-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, vocab_size=49152, max_position_embeddings=4096, rope_theta=500000.0),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=4096, max_position_embeddings=512),
}
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LORA = {"rank": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
# Device names as estimates know them (crates/domain/src/estimate.rs DEVICE_TYPES).
DEVICE_TYPES = [("H100", "H100-80GB"), ("H200", "H200"), ("A100-SXM4-80GB", "A100-80GB"), ("A100", "A100-40GB"),
                ("L40S", "L40S"), ("L4", "L4"), ("A10", "A10"), ("4090", "RTX-4090"), ("3090", "RTX-3090"),
                ("V100", "V100-32GB"), ("T4", "T4")]


def build_tokenizer(train_path: str, out_dir: str, vocab: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = []
    with open(train_path) as f:
        for line in f:
            texts.extend(m["content"] for m in json.loads(line)["messages"])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    fast.save_pretrained(out_dir)


def build_model(shape: str, out_dir: str, eos_id: int, pad_id: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**SHAPES[shape], tie_word_embeddings=True, eos_token_id=eos_id, pad_token_id=pad_id,
                         bos_token_id=None)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    with open(os.path.join(out_dir, "config.json")) as f:
        return json.load(f)


def device_type(on_gpu: bool) -> tuple[str, str]:
    if not on_gpu:
        return "cpu", training_bench.cpu_name()
    import torch

    name = torch.cuda.get_device_name(0)
    return next((t for key, t in DEVICE_TYPES if key in name), name), name


def timed(proc, warmup: int, steps: int) -> dict:
    """Runs a started training step by step: the warm-up steps, then the measured ones."""
    times = []
    for i in range(steps):
        before = proc.seconds
        proc.advance()
        if i == warmup - 1:
            proc.seconds, proc.tokens = 0.0, 0
        elif i >= warmup:
            times.append(proc.seconds - before)
    proc.finish()
    return {"tokens_per_second": proc.tokens / proc.seconds, "step_seconds": statistics.median(times),
            "tokens_per_step": proc.tokens / len(times)}


def tunery_peak(proc, on_gpu: bool) -> int:
    events = [json.loads(line) for line in proc.lines if line.startswith("{")]
    systems = [e for e in events if e["event"] == "system"]
    if on_gpu:
        return max(g["max_reserved_bytes"] or 0 for e in systems for g in e["gpus"])
    return max(e["peak_rss_bytes"] for e in systems)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="tiny model on the CPU, a few steps")
    p.add_argument("--out", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "tunery-bench-gpu"))
    p.add_argument("--steps", type=int, help="optimizer steps per run (default 30; dry run 3)")
    p.add_argument("--warmup", type=int, help="steps not timed (default 5; dry run 1)")
    p.add_argument("--methods", default="lora,full")
    a = p.parse_args()
    import torch

    on_gpu = not a.dry_run
    if on_gpu and not torch.cuda.is_available():
        sys.exit("no CUDA device is visible; run with --dry-run to check the script on the CPU")
    shape = "tiny" if a.dry_run else "llama-1b"
    seq, rows = (128, 2) if a.dry_run else (2048, 4)
    steps = a.steps or (3 if a.dry_run else 30)
    warmup = a.warmup or (1 if a.dry_run else 5)
    precision = "fp32" if a.dry_run else "bf16"
    threads = 2 if a.dry_run else (os.cpu_count() or 2)
    os.makedirs(a.out, exist_ok=True)
    work = os.path.join(a.out, "work")
    os.makedirs(work, exist_ok=True)

    train_path, _ = training_bench.write_data(work, 300 if a.dry_run else 6000, 1)
    model_dir = os.path.join(work, "model")
    build_tokenizer(train_path, model_dir, 2048 if a.dry_run else 16384)
    tok = training_bench.load_tokenizer(model_dir)
    config = build_model(shape, model_dir, tok.eos_token_id, tok.pad_token_id)
    lengths = [len(x) for x in training_bench.tokenize(train_path, "train", tok, seq)]
    mean_len = sum(lengths) / len(lengths)
    batch = max(1, round(rows * seq / mean_len))
    device, device_name = device_type(on_gpu)
    print(f"{shape}: {config['num_hidden_layers']} layers x {config['hidden_size']}, on {device_name} ({device}), {precision}; "
          f"data {len(lengths)} chats, mean {mean_len:.0f} tokens; Tunery {rows} x {seq} packed per step, "
          f"baseline {batch} examples per step; {steps} steps, {warmup} not timed", flush=True)

    common = dict(model=model_dir, train_path=train_path, max_seq_length=seq, lora=LORA, learning_rate=1e-4,
                  steps=steps, seed=42, threads=threads, device="cuda" if on_gpu else "cpu", precision=precision)
    results, runs = [], []
    for method in a.methods.split(","):
        wd = os.path.join(work, method)
        tcfg = dict(common, method=method, workdir=os.path.join(wd, "tunery"), micro_batch_size=rows, grad_accum=1)
        t_proc = training_bench.tunery_proc(tcfg)
        t_proc.start()
        t = timed(t_proc, warmup, steps)
        t["peak"] = tunery_peak(t_proc, on_gpu)
        runs.append({"method": method, "objective": "sft", "sequence_length": seq, "micro_batch_size": rows,
                     "packing": True, "gradient_checkpointing": False, "peak_memory_bytes": t["peak"],
                     "step_seconds": round(t["step_seconds"], 5), "real_tokens_per_step": round(t["tokens_per_step"])})
        for sampler in ("random", "group_by_length"):
            bcfg = dict(common, method=method, workdir=os.path.join(wd, f"baseline-{sampler}"), batch_size=batch,
                        grad_accum=1, sampler=sampler, save=False)
            b_proc = training_bench.baseline_proc(bcfg)
            b_proc.start()
            b = timed(b_proc, warmup, steps)
            peak = training_bench.baseline_result(b_proc)["peak_memory_bytes"]
            results.append((method, sampler, b, peak, t))
            print(f"{method:5} baseline ({sampler:15}): {b['tokens_per_second']:10.1f} real tokens/s"
                  f"{'' if peak is None else f', peak {peak / 2**30:.2f} GiB'}", flush=True)
        print(f"{method:5} Tunery (packing)          : {t['tokens_per_second']:10.1f} real tokens/s, "
              f"peak {t['peak'] / 2**30:.2f} GiB", flush=True)

    print("\nreal tokens per second, Tunery / baseline:")
    for method, sampler, b, _, t in results:
        print(f"  {method:5} vs {sampler:15}: {t['tokens_per_second'] / b['tokens_per_second']:.2f}x")

    measured = {
        "about": "Tunery's runs measured by bench/gpu/measure.py" + (" (dry run: tiny model, CPU)" if a.dry_run else ""),
        "date": datetime.date.today().isoformat(),
        "machine": device_name,
        "device": device,
        "torch": torch.__version__,
        "threads": threads if not on_gpu else None,
        "model": f"{shape} (random weights)",
        "model_config": config,
        "precision": precision,
        "lora": LORA,
        "freeze_trainable_layers": 2,
        "memory_measure": "PyTorch's peak reserved (torch.cuda.max_memory_reserved)" if on_gpu
        else "the process's peak resident set",
        "rows": runs,
    }
    path = os.path.join(a.out, "runs.json")
    with open(path, "w") as f:
        json.dump(measured, f, indent=1)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
