"""Canonical JSONL → token ids and labels, epoch plans and batches.

* SFT: the conversation is rendered with the chat template and the trained spans are located in
  the text by the rule of ``crates/chat-template`` (``src/spans.rs``), which shows users the same
  spans before training: each assistant message's content as rendered (trimmed if the template
  trims it) plus the end-of-turn token right after it (``<|im_end|>``, ``<|eot_id|>``, ``</s>``,
  ``<|end|>``, …; not the newline or EOS after that); ``weight: 0`` turns are excluded. A token is
  trained when any of its characters (offset mapping) is in a trained span. The two
  implementations are checked against each other on every fixture
  (``runtime/tests/test_chat_template_parity.py``).
* CPT: every token of ``text`` (+ EOS), cut into ``max_seq_length`` windows.
* DPO: prompt + chosen and prompt + rejected, loss spans on the chosen/rejected assistant turns.

The label of each example's first token is always -100: it is never predicted inside the
example, and in a packed row it must not be predicted from the previous example.

Batches: ``packing`` puts several examples in one row (best fit, in the epoch's shuffled order),
with ``segment`` ids from which a block-diagonal causal mask and per-example positions are built;
otherwise rows are single examples grouped by length and padded on the right. The order of an
epoch depends only on (seed, epoch), so a resumed run rebuilds it exactly.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from .attention import DOCUMENTS, SPANS_KWARG, row_spans
from .errors import RuntimeFailure

IGNORE = -100
ROLES = ("system", "user", "assistant")


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def loss_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass
class Pair:
    chosen: Example
    rejected: Example

    def __len__(self) -> int:
        return max(len(self.chosen), len(self.rejected))


class DataError(RuntimeFailure):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__("invalid_data", message, hint)


# --------------------------------------------------------------------------------------------
# reading


def read_jsonl(path: str, name: str) -> Iterator[tuple[int, Any]]:
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise DataError(f"{name}: cannot read {path}: {e.strerror}") from e
    with f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{name} line {lineno}: not valid JSON: {e.msg}") from e


def _messages(value: Any, where: str, *, allow_weight: bool = True) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected a non-empty list of messages")
    out = []
    for i, m in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(m, dict):
            raise DataError(f"{at}: expected an object with role and content")
        for key in m:
            if key not in ("role", "content", "weight"):
                raise DataError(f"{at}.{key}: unknown key")
        role = m.get("role")
        if role not in ROLES:
            raise DataError(f"{at}.role: must be one of {', '.join(ROLES)}, got {json.dumps(role)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise DataError(f"{at}.content: expected a string")
        weight = m.get("weight", 1)
        if isinstance(weight, bool) or weight not in (0, 1):
            raise DataError(f"{at}.weight: must be 0 or 1, got {json.dumps(weight)}")
        out.append({"role": role, "content": content, "weight": int(weight)})
    return out


# --------------------------------------------------------------------------------------------
# tokenization


class Tokenizing:
    def __init__(self, tokenizer: Any, max_seq_length: int):
        self.tok = tokenizer
        self.max_len = max_seq_length
        self.truncated = 0
        self.dropped = 0

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        return self.tok.apply_chat_template(
            plain, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def locate(self, messages: list[dict[str, Any]]) -> Located:
        """The training text of a conversation and where each message is in it (see ``locate_spans``)."""
        return locate_spans(self.render, messages, end_of_turn_tokens(getattr(self.tok, "eos_token", None)))

    def chat(self, messages: list[dict[str, Any]], loss_from: int, where: str) -> Example | None:
        """Tokenizes a conversation; loss on assistant turns with index >= loss_from."""
        located = self.locate(messages)
        for i in located.unlocated:
            m = messages[i]
            if m["role"] == "assistant" and i >= loss_from and m["weight"] != 0:
                raise RuntimeFailure(
                    "unsupported",
                    f"{where}: the chat template's output does not contain message {i}'s content, "
                    "so the assistant turn cannot be located",
                    "set model.chat_template to a template that writes each message's content as it is "
                    "(or trimmed)",
                )
        spans = [(s.start, s.end) for s in located.spans if s.trained and s.message_index >= loss_from and s.end > s.start]
        try:
            enc = self.tok(located.text, add_special_tokens=False, return_offsets_mapping=True)
        except NotImplementedError as e:
            raise RuntimeFailure(
                "unsupported",
                "locating the assistant turns needs a fast tokenizer (with offsets); this model's is a slow one",
                "provide tokenizer.json in the model directory",
            ) from e
        ids = list(enc["input_ids"])
        labels = [IGNORE] * len(ids)
        # The spans merged and sorted; a token is trained when it overlaps one.
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        starts = [s for s, _ in merged]
        for j, (s, e) in enumerate(enc["offset_mapping"]):
            if e <= s:
                continue
            k = bisect.bisect_left(starts, e) - 1  # the last span starting before the token ends
            if k >= 0 and merged[k][1] > s:
                labels[j] = ids[j]
        return self._finish(ids, labels)

    def _finish(self, ids: list[int], labels: list[int]) -> Example | None:
        if len(ids) > self.max_len:
            self.truncated += 1
            ids, labels = ids[: self.max_len], labels[: self.max_len]
        if labels:
            labels[0] = IGNORE
        ex = Example(ids, labels)
        if ex.loss_tokens == 0:
            self.dropped += 1
            return None
        return ex

    def text(self, text: str) -> list[Example]:
        ids = list(self.tok(text, add_special_tokens=True)["input_ids"])
        eos = self.tok.eos_token_id
        if eos is not None and (not ids or ids[-1] != eos):
            ids.append(eos)
        out = []
        for i in range(0, len(ids), self.max_len):
            window = ids[i : i + self.max_len]
            if len(window) < 2:
                continue
            labels = list(window)
            labels[0] = IGNORE
            out.append(Example(window, labels))
        return out


# --------------------------------------------------------------------------------------------
# trained spans: the rule of crates/chat-template/src/spans.rs, step for step (offsets in
# characters here, in bytes there). Keep the two in step: runtime/tests/test_chat_template_parity.py
# compares them on every fixture through tests/fixtures/spans/*.json.

#: Tokens that end an assistant turn (besides the tokenizer's EOS), as KNOWN_END_OF_TURN_TOKENS.
KNOWN_END_OF_TURN_TOKENS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
    "<|END_OF_TURN_TOKEN|>",
)

#: Replaces one message's content to see where the template puts it.
_SENTINEL = "\ue000tunery-content\ue001"

#: Rust's ``str::trim`` (Unicode White_Space), which differs from ``str.strip()`` on U+001C–U+001F.
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"


@dataclass
class Span:
    """Where one message's content is in the text (character offsets): ``start:content_end`` is
    the content as rendered, ``start:end`` adds the end-of-turn token after an assistant's."""

    message_index: int
    role: str
    start: int
    content_end: int
    end: int
    trained: bool


