"""Batched LoRA: every row of a batch through its own adapter, in a few dense matrix products per
layer whatever the adapters in the batch.

PEFT's mixed-adapter batches (``adapter_names``) split each LoRA layer's input by adapter and run
each adapter on its rows: the work per step grows with the adapters in the batch (with 16, a
decoding step of the 135M model costs 4x the base's on a CPU), and every small operation costs
its dispatch. Here each adapted ``Linear`` keeps its adapters concatenated — ``A`` as
(slots x r, in), ``B`` as (out, slots x r), slot 0 the base (zeros), ranks padded with zeros — and
a batch multiplies its rows by all of ``A`` at once, keeps each row's own block of the result
(times its scaling: a 0/scale mask gathered by the row's slot, once per forward pass), and adds
the product with all of ``B`` into the base layer's output. Sibling layers that read the same
input (q/k/v, gate/up: ``SHARED_INPUT``) share the first product: the first of them to see an
input multiplies it by the ``A`` of all of them. The cost grows with the adapters loaded (slots x r columns), not
with the adapters in the batch (on a CPU decoding is bound by reading weights, and with as many
adapters in a batch as rows, all their weights must be read whatever the method). Prompts (many
tokens a row, bound by arithmetic) and layers past ``CONCAT_MAX`` columns gather each row's own
matrices instead (two ``bmm``). A batch of base rows only skips LoRA entirely. DoRA adapters,
LoRA biases, adapted embeddings and ``modules_to_save`` are not batched: a batch with such an
adapter goes through PEFT as before.

The stacks are rebuilt when an adapter is loaded or unloaded (between decoding steps, on the
engine thread)."""

from __future__ import annotations

import types
from typing import Any

import torch

BASE = "__base__"

# Up to this many concatenated rank columns (slots x r) a layer multiplies by all adapters at once.
CONCAT_MAX = 512

# Sibling projections that read the same input in the usual decoder layers (Llama, Qwen,
# Mistral, Mixtral experts): one product of that input serves them all. Any other layer is
# alone in its group (a sibling reading another input would redo the product for nothing).
SHARED_INPUT = {"q_proj": "qkv", "k_proj": "qkv", "v_proj": "qkv", "gate_proj": "gate_up", "up_proj": "gate_up", "w1": "w1_w3", "w3": "w1_w3"}


class _Stack:
    """One adapted ``Linear``: its adapters' matrices stacked by slot."""

    def __init__(self, module: Any, slots: dict[str, int]):
        base = module.get_base_layer()
        present = [n for n in slots if n in module.lora_A]
        ref = module.lora_A[present[0]].weight
        rank = max(module.lora_A[n].weight.shape[0] for n in present)
        count = len(slots) + 1
        a_all = torch.zeros((count, rank, base.in_features), dtype=ref.dtype, device=ref.device)
        b_all = torch.zeros((count, base.out_features, rank), dtype=ref.dtype, device=ref.device)
        self.scale = torch.zeros((count,), dtype=ref.dtype, device=ref.device)
        for name in present:
            slot = slots[name]
            a, b = module.lora_A[name].weight, module.lora_B[name].weight
            a_all[slot, : a.shape[0]] = a
            b_all[slot, :, : b.shape[1]] = b
            self.scale[slot] = float(module.scaling[name])
        # Every matrix is stored as its product reads it (the right operand's rows contiguous):
        # a few rows times a matrix kept transposed is many times slower on the CPU's BLAS.
        self.a_t = a_all.transpose(1, 2).contiguous()  # (slots, in, r): x @ A^T per row
        self.b_t = b_all.transpose(1, 2).contiguous()  # (slots, r, out): h @ B^T per row
        adapters = count - 1  # the base (slot 0) needs no columns: its mask row is all zeros
        self.concat = adapters * rank <= CONCAT_MAX
        if self.concat:
            # (adapters*r, in), (adapters*r, out) and, per slot, its scaling on its own r columns.
            self.a_cat = a_all[1:].reshape(adapters * rank, base.in_features)
            self.b_cat_t = self.b_t[1:].reshape(adapters * rank, base.out_features)
            eye = torch.eye(count, dtype=ref.dtype, device=ref.device)[:, 1:] * self.scale.view(-1, 1)
            self.mask = eye.repeat_interleave(rank, dim=1)  # (slots, adapters*r)
        self.group: _Group | None = None
        self.columns = (0, 0)


class _Group:
    """Sibling layers that may read the same input: their ``A`` side by side, and the product
    of the last input seen (reused by the siblings that get that same tensor)."""

    def __init__(self, stacks: list[_Stack]):
        # (in, columns): the siblings' ``A`` side by side, stored as the product reads it.
        self.a_t = torch.cat([st.a_cat for st in stacks], dim=0).t().contiguous()
        self.mask = torch.cat([st.mask for st in stacks], dim=1)
        at = 0
        for st in stacks:
            width = st.a_cat.shape[0]
            st.group, st.columns = self, (at, at + width)
            st.a_cat = None  # in the group's a_t now
            at += width
        self.x: torch.Tensor | None = None
        self.h: torch.Tensor | None = None


