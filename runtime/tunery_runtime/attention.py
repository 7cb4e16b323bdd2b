"""Per-example attention on packed rows without a dense mask.

A packed row holds several examples back to back (then padding). Given as a block-diagonal
L×L mask, SDPA cannot use its fused kernels (they take only ``is_causal``), so it falls back to
the math kernel and materialises every layer's attention weights. Instead, a model that uses
SDPA is switched to ``tunery_documents``: an attention function registered with transformers'
``AttentionInterface`` that runs causal SDPA on each example's span of the row separately
(``is_causal=True`` and no mask: the flash kernel on the CPU and on CUDA), from the spans the
batch passes through the model's keyword arguments. Rows of one example (padded batches) go the
same way: the example, then the padding tail as a span of its own, which no real position sees.

Models whose attention needs more than a causal mask (a sliding window, soft-capping) keep the
dense mask.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

DOCUMENTS = "tunery_documents"
# The keyword argument that carries the spans to the attention function.
SPANS_KWARG = "tunery_spans"

Spans = list[list[tuple[int, int]]]


def row_spans(segments: torch.Tensor) -> Spans:
    """Each row's runs of equal segment id (examples, and the padding tail) as [start, end)."""
    out: Spans = []
    for row in segments.cpu().tolist():
        spans, start = [], 0
        for i in range(1, len(row) + 1):
            if i == len(row) or row[i] != row[start]:
                spans.append((start, i))
                start = i
        out.append(spans)
    return out


def document_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal SDPA over each span of each row; (B, L, H, D) like transformers' own functions."""
    spans: Spans | None = kwargs.get(SPANS_KWARG)
    if spans is None:
        raise RuntimeError(f"{DOCUMENTS} attention needs the batch's spans ({SPANS_KWARG}); this model's layers did not pass them on")
    if attention_mask is not None:
        raise RuntimeError(f"{DOCUMENTS} attention takes no mask (the spans are the mask)")
    if query.shape[2] != key.shape[2]:
        raise RuntimeError(f"{DOCUMENTS} attention is for training: {query.shape[2]} queries against {key.shape[2]} keys")
    gqa = getattr(module, "num_key_value_groups", 1) > 1
    p = dropout if module.training else 0.0
    rows = []
    for b, row in enumerate(spans):
        q, k, v = query[b : b + 1], key[b : b + 1], value[b : b + 1]
        parts = [
            F.scaled_dot_product_attention(
                q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], dropout_p=p, scale=scaling, is_causal=True, enable_gqa=gqa
            )
            for s, e in row
        ]
        rows.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=2))
    return torch.cat(rows, dim=0).transpose(1, 2).contiguous(), None


def register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(DOCUMENTS, document_attention)


def use_document_attention(model: torch.nn.Module) -> bool:
    """Switches a model on SDPA whose attention is plain causal to per-span attention; True when
    it did (or the model already was)."""
    cfg = getattr(model, "config", None)
    impl = getattr(cfg, "_attn_implementation", None)
    if impl == DOCUMENTS:
        return True
    if impl != "sdpa" or any(getattr(cfg, name, None) for name in ("sliding_window", "attn_logit_softcapping", "final_logit_softcapping")):
        return False
    if not hasattr(model, "set_attn_implementation"):
        return False
    register()
    model.set_attn_implementation(DOCUMENTS)
    return cfg._attn_implementation == DOCUMENTS
