"""JSON-line events on stdout (protocol/README.md, "Events").

One JSON object per line, flushed at once; every event has ``event`` and ``time`` (Unix ms).
``SCHEMA`` is the single description of the fields: the emitter checks every event it writes
against it, and the tests check the golden fixtures in protocol/events/ against it too.
Human-readable logs go to stderr through :mod:`logging`.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
from typing import Any, Callable, TextIO

log = logging.getLogger("tunery_runtime")

FAILURE_CODES = (
    "invalid_spec",
    "invalid_data",
    "model_load_failed",
    "out_of_memory",
    "checkpoint_corrupt",
    "unsupported",
    "internal",
)

# Field type descriptors ------------------------------------------------------------------------

Check = Callable[[Any], bool]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _enum(*values: str) -> Check:
    return lambda v: isinstance(v, str) and v in values


def _obj(fields: dict[str, Check]) -> Check:
    return lambda v: isinstance(v, dict) and set(v) == set(fields) and all(fields[k](v[k]) for k in fields)


def _num_map(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _num(x) for k, x in v.items())


def _any_obj(v: Any) -> bool:
    return isinstance(v, dict)


_GPU = _obj(
    {
        "index": _int,
        "utilization_percent": _opt(_num),
        "memory_used_bytes": _opt(_int),
        "memory_total_bytes": _opt(_int),
        "max_allocated_bytes": _opt(_int),
        "max_reserved_bytes": _opt(_int),
        "temperature_c": _opt(_num),
        "power_w": _opt(_num),
    }
)

SCHEMA: dict[str, dict[str, Check]] = {
    "started": {
        "device": _str,
        "dtype": _str,
        "world_size": _int,
        "total_steps": _int,
        "trainable_parameters": _int,
        "total_parameters": _int,
        "memory": _obj({"total_bytes": _opt(_int), "available_bytes": _opt(_int)}),
        "resumed_from_step": _opt(_int),
        # How examples in a row are kept apart (null: nothing is trained).
        "attention": _opt(_str),
    },
    "progress": {
        "step": _int,
        "total_steps": _int,
        "epoch": _num,
        "loss": _num,
        "learning_rate": _num,
        "grad_norm": _opt(_num),
        "tokens": _int,
        "tokens_per_second": _num,
        "samples_per_second": _num,
        "step_time_s": _num,
    },
    "eval": {"step": _int, "eval_loss": _num, "metrics": _num_map},
    "system": {
        "cpu_percent": _num,
        "rss_bytes": _int,
        "peak_rss_bytes": _int,
        "gpus": lambda v: isinstance(v, list) and all(_GPU(g) for g in v),
    },
    "checkpoint": {"step": _int, "path": _str},
    "artifact": {"kind": _enum("model", "adapter", "merged_model", "text_scores"), "path": _str},
    "log": {"level": _enum("debug", "info", "warning", "error"), "message": _str},
    "ready": {
        "host": _str,
        "port": _int,
        "device": _str,
        "dtype": _str,
        "adapters": lambda v: isinstance(v, list) and all(_str(x) for x in v),
    },
    "finished": {"status": _enum("completed", "early_stopped"), "summary": _any_obj},
    "stopped": {"step": _int, "checkpoint": _opt(_str)},
    "failed": {"code": _enum(*FAILURE_CODES), "message": _str, "hint": _opt(_str)},
}


def validate_event(obj: Any) -> None:
    """Raises ValueError unless ``obj`` is a well-formed event of protocol v1."""
    if not isinstance(obj, dict):
        raise ValueError(f"an event is a JSON object, got {obj!r}")
    kind = obj.get("event")
    if kind not in SCHEMA:
        raise ValueError(f"unknown event type {kind!r}")
    if not _int(obj.get("time")) or obj["time"] < 0:
        raise ValueError(f"{kind}: time must be Unix milliseconds, got {obj.get('time')!r}")
    fields = SCHEMA[kind]
    keys = set(obj) - {"event", "time"}
    if keys != set(fields):
        missing = sorted(set(fields) - keys)
        extra = sorted(keys - set(fields))
        raise ValueError(f"{kind}: missing fields {missing}, unexpected fields {extra}")
    for name, check in fields.items():
        if not check(obj[name]):
            raise ValueError(f"{kind}.{name}: bad value {obj[name]!r}")


def now_ms() -> int:
    return int(time.time() * 1000)


class Emitter:
    """Writes events to stdout. Only rank 0 of a distributed run is ``enabled``."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True):
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = enabled
        self.lock = threading.Lock()
        self.terminal: str | None = None  # the last of finished / stopped / failed

    def emit(self, _event: str, **fields: Any) -> dict[str, Any]:
        kind = _event
        event = {"event": kind, "time": now_ms(), **fields}
        validate_event(event)
        if kind in ("finished", "stopped", "failed"):
            self.terminal = kind
        if self.enabled:
            line = json.dumps(event, ensure_ascii=False, allow_nan=False)
            with self.lock:
                self.stream.write(line + "\n")
                self.stream.flush()
        return event

    # typed helpers, one per event ---------------------------------------------------------

    def log(self, level: str, message: str) -> None:
        getattr(log, "warning" if level == "warning" else level)(message)
        self.emit("log", level=level, message=message)

    def failed(self, code: str, message: str, hint: str | None = None) -> None:
        self.emit("failed", code=code, message=message, hint=hint)


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("transformers", "peft", "accelerate", "bitsandbytes", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover
        pass