@dataclass
class Located:
    text: str
    spans: list[Span]
    method: str  # "incremental" or "search"
    unlocated: list[int]


def end_of_turn_tokens(eos_token: str | None) -> list[str]:
    """The EOS token and the known end-of-turn tokens, longest first (in UTF-8 bytes)."""
    tokens = ([eos_token] if eos_token is not None else []) + list(KNOWN_END_OF_TURN_TOKENS)
    return sorted(set(tokens), key=lambda t: (-len(t.encode()), t))


def locate_spans(render: Any, messages: list[dict[str, Any]], end_of_turn: Sequence[str]) -> Located:
    """The training text (``render(messages, False)``) and the span of each message.

    If the template is prefix-stable (rendering the first k messages gives a prefix of the text
    for every k), each content is found inside its own turn; otherwise, or if one is not found
    there, the contents are searched for in message order. See ``Rendered`` in the Rust crate.
    """
    text = render(messages, False)
    bounds = _prefix_bounds(render, messages, text)
    if bounds is not None:
        found = []
        for k, m in enumerate(messages):
            f = _find_in_turn(text, bounds[k], bounds[k + 1], m["content"], end_of_turn, lambda k=k: _anchor(render, messages, k, text))
            if f is None:
                break
            found.append(f)
        else:
            spans = [_span(text, k, messages[k], f, end_of_turn) for k, f in enumerate(found)]
            return Located(text, spans, "incremental", [])
    spans, unlocated, cursor = [], [], 0
    for k, m in enumerate(messages):
        f = _find_in_text(text, cursor, m["content"], _anchor(render, messages, k, text))
        if f is None:
            unlocated.append(k)
        else:
            cursor = max(cursor, f[1])
            spans.append(_span(text, k, m, f, end_of_turn))
    return Located(text, spans, "search", unlocated)


