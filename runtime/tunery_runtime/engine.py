"""The ``serve`` engine: one thread owns the model and decodes batches of rows (a request with
``n`` choices is ``n`` rows) step by step with the KV cache, rows of different adapters in the
same batch (PEFT mixed-adapter batches). Adapter loads and unloads run on this thread too, between
steps, so they never race with a forward pass. ``serve`` runs it on the process's main thread
(:meth:`Engine.run`), the thread that loaded the model: with OpenMP, a decoding step's hundreds
of small parallel regions are markedly slower from another thread (``bench/serving``).

HTTP threads talk to it through :meth:`Engine.submit` (a :class:`Request` whose ``events`` queue
receives the answer) and :meth:`Engine.call` (run a function on the engine thread).
"""

from __future__ import annotations

import collections
import inspect
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .adapters import AdapterSet, remove_stale_hooks
from .errors import is_out_of_memory
from .sampling import TextStream, row_generator, sample_token

log = logging.getLogger("tunery_runtime")


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Generate exactly max_tokens: the end-of-sequence token does not end the answer.
    ignore_eos: bool = False


class ModelNotFound(Exception):
    pass


class Request:
    """One HTTP request. ``events`` receives, in order: ``("text", choice, str)``,
    ``("finish", choice, reason)`` per choice, then ``("done", usage)``; or ``("error", message)``
    or ``("aborted", message)`` (the server is stopping)."""

    _ids = itertools.count()

    def __init__(self, adapter: str | None, prompt_ids: list[int], sampling: Sampling):
        self.id = next(Request._ids)
        self.adapter = adapter
        self.prompt_ids = prompt_ids
        self.sampling = sampling
        self.events: queue.Queue = queue.Queue()
        self.cancelled = False  # the client went away
        self.closed = False  # done, failed or aborted: no more events
        self.rows_left = sampling.n
        self.completion_tokens = 0
        self.arrived = time.monotonic()

    def cancel(self) -> None:
        self.cancelled = True

    def _close(self, event: tuple) -> None:
        if not self.closed:
            self.closed = True
            self.events.put(event)


class Row:
    def __init__(self, request: Request, choice: int, tokenizer: Any, lock: Any):
        self.request = request
        self.choice = choice
        self.generator = row_generator(request.sampling.seed, choice)
        self.stream = TextStream(tokenizer, request.sampling.stop, lock)
        self.tokens = 0
        self.done = False

    @property
    def gone(self) -> bool:
        return self.request.cancelled or self.request.closed


