"""The training loop (own loop, not the HF Trainer): SFT, CPT and DPO; single process or DDP."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint

from . import checkpoint as ckpt
from . import sharding
from .data import IGNORE, Batch, Plan, collate, collate_pairs, epoch_batches, load_dataset
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


# Positions × rows of logits computed at once by the chunked head: 1024 × a 49k vocabulary is
# 200 MB of float32 logits, and their gradient as much again. The memory estimate counts the same
# (`crates/domain/src/estimate.rs` `HEAD_CHUNK_TOKENS`; a test keeps the two equal).
HEAD_CHUNK_TOKENS = 1024


def token_losses(model: Any, batch: Batch, attn_impl: str, dtype: torch.dtype) -> torch.Tensor:
    """Cross-entropy of every next-token prediction, (B, L-1), zero where the label is ignored.

    The language-model head (vocabulary-wide) runs only at the positions whose next token is
    trained in some row, not at prompts and padding. When those are more than
    ``HEAD_CHUNK_TOKENS`` (and the model's head is a plain projection), it runs chunk by chunk
    under activation checkpointing, so the (positions × vocabulary) logits and their gradient
    never exist at full size: each chunk's are made, reduced to its losses and freed, and made
    again in the backward pass."""
    labels = batch.labels[:, 1:]
    keep = (labels != IGNORE).any(dim=0).nonzero().squeeze(1)
    kept = labels[:, keep]
    inputs = dict(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False, **batch.attention_inputs(attn_impl, dtype))
    head = chunkable_head(model)
    if head is None or kept.numel() <= HEAD_CHUNK_TOKENS:
        logits = model(**inputs, logits_to_keep=keep).logits.float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), kept.reshape(-1), ignore_index=IGNORE, reduction="none")
        loss = loss.view(kept.shape)
    else:
        # No logits from the model itself (an empty set of positions to keep): its last hidden
        # states, after the final norm, go through the head in chunks.
        out = model(**inputs, logits_to_keep=keep[:0], output_hidden_states=True)
        hidden = out.hidden_states[-1][:, keep]
        step = max(1, HEAD_CHUNK_TOKENS // kept.shape[0])
        parts = [
            torch.utils.checkpoint.checkpoint(_head_losses, head, hidden[:, i : i + step], kept[:, i : i + step], use_reentrant=False)
            for i in range(0, kept.shape[1], step)
        ]
        loss = torch.cat(parts, dim=1)
    full = torch.zeros(labels.shape, dtype=loss.dtype, device=loss.device)
    full[:, keep] = loss
    return full


def _head_losses(head: torch.nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = head(hidden).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE, reduction="none").view(labels.shape)


def chunkable_head(model: Any) -> torch.nn.Module | None:
    """The model's language-model head when its logits are that projection alone, applied to
    the last hidden state, and the model is not wrapped for data parallelism (DDP and FSDP
    hook the whole model's forward, and their head's weight lives in it); else None."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel) or sharding.is_sharded(model):
        return None
    config = getattr(model, "config", None)
    if config is None or getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None) not in (None, 1, 1.0):
        return None
    head = model.get_output_embeddings()
    return head if isinstance(head, torch.nn.Module) else None


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
                "max_allocated_bytes": None,
                "max_reserved_bytes": None,
                "temperature_c": None,
                "power_w": None,
            }
            try:
                # PyTorch's own peaks on this process's devices (the caching allocator's).
                g["max_allocated_bytes"] = int(torch.cuda.max_memory_allocated(i))
                g["max_reserved_bytes"] = int(torch.cuda.max_memory_reserved(i))
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
    rss = int(psutil.Process().memory_info().rss)
    emitter.emit(
        "system",
        cpu_percent=float(psutil.cpu_percent(interval=None)),
        rss_bytes=rss,
        # the kernel's high-water mark may lag the current figure by a little
        peak_rss_bytes=max(peak_rss_bytes(), rss),
        gpus=gpus,
    )


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started (getrusage's ru_maxrss: KiB on
    Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


# --------------------------------------------------------------------------------------------
# the run


def _rel(path: str, workdir: str) -> str:
    return os.path.relpath(path, workdir)


class Throughput:
    """Tokens and samples per second over the steps since the last progress event; time spent
    evaluating and checkpointing is left out."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tokens = 0
        self.samples = 0
        self.steps = 0
        self.start = time.time()

    def add(self, tokens: int, samples: int) -> None:
        """One optimizer step's tokens and samples."""
        self.tokens += tokens
        self.samples += samples
        self.steps += 1

    def exclude(self, since: float) -> None:
        """Leaves the time from `since` until now out of the window."""
        self.start += time.time() - since

    def rates(self) -> tuple[float, float, float]:
        """Tokens per second, samples per second and seconds per optimizer step."""
        elapsed = max(time.time() - self.start, 1e-6)
        return self.tokens / elapsed, self.samples / elapsed, elapsed / max(self.steps, 1)


@dataclass
class StepResult:
    """What one optimizer step reports (summed over ranks)."""

    loss: float
    learning_rate: float
    grad_norm: float
    tokens: int
    samples: int


class Trainer:
    """One training run: `setup()` builds everything (resuming when asked), `train_loop()` runs
    the optimizer steps, `finish()` or `stop_run()` ends it. `run()` below drives the lot."""

    def __init__(self, spec: TrainSpec, workdir: str, emitter: Emitter):
        self.spec = spec
        self.tr = spec.training
        self.workdir = workdir
        self.emitter = emitter
        self.stop = Stop()
        self.t_start = time.time()
        self.checkpoints_dir = os.path.join(workdir, "checkpoints")
        self.best_dir = os.path.join(workdir, "best")
        # bookkeeping that a checkpoint carries over to a resumed run
        self.step = 0
        self.best_eval = math.inf
        self.evals_without_improvement = 0
        self.tokens_seen = 0
        self.last_loss: float | None = None
        self.last_eval: float | None = None
        self.resumed_from_step: int | None = None
        self.last_ckpt_path: str | None = None
        self.last_ckpt_step: int | None = None

    # ---------------------------------------------------------------------------------------
    # the run as a whole

    def run(self) -> int:
        """Trains to the end (exit code 0) or until a stop is requested (STOPPED_EXIT)."""
        self.setup()
        self.announce_start()
        status = self.train_loop()
        if status == "stopped":
            return self.stop_run()
        self.finish(status)
        return 0

    # ---------------------------------------------------------------------------------------
    # setup

    def setup(self) -> None:
        self.stop.install()
        self.setup_processes()
        loaded = self.open_resume_checkpoint()  # verified before anything expensive
        seed_everything(self.tr.seed)
        self.setup_data()
        self.setup_model(loaded)
        self.setup_optimizer()
        if loaded is not None:
            self.restore_training_state(loaded)
        else:
            seed_everything(self.tr.seed + self.rank)
        self.train_model = self.wrap_for_ddp()

    def setup_processes(self) -> None:
        """Device, ranks and precision; the process group when there are several ranks."""
        self.rank, self.world_size, local_rank = env_rank()
        self.is_main = self.rank == 0
        if self.spec.threads is not None:
            torch.set_num_threads(self.spec.threads)
        self.device = pick_device(self.spec.device, local_rank)
        self.dist = Dist(self.device)
        if self.dist.enabled and not torch.distributed.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            torch.distributed.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
        self.emitter.enabled = self.emitter.enabled and self.is_main
        self.precision = pick_precision(self.tr.precision, self.device, self.emitter)

    def open_resume_checkpoint(self) -> ckpt.Loaded | None:
        spec = self.spec
        if spec.resume_from is None:
            return None
        path = spec.resume_from if os.path.isabs(spec.resume_from) else os.path.join(self.workdir, spec.resume_from)
        loaded = ckpt.open_checkpoint(path)
        if loaded.state.get("spec_hash") != spec.hash():
            self.emitter.log("warning", f"resuming from {spec.resume_from}, written with a different spec")
        written_by = loaded.state.get("world_size")
        if int(loaded.state.get("world_size", self.world_size)) != self.world_size:
            self.emitter.log(
                "warning",
                f"resuming with {self.world_size} ranks from a checkpoint written by {written_by}: "
                "the data order after the checkpoint differs from an uninterrupted run",
            )
        return loaded

    def setup_data(self) -> None:
        """Tokenizer, data sets and the step plan."""
        spec, tr = self.spec, self.tr
        self.tokenizer = load_tokenizer(spec)
        self.pad_id = self.tokenizer.pad_token_id
        max_len = spec.data.max_seq_length
        self.train_set = load_dataset(spec.data.train_path, "train", spec.objective, self.tokenizer, max_len, self.emitter)
        self.val_set = None
        if spec.data.validation_path is not None:
            self.val_set = load_dataset(spec.data.validation_path, "validation", spec.objective, self.tokenizer, max_len, self.emitter)
        self.is_dpo = spec.objective == "dpo"
        self.packing = spec.data.packing and not self.is_dpo
        if self.is_dpo and spec.data.packing:
            self.emitter.log("info", "dpo uses padded batches; data.packing is ignored")
        self.plan = Plan(
            [len(x) for x in self.train_set],
            seed=tr.seed,
            micro_batch_size=tr.micro_batch_size,
            packing=self.packing,
            capacity=max_len,
            grad_accum=tr.gradient_accumulation_steps,
            world_size=self.world_size,
            epochs=tr.epochs,
            max_steps=tr.max_steps,
        )
        self.total_steps = self.plan.total_steps

    def setup_model(self, loaded: ckpt.Loaded | None) -> None:
        """The model (with the checkpoint's weights on a resume), DPO's frozen reference, sharding."""
        spec, tr = self.spec, self.tr
        self.model = load_model(spec, self.device, self.precision, self.emitter)
        self.sharded = self.dist.enabled and tr.zero_stage >= 2
        self.ref_model = self.frozen_copy(self.model) if self.is_dpo and not spec.method.is_lora_family else None
        self.attn_impl = attn_implementation(self.model)
        self.trainable_n, self.total_n = count_parameters(self.model)
        if loaded is not None:
            self.restore_weights(loaded)
        if self.sharded:
            sharding.shard(self.model, tr.zero_stage)
            weights = "weights, " if tr.zero_stage >= 3 else ""
            self.emitter.log("info", f"zero_stage {tr.zero_stage}: {weights}gradients and optimizer states sharded over {self.world_size} ranks")
        elif tr.zero_stage and not self.dist.enabled:
            self.emitter.log("info", f"zero_stage {tr.zero_stage} shards over several processes; with one, nothing is sharded")
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise RuntimeFailure("internal", "the method left no trainable parameters")

    @staticmethod
    def frozen_copy(model: Any) -> Any:
        import copy

        ref = copy.deepcopy(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def restore_weights(self, loaded: ckpt.Loaded) -> None:
        """Copies the checkpoint's trainable weights into the model; refuses a checkpoint of
        another model, method or sharding."""
        weights = loaded.trainable()
        named = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
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
        if written_sharded != self.sharded:
            raise RuntimeFailure(
                "checkpoint_corrupt",
                f"checkpoint {loaded.path} was written by a {'sharded' if written_sharded else 'replicated'} run "
                f"(zero_stage {loaded.state.get('zero_stage', 0)}); this run is {'sharded' if self.sharded else 'replicated'}",
                "resume with the zero_stage the checkpoint was written with",
            )

    def setup_optimizer(self) -> None:
        """The spec's optimizer (AdamW, or bitsandbytes' 8-bit AdamW) without weight decay on
        biases and norms, the scheduler, and the gradient scaler of fp16."""
        tr = self.tr
        decay = [p for p in self.params if p.ndim >= 2]
        no_decay = [p for p in self.params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": tr.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        groups = [g for g in groups if g["params"]]
        if tr.optimizer == "adamw_8bit":
            import bitsandbytes as bnb

            self.optimizer = bnb.optim.AdamW8bit(groups, lr=tr.learning_rate)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=tr.learning_rate)
        from transformers import get_scheduler

        default = "constant_with_warmup" if tr.warmup_steps else "constant"
        sched_name = {"constant": default}.get(tr.lr_scheduler, tr.lr_scheduler)
        self.scheduler = get_scheduler(sched_name, self.optimizer, num_warmup_steps=tr.warmup_steps, num_training_steps=self.total_steps)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision.scaler else None

    def restore_training_state(self, loaded: ckpt.Loaded) -> None:
        """Optimizer, scheduler, this rank's generators and the bookkeeping of a checkpoint."""
        if self.sharded:
            sharding.load_optimizer_state(self.model, self.optimizer, loaded.torch_file("optimizer.pt"))
        else:
            self.optimizer.load_state_dict(loaded.torch_file("optimizer.pt"))
        self.scheduler.load_state_dict(loaded.torch_file("scheduler.pt"))
        ranks = loaded.torch_file("rng.pt").get("ranks", [])
        if self.rank < len(ranks):
            ckpt.set_rng_state(ranks[self.rank])
        elif ranks:
            ckpt.set_rng_state(ranks[0])
        st = loaded.state
        self.step = int(st["step"])
        self.best_eval = float(st.get("best_eval_loss") if st.get("best_eval_loss") is not None else math.inf)
        self.evals_without_improvement = int(st.get("evals_without_improvement", 0))
        self.tokens_seen = int(st.get("tokens_seen", 0))
        self.last_loss = st.get("last_loss")
        self.last_eval = st.get("last_eval_loss")
        self.resumed_from_step = self.last_ckpt_step = self.step
        if os.path.abspath(loaded.path).startswith(os.path.abspath(self.workdir) + os.sep):
            self.last_ckpt_path = _rel(loaded.path, self.workdir)

    def wrap_for_ddp(self) -> Any:
        """The module the training forward passes go through: DDP when replicated over ranks."""
        if not self.dist.enabled or self.sharded:
            return self.model
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def announce_start(self) -> None:
        """The `started` event and the first `system` event."""
        self.emitter.emit(
            "started",
            device=str(self.device),
            dtype=self.precision.name,
            world_size=self.world_size,
            total_steps=self.total_steps,
            trainable_parameters=self.trainable_n,
            total_parameters=self.total_n,
            memory=device_memory(self.device),
            resumed_from_step=self.resumed_from_step,
            attention=self.attn_impl,
        )
        import psutil

        psutil.cpu_percent(interval=None)  # starts the measurement that the next call reports
        self.system_interval = float(os.environ.get("TUNERY_SYSTEM_INTERVAL_S", "30"))
        self.last_system = time.time()
        if self.is_main:
            system_event(self.emitter, self.device)

    # ---------------------------------------------------------------------------------------
    # training

    def autocast(self) -> Any:
        if self.precision.autocast:
            return torch.autocast(device_type=self.device.type, dtype=self.precision.compute_dtype)
        return contextlib.nullcontext()

    def collate(self, data: list, rows: list[list[int]]) -> Batch:
        if self.is_dpo:
            return collate_pairs(data, rows, pad_id=self.pad_id).to(self.device)
        return collate(data, rows, packed=self.packing, pad_id=self.pad_id).to(self.device)

    def train_loop(self) -> str:
        """Optimizer steps up to `total_steps`, with progress, evaluations and checkpoints;
        returns the run's status: "completed", "early_stopped" or "stopped"."""
        self.model.train()
        self.throughput = Throughput()
        while self.step < self.total_steps:
            if self.dist.any(self.stop.requested):
                return "stopped"
            result = self.step_once()
            self.step += 1
            self.last_loss = result.loss
            self.tokens_seen += result.tokens
            self.throughput.add(result.tokens, result.samples)
            self.report(result)
            side_start = time.time()
            early = self.evaluate_on_schedule()
            if self.step % self.tr.checkpoint_every_steps == 0 and self.step != self.last_ckpt_step:
                self.save_checkpoint(self.step)
            self.throughput.exclude(side_start)
            if early:
                self.emitter.log("info", f"early stopping at step {self.step}: no improvement in {self.evals_without_improvement} evaluations")
                return "early_stopped"
        return "completed"

    def step_once(self) -> StepResult:
        """One optimizer step: this rank's micro-batches forward and backward (gradients
        accumulated), the gradient clipped, the optimizer and scheduler stepped."""
        batches = [(self.collate(self.train_set, rows), weight) for rows, weight in self.plan.micro_batches(self.step, self.rank)]
        counted = [b for b, w in batches if w > 0]
        local_units = sum(b.input_ids.shape[0] // 2 if self.is_dpo else b.loss_tokens for b in counted)
        local_tokens = sum(b.real_tokens for b in counted)
        local_samples = sum(b.n_examples // 2 if self.is_dpo else b.n_examples for b in counted)
        units, tokens, samples = self.dist.sum([float(local_units), float(local_tokens), float(local_samples)])
        units = max(units, 1.0)  # loss units (tokens, or pairs for DPO) of the step on all ranks
        loss_total = self.accumulate_gradients(batches, units)
        grad_norm, learning_rate = self.optimizer_step()
        (loss_total,) = self.dist.sum([loss_total])
        loss = loss_total / units
        if not math.isfinite(loss):
            raise RuntimeFailure(
                "internal",
                f"training diverged: the loss is {loss} at step {self.step + 1}",
                "lower training.learning_rate or use fp32/bf16 precision",
            )
        return StepResult(loss, learning_rate, grad_norm, int(tokens), int(samples))

    def accumulate_gradients(self, batches: list[tuple[Batch, float]], units: float) -> float:
        """Backward passes whose gradients add up to those of the step's mean loss; returns this
        rank's summed (unnormalized) loss. DDP all-reduces only after the last micro-batch."""
        loss_total = 0.0
        for i, (b, weight) in enumerate(batches):
            sync: Any = contextlib.nullcontext()
            if self.dist.enabled and not self.sharded and i < len(batches) - 1:
                sync = self.train_model.no_sync()
            with sync:
                part = self.batch_loss(b)
                loss = part * (weight * self.world_size / units)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                else:
                    loss.backward()
            loss_total += float(part.detach()) * weight
        return loss_total

    def batch_loss(self, b: Batch) -> torch.Tensor:
        """The summed training loss of a micro-batch (token cross-entropy, or DPO per pair)."""
        if self.is_dpo:
            losses, _, _ = self.dpo_losses(b, grad=True)
            return losses.sum()
        with self.autocast():
            return token_losses(self.train_model, b, self.attn_impl, self.precision.compute_dtype).sum()

    def optimizer_step(self) -> tuple[float, float]:
        """Clips the gradient, steps optimizer and scheduler; returns the gradient norm (before
        clipping) and the learning rate the step used."""
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        max_norm = self.tr.max_grad_norm if self.tr.max_grad_norm > 0 else float("inf")
        grad_norm = sharding.scalar(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        learning_rate = float(self.scheduler.get_last_lr()[0])
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm, learning_rate

    def dpo_losses(self, b: Batch, grad: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per pair: the DPO loss, whether the implicit reward prefers the chosen reply, and
        the reward margin. The reference is the frozen copy, or the base without the adapter."""
        half = b.input_ids.shape[0] // 2
        dtype = self.precision.compute_dtype
        with self.autocast():
            logps = sequence_logps(self.train_model if grad else self.model, b, self.attn_impl, dtype)
            with torch.no_grad():
                if self.ref_model is not None:
                    ref = sequence_logps(self.ref_model, b, self.attn_impl, dtype)
                else:
                    with self.model.disable_adapter():
                        ref = sequence_logps(self.model, b, self.attn_impl, dtype)
        logits = (logps[:half] - logps[half:]) - (ref[:half] - ref[half:])
        losses = -F.logsigmoid(self.tr.dpo_beta * logits.float())
        rewards = self.tr.dpo_beta * logits.detach()
        return losses, (rewards > 0).float(), rewards

    def report(self, result: StepResult) -> None:
        """The `progress` event every `log_every_steps` (and at the last step), `system` events
        every TUNERY_SYSTEM_INTERVAL_S seconds."""
        if self.step % self.tr.log_every_steps == 0 or self.step == self.total_steps:
            tokens_per_second, samples_per_second, step_time_s = self.throughput.rates()
            self.emitter.emit(
                "progress",
                step=self.step,
                total_steps=self.total_steps,
                epoch=self.plan.epoch_float(self.step),
                loss=result.loss,
                learning_rate=result.learning_rate,
                grad_norm=result.grad_norm if math.isfinite(result.grad_norm) else None,
                tokens=result.tokens,
                tokens_per_second=tokens_per_second,
                samples_per_second=samples_per_second,
                step_time_s=step_time_s,
            )
            self.throughput.reset()
        if self.is_main and time.time() - self.last_system >= self.system_interval:
            system_event(self.emitter, self.device)
            self.last_system = time.time()

    # ---------------------------------------------------------------------------------------
    # evaluation

    def evaluate_on_schedule(self) -> bool:
        """Evaluates every `eval_every_steps`, keeps the best weights; returns whether early
        stopping's patience has run out."""
        tr = self.tr
        if self.val_set is None or tr.eval_every_steps is None or self.step % tr.eval_every_steps != 0:
            return False
        self.last_eval = self.evaluate(self.step)
        if self.last_eval < self.best_eval - 1e-12:
            self.best_eval = self.last_eval
            self.evals_without_improvement = 0
            if tr.keep_best:
                self.save_best(self.step, self.last_eval)
            return False
        self.evals_without_improvement += 1
        return tr.early_stopping_patience is not None and self.evals_without_improvement >= tr.early_stopping_patience

    def evaluate(self, step: int) -> float:
        """The validation loss (summed over ranks); emits the `eval` event."""
        assert self.val_set is not None
        self.model.eval()
        with torch.no_grad():
            sums = self.eval_sums()
        loss_sum, count, correct, margin = self.dist.sum(sums)
        self.model.train()
        eval_loss = loss_sum / max(count, 1.0)
        if self.is_dpo:
            metrics = {"reward_accuracy": correct / max(count, 1.0), "reward_margin": margin / max(count, 1.0)}
        else:
            metrics = {"tokens": float(count)}
            if eval_loss < 50:
                metrics["perplexity"] = math.exp(eval_loss)
        self.emitter.emit("eval", step=step, eval_loss=eval_loss, metrics=metrics)
        return eval_loss

    def eval_sums(self) -> list[float]:
        """This rank's [loss sum, loss units, correct pairs, reward margin sum] over its share
        of the validation batches."""
        vb = epoch_batches(
            [len(x) for x in self.val_set], seed=self.tr.seed, epoch=0, micro_batch_size=self.tr.micro_batch_size,
            packing=self.packing, capacity=self.spec.data.max_seq_length, shuffle=False,
        )
        mine = vb[self.rank :: self.world_size]
        # Sharded weights are gathered by every rank together: all run as many forward passes
        # (the extra ones repeat a batch and are not counted).
        passes = math.ceil(len(vb) / self.world_size) if self.sharded else len(mine)
        loss_sum = count = correct = margin = 0.0
        for i in range(passes):
            counted = i < len(mine)
            rows = mine[i] if counted else vb[0]
            b = self.collate(self.val_set, rows)
            if self.is_dpo:
                losses, acc, marg = self.dpo_losses(b)
                if counted:
                    loss_sum += float(losses.sum())
                    correct += float(acc.sum())
                    margin += float(marg.sum())
                    count += len(rows)
            else:
                with self.autocast():
                    tl = token_losses(self.model, b, self.attn_impl, self.precision.compute_dtype)
                if counted:
                    loss_sum += float(tl.sum())
                    count += b.loss_tokens
        return [loss_sum, count, correct, margin]

    # ---------------------------------------------------------------------------------------
    # checkpoints and the best weights

    def checkpoint_state(self, step: int) -> dict[str, Any]:
        """state.json's content besides the format and the checksums."""
        epoch, index = self.plan.position(step)
        return {
            "step": step,
            "epoch": self.plan.epoch_float(step),
            "data_position": {"epoch": epoch, "batch": index * self.plan.per_step},
            "seed": self.tr.seed,
            "spec_hash": self.spec.hash(),
            "world_size": self.world_size,
            "zero_stage": self.tr.zero_stage,
            "sharded": self.sharded,
            "method": self.spec.method.kind,
            "best_eval_loss": self.best_eval if math.isfinite(self.best_eval) else None,
            "evals_without_improvement": self.evals_without_improvement,
            "tokens_seen": self.tokens_seen,
            "last_loss": self.last_loss,
            "last_eval_loss": self.last_eval,
        }

    def _adapter_writer(self, gathered: dict[str, torch.Tensor] | None) -> Callable[[str], None]:
        """Writes the adapter as it stands (PEFT's files, the chat template) into a directory."""

        def write(directory: str) -> None:
            kwargs = {} if gathered is None else {"state_dict": gathered}
            self.model.save_pretrained(directory, **kwargs)
            template = getattr(self.tokenizer, "chat_template", None)
            if isinstance(template, str):
                with open(os.path.join(directory, "chat_template.jinja"), "w", encoding="utf-8") as f:
                    f.write(template)

        return write

    def save_checkpoint(self, step: int) -> str:
        """Writes `checkpoints/step-…` (rank 0; every rank takes part in gathering) and emits
        the `checkpoint` event; returns its path relative to the work directory."""
        rng_states = self.dist.gather(ckpt.rng_state())
        # Sharded: every rank takes part in gathering the weights and optimizer state.
        trainable = sharding.full_trainable_state(self.model) if self.sharded else None
        optimizer_state = sharding.full_optimizer_state(self.model, self.optimizer) if self.sharded else None
        if self.is_main:
            path = ckpt.save(
                self.checkpoints_dir,
                step,
                trainable=trainable if trainable is not None else trainable_state(self.model),
                optimizer_state=optimizer_state if optimizer_state is not None else self.optimizer.state_dict(),
                scheduler=self.scheduler,
                rng_states=rng_states,
                state=self.checkpoint_state(step),
                keep=self.tr.keep_checkpoints,
                adapter=self._adapter_writer(trainable) if self.spec.method.is_lora_family else None,
            )
            self.emitter.emit("checkpoint", step=step, path=_rel(path, self.workdir))
        self.dist.barrier()
        self.last_ckpt_path = _rel(os.path.join(self.checkpoints_dir, ckpt.step_dir_name(step)), self.workdir)
        self.last_ckpt_step = step
        return self.last_ckpt_path

    def save_best(self, step: int, eval_loss: float) -> None:
        """Keeps the trainable weights of the best evaluation in `best/` (atomically; it
        survives a restart, since a resumed run uses the same work directory)."""
        trainable = sharding.full_trainable_state(self.model) if self.sharded else trainable_state(self.model)
        if self.is_main:
            ckpt.write_best(self.best_dir, trainable, {"step": step, "eval_loss": eval_loss, "spec_hash": self.spec.hash()})
        self.dist.barrier()

    # ---------------------------------------------------------------------------------------
    # the end

    def stop_run(self) -> int:
        """A requested stop: a checkpoint of the current step (unless there is one), the
        `stopped` event, STOPPED_EXIT."""
        path = None
        if self.step > 0 and self.step != self.last_ckpt_step:
            path = self.save_checkpoint(self.step)
        elif self.step == self.last_ckpt_step:
            path = self.last_ckpt_path
        self.emitter.emit("stopped", step=self.step, checkpoint=path)
        return STOPPED_EXIT

    def finish(self, status: str) -> None:
        """A last evaluation and checkpoint where the schedule did not just make them, the
        outputs (with the best weights under keep_best), the `finished` event."""
        tr = self.tr
        if self.val_set is not None and (tr.eval_every_steps is None or self.step % tr.eval_every_steps != 0):
            self.last_eval = self.evaluate(self.step)
            if tr.keep_best and self.last_eval < self.best_eval - 1e-12:
                self.best_eval = self.last_eval
                self.save_best(self.step, self.last_eval)
        if self.step != self.last_ckpt_step:
            self.save_checkpoint(self.step)
        full = sharding.full_state(self.model) if self.sharded else None  # a collective: every rank takes part
        restored = self.restore_best(full) if tr.keep_best else None
        if self.is_main:
            write_outputs(self.spec, self.workdir, self.model, self.tokenizer, self.emitter, state_dict=full)
        self.dist.barrier()
        if self.is_main:
            system_event(self.emitter, self.device)  # the run's peaks, whatever the interval
        self.emitter.emit("finished", status=status, summary=self.summary(restored))
        if self.dist.enabled:
            torch.distributed.destroy_process_group()

    def restore_best(self, full: dict[str, Any] | None) -> dict[str, Any] | None:
        """keep_best: puts the best evaluation's weights back (into the gathered state `full`
        when sharded); returns their step and loss, or None when the last step is the best."""
        best = ckpt.read_best(self.best_dir, self.spec.hash())
        if best is None or best[1]["step"] == self.step:
            return None
        weights, restored = best
        if full is not None:
            full.update(weights)  # rank 0 holds the gathered state; the others hold none
        else:
            with torch.no_grad():
                for n, p in self.model.named_parameters():
                    if n in weights:
                        p.copy_(weights[n].to(p.device, p.dtype))
        self.emitter.log("info", f"keep_best: the saved weights are those of step {restored['step']} (eval loss {restored['eval_loss']:.4f}), not of step {self.step}")
        return restored

    def summary(self, restored: dict[str, Any] | None) -> dict[str, Any]:
        seconds = time.time() - self.t_start
        return {
            "final_loss": self.last_loss,
            "eval_loss": self.last_eval,
            "steps": self.step,
            "tokens": self.tokens_seen,
            "seconds": seconds,
            "tokens_per_second": self.tokens_seen / max(seconds, 1e-6),
            # What the speed was measured in: the server keys its measured throughputs by it.
            "precision": self.precision.name,
            **({"best_step": restored["step"], "best_eval_loss": restored["eval_loss"]} if restored else {}),
        }


def run(spec: TrainSpec, workdir: str, emitter: Emitter) -> int:
    """Trains as `spec` says, writing only under `workdir`; returns the exit code (0 finished,
    STOPPED_EXIT stopped on request). Failures raise RuntimeFailure."""
    return Trainer(spec, workdir, emitter).run()


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
