"""Writes the tiny test model (a 2-layer Llama with a locally trained ChatML tokenizer, the same
one the runtime's own tests use) into a directory, for the Rust integration tests:

    python runtime/tests/tiny_model.py OUTPUT_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(output: str) -> None:
    from conftest import build_tiny_model

    tmp = f"{output}.partial-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    build_tiny_model(tmp)
    try:
        os.rename(tmp, output)
    except OSError:  # another process finished first: its copy is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