class Engine:
    def __init__(
        self,
        adapters: AdapterSet,
        tokenizer: Any,
        device: torch.device,
        *,
        max_batch_size: int,
        batch_wait_ms: int,
        eos_ids: set[int],
        pad_id: int,
        tokenizer_lock: Any,
        batched_lora: bool = True,
    ):
        self.adapters = adapters
        # Mixed-adapter batches through batched_lora.py (else PEFT's adapter_names).
        self.batched_lora = batched_lora
        self.tokenizer = tokenizer
        self.device = device
        self.max_batch_size = max_batch_size
        self.batch_wait = batch_wait_ms / 1000.0
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.tokenizer_lock = tokenizer_lock
        self.cond = threading.Condition()
        self.pending: collections.deque[Row] = collections.deque()
        self.batch: list[Row] = []
        # served adapter names -> path; a name being unloaded is no longer served
        self.served: dict[str, str] = dict(adapters.paths)
        self.ops: collections.deque = collections.deque()
        self.stopping = False
        params = inspect.signature(adapters.base.forward).parameters
        self.keeps_logits = "logits_to_keep" in params
        # transformers 5 names the KV cache argument `cache` (`past_key_values` before)
        self.cache_arg = "cache" if "cache" in params else "past_key_values"

    def run(self) -> None:
        """Decodes on the calling thread until :meth:`stop`."""
        self._run()

    # ---------------------------------------------------------------- called from HTTP threads

    def submit(self, request: Request) -> None:
        """Queues a request; ModelNotFound when its adapter is not (or no longer) served."""
        with self.cond:
            if self.stopping:
                request._close(("aborted", "the server is stopping"))
                return
            if request.adapter is not None and request.adapter not in self.served:
                raise ModelNotFound(request.adapter)
            for choice in range(request.sampling.n):
                self.pending.append(Row(request, choice, self.tokenizer, self.tokenizer_lock))
            self.cond.notify_all()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def adapter_names(self) -> list[str]:
        with self.cond:
            return list(self.served)

    def served_path(self, name: str) -> str | None:
        with self.cond:
            return self.served.get(name)

    def counts(self) -> tuple[int, int]:
        """(queued, running) requests."""
        with self.cond:
            running = {id(r.request) for r in self.batch if not r.done and not r.gone}
            queued = {id(r.request) for r in self.pending if not r.gone} - running
            return len(queued), len(running)

    def call(self, fn: Callable[[], Any], when: Callable[[], bool] | None = None) -> Any:
        """Runs ``fn`` on the engine thread (between steps, once ``when()`` holds) and returns its
        result or raises its exception."""
        done = threading.Event()
        box: dict[str, Any] = {}
        with self.cond:
            if self.stopping:
                raise RuntimeError("the server is stopping")
            self.ops.append((fn, when, done, box))
            self.cond.notify_all()
        done.wait()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def load_adapter(self, name: str, path: str) -> None:
        def op() -> None:
            self.adapters.load(name, path)
            with self.cond:
                self.served[name] = path

        self.call(op)

    def unload_adapter(self, name: str) -> None:
        """Stops serving ``name`` at once; unloads it when its requests in flight are done."""
        with self.cond:
            self.served.pop(name, None)

        def idle() -> bool:
            rows = itertools.chain(self.pending, self.batch)
            return not any(r.request.adapter == name and not r.done and not r.gone for r in rows)

        self.call(lambda: self.adapters.unload(name), when=idle)

    def stop(self) -> None:
        """Cancels everything queued and in flight; their handlers see ``aborted``."""
        with self.cond:
            self.stopping = True
            for row in itertools.chain(self.pending, self.batch):
                row.request._close(("aborted", "the server is stopping"))
            self.pending.clear()
            while self.ops:
                _, _, done, box = self.ops.popleft()
                box["error"] = RuntimeError("the server is stopping")
                done.set()
            self.cond.notify_all()

    # ---------------------------------------------------------------- the engine's thread

    def _run_ops(self) -> None:
        while True:
            with self.cond:
                op = next((o for o in self.ops if o[1] is None or o[1]()), None)
                if op is None:
                    return
                self.ops.remove(op)
            fn, _, done, box = op
            try:
                box["value"] = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                box["error"] = e
            done.set()

    def _ready_ops(self) -> bool:
        return any(o[1] is None or o[1]() for o in self.ops)

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.stopping and not self.pending and not self._ready_ops():
                    self.cond.wait()
                if self.stopping:
                    return
            self._run_ops()
            rows = self._gather()
            if rows:
                try:
                    self._decode(rows)
                except Exception as e:  # noqa: BLE001 - fail these requests, keep serving
                    log.exception("decoding failed")
                    remove_stale_hooks(self.adapters.model)
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    message = "out of memory" if is_out_of_memory(e) else f"{type(e).__name__}: {e}"
                    for row in rows:
                        row.request._close(("error", message))
                finally:
                    with self.cond:
                        self.batch = []

    def _gather(self) -> list[Row]:
        """Waits up to ``batch_wait`` after the oldest queued row arrived (or until a batch is
        full), then takes up to ``max_batch_size`` rows."""
        with self.cond:
            while True:
                live = [r for r in self.pending if not r.gone]
                if self.stopping or not live:
                    self.pending.clear()
                    return []
                if len(live) >= self.max_batch_size:
                    break
                left = live[0].request.arrived + self.batch_wait - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            rows: list[Row] = []
            while self.pending and len(rows) < self.max_batch_size:
                row = self.pending.popleft()
                if not row.gone:
                    rows.append(row)
            self.batch = rows
            return rows

    def _forward(self, input_ids, attention_mask, position_ids, cache, names):
        model = self.adapters.model
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            self.cache_arg: cache,
            "use_cache": True,
        }
        if self.keeps_logits:
            kwargs["logits_to_keep"] = 1
        batched = self.adapters.batched
        if self.adapters.peft is not None and not (self.batched_lora and batched.plan(names, input_ids.device)):
            kwargs["adapter_names"] = names
        try:
            out = model(**kwargs)
        finally:
            batched.clear()
        cache = out["cache"] if "cache" in out else out["past_key_values"]
        return out.logits[:, -1, :].float().cpu(), cache

    def score(self, adapter: str | None, ids: list[int], start: int) -> float:
        """The log-probability (natural log) the model (with ``adapter``) gives ``ids[start:]``
        after ``ids[:start]``, summed over those tokens: one forward pass on the engine thread,
        between generation steps."""

        def op() -> float:
            model = self.adapters.model
            input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
            kwargs: dict[str, Any] = {"input_ids": input_ids, "use_cache": False}
            names = [adapter or "__base__"]
            batched = self.adapters.batched
            if self.adapters.peft is not None and not (self.batched_lora and batched.plan(names, input_ids.device)):
                kwargs["adapter_names"] = names
            try:
                with torch.inference_mode():
                    logits = model(**kwargs).logits[0, start - 1 : -1].float()
            finally:
                batched.clear()
            logprobs = torch.log_softmax(logits, dim=-1)
            targets = input_ids[0, start:]
            return float(logprobs.gather(1, targets.unsqueeze(1)).sum())

        if adapter is not None and adapter not in self.served:
            raise ModelNotFound(adapter)
        return self.call(op)

    def _decode(self, rows: list[Row]) -> None:
        dev = self.device
        width = max(len(r.request.prompt_ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            p = row.request.prompt_ids
            ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        ids, mask, positions = ids.to(dev), mask.to(dev), positions.to(dev)
        cache = None
        can_drop = True
        active = list(rows)  # the rows in the batch tensors, in order
        with torch.inference_mode():
            while True:
                names = [r.request.adapter or "__base__" for r in active]
                logits, cache = self._forward(ids, mask, positions, cache, names)
                tokens = []
                for i, row in enumerate(active):
                    token = self.pad_id
                    if not row.done and not row.gone:
                        s = row.request.sampling
                        token = sample_token(logits[i], s.temperature, s.top_p, row.generator)
                        self._advance(row, token)
                    tokens.append(token)
                self._run_ops()  # adapter loads and unloads between steps
                keep = [i for i, r in enumerate(active) if not r.done and not r.gone and not self.stopping]
                if not keep:
                    return
                if len(keep) < len(active) and can_drop:
                    index = torch.tensor(keep, device=dev)
                    try:
                        cache.batch_select_indices(index)
                    except Exception:  # noqa: BLE001 - a cache that cannot drop rows: keep them, unused
                        log.debug("this model's cache cannot drop finished rows", exc_info=True)
                        can_drop = False
                    else:
                        active = [active[i] for i in keep]
                        tokens = [tokens[i] for i in keep]
                        mask, positions = mask[index], positions[index]
                        with self.cond:
                            self.batch = list(active)
                ids = torch.tensor(tokens, dtype=torch.long, device=dev).unsqueeze(1)
                mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=dev)], dim=1)
                positions = positions[:, -1:] + 1

    def _advance(self, row: Row, token: int) -> None:
        request = row.request
        row.tokens += 1
        request.completion_tokens += 1
        reason = None
        if token in self.eos_ids and not request.sampling.ignore_eos:
            text = row.stream.finish()
            reason = "stop"
        else:
            text = row.stream.push(token)
            if row.stream.stopped:
                reason = "stop"
            elif row.tokens >= request.sampling.max_tokens:
                text += row.stream.finish()
                reason = "length"
        if text:
            request.events.put(("text", row.choice, text))
        if reason is None:
            return
        row.done = True
        request.events.put(("finish", row.choice, reason))
        request.rows_left -= 1
        if request.rows_left == 0:
            prompt = len(request.prompt_ids)
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": request.completion_tokens,
                "total_tokens": prompt + request.completion_tokens,
            }
            request._close(("done", usage))
