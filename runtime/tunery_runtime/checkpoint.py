"""Checkpoints (protocol/README.md, "Checkpoints").

``checkpoints/step-00000050/``:

* ``trainable.safetensors`` — the trainable parameters by name (only the adapter for LoRA-family)
* ``optimizer.pt``, ``scheduler.pt`` — their ``state_dict()``s
* ``rng.pt`` — Python, NumPy, torch and CUDA generator states of every rank
* ``state.json`` — step, epoch, data position, seed, spec hash, eval bookkeeping and the SHA-256
  of every other file
* ``adapter/`` (LoRA-family) — the adapter as PEFT saves it (``adapter_config.json``,
  ``adapter_model.safetensors``) and the chat template: what serving a checkpoint loads

Written as ``checkpoints/.tmp-step-…`` and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import RuntimeFailure

FORMAT = 1
FILES = ("trainable.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt")
ADAPTER_DIR = "adapter"


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuplify(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state.get("cuda"):
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_tuplify(v) for v in x)
    return x


def save(
    checkpoints_dir: str,
    step: int,
    *,
    trainable: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    scheduler: Any,
    rng_states: list[dict[str, Any]],
    state: dict[str, Any],
    keep: int,
    adapter: Callable[[str], None] | None = None,
) -> str:
    """Writes one checkpoint atomically; returns its directory. Keeps the newest ``keep``.
    ``adapter`` writes a servable PEFT adapter into the directory it is given (``adapter/``: a
    LoRA-family checkpoint can be deployed as it is; resuming does not read it)."""
    os.makedirs(checkpoints_dir, exist_ok=True)
    name = step_dir_name(step)
    final = os.path.join(checkpoints_dir, name)
    tmp = os.path.join(checkpoints_dir, f".tmp-{name}-{os.getpid()}")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    save_file(trainable, os.path.join(tmp, "trainable.safetensors"))
    if adapter is not None:
        adapter(os.path.join(tmp, ADAPTER_DIR))
    torch.save(optimizer_state, os.path.join(tmp, "optimizer.pt"))
    torch.save(scheduler.state_dict(), os.path.join(tmp, "scheduler.pt"))
    torch.save({"world_size": len(rng_states), "ranks": rng_states}, os.path.join(tmp, "rng.pt"))
    files = {}
    for f in FILES:
        p = os.path.join(tmp, f)
        with open(p, "rb+") as fh:
            os.fsync(fh.fileno())
        files[f] = sha256_file(p)
    doc = {"format": FORMAT, **state, "files": files}
    with open(os.path.join(tmp, "state.json"), "w") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(tmp)
    if os.path.exists(final):
        _discard(checkpoints_dir, name)
    os.rename(tmp, final)
    _fsync_dir(checkpoints_dir)
    prune(checkpoints_dir, keep)
    return final


def _discard(checkpoints_dir: str, name: str) -> None:
    """Removes a checkpoint without ever leaving a partly deleted ``step-*`` directory: it is
    renamed out of the ``step-*`` namespace first (atomic), then deleted. A kill in between
    leaves a ``.tmp-`` leftover that a later ``prune`` sweeps."""
    trash = os.path.join(checkpoints_dir, f".tmp-{name}-trash-{os.getpid()}")
    if os.path.exists(trash):
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(os.path.join(checkpoints_dir, name), trash)
    shutil.rmtree(trash, ignore_errors=True)


def prune(checkpoints_dir: str, keep: int) -> None:
    steps = sorted(d for d in os.listdir(checkpoints_dir) if d.startswith("step-"))
    for d in steps[: max(0, len(steps) - keep)]:
        _discard(checkpoints_dir, d)
    for d in os.listdir(checkpoints_dir):
        if d.startswith(".tmp-"):
            # leftovers of a run that died while writing
            pid = d.rsplit("-", 1)[-1]
            if pid != str(os.getpid()):
                shutil.rmtree(os.path.join(checkpoints_dir, d), ignore_errors=True)


class Loaded:
    def __init__(self, path: str, state: dict[str, Any]):
        self.path = path
        self.state = state

    def trainable(self) -> dict[str, torch.Tensor]:
        return load_file(os.path.join(self.path, "trainable.safetensors"))

    def torch_file(self, name: str) -> Any:
        return torch.load(os.path.join(self.path, name), map_location="cpu", weights_only=True)


def open_checkpoint(path: str) -> Loaded:
    """Verifies a checkpoint directory; any mismatch is ``checkpoint_corrupt``."""

    def corrupt(why: str) -> RuntimeFailure:
        return RuntimeFailure(
            "checkpoint_corrupt",
            f"checkpoint {path}: {why}",
            "resume from an older checkpoint, or start the job again without resume_from",
        )

    if not os.path.isdir(path):
        raise corrupt("not a directory")
    try:
        with open(os.path.join(path, "state.json")) as fh:
            state = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise corrupt(f"state.json is missing or unreadable ({e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT or not isinstance(state.get("files"), dict):
        raise corrupt("state.json is not a checkpoint state of format 1")
    for f in FILES:
        expected = state["files"].get(f)
        p = os.path.join(path, f)
        if expected is None:
            raise corrupt(f"state.json lists no checksum for {f}")
        if not os.path.isfile(p):
            raise corrupt(f"{f} is missing")
        if sha256_file(p) != expected:
            raise corrupt(f"{f} does not match its SHA-256 in state.json")
    return Loaded(path, state)


def write_best(best_dir: str, trainable: dict[str, torch.Tensor], meta: dict[str, Any]) -> bool:
    """Keeps `trainable` as the best weights so far (`best/`, replaced atomically) unless what is
    there already has a lower evaluation loss (a run resumed from an older checkpoint may
    re-evaluate a step it passed before). Returns whether it was written."""
    current = _read_best_meta(best_dir)
    if current is not None and current.get("spec_hash") == meta.get("spec_hash") and current["eval_loss"] <= meta["eval_loss"]:
        return False
    parent = os.path.dirname(best_dir) or "."
    tmp = os.path.join(parent, f".tmp-best-{os.getpid()}")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    save_file(trainable, os.path.join(tmp, "trainable.safetensors"))
    with open(os.path.join(tmp, "best.json"), "w") as f:
        json.dump(meta, f)
        f.flush()
        os.fsync(f.fileno())
    old = os.path.join(parent, f".old-best-{os.getpid()}")
    if os.path.exists(best_dir):
        os.rename(best_dir, old)
    os.rename(tmp, best_dir)
    _fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)
    return True


def _read_best_meta(best_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(best_dir, "best.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_best(best_dir: str, spec_hash: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The best weights kept by this spec's run, with their step and evaluation loss."""
    meta = _read_best_meta(best_dir)
    if meta is None or meta.get("spec_hash") != spec_hash:
        return None
    return load_file(os.path.join(best_dir, "trainable.safetensors")), meta
