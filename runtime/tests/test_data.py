"""Tokenization, label masks, batching and padding-free packing."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import builtin_template, sft_rows, write_jsonl
from tunery_runtime.data import (
    IGNORE,
    Plan,
    Tokenizing,
    collate,
    epoch_batches,
    load_dataset,
    pack,
    segment_sums,
)
from tunery_runtime.attention import DOCUMENTS, use_document_attention
from tunery_runtime.errors import RuntimeFailure
from tunery_runtime.model import attn_implementation
from tunery_runtime import train as train_module
from tunery_runtime.train import token_losses


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def labelled_text(tok, ex):
    return tok.decode([t for t, l in zip(ex.input_ids, ex.labels) if l != IGNORE])


def test_sft_labels_cover_only_assistant_content_and_end_of_turn(tok):
    msgs = [
        {"role": "system", "content": "Answer briefly.", "weight": 1},
        {"role": "user", "content": "What is the capital of France?", "weight": 1},
        {"role": "assistant", "content": "Paris.", "weight": 1},
        {"role": "user", "content": "And two plus two?", "weight": 1},
        {"role": "assistant", "content": "Four.", "weight": 1},
    ]
    ex = Tokenizing(tok, 512).chat(msgs, 0, "t")
    assert labelled_text(tok, ex) == "Paris.<|im_end|>Four.<|im_end|>"
    # labels equal the input ids where set, and the prompt/role headers carry none
    for t, l in zip(ex.input_ids, ex.labels):
        assert l in (IGNORE, t)
    assert ex.labels[0] == IGNORE
    full = tok.decode(ex.input_ids)
    assert full == tok.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in msgs], tokenize=False)


def test_weight_zero_turns_are_excluded(tok):
    msgs = [
        {"role": "user", "content": "Hello!", "weight": 1},
        {"role": "assistant", "content": "Answer briefly: yes or no.", "weight": 0},
        {"role": "user", "content": "Again", "weight": 1},
        {"role": "assistant", "content": "Yes.", "weight": 1},
    ]
    ex = Tokenizing(tok, 512).chat(msgs, 0, "t")
    assert labelled_text(tok, ex) == "Yes.<|im_end|>"


def test_phi3_labels_every_assistant_turn_and_only_its_end_token(tiny_model_dir):
    # Phi-3 writes the EOS token after the last turn only, so a conversation's prefixes do not
    # render as prefixes of it: the turns are found by search, as the Rust crate finds them.
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = builtin_template("phi3")
    msgs = [
        {"role": "system", "content": "Answer briefly.", "weight": 1},
        {"role": "user", "content": "What is the capital of France?", "weight": 1},
        {"role": "assistant", "content": "Paris.", "weight": 1},
        {"role": "user", "content": "And two plus two?", "weight": 1},
        {"role": "assistant", "content": "Five.", "weight": 0},
        {"role": "user", "content": "Sure?", "weight": 1},
        {"role": "assistant", "content": "Four.", "weight": 1},
        {"role": "user", "content": "Thanks", "weight": 1},
        {"role": "assistant", "content": "You are welcome.", "weight": 1},
    ]
    ex = Tokenizing(tok, 512).chat(msgs, 0, "t")
    # not the newline after <|end|>, nor the EOS the template writes after the last turn
    assert labelled_text(tok, ex) == "Paris.<|end|>Four.<|end|>You are welcome.<|end|>"
    assert tok.decode(ex.input_ids).endswith("You are welcome.<|end|>\n<|im_end|>")
    # DPO: only the replies after the prompt
    ex = Tokenizing(tok, 512).chat(msgs, 7, "t")
    assert labelled_text(tok, ex) == "You are welcome.<|end|>"


def test_spec_chat_template_overrides_and_dpo_loss_only_on_replies(tmp_path, tok):
    path = write_jsonl(
        tmp_path / "dpo.jsonl",
        [{"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello!"}], "rejected": [{"role": "assistant", "content": "No."}]}],
    )
    (pair,) = load_dataset(path, "train", "dpo", tok, 128)
    assert labelled_text(tok, pair.chosen) == "Hello!<|im_end|>"
    assert labelled_text(tok, pair.rejected) == "No.<|im_end|>"


def test_truncation_and_cpt_windows(tmp_path, tok):
    path = write_jsonl(tmp_path / "cpt.jsonl", [{"text": "The quick brown fox jumps over the lazy dog. " * 20}])
    windows = load_dataset(path, "train", "cpt", tok, 16)
    assert len(windows) > 3 and all(len(w) <= 16 for w in windows)
    assert all(w.labels[0] == IGNORE and w.labels[1:] == w.input_ids[1:] for w in windows)
    assert sum(len(w) for w in windows) == len(tok("The quick brown fox jumps over the lazy dog. " * 20)["input_ids"]) + 1
    assert windows[-1].input_ids[-1] == tok.eos_token_id


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "train line 2: not valid JSON"),
        ('{"messages": []}', "train line 2: messages: expected a non-empty list of messages"),
        ('{"messages": [{"role": "bot", "content": "x"}]}', 'train line 2: messages[0].role: must be one of system, user, assistant, got "bot"'),
        ('{"messages": [{"role": "user", "content": "x"}]}', "train line 2: messages has no assistant turn"),
        ('{"messages": [{"role": "assistant", "content": "x", "weight": 2}]}', "train line 2: messages[0].weight: must be 0 or 1, got 2"),
        ('{"text": "x"}', 'train line 2: missing key "messages"'),
    ],
)
def test_invalid_data_names_the_line(tmp_path, tok, line, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(sft_rows(1)[0]) + "\n" + line + "\n")
    with pytest.raises(RuntimeFailure) as err:
        load_dataset(str(p), "train", "sft", tok, 128)
    assert err.value.code == "invalid_data"
    assert err.value.message.startswith(message)


def test_pack_best_fit_and_plan_determinism():
    rows = pack([5, 3, 8, 2, 7, 1], list(range(6)), 10)
    assert sorted(i for r in rows for i in r) == list(range(6))
    assert all(sum([5, 3, 8, 2, 7, 1][i] for i in r) <= 10 for r in rows)
    lengths = [(i * 7) % 23 + 2 for i in range(40)]
    a = epoch_batches(lengths, seed=1, epoch=3, micro_batch_size=2, packing=True, capacity=32)
    b = epoch_batches(lengths, seed=1, epoch=3, micro_batch_size=2, packing=True, capacity=32)
    c = epoch_batches(lengths, seed=1, epoch=4, micro_batch_size=2, packing=True, capacity=32)
    assert a == b and a != c
    padded = epoch_batches(lengths, seed=1, epoch=0, micro_batch_size=4, packing=False, capacity=32)
    assert sorted(r[0] for batch in padded for r in batch) == list(range(40))
    lengths += [5, 6]  # 42 examples: 11 batches of 4
    plan = Plan(lengths, seed=1, micro_batch_size=4, packing=False, capacity=32, grad_accum=2, world_size=2, epochs=1.5, max_steps=None)
    assert plan.steps_in_epoch(0) == 3 and plan.total_steps == 5
    # the last step of an epoch: 3 batches left for 2 ranks x 2 accumulation slots
    r0, r1 = plan.micro_batches(2, 0), plan.micro_batches(2, 1)
    assert [w for _, w in r0] == [1.0, 1.0] and [w for _, w in r1] == [1.0, 0.0]


# Steps per epoch of these lengths: seed 3 gives 25, 26, 26, 25 (later epochs longer than the
# first), seed 6 gives 26, 25, 26, 25 (one shorter, one longer).
@pytest.mark.parametrize("seed", [3, 6])
def test_packed_epochs_each_have_their_own_steps(seed):
    """Packing a reshuffled epoch gives a different number of rows: every epoch runs all of its
    batches in steps of its own, no step is empty, and a plan rebuilt for a resume agrees."""
    lengths = [(i * 37) % 61 + 3 for i in range(90)]
    sizes = dict(seed=seed, micro_batch_size=1, packing=True, capacity=64)
    kw = dict(lengths=lengths, **sizes, grad_accum=1, world_size=2)
    epochs, per_step = 4, 2
    batch_counts = [len(epoch_batches(lengths, epoch=e, **sizes)) for e in range(epochs + 1)]
    steps = [math.ceil(n / per_step) for n in batch_counts]
    assert len(set(steps[:epochs])) > 1, "the case at hand: reshuffled epochs pack into different numbers of steps"
    starts = [sum(steps[:e]) for e in range(epochs + 2)]
    plan = Plan(epochs=epochs, max_steps=None, **kw)
    assert plan.total_steps == starts[epochs]
    seen: list[list[int]] = [[] for _ in range(epochs)]
    for step in range(plan.total_steps):
        epoch = max(e for e in range(epochs) if starts[e] <= step)
        assert plan.position(step) == (epoch, step - starts[epoch])
        counted = [rows for rank in range(2) for rows, w in plan.micro_batches(step, rank) if w > 0]
        assert counted, f"step {step} (epoch {epoch}) has no batch"
        seen[epoch] += [i for rows in counted for row in rows for i in row]
    for e in range(epochs):
        assert sorted(seen[e]) == list(range(len(lengths))), f"epoch {e} does not run every example exactly once"
    # the reported epoch: whole at each epoch's start, the fraction of the current epoch between
    assert [plan.epoch_float(s) for s in starts[: epochs + 1]] == list(range(epochs + 1))
    assert plan.epoch_float(starts[2] + 1) == pytest.approx(2 + 1 / steps[2])
    # resume: a new plan maps a late step to the same batches without running the earlier ones
    resumed = Plan(epochs=epochs, max_steps=None, **kw)
    for step in (starts[3] - 1, starts[3], plan.total_steps - 1):
        assert resumed.position(step) == plan.position(step)
        assert [resumed.micro_batches(step, r) for r in range(2)] == [plan.micro_batches(step, r) for r in range(2)]
    # fractional epochs count the last epoch's own steps; max_steps runs on into later epochs
    assert Plan(epochs=2.5, max_steps=None, **kw).total_steps == starts[2] + math.ceil(steps[2] / 2)
    beyond = Plan(epochs=1, max_steps=starts[epochs] + 2, **kw)
    assert beyond.total_steps == starts[epochs] + 2 and beyond.position(starts[epochs] + 1) == (epochs, 1)


@pytest.mark.parametrize("attn,head_chunk", [("documents", None), ("sdpa", None), ("eager", None), ("documents", 8)])
def test_packed_per_example_losses_equal_unpacked(tiny_model_dir, tok, attn, head_chunk, tmp_path, monkeypatch):
    """Each attention path — per-span SDPA without a mask (``documents``, what training uses on
    SDPA models), SDPA with the dense block mask, eager — and the language-model head run in
    chunks of 8 positions × rows."""
    from transformers import AutoModelForCausalLM

    if head_chunk is not None:
        monkeypatch.setattr(train_module, "HEAD_CHUNK_TOKENS", head_chunk)

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa" if attn == "documents" else attn).eval()
    if attn == "documents":
        assert use_document_attention(model)
        attn = DOCUMENTS
    assert attn_implementation(model) == attn
    path = write_jsonl(tmp_path / "t.jsonl", sft_rows(7))
    examples = load_dataset(path, "train", "sft", tok, 128)
    pad = tok.pad_token_id
    # one by one, no padding at all
    single = []
    with torch.no_grad():
        for i in range(len(examples)):
            b = collate(examples, [[i]], packed=False, pad_id=pad)
            tl = token_losses(model, b, attn, torch.float32)
            single.append((tl.sum().item(), b.loss_tokens))
        # packed: several examples per row, rows of different fill, with padding
        rows = [[0, 1, 2], [3, 4], [5, 6]]
        b = collate(examples, rows, packed=True, pad_id=pad)
        assert b.input_ids.shape[0] == 3 and (b.segments == 0).any()
        sums, counts = segment_sums(token_losses(model, b, attn, torch.float32), b)
        order = [i for r in rows for i in r]
        for k, i in enumerate(order):
            assert counts[k].item() == single[i][1]
            assert sums[k].item() == pytest.approx(single[i][0], rel=1e-5, abs=1e-5)
        # padded (not packed) batch gives the same too
        b = collate(examples, [[i] for i in range(len(examples))], packed=False, pad_id=pad)
        sums, counts = segment_sums(token_losses(model, b, attn, torch.float32), b)
        for i in range(len(examples)):
            assert sums[i].item() == pytest.approx(single[i][0], rel=1e-5, abs=1e-5)


def test_per_example_attention_gives_the_dense_masks_gradients_and_needs_its_spans(tiny_model_dir, tok, tmp_path):
    from transformers import AutoModelForCausalLM

    examples = load_dataset(write_jsonl(tmp_path / "t.jsonl", sft_rows(7)), "train", "sft", tok, 128)
    b = collate(examples, [[0, 1, 2], [3, 4], [5, 6]], packed=True, pad_id=tok.pad_token_id)
    grads = {}
    for attn in ["sdpa", DOCUMENTS]:
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
        if attn == DOCUMENTS:
            assert use_document_attention(model) and attn_implementation(model) == DOCUMENTS
        token_losses(model, b, attn, torch.float32).sum().backward()
        grads[attn] = {n: p.grad for n, p in model.named_parameters()}
    for n, g in grads["sdpa"].items():
        assert torch.allclose(g, grads[DOCUMENTS][n], rtol=1e-4, atol=1e-6), n
    # Without the spans (a caller that passes only a mask) it refuses rather than mixing examples.
    with pytest.raises(RuntimeError, match="spans"):
        model(input_ids=b.input_ids, position_ids=b.position_ids, attention_mask=None)


def test_the_chunked_head_gives_the_same_losses_and_gradients_and_is_used_only_when_plain(tiny_model_dir, tok, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    assert train_module.chunkable_head(model) is model.get_output_embeddings()
    examples = load_dataset(write_jsonl(tmp_path / "t.jsonl", sft_rows(6)), "train", "sft", tok, 128)
    b = collate(examples, [[0, 1, 2], [3, 4, 5]], packed=True, pad_id=tok.pad_token_id)

    def run(chunk: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        monkeypatch.setattr(train_module, "HEAD_CHUNK_TOKENS", chunk)
        model.zero_grad(set_to_none=True)
        losses = token_losses(model, b, "sdpa", torch.float32)
        losses.sum().backward()
        return losses.detach(), [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]

    whole, whole_grads = run(1 << 30)
    chunked, chunked_grads = run(5)
    assert torch.allclose(whole, chunked, rtol=1e-5, atol=1e-6)
    assert len(whole_grads) == len(chunked_grads) > 0
    for a, c in zip(whole_grads, chunked_grads):
        assert torch.allclose(a, c, rtol=1e-4, atol=1e-6)
    # A head whose logits are scaled or capped after the projection is not chunked.
    model.config.final_logit_softcapping = 30.0
    assert train_module.chunkable_head(model) is None


def test_the_estimate_counts_the_chunk_the_runtime_uses():
    import pathlib
    import re

    estimate = pathlib.Path(__file__).resolve().parents[2] / "crates" / "domain" / "src" / "estimate.rs"
    found = re.search(r"pub const HEAD_CHUNK_TOKENS: f64 = ([0-9.]+);", estimate.read_text())
    assert found, f"{estimate} defines HEAD_CHUNK_TOKENS"
    assert float(found.group(1)) == train_module.HEAD_CHUNK_TOKENS
