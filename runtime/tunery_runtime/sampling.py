"""Per-row token sampling and streaming detokenization for ``serve`` (protocol/README.md, "Serve spec").

Both are pure functions of one row's state, so a row's answer does not depend on the other rows
decoded beside it: the sampler draws from the row's own ``torch.Generator``, and the text of a
row is cut into deltas the same way whether it is streamed or returned whole.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Sequence

import torch


def row_generator(seed: int | None, choice: int) -> torch.Generator:
    """The generator of choice ``choice`` of a request: a function of (seed, choice) when the
    request has a seed, so the same seed, prompt and settings give the same answer."""
    g = torch.Generator(device="cpu")
    if seed is None:
        g.manual_seed(secrets.randbits(63))
    else:
        digest = hashlib.sha256(f"tunery-serve:{seed}:{choice}".encode()).digest()
        g.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return g


def sample_token(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """One token from a row's float32 CPU logits ``[vocab]``: argmax at temperature 0, else a draw
    from softmax(logits / temperature) restricted to the top-p nucleus."""
    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        keep = before < top_p
        keep[0] = True  # top_p 0 still keeps the most likely token
        sorted_probs = sorted_probs * keep
        pick = torch.multinomial(sorted_probs, 1, generator=generator)
        return int(order[pick])
    return int(torch.multinomial(probs, 1, generator=generator))


class TextStream:
    """Turns a row's generated token ids into text deltas.

    Decodes incrementally (a window of recent ids, as TGI and vLLM do, so leading-space rules of
    SentencePiece tokenizers are kept), never releases text that ends in half a UTF-8 character,
    holds back a suffix that may still become a stop string, and ends at the first stop string
    (which is not part of the answer).
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], lock: Any):
        self.tokenizer = tokenizer
        self.stops = tuple(s for s in stops if s)
        self.lock = lock
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0
        self.text = ""  # all decoded text so far
        self.sent = 0  # characters of ``text`` already released
        self.stopped = False

    def _decode(self, ids: list[int]) -> str:
        with self.lock:
            return self.tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, token: int) -> str:
        """Adds a token; returns the text that can be released now ("" if none). Sets ``stopped``
        when a stop string was found."""
        self.ids.append(token)
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        full = self._decode(self.ids[self.prefix_offset :])
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self.text += full[len(prefix) :]
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
        return self._release(final=False)

    def finish(self) -> str:
        """The row ended (end-of-sequence or length): releases what is left, less a trailing
        incomplete character."""
        if self.stopped:
            return ""
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        full = self._decode(self.ids[self.prefix_offset :])
        if len(full) > len(prefix):
            self.text += full[len(prefix) :].rstrip("\ufffd")
            self.prefix_offset = self.read_offset = len(self.ids)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        if self.stops:
            found = -1
            for stop in self.stops:
                at = self.text.find(stop, self.sent)
                if at >= 0 and (found < 0 or at < found):
                    found = at
            if found >= 0:
                out = self.text[self.sent : found]
                self.text = self.text[:found]
                self.sent = found
                self.stopped = True
                return out
        end = len(self.text)
        if not final and self.stops:
            end -= self._held_back()
        out = self.text[self.sent : end]
        self.sent = max(self.sent, end)
        return out

    def _held_back(self) -> int:
        """Length of the longest unreleased suffix of the text that is a proper prefix of a stop."""
        tail = self.text[self.sent :]
        best = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(tail)), best, -1):
                if tail.endswith(stop[:k]):
                    best = k
                    break
        return best
