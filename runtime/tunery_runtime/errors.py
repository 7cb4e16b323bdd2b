"""Failures with a protocol code (protocol/README.md, "Failure codes")."""

from __future__ import annotations

OOM_HINT = (
    "try QLoRA (method.kind = qlora), a smaller training.micro_batch_size, "
    "training.gradient_checkpointing = true, or a shorter data.max_seq_length"
)


class RuntimeFailure(Exception):
    """Ends the run with a `failed` event; invalid_spec exits 2, every other code exits 1."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    @property
    def exit_code(self) -> int:
        return 2 if self.code == "invalid_spec" else 1


def is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except Exception:  # pragma: no cover - torch always importable in the runtime env
        pass
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )
