"""The training loop (own loop, not the HF Trainer): SFT, CPT and DPO; single process or DDP."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import shutil
import signal
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from . import sharding
from .data import IGNORE, Batch, Pair, Plan, collate, collate_pairs, epoch_batches, load_dataset
from .errors import RuntimeFailure
from .events import Emitter
from .model import (
    attn_implementation,
    count_parameters,
    device_memory,
    env_rank,
    load_model,
    load_tokenizer,
    pick_device,
    pick_precision,
    trainable_state,
)
from .spec import TrainSpec

log = logging.getLogger("tunery_runtime")

STOPPED_EXIT = 75


class Stop:
    """Set by SIGTERM / SIGINT; the loop looks at it between optimizer steps."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None

    def install(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C really interrupts
            self.requested = True
            self.signal = signum
            log.warning("received signal %d: stopping after the current step", signum)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


# --------------------------------------------------------------------------------------------
# distributed helpers


class Dist:
    def __init__(self, device: torch.device):
        self.rank, self.world_size, self.local_rank = env_rank()
        self.enabled = self.world_size > 1
        self.device = device

    def sum(self, values: list[float]) -> list[float]:
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.comm_device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    def gather(self, obj: Any) -> list[Any]:
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    @property
    def comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


# --------------------------------------------------------------------------------------------
# losses


def token_losses(model: Any, batch: Batch, attn_impl: str, dtype: torch.dtype) -> torch.Tensor:
    """Cross-entropy of every next-token prediction, (B, L-1), zero where the label is ignored.

    The language-model head (vocabulary-wide) runs only at the positions whose next token is
    trained in some row (`logits_to_keep`), not at prompts and padding: less compute and far
    less memory for the (positions × vocabulary) logits."""
    labels = batch.labels[:, 1:]
    keep = (labels != IGNORE).any(dim=0).nonzero().squeeze(1)
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask(attn_impl, dtype),
        position_ids=batch.position_ids,
        use_cache=False,
        logits_to_keep=keep,
    )
    logits = out.logits.float()
    kept = labels[:, keep]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), kept.reshape(-1), ignore_index=IGNORE, reduction="none")
    full = torch.zeros(labels.shape, dtype=loss.dtype, device=loss.device)
    full[:, keep] = loss.view(kept.shape)
    return full


def sequence_logps(model: Any, batch: Batch, attn_impl: str, dtype: torch.dtype) -> torch.Tensor:
    """Sum of log-probabilities of the labelled tokens of each row."""
    return -token_losses(model, batch, attn_impl, dtype).sum(dim=1)


# --------------------------------------------------------------------------------------------
# system metrics


def system_event(emitter: Emitter, device: torch.device) -> None:
    import psutil

    gpus = []
    if device.type == "cuda":
        try:
            import pynvml  # type: ignore

            pynvml.nvmlInit()
            have_nvml = True
        except Exception:
            have_nvml = False
        for i in range(torch.cuda.device_count()):
            g: dict[str, Any] = {
                "index": i,
                "utilization_percent": None,
                "memory_used_bytes": None,
                "memory_total_bytes": None,
                "temperature_c": None,
                "power_w": None,
            }
            try:
                free, total = torch.cuda.mem_get_info(i)
                g["memory_used_bytes"], g["memory_total_bytes"] = int(total - free), int(total)
            except Exception:
                pass
            if have_nvml:
                try:
                    h = pynvml.nvmlDeviceGetHandleByIndex(i)
                    g["utilization_percent"] = float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
                    g["temperature_c"] = float(pynvml.nvmlDeviceGetTemperature(h, 0))
                    g["power_w"] = pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0
                except Exception:
                    pass
            gpus.append(g)
    proc = psutil.Process()
    emitter.emit(
        "system",
        cpu_percent=float(psutil.cpu_percent(interval=None)),
        rss_bytes=int(proc.memory_info().rss),
        gpus=gpus,
    )


# --------------------------------------------------------------------------------------------
# the run


