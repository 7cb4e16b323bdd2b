"""CLI: ``python -m tunery_runtime train|import-model --spec SPEC.json --workdir DIR``.

Exit codes (protocol/README.md): 0 finished, 1 failed, 2 spec refused, 75 stopped on request.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from .errors import OOM_HINT, RuntimeFailure, is_out_of_memory
from .events import Emitter, setup_logging

log = logging.getLogger("tunery_runtime")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tunery_runtime", description="Tunery training runtime (protocol v1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "import-model"):
        p = sub.add_parser(name)
        p.add_argument("--spec", required=True, help="the job spec (JSON)")
        p.add_argument("--workdir", required=True, help="the only directory the runtime writes to")
    args = parser.parse_args(argv)

    setup_logging()
    rank = int(os.environ.get("RANK", "0"))
    emitter = Emitter(enabled=rank == 0)
    try:
        from .spec import SpecError, load_json, parse_import_spec, parse_train_spec

        try:
            doc = load_json(args.spec)
            spec = parse_train_spec(doc) if args.command == "train" else parse_import_spec(doc)
        except SpecError as e:
            raise RuntimeFailure("invalid_spec", str(e)) from e
        os.makedirs(args.workdir, exist_ok=True)
        workdir = os.path.abspath(args.workdir)
        if args.command == "train":
            from .train import run

            return run(spec, workdir, emitter)  # type: ignore[arg-type]
        from .import_model import run_import

        return run_import(spec, workdir, emitter)  # type: ignore[arg-type]
    except RuntimeFailure as f:
        log.error("%s: %s", f.code, f.message)
        emitter.failed(f.code, f.message, f.hint)
        return f.exit_code
    except BaseException as e:  # noqa: BLE001 - the protocol wants every failure reported
        if isinstance(e, SystemExit):
            raise
        traceback.print_exc(file=sys.stderr)
        if is_out_of_memory(e):
            emitter.failed("out_of_memory", f"out of memory: {e}".strip(), OOM_HINT)
        elif isinstance(e, KeyboardInterrupt):
            emitter.failed("internal", "interrupted", None)
        else:
            emitter.failed("internal", f"{type(e).__name__}: {e}", None)
        return 1


if __name__ == "__main__":
    sys.exit(main())