def _prefix_bounds(render: Any, messages: list[dict[str, Any]], text: str) -> list[int] | None:
    bounds = [0]
    for k in range(1, len(messages)):
        try:
            prefix = render(messages[:k], False)
        except Exception:
            return None
        if not text.startswith(prefix) or len(prefix) < bounds[k - 1]:
            return None
        bounds.append(len(prefix))
    bounds.append(len(text))
    return bounds


def _anchor(render: Any, messages: list[dict[str, Any]], k: int, text: str) -> int | None:
    """Where message k's content starts, from a rendering with it replaced by the sentinel: the
    sentinel must appear once, and what comes before it must equal the text's start."""
    if _SENTINEL in text:
        return None
    replaced = list(messages)
    replaced[k] = {**messages[k], "content": _SENTINEL}
    try:
        rendered = render(replaced, False)
    except Exception:
        return None
    at = rendered.find(_SENTINEL)
    if at < 0 or _SENTINEL in rendered[at + len(_SENTINEL) :]:
        return None
    return at if len(text) >= at and text[:at] == rendered[:at] else None


def _forms(content: str) -> list[str]:
    """The content as given, and trimmed if that differs (templates that ``|trim``)."""
    trimmed = content.strip(_WHITE_SPACE)
    return [content] if trimmed == content else [content, trimmed]


def _form_at(text: str, at: int, limit: int, content: str) -> tuple[int, int] | None:
    if at > limit or limit > len(text):
        return None
    for form in _forms(content):
        if text.startswith(form, at, limit):
            return at, at + len(form)
    return None


def _find_in_turn(text, lo, hi, content, end_of_turn, anchor) -> tuple[int, int] | None:
    """A form occurring once in the turn; else the anchor; else the last occurrence followed by an
    end-of-turn token, else the last one."""
    occurrences = None
    for form in _forms(content):
        if not form:
            continue
        starts, i = [], text.find(form, lo, hi)
        while i >= 0:
            starts.append(i)
            i = text.find(form, i + len(form), hi)
        if starts:
            occurrences = (starts, len(form))
            break
    if occurrences is not None and len(occurrences[0]) == 1:
        start = occurrences[0][0]
        return start, start + occurrences[1]
    at = anchor()
    if at is not None and lo <= at <= hi:
        found = _form_at(text, at, hi, content)
        if found is not None:
            return found
    if occurrences is None:
        return None
    starts, n = occurrences
    for start in reversed(starts):
        if any(text.startswith(t, start + n) for t in end_of_turn):
            return start, start + n
    return starts[-1], starts[-1] + n


def _find_in_text(text: str, cursor: int, content: str, anchor: int | None) -> tuple[int, int] | None:
    if anchor is not None:
        found = _form_at(text, anchor, len(text), content)
        if found is not None:
            return found
    for form in _forms(content):
        if form:
            i = text.find(form, cursor)
            if i >= 0:
                return i, i + len(form)
    return None


def _span(text: str, k: int, m: dict[str, Any], found: tuple[int, int], end_of_turn: Sequence[str]) -> Span:
    start, content_end = found
    end = content_end
    assistant = m["role"] == "assistant"
    if assistant:
        for t in end_of_turn:
            if text.startswith(t, content_end):
                end += len(t)
                break
    return Span(k, m["role"], start, content_end, end, assistant and m.get("weight", 1) != 0)