def _rel(path: str, workdir: str) -> str:
    return os.path.relpath(path, workdir)


def run(spec: TrainSpec, workdir: str, emitter: Emitter) -> int:
    stop = Stop()
    stop.install()
    t_start = time.time()
    rank, world_size, local_rank = env_rank()
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    device = pick_device(spec.device, local_rank)
    dist = Dist(device)
    if dist.enabled and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend)
    emitter.enabled = emitter.enabled and rank == 0
    is_main = rank == 0
    precision = pick_precision(spec.training.precision, device, emitter)
    tr = spec.training

    # resume: verify before doing anything expensive
    loaded = None
    if spec.resume_from is not None:
        path = spec.resume_from if os.path.isabs(spec.resume_from) else os.path.join(workdir, spec.resume_from)
        loaded = ckpt.open_checkpoint(path)
        if loaded.state.get("spec_hash") != spec.hash():
            emitter.log("warning", f"resuming from {spec.resume_from}, written with a different spec")
        if int(loaded.state.get("world_size", world_size)) != world_size:
            emitter.log(
                "warning",
                f"resuming with {world_size} ranks from a checkpoint written by {loaded.state.get('world_size')}: "
                "the data order after the checkpoint differs from an uninterrupted run",
            )

    seed_everything(tr.seed)
    tokenizer = load_tokenizer(spec)
    pad_id = tokenizer.pad_token_id
    train_set = load_dataset(spec.data.train_path, "train", spec.objective, tokenizer, spec.data.max_seq_length, emitter)
    val_set = None
    if spec.data.validation_path is not None:
        val_set = load_dataset(
            spec.data.validation_path, "validation", spec.objective, tokenizer, spec.data.max_seq_length, emitter
        )
    is_dpo = spec.objective == "dpo"
    packing = spec.data.packing and not is_dpo
    if is_dpo and spec.data.packing:
        emitter.log("info", "dpo uses padded batches; data.packing is ignored")
    lengths = [len(x) for x in train_set]

    plan = Plan(
        lengths,
        seed=tr.seed,
        micro_batch_size=tr.micro_batch_size,
        packing=packing,
        capacity=spec.data.max_seq_length,
        grad_accum=tr.gradient_accumulation_steps,
        world_size=world_size,
        epochs=tr.epochs,
        max_steps=tr.max_steps,
    )
    total_steps = plan.total_steps

    model = load_model(spec, device, precision, emitter)
    sharded = dist.enabled and tr.zero_stage >= 2
    ref_model = None
    if is_dpo and not spec.method.is_lora_family:
        import copy

        ref_model = copy.deepcopy(model).eval()
        for p in ref_model.parameters():
            p.requires_grad_(False)
    base = model
    attn_impl = attn_implementation(base)
    trainable_n, total_n = count_parameters(base)
    if loaded is not None:
        weights = loaded.trainable()
        named = {n: p for n, p in base.named_parameters() if p.requires_grad}
        if set(weights) != set(named):
            raise RuntimeFailure(
                "checkpoint_corrupt",
                f"checkpoint {loaded.path}: its trainable weights do not match this model and method",
                "resume with the same model and method as the run that wrote the checkpoint",
            )
        with torch.no_grad():
            for n, p in named.items():
                if weights[n].shape != p.shape:
                    raise RuntimeFailure("checkpoint_corrupt", f"checkpoint {loaded.path}: {n} has shape {tuple(weights[n].shape)}, expected {tuple(p.shape)}")
                p.copy_(weights[n].to(p.device, p.dtype))
        written_sharded = bool(loaded.state.get("sharded", False))
        if written_sharded != sharded:
            raise RuntimeFailure(
                "checkpoint_corrupt",
                f"checkpoint {loaded.path} was written by a {'sharded' if written_sharded else 'replicated'} run "
                f"(zero_stage {loaded.state.get('zero_stage', 0)}); this run is {'sharded' if sharded else 'replicated'}",
                "resume with the zero_stage the checkpoint was written with",
            )
    if sharded:
        sharding.shard(model, tr.zero_stage)
        emitter.log("info", f"zero_stage {tr.zero_stage}: {'weights, ' if tr.zero_stage >= 3 else ''}gradients and optimizer states sharded over {world_size} ranks")
    elif tr.zero_stage and not dist.enabled:
        emitter.log("info", f"zero_stage {tr.zero_stage} shards over several processes; with one, nothing is sharded")
    params = [p for p in base.parameters() if p.requires_grad]
    if not params:
        raise RuntimeFailure("internal", "the method left no trainable parameters")

    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": tr.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if device.type == "cuda":
        import bitsandbytes as bnb

        optimizer = bnb.optim.AdamW8bit(groups, lr=tr.learning_rate)
    else:
        optimizer = torch.optim.AdamW(groups, lr=tr.learning_rate)
    from transformers import get_scheduler

    sched_name = {"constant": "constant_with_warmup" if tr.warmup_steps else "constant"}.get(tr.lr_scheduler, tr.lr_scheduler)
    scheduler = get_scheduler(sched_name, optimizer, num_warmup_steps=tr.warmup_steps, num_training_steps=total_steps)
    scaler = torch.amp.GradScaler("cuda") if precision.scaler else None

    start_step = 0
    best_eval = math.inf
    evals_without_improvement = 0
    tokens_seen = 0
    last_loss: float | None = None
    last_eval: float | None = None
    if loaded is not None:
        if sharded:
            sharding.load_optimizer_state(model, optimizer, loaded.torch_file("optimizer.pt"))
        else:
            optimizer.load_state_dict(loaded.torch_file("optimizer.pt"))
        scheduler.load_state_dict(loaded.torch_file("scheduler.pt"))
        rng = loaded.torch_file("rng.pt")
        ranks = rng.get("ranks", [])
        if rank < len(ranks):
            ckpt.set_rng_state(ranks[rank])
        elif ranks:
            ckpt.set_rng_state(ranks[0])
        st = loaded.state
        start_step = int(st["step"])
        best_eval = float(st.get("best_eval_loss") if st.get("best_eval_loss") is not None else math.inf)
        evals_without_improvement = int(st.get("evals_without_improvement", 0))
        tokens_seen = int(st.get("tokens_seen", 0))
        last_loss = st.get("last_loss")
        last_eval = st.get("last_eval_loss")
    else:
        seed_everything(tr.seed + rank)

    train_model: Any = model
    if dist.enabled and not sharded:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    emitter.emit(
        "started",
        device=str(device),
        dtype=precision.name,
        world_size=world_size,
        total_steps=total_steps,
        trainable_parameters=trainable_n,
        total_parameters=total_n,
        memory=device_memory(device),
        resumed_from_step=start_step if loaded is not None else None,
    )
    import psutil

    psutil.cpu_percent(interval=None)
    system_interval = float(os.environ.get("TUNERY_SYSTEM_INTERVAL_S", "30"))
    last_system = time.time()
    if is_main:
        system_event(emitter, device)

    checkpoints_dir = os.path.join(workdir, "checkpoints")
    last_ckpt_path: str | None = None
    last_ckpt_step: int | None = start_step if loaded is not None else None
    if loaded is not None and os.path.abspath(loaded.path).startswith(os.path.abspath(workdir) + os.sep):
        last_ckpt_path = _rel(loaded.path, workdir)

    def autocast() -> Any:
        if precision.autocast:
            return torch.autocast(device_type=device.type, dtype=precision.compute_dtype)
        return contextlib.nullcontext()

    def save_checkpoint(step: int) -> str:
        nonlocal last_ckpt_path, last_ckpt_step
        rng_states = dist.gather(ckpt.rng_state())
        # Sharded: every rank takes part in gathering the weights and optimizer state.
        trainable = sharding.full_trainable_state(base) if sharded else None
        optimizer_state = sharding.full_optimizer_state(model, optimizer) if sharded else None
        path = None
        if is_main:
            epoch, index = plan.position(step)
            state = {
                "step": step,
                "epoch": plan.epoch_float(step),
                "data_position": {"epoch": epoch, "batch": index * plan.per_step},
                "seed": tr.seed,
                "spec_hash": spec.hash(),
                "world_size": world_size,
                "zero_stage": tr.zero_stage,
                "sharded": sharded,
                "method": spec.method.kind,
                "best_eval_loss": best_eval if math.isfinite(best_eval) else None,
                "evals_without_improvement": evals_without_improvement,
                "tokens_seen": tokens_seen,
                "last_loss": last_loss,
                "last_eval_loss": last_eval,
            }
            path = ckpt.save(
                checkpoints_dir,
                step,
                trainable=trainable if trainable is not None else trainable_state(base),
                optimizer_state=optimizer_state if optimizer_state is not None else optimizer.state_dict(),
                scheduler=scheduler,
                rng_states=rng_states,
                state=state,
                keep=tr.keep_checkpoints,
            )
            emitter.emit("checkpoint", step=step, path=_rel(path, workdir))
        dist.barrier()
        last_ckpt_path = _rel(os.path.join(checkpoints_dir, ckpt.step_dir_name(step)), workdir)
        last_ckpt_step = step
        return last_ckpt_path

    best_dir = os.path.join(workdir, "best")

    def save_best(step: int, eval_loss: float) -> None:
        """Keeps the trainable weights of the best evaluation in `best/` (atomically; it
        survives a restart, since a resumed run uses the same work directory)."""
        trainable = sharding.full_trainable_state(base) if sharded else trainable_state(base)
        if is_main:
            ckpt.write_best(best_dir, trainable, {"step": step, "eval_loss": eval_loss, "spec_hash": spec.hash()})
        dist.barrier()

    def evaluate(step: int) -> float:
        assert val_set is not None
        model.eval()
        vb = epoch_batches(
            [len(x) for x in val_set], seed=tr.seed, epoch=0, micro_batch_size=tr.micro_batch_size,
            packing=packing, capacity=spec.data.max_seq_length, shuffle=False,
        )
        mine = vb[rank::world_size]
        # Sharded weights are gathered by every rank together: all run as many forward passes
        # (the extra ones repeat a batch and are not counted).
        passes = math.ceil(len(vb) / world_size) if sharded else len(mine)
        loss_sum = count = correct = margin = 0.0
        with torch.no_grad():
            for i in range(passes):
                counted = i < len(mine)
                rows = mine[i] if counted else vb[0]
                if is_dpo:
                    b = collate_pairs(val_set, rows, pad_id=pad_id).to(device)
                    losses, acc, marg = dpo_losses(b)
                    if counted:
                        loss_sum += float(losses.sum())
                        correct += float(acc.sum())
                        margin += float(marg.sum())
                        count += len(rows)
                else:
                    b = collate(val_set, rows, packed=packing, pad_id=pad_id).to(device)
                    with autocast():
                        tl = token_losses(model, b, attn_impl, precision.compute_dtype)
                    if counted:
                        loss_sum += float(tl.sum())
                        count += b.loss_tokens
        loss_sum, count, correct, margin = dist.sum([loss_sum, count, correct, margin])
        model.train()
        eval_loss = loss_sum / max(count, 1.0)
        metrics: dict[str, float] = {}
        if is_dpo:
            metrics = {"reward_accuracy": correct / max(count, 1.0), "reward_margin": margin / max(count, 1.0)}
        else:
            metrics = {"tokens": float(count)}
            if eval_loss < 50:
                metrics["perplexity"] = math.exp(eval_loss)
        emitter.emit("eval", step=step, eval_loss=eval_loss, metrics=metrics)
        return eval_loss

    def dpo_losses(b: Batch, grad: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        half = b.input_ids.shape[0] // 2
        with autocast():
            logps = sequence_logps(train_model if grad else model, b, attn_impl, precision.compute_dtype)
            with torch.no_grad():
                if ref_model is not None:
                    ref = sequence_logps(ref_model, b, attn_impl, precision.compute_dtype)
                else:
                    with base.disable_adapter():
                        ref = sequence_logps(base, b, attn_impl, precision.compute_dtype)
        logits = (logps[:half] - logps[half:]) - (ref[:half] - ref[half:])
        losses = -F.logsigmoid(tr.dpo_beta * logits.float())
        rewards = tr.dpo_beta * logits.detach()
        return losses, (rewards > 0).float(), rewards

    model.train()
    status = "completed"
    window_tokens = 0
    window_samples = 0
    window_start = time.time()
    step = start_step
    stopped = False
    while step < total_steps:
        if dist.any(stop.requested):
            stopped = True
            break
        micro = plan.micro_batches(step, rank)
        batches = []
        for rows, weight in micro:
            b = collate_pairs(train_set, rows, pad_id=pad_id) if is_dpo else collate(train_set, rows, packed=packing, pad_id=pad_id)
            batches.append((b.to(device), weight))
        if is_dpo:
            local_units = sum(b.input_ids.shape[0] // 2 for b, w in batches if w > 0)
        else:
            local_units = sum(b.loss_tokens for b, w in batches if w > 0)
        local_tokens = sum(b.real_tokens for b, w in batches if w > 0)
        local_samples = sum((b.n_examples // 2 if is_dpo else b.n_examples) for b, w in batches if w > 0)
        units, step_tokens, step_samples = dist.sum([float(local_units), float(local_tokens), float(local_samples)])
        units = max(units, 1.0)
        loss_total = 0.0
        for i, (b, weight) in enumerate(batches):
            sync = contextlib.nullcontext()
            if dist.enabled and not sharded and i < len(batches) - 1:
                sync = train_model.no_sync()
            with sync:
                if is_dpo:
                    losses, _, _ = dpo_losses(b, grad=True)
                    part = losses.sum()
                else:
                    with autocast():
                        part = token_losses(train_model, b, attn_impl, precision.compute_dtype).sum()
                loss = part * (weight * world_size / units)
                if scaler is not None:
                    scaler.scale(loss).backward()
                else:
                    loss.backward()
            loss_total += float(part.detach()) * weight
        if scaler is not None:
            scaler.unscale_(optimizer)
        max_norm = tr.max_grad_norm if tr.max_grad_norm > 0 else float("inf")
        grad_norm = sharding.scalar(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        lr = float(scheduler.get_last_lr()[0])
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        (loss_total,) = dist.sum([loss_total])
        step_loss = loss_total / units
        if not math.isfinite(step_loss):
            raise RuntimeFailure(
                "internal",
                f"training diverged: the loss is {step_loss} at step {step + 1}",
                "lower training.learning_rate or use fp32/bf16 precision",
            )
        step += 1
        last_loss = step_loss
        tokens_seen += int(step_tokens)
        window_tokens += int(step_tokens)
        window_samples += int(step_samples)

        if step % tr.log_every_steps == 0 or step == total_steps:
            elapsed = max(time.time() - window_start, 1e-6)
            emitter.emit(
                "progress",
                step=step,
                total_steps=total_steps,
                epoch=plan.epoch_float(step),
                loss=step_loss,
                learning_rate=lr,
                grad_norm=grad_norm if math.isfinite(grad_norm) else None,
                tokens=int(step_tokens),
                tokens_per_second=window_tokens / elapsed,
                samples_per_second=window_samples / elapsed,
            )
            window_tokens = window_samples = 0
            window_start = time.time()
        if is_main and time.time() - last_system >= system_interval:
            system_event(emitter, device)
            last_system = time.time()

        early = False
        t_side = time.time()  # evaluation and checkpoints do not count in the throughput
        if val_set is not None and tr.eval_every_steps is not None and step % tr.eval_every_steps == 0:
            last_eval = evaluate(step)
            if last_eval < best_eval - 1e-12:
                best_eval = last_eval
                evals_without_improvement = 0
                if tr.keep_best:
                    save_best(step, last_eval)
            else:
                evals_without_improvement += 1
                if tr.early_stopping_patience is not None and evals_without_improvement >= tr.early_stopping_patience:
                    early = True
        if step % tr.checkpoint_every_steps == 0 and step != last_ckpt_step:
            save_checkpoint(step)
        window_start += time.time() - t_side
        if early:
            emitter.log("info", f"early stopping at step {step}: no improvement in {evals_without_improvement} evaluations")
            status = "early_stopped"
            break

    if stopped:
        path = None
        if step > 0 and step != last_ckpt_step:
            path = save_checkpoint(step)
        elif step == last_ckpt_step:
            path = last_ckpt_path
        emitter.emit("stopped", step=step, checkpoint=path)
        return STOPPED_EXIT

    if val_set is not None and (tr.eval_every_steps is None or step % tr.eval_every_steps != 0):
        last_eval = evaluate(step)
        if tr.keep_best and last_eval < best_eval - 1e-12:
            best_eval = last_eval
            save_best(step, last_eval)
    if step != last_ckpt_step:
        save_checkpoint(step)

    full = sharding.full_state(base) if sharded else None  # a collective: every rank takes part
    restored = None
    if tr.keep_best:
        best = ckpt.read_best(best_dir, spec.hash())
        if best is not None and best[1]["step"] != step:
            weights, restored = best
            if full is not None:
                full.update(weights)  # rank 0 holds the gathered state; the others hold none
            else:
                with torch.no_grad():
                    for n, p in base.named_parameters():
                        if n in weights:
                            p.copy_(weights[n].to(p.device, p.dtype))
            emitter.log("info", f"keep_best: the saved weights are those of step {restored['step']} (eval loss {restored['eval_loss']:.4f}), not of step {step}")
    if is_main:
        write_outputs(spec, workdir, base, tokenizer, emitter, state_dict=full)
    dist.barrier()
    seconds = time.time() - t_start
    emitter.emit(
        "finished",
        status=status,
        summary={
            "final_loss": last_loss,
            "eval_loss": last_eval,
            "steps": step,
            "tokens": tokens_seen,
            "seconds": seconds,
            "tokens_per_second": tokens_seen / max(seconds, 1e-6),
            **({"best_step": restored["step"], "best_eval_loss": restored["eval_loss"]} if restored else {}),
        },
    )
    if dist.enabled:
        torch.distributed.destroy_process_group()
    return 0


def _replace_dir(tmp: str, final: str) -> None:
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


def write_outputs(spec: TrainSpec, workdir: str, model: Any, tokenizer: Any, emitter: Emitter, state_dict: dict[str, Any] | None = None) -> None:
    """Saves the adapter or the model; `state_dict` is the gathered state of a sharded model."""
    kwargs = {} if state_dict is None else {"state_dict": state_dict}
    out = os.path.join(workdir, "output")
    tmp = os.path.join(workdir, ".tmp-output")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    if spec.method.is_lora_family:
        model.save_pretrained(tmp, **kwargs)
        tokenizer.save_pretrained(tmp)
        _replace_dir(tmp, out)
        emitter.emit("artifact", kind="adapter", path="output")
        if spec.output.merge_lora:
            merge_adapter(spec, out, os.path.join(workdir, "output-merged"), tokenizer)
            emitter.emit("artifact", kind="merged_model", path="output-merged")
    else:
        if spec.method.kind == "freeze":
            for p in model.parameters():
                p.requires_grad_(True)  # the saved model is a plain model again
        model.save_pretrained(tmp, **kwargs)
        tokenizer.save_pretrained(tmp)
        _replace_dir(tmp, out)
        emitter.emit("artifact", kind="model", path="output")


def merge_adapter(spec: TrainSpec, adapter_dir: str, out: str, tokenizer: Any) -> None:
    """Loads the base weights in float (also for QLoRA), applies the adapter and merges it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(spec.model.path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    tmp = out + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    _replace_dir(tmp, out)
