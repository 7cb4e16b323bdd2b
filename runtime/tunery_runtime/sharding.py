"""Sharded data parallelism (ZeRO-2/3 style) with PyTorch's FSDP2 (``fully_shard``).

``training.zero_stage`` 2 shards gradients and optimizer states across the ranks and keeps the
weights gathered between forward and backward (``reshard_after_forward=False``); 3 also
reshards the weights after each layer's forward, so each rank holds 1/N of them at rest. Each
decoder layer is one unit (its weights are gathered just before it runs), the rest of the
model one more. Works on CUDA (NCCL) and on the CPU (gloo), where the tests run it.

Whole-model views are collectives (every rank calls them; rank 0 receives the tensors, on the
CPU): the trainable weights (gathered alone, never the frozen ones) and optimizer state for
checkpoints, the full state for the final model. Checkpoints of a sharded run keep the optimizer state keyed by parameter name, so they
resume only a run with the same ``zero_stage`` family (sharded or not), which the state says.
"""

from __future__ import annotations

from typing import Any

import torch

from .model import decoder_layers


def shard(model: torch.nn.Module, zero_stage: int) -> None:
    from torch.distributed.fsdp import fully_shard

    reshard = zero_stage >= 3
    for layer in decoder_layers(model):
        fully_shard(layer, reshard_after_forward=reshard)
    fully_shard(model, reshard_after_forward=reshard)


def _options() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's state (collective; empty on ranks other than 0)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options())


def full_trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable weights, gathered one parameter at a time (collective: every rank walks the
    same parameters; empty on ranks other than 0). Frozen weights are never gathered: for a
    LoRA run they are the whole base model, which a checkpoint does not need."""
    rank0 = not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0
    _reshard(model)
    out: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        whole = p.full_tensor() if hasattr(p, "full_tensor") else p
        if rank0:
            out[name] = whole.detach().to("cpu").contiguous()
    return out


def is_sharded(model: torch.nn.Module) -> bool:
    """Whether any part of the model is an FSDP2 unit."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - FSDP2 ships with every supported PyTorch
        return False
    return any(isinstance(m, FSDPModule) for m in model.modules())


def _reshard(model: torch.nn.Module) -> None:
    """Puts every sharded unit back to its shards (ZeRO-2 keeps the weights gathered after a
    forward pass), so that the registered parameters are the shards the optimizer holds."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - FSDP2 ships with every supported PyTorch
        return
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_options())


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Loads a full, name-keyed optimizer state (the same on every rank) into the shards."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, optim_state_dict=state, options=StateDictOptions(full_state_dict=True))


def scalar(value: Any) -> float:
    """A norm that may be a DTensor (sharded gradients) as a float."""
    return float(value.full_tensor()) if hasattr(value, "full_tensor") else float(value)
