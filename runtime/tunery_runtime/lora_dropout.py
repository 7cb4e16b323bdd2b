"""LoRA's input dropout fused into the adapter's first projection.

PEFT computes a plain LoRA adapter as ``lora_B(lora_A(dropout(x))) * scaling``. Its dropout
draws every mask element with ``bernoulli_``, one call of the generator per element: on the CPU
that was a fifth of a LoRA step of SmolLM2-135M (3.7 ms per 512 × 576 mask, 210 masks a step,
measured with ``torch.profiler``). And it keeps two tensors per adapted linear for the backward
pass: the mask and the dropped-out copy of the input, which ``lora_A`` saves for its gradient.

Here ``lora_A`` takes the dropout inside one autograd function:

* the mask comes from 16 random bits per element, drawn as 64-bit words (a quarter of the
  generator calls); an element is dropped when its bits fall below ``round(p · 65536)``, so the
  drop probability is that over 65,536 (0.050003 for 0.05) and the kept elements are scaled by
  its complement's inverse, which keeps the expectation exact;
* the backward pass keeps the input itself (the tensor the layer already keeps, shared by the
  adapters that read it) and a one-byte mask, and recomputes the dropped-out input for the
  weight's gradient.

The random bits come from the default generator of the input's device, so a seeded run repeats
and activation checkpointing (which saves and restores that generator) recomputes the same
mask. DoRA adapters keep PEFT's dropout: their magnitude needs the base layer's output on the
dropped-out input. The swapped module is a ``torch.nn.Linear`` with the same weight, so the
adapter's state-dict keys, its merging and its saving are unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

# Resolution of the drop probability: the mask compares 16 random bits with a threshold.
LEVELS = 1 << 16


def drop_levels(p: float) -> int:
    """The drop probability as a count of the 65,536 levels; ValueError outside [0, 1)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"LoRA dropout must be in [0, 1), got {p}")
    return min(round(p * LEVELS), LEVELS - 1)


def keep_mask(shape: torch.Size, levels: int, device: torch.device) -> torch.Tensor:
    """A bool mask of ``shape``, each element False with probability ``levels`` / 65,536."""
    n = shape.numel()
    words = torch.randint(-(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64, device=device)
    bits = words.view(torch.int16)[:n].view(shape)
    return bits >= levels - LEVELS // 2


class _DroppedInputLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, levels: int) -> torch.Tensor:
        keep = keep_mask(x.shape, levels, x.device)
        scale = LEVELS / (LEVELS - levels)
        out = F.linear(x.mul(keep).mul_(scale), weight)
        ctx.save_for_backward(x, weight, keep)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, weight, keep = ctx.saved_tensors
        # Under autocast the forward's product ran in the output's dtype; so do these.
        dtype = grad.dtype
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad @ weight.to(dtype)).mul_(keep).mul_(ctx.scale).to(x.dtype)
        if ctx.needs_input_grad[1]:
            dropped = x.mul(keep).mul_(ctx.scale).to(dtype)
            grad_w = (grad.reshape(-1, grad.shape[-1]).T @ dropped.reshape(-1, x.shape[-1])).to(weight.dtype)
        return grad_x, grad_w, None


class DroppedInputLinear(torch.nn.Linear):
    """A LoRA ``lora_A`` projection that applies the adapter's dropout to its input while
    training (module docstring); in evaluation it is the plain projection."""

    def __init__(self, linear: torch.nn.Linear, p: float):
        torch.nn.Module.__init__(self)
        if linear.bias is not None:
            raise ValueError("a LoRA A projection has no bias")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.register_parameter("bias", None)
        self.levels = drop_levels(p)
        self.train(linear.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.levels == 0:
            return F.linear(x, self.weight)
        return _DroppedInputLinear.apply(x, self.weight, self.levels)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dropout={self.levels}/{LEVELS}"


def fuse_lora_dropout(model: torch.nn.Module) -> int:
    """Moves each plain LoRA adapter's dropout into its A projection (DoRA and other variants
    keep PEFT's); returns how many adapters were changed."""
    fused = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        projections = getattr(module, "lora_A", None)
        if not isinstance(dropouts, torch.nn.ModuleDict) or not isinstance(projections, torch.nn.ModuleDict):
            continue
        variants = getattr(module, "lora_variant", {})
        for name, dropout in list(dropouts.items()):
            a = projections[name] if name in projections else None
            if name in variants or not isinstance(dropout, torch.nn.Dropout) or type(a) is not torch.nn.Linear:
                continue
            projections[name] = DroppedInputLinear(a, dropout.p)
            dropouts[name] = torch.nn.Identity()
            fused += 1
    return fused