class BatchedLora:
    """The batched path of a PEFT model's LoRA layers. ``plan(names)`` before a forward pass
    says which adapter each row uses; ``clear()`` after it."""

    def __init__(self) -> None:
        self.slots: dict[str, int] = {}
        self.unbatchable: set[str] = set()
        self.modules: list[Any] = []
        self.groups: list[_Group] = []
        self.rows: torch.Tensor | None = None
        self.base_only = False
        # Each group's mask rows for the forward pass in progress.
        self.masks: dict[int, torch.Tensor] = {}

    def rebuild(self, peft_model: Any) -> None:
        """Stacks the adapters of ``peft_model`` (None: no adapter) and routes its LoRA layers
        through this object."""
        self._unpatch()
        self.slots, self.unbatchable = {}, set()
        if peft_model is None:
            return
        from peft.tuners.lora.layer import Linear as LoraLinear
        from peft.tuners.lora.layer import LoraLayer

        names = list(peft_model.peft_config)
        for name in names:
            config = peft_model.peft_config[name]
            if getattr(config, "use_dora", False) or getattr(config, "modules_to_save", None) or getattr(config, "lora_bias", False):
                self.unbatchable.add(name)
        self.slots = {name: i + 1 for i, name in enumerate(n for n in names if n not in self.unbatchable)}
        for module in peft_model.modules():
            if not isinstance(module, LoraLayer):
                continue
            if not isinstance(module, LoraLinear):
                self.unbatchable.update(n for n in names if n in module.lora_A or n in getattr(module, "lora_embedding_A", {}))
                continue
            if not any(n in module.lora_A for n in self.slots):
                continue
            module._tunery_stack = _Stack(module, self.slots)
            module._tunery_batched = self
            module.forward = types.MethodType(_forward, module)
            self.modules.append(module)
        siblings: dict[tuple, list[_Stack]] = {}
        for name, module in peft_model.named_modules():
            stack = vars(module).get("_tunery_stack")
            if stack is not None and stack.concat:
                parent, _, own = name.rpartition(".")
                key = (parent, SHARED_INPUT.get(own, own), stack.a_t.dtype, stack.a_t.device)
                siblings.setdefault(key, []).append(stack)
        self.groups = [_Group(stacks) for stacks in siblings.values()]
        # Groups whose masks are equal (every layer's q/k/v, say) share one, gathered once a pass.
        distinct: list[torch.Tensor] = []
        for g in self.groups:
            same = next((m for m in distinct if m.shape == g.mask.shape and torch.equal(m, g.mask)), None)
            if same is None:
                distinct.append(g.mask)
            else:
                g.mask = same
        for name in self.unbatchable:
            self.slots.pop(name, None)

    def _unpatch(self) -> None:
        for module in self.modules:
            for attr in ("forward", "_tunery_stack", "_tunery_batched"):
                if attr in vars(module):
                    delattr(module, attr)
        self.modules, self.groups = [], []

    def plan(self, names: list[str], device: torch.device) -> bool:
        """Sets each row's adapter for the next forward pass; False when a row's adapter cannot
        be batched (PEFT must run the batch)."""
        if any(n in self.unbatchable for n in names):
            return False
        slots = [0 if n == BASE else self.slots[n] for n in names]
        self.clear()
        self.base_only = not any(slots)
        self.rows = torch.tensor(slots, dtype=torch.long, device=device)
        return True

    def clear(self) -> None:
        self.rows = None
        self.base_only = False
        self.masks = {}
        for g in self.groups:
            g.x = g.h = None

    def mask_rows(self, group: _Group) -> torch.Tensor:
        """Each row's mask (its slot's scaling on its own columns), as (rows, 1, columns)."""
        rows = self.masks.get(id(group.mask))
        if rows is None:
            rows = self.masks[id(group.mask)] = group.mask.index_select(0, self.rows).unsqueeze(1)
        return rows


def _forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    batched: BatchedLora = self._tunery_batched
    rows = batched.rows
    if rows is None or x.dim() != 3 or x.shape[0] != rows.shape[0]:
        return type(self).forward(self, x, *args, **kwargs)
    result = self.base_layer(x, *args, **kwargs)
    if batched.base_only:
        return result
    stack: _Stack = self._tunery_stack
    group = stack.group
    if group is None or x.shape[1] > 1:
        # Prompts (many tokens a row: bound by arithmetic, not by reading weights) and layers
        # with many adapters: each row through its own matrices only.
        a_t = stack.a_t.index_select(0, rows)  # (batch, in, r)
        b_t = stack.b_t.index_select(0, rows)  # (batch, r, out)
        # The scaling goes on the small (batch, t, r) product; the second product is added into
        # the base output in place (one pass over it, not three).
        h = torch.bmm(x.to(a_t.dtype), a_t).mul_(stack.scale.index_select(0, rows).view(-1, 1, 1))
        if result.dtype == h.dtype and result.is_contiguous():
            return result.baddbmm_(h, b_t)
        return result + torch.bmm(h, b_t).to(result.dtype)
    if group.x is not x:
        group.h = torch.matmul(x.to(group.a_t.dtype), group.a_t).mul_(batched.mask_rows(group))  # (batch, t, columns)
        group.x = x
    start, end = stack.columns
    h = group.h[..., start:end].reshape(-1, end - start)  # a view: only the last dimension is cut
    if result.dtype == h.dtype and result.is_contiguous():
        result.view(-1, result.shape[-1]).addmm_(h, stack.b_cat_t)
        return result
    return result + torch.matmul(h, stack.b_cat_t).view_as(result).to(result.dtype)