def load_dataset(path: str, name: str, objective: str, tokenizer: Any, max_seq_length: int, emitter: Any = None) -> list:
    t = Tokenizing(tokenizer, max_seq_length)
    examples: list = []
    for lineno, obj in read_jsonl(path, name):
        where = f"{name} line {lineno}"
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object")
        if objective == "sft":
            if "messages" not in obj:
                raise DataError(f'{where}: missing key "messages"')
            msgs = _messages(obj["messages"], f"{where}: messages")
            if not any(m["role"] == "assistant" for m in msgs):
                raise DataError(f"{where}: messages has no assistant turn")
            ex = t.chat(msgs, 0, where)
            if ex is not None:
                examples.append(ex)
        elif objective == "cpt":
            text = obj.get("text")
            if not isinstance(text, str):
                raise DataError(f'{where}: missing or non-string key "text"')
            examples.extend(t.text(text))
        elif objective == "dpo":
            for key in ("prompt", "chosen", "rejected"):
                if key not in obj:
                    raise DataError(f'{where}: missing key "{key}"')
            prompt = _messages(obj["prompt"], f"{where}: prompt")
            chosen = _messages(obj["chosen"], f"{where}: chosen")
            rejected = _messages(obj["rejected"], f"{where}: rejected")
            for key, msgs in (("chosen", chosen), ("rejected", rejected)):
                if not any(m["role"] == "assistant" for m in msgs):
                    raise DataError(f"{where}: {key} has no assistant turn")
            c = t.chat(prompt + chosen, len(prompt), where)
            r = t.chat(prompt + rejected, len(prompt), where)
            if c is not None and r is not None:
                examples.append(Pair(c, r))
        else:  # pragma: no cover - the spec parser refuses other objectives
            raise ValueError(objective)
    if not examples:
        raise DataError(
            f"{name}: no usable examples in {path}"
            + (f" ({t.dropped} had no loss tokens left after truncation to {max_seq_length})" if t.dropped else "")
        )
    if emitter is not None and (t.truncated or t.dropped):
        emitter.log(
            "warning",
            f"{name}: {t.truncated} examples truncated to {max_seq_length} tokens, "
            f"{t.dropped} dropped (no loss tokens left)",
        )
    return examples


# --------------------------------------------------------------------------------------------
# epoch plans


def _rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, 0x7475])


