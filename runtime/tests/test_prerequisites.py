"""The rules the other tests rely on: under CI=true a missing prerequisite fails instead of
skipping, and the checkpoint directory's invariant is checked by a test that can fail."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import RUNTIME, assert_only_whole_checkpoints
from tunery_runtime import checkpoint as ckpt
from tunery_runtime.errors import RuntimeFailure


def run_gguf_test(cache_dir, ci: str | None) -> subprocess.CompletedProcess:
    """Runs the SmolLM2 import test in a pytest of its own, against an empty model cache."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(TUNERY_CACHE_DIR=str(cache_dir), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/test_import.py::test_import_smollm2_gguf"],
        cwd=str(RUNTIME), env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_missing_gguf_fails_under_ci_and_is_skipped_otherwise(tmp_path):
    under_ci = run_gguf_test(tmp_path, "true")
    assert under_ci.returncode == 1, under_ci.stdout[-2000:]
    assert "1 failed" in under_ci.stdout and "SmolLM2-135M-Instruct.Q4_1.gguf is missing and CI=true" in under_ci.stdout, under_ci.stdout[-2000:]
    local = run_gguf_test(tmp_path, None)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout[-2000:]
    assert "fetch-smollm2-tokenizer.sh" in local.stdout, "the skip says how to get the file"


def write_checkpoint(directory, step: int) -> None:
    param = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.AdamW([param], lr=0.1)
    ckpt.save(
        str(directory), step,
        trainable={"w": param.detach().clone()},
        optimizer_state=optimizer.state_dict(),
        scheduler=torch.optim.lr_scheduler.ConstantLR(optimizer),
        rng_states=[ckpt.rng_state()],
        state={"step": step},
        keep=10,
    )


def test_the_checkpoint_invariant_holds_for_real_saves_and_catches_what_breaks_it(tmp_path, monkeypatch):
    checkpoints = tmp_path / "checkpoints"
    write_checkpoint(checkpoints, 1)
    # A save killed before its final rename leaves its temporary under a .tmp- name.
    real_rename = os.rename

    def killed(src, dst):
        if os.path.basename(dst).startswith("step-"):
            raise KeyboardInterrupt("killed before the rename")
        real_rename(src, dst)

    monkeypatch.setattr(ckpt.os, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(checkpoints, 2)
    monkeypatch.undo()
    leftovers = sorted(p.name for p in checkpoints.iterdir() if p.name != "step-00000001")
    assert leftovers == [f".tmp-step-00000002-{os.getpid()}"], leftovers
    assert [p.name for p in assert_only_whole_checkpoints(checkpoints)] == ["step-00000001"]

    # A whole checkpoint under a name that is not step-<digits> (as a temporary named
    # "step-…-<pid>" would be) breaks the invariant, although it opens cleanly.
    (checkpoints / "step-00000001").rename(checkpoints / "step-00000001-4242")
    ckpt.open_checkpoint(str(checkpoints / "step-00000001-4242"))
    with pytest.raises(AssertionError, match="not step-<digits>"):
        assert_only_whole_checkpoints(checkpoints)
    (checkpoints / "step-00000001-4242").rename(checkpoints / "step-00000001")
    # A torn checkpoint under a checkpoint's name.
    torn = checkpoints / "step-00000003"
    torn.mkdir()
    (torn / "trainable.safetensors").write_bytes(b"partial")
    with pytest.raises(RuntimeFailure, match="state.json is missing"):
        assert_only_whole_checkpoints(checkpoints)
    torn.rename(checkpoints / "old-step-00000003")
    # Anything else that is not a .tmp- temporary.
    with pytest.raises(AssertionError, match="neither a checkpoint nor a .tmp- temporary"):
        assert_only_whole_checkpoints(checkpoints)
