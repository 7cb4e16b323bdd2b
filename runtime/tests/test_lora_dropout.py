"""LoRA's input dropout fused into the adapter's A projection (``tunery_runtime.lora_dropout``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunery_runtime.lora_dropout import LEVELS, DroppedInputLinear, drop_levels, fuse_lora_dropout, keep_mask


def test_the_mask_drops_at_the_configured_rate_and_keeps_the_expectation():
    torch.manual_seed(1)
    n = 2_000_000
    levels = drop_levels(0.05)
    keep = keep_mask(torch.Size([n]), levels, torch.device("cpu"))
    assert keep.dtype == torch.bool
    # 0.05 is 3,277 of 65,536 levels; the binomial standard deviation over 2M draws is 1.5e-4.
    assert levels == 3277
    assert abs((1 - keep.float().mean().item()) - 3277 / LEVELS) < 1e-3
    layer = DroppedInputLinear(torch.nn.Linear(1, 1, bias=False), 0.05)
    layer.weight.data.fill_(1.0)
    out = layer(torch.ones(n, 1))
    assert abs(out.mean().item() - 1.0) < 2e-3  # the kept elements carry the dropped ones' share
    values = torch.unique(out).tolist()
    assert values[0] == 0.0 and values[1:] == [pytest.approx(LEVELS / (LEVELS - 3277))]
    assert bool(keep_mask(torch.Size([1000]), 0, torch.device("cpu")).all())
    assert drop_levels(0.0) == 0
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="LoRA dropout must be in"):
            drop_levels(bad)


def test_the_fused_projection_equals_dropout_then_projection_forward_and_backward():
    torch.manual_seed(0)
    linear = torch.nn.Linear(12, 4, bias=False).double()
    fused = DroppedInputLinear(linear, 0.3)
    x = torch.randn(3, 5, 12, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(7)
    out = fused(x)
    (out * torch.arange(out.numel(), dtype=out.dtype).view(out.shape)).sum().backward()
    got = (out.detach(), x.grad.clone(), fused.weight.grad.clone())

    x.grad = None
    fused.weight.grad = None
    torch.manual_seed(7)
    keep = keep_mask(x.shape, drop_levels(0.3), x.device)
    assert 0 < int((~keep).sum()) < keep.numel()
    ref = F.linear(x * keep * (LEVELS / (LEVELS - drop_levels(0.3))), linear.weight)
    (ref * torch.arange(ref.numel(), dtype=ref.dtype).view(ref.shape)).sum().backward()
    torch.testing.assert_close(got[0], ref.detach())
    torch.testing.assert_close(got[1], x.grad)
    torch.testing.assert_close(got[2], linear.weight.grad)

    fused.eval()
    torch.testing.assert_close(fused(x), F.linear(x, linear.weight))


def _peft_model(dora: bool, dropout: float):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, vocab_size=50))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear", use_dora=dora))
    for name, p in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero: the adapters would change nothing
            torch.nn.init.normal_(p)
    return model


def test_plain_lora_adapters_are_fused_with_their_keys_unchanged_and_dora_keeps_peft_dropout():
    model = _peft_model(dora=False, dropout=0.1)
    ids = torch.randint(0, 50, (2, 9))
    model.eval()
    before_keys = list(model.state_dict())
    before = model(input_ids=ids).logits
    assert fuse_lora_dropout(model) == 2 * 7  # q, k, v, o, gate, up, down in each of 2 layers
    assert list(model.state_dict()) == before_keys
    torch.testing.assert_close(model(input_ids=ids).logits, before)
    fused = [m for m in model.modules() if isinstance(m, DroppedInputLinear)]
    assert len(fused) == 14 and all(m.levels == drop_levels(0.1) for m in fused)
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    # Trained, every adapter's A gets a gradient and two draws differ (the dropout is live).
    model.train()
    a = model(input_ids=ids).logits
    a.sum().backward()
    assert all(m.weight.grad is not None for m in fused)
    assert not torch.equal(a, model(input_ids=ids).logits)

    assert fuse_lora_dropout(_peft_model(dora=True, dropout=0.1)) == 0
    assert fuse_lora_dropout(_peft_model(dora=False, dropout=0.0)) == 0