def pack(lengths: Sequence[int], order: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit packing in the given order: each example goes to the fullest row it fits in."""
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (remaining capacity, row index)
    for i in order:
        n = lengths[i]
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            rem, r = free.pop(k)
            rows[r].append(i)
            rem -= n
        else:
            r = len(rows)
            rows.append([i])
            rem = capacity - n
        if rem > 0:
            bisect.insort(free, (rem, r))
    return rows


def epoch_batches(
    lengths: Sequence[int],
    *,
    seed: int,
    epoch: int,
    micro_batch_size: int,
    packing: bool,
    capacity: int,
    shuffle: bool = True,
) -> list[list[list[int]]]:
    """The micro-batches of one epoch: each a list of rows, each row a list of example indices."""
    n = len(lengths)
    rng = _rng(seed, epoch)
    order = list(rng.permutation(n)) if shuffle else list(range(n))
    order = [int(i) for i in order]
    if packing:
        rows = pack(lengths, order, capacity)
        return [rows[i : i + micro_batch_size] for i in range(0, len(rows), micro_batch_size)]
    # Length grouping: sort inside mega-batches, then shuffle the batches.
    group = micro_batch_size * 64
    batches = []
    for g in range(0, n, group):
        chunk = sorted(order[g : g + group], key=lambda i: -lengths[i]) if shuffle else order[g : g + group]
        batches += [[[i] for i in chunk[j : j + micro_batch_size]] for j in range(0, len(chunk), micro_batch_size)]
    if shuffle:
        perm = rng.permutation(len(batches))
        batches = [batches[int(i)] for i in perm]
    return batches


class Plan:
    """Maps a global optimizer step to the micro-batches each rank runs for it.

    Every epoch has its own number of steps: with packing, the number of packed rows depends on
    the epoch's shuffled order. Each epoch's step count is computed once (from its batches, which
    are not kept) and cached; ``_offsets[e]`` is the global step at which epoch ``e`` starts. Only
    the batches of one epoch are held at a time. Everything is a function of (seed, lengths,
    sizes), so a resumed run maps a step to exactly the same place.
    """

    def __init__(self, lengths, *, seed, micro_batch_size, packing, capacity, grad_accum, world_size, epochs, max_steps):
        self.kw = dict(seed=seed, micro_batch_size=micro_batch_size, packing=packing, capacity=capacity)
        self.lengths = lengths
        self.packing = packing
        self.per_step = grad_accum * world_size
        self.world_size = world_size
        self._cache: dict[int, list] = {}
        self._steps: list[int] = []  # steps of epochs 0, 1, ... computed so far
        self._offsets: list[int] = [0]  # _offsets[e]: first global step of epoch e
        self.total_steps = max_steps if max_steps is not None else self._steps_for_epochs(epochs)

    def _steps_for_epochs(self, epochs: float) -> int:
        whole = math.floor(epochs)
        total = self.epoch_start(whole)
        if epochs > whole:
            total += math.ceil((epochs - whole) * self.steps_in_epoch(whole))
        return max(1, total)

    def batches(self, epoch: int) -> list:
        if epoch not in self._cache:
            self._cache = {epoch: epoch_batches(self.lengths, epoch=epoch, **self.kw)}
        return self._cache[epoch]

    def _count_steps(self, epoch: int) -> int:
        if not self.packing and self._steps:
            return self._steps[0]  # padded batches: the same number in every epoch
        cached = self._cache.get(epoch)
        n_batches = len(cached) if cached is not None else len(epoch_batches(self.lengths, epoch=epoch, **self.kw))
        return max(1, math.ceil(n_batches / self.per_step))

    def steps_in_epoch(self, epoch: int) -> int:
        """Optimizer steps of one epoch: its micro-batches, ``per_step`` to a step."""
        while len(self._steps) <= epoch:
            n = self._count_steps(len(self._steps))
            self._steps.append(n)
            self._offsets.append(self._offsets[-1] + n)
        return self._steps[epoch]

    def epoch_start(self, epoch: int) -> int:
        """The global step at which an epoch starts (the sum of the steps of those before it)."""
        if epoch > 0:
            self.steps_in_epoch(epoch - 1)
        return self._offsets[epoch]

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, index of the step inside the epoch) of a 0-based global step."""
        while self._offsets[-1] <= step:
            self.steps_in_epoch(len(self._steps))
        epoch = bisect.bisect_right(self._offsets, step) - 1
        return epoch, step - self._offsets[epoch]

    def epoch_float(self, steps_done: int) -> float:
        """Epochs done after ``steps_done`` steps: whole epochs plus the fraction of the current one."""
        epoch, index = self.position(steps_done)
        return epoch + index / self.steps_in_epoch(epoch)

    def micro_batches(self, step: int, rank: int) -> list[tuple[list[list[int]], float]]:
        """This rank's (rows, weight) for a step; weight 0 pads a rank that ran out of batches."""
        epoch, i = self.position(step)
        chunk = self.batches(epoch)[i * self.per_step : (i + 1) * self.per_step]
        mine = chunk[rank :: self.world_size]
        slots = math.ceil(len(chunk) / self.world_size)
        out = [(b, 1.0) for b in mine]
        while len(out) < slots:
            out.append((chunk[0], 0.0))
        return out


# --------------------------------------------------------------------------------------------
# collation


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, L)
    labels: torch.Tensor  # (B, L)
    position_ids: torch.Tensor  # (B, L)
    segments: torch.Tensor  # (B, L): 0 = padding, 1.. = example within the row
    packed: bool
    n_examples: int

    @property
    def real_tokens(self) -> int:
        return int((self.segments > 0).sum())

    @property
    def loss_tokens(self) -> int:
        return int((self.labels[:, 1:] != IGNORE).sum())

    def to(self, device: torch.device) -> "Batch":
        return Batch(
            self.input_ids.to(device),
            self.labels.to(device),
            self.position_ids.to(device),
            self.segments.to(device),
            self.packed,
            self.n_examples,
        )

    def attention_inputs(self, attn_implementation: str, dtype: torch.dtype) -> dict[str, Any]:
        """What the model needs to keep examples apart: with per-span attention
        (``attention.DOCUMENTS``) each row's spans and no mask, else the mask."""
        if attn_implementation == DOCUMENTS:
            return {"attention_mask": None, SPANS_KWARG: row_spans(self.segments)}
        return {"attention_mask": self.attention_mask(attn_implementation, dtype)}

    def attention_mask(self, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
        """2D padding mask for padded rows; for packed rows a 4D block-diagonal causal mask.

        Each padding position attends to itself only, so no row of the mask is empty (an empty
        row gives NaN in SDPA, which would leak into the gradients through 0 * NaN).
        """
        seg = self.segments
        if not self.packed:
            return (seg > 0).long()
        L = seg.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=seg.device).tril()
        same = seg[:, :, None] == seg[:, None, :]
        real = (seg > 0)[:, :, None]
        eye = torch.eye(L, dtype=torch.bool, device=seg.device)
        allowed = ((same & causal & real) | eye)[:, None, :, :]
        if attn_implementation == "sdpa" or "flash" in attn_implementation or "flex" in attn_implementation:
            return allowed
        mask = torch.zeros(allowed.shape, dtype=dtype, device=seg.device)
        return mask.masked_fill(~allowed, torch.finfo(dtype).min)


def collate(examples: Sequence[Example], rows: list[list[int]], *, packed: bool, pad_id: int) -> Batch:
    lens = [sum(len(examples[i]) for i in row) for row in rows]
    L = max(lens)
    B = len(rows)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    labels = torch.full((B, L), IGNORE, dtype=torch.long)
    pos = torch.zeros((B, L), dtype=torch.long)
    seg = torch.zeros((B, L), dtype=torch.long)
    n = 0
    for b, row in enumerate(rows):
        at = 0
        for s, i in enumerate(row, start=1):
            ex = examples[i]
            k = len(ex)
            ids[b, at : at + k] = torch.tensor(ex.input_ids)
            labels[b, at : at + k] = torch.tensor(ex.labels)
            pos[b, at : at + k] = torch.arange(k)
            seg[b, at : at + k] = s
            at += k
            n += 1
        # padding keeps increasing positions so that rotary embeddings stay in range
        if at < L:
            pos[b, at:] = torch.arange(at, L) if not packed else torch.arange(L - at)
    return Batch(ids, labels, pos, seg, packed, n)


def collate_pairs(pairs: Sequence[Pair], rows: list[list[int]], *, pad_id: int) -> Batch:
    """DPO: one padded batch holding the chosen sequences first, then the rejected ones."""
    idx = [row[0] for row in rows]
    seqs = [pairs[i].chosen for i in idx] + [pairs[i].rejected for i in idx]
    return collate(seqs, [[k] for k in range(len(seqs))], packed=False, pad_id=pad_id)


def segment_sums(token_loss: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example (sum of token losses, number of loss tokens), in row-major example order.

    ``token_loss`` is (B, L-1), aligned with ``labels[:, 1:]`` and zero where ignored.
    """
    seg = batch.segments[:, 1:]
    valid = (batch.labels[:, 1:] != IGNORE)
    max_seg = int(batch.segments.max())
    B = seg.shape[0]
    flat = (torch.arange(B, device=seg.device)[:, None] * (max_seg + 1) + seg).reshape(-1)
    sums = torch.zeros(B * (max_seg + 1), dtype=token_loss.dtype, device=token_loss.device)
    sums.index_add_(0, flat, token_loss.reshape(-1))
    counts = torch.zeros(B * (max_seg + 1), dtype=torch.long, device=seg.device)
    counts.index_add_(0, flat, valid.reshape(-1).long())
    present = torch.zeros(B * (max_seg + 1), dtype=torch.bool, device=seg.device)
    present[(torch.arange(B, device=seg.device)[:, None] * (max_seg + 1) + batch.segments).reshape(-1)] = True
    present = present.view(B, max_seg + 1)
    present[:, 0] = False
    keep = present.reshape(-1)
    return sums[keep], counts[keep]
