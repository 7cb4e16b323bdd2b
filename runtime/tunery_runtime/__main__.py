"""CLI: ``python -m tunery_runtime train|import-model|serve|score-text --spec SPEC.json --workdir DIR``.

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


def _environment_defaults(command: str) -> None:
    """Defaults the caller's environment may override; only effective before torch is imported,
    as they are here."""
    # The runtime never downloads: model paths are local directories.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if command != "serve" and "OMP_WAIT_POLICY" not in os.environ:
        # Idle OpenMP threads that spin slow everything else on a shared machine 3-5x (measured),
        # so they sleep once idle (PASSIVE) — but only after a short spin (GNU OpenMP's spin
        # count; about a millisecond): a training step runs tens of thousands of small parallel
        # regions back to back, and waking sleeping threads for each cost a LoRA step of the
        # built-in model 27% of its speed on a Xeon with AMX (bench/training/README.md). A caller
        # that sets OMP_WAIT_POLICY (the tests: PASSIVE) gets exactly what it set.
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.environ.setdefault("GOMP_SPINCOUNT", "100000")
    # `serve` keeps OpenMP's own policy: its threads spin briefly, then sleep. A decoding step
    # runs hundreds of small parallel regions back to back, and waking sleeping threads for each
    # costs more than the step's arithmetic (bench/serving: about 1.4x the throughput); an idle
    # server's threads still sleep.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tunery_runtime", description="Tunery training runtime (protocol v1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "import-model", "serve", "score-text"):
        p = sub.add_parser(name)
        p.add_argument("--spec", required=True, help="the job spec (JSON)")
        p.add_argument("--workdir", required=True, help="the only directory the runtime writes to")
        if name == "train":
            p.add_argument(
                "--nproc-per-node",
                type=int,
                default=1,
                help="data-parallel ranks on this machine (gloo on CPU, NCCL on CUDA); see launch.py",
            )
    args = parser.parse_args(argv)
    _environment_defaults(args.command)

    setup_logging()
    rank = int(os.environ.get("RANK", "0"))
    emitter = Emitter(enabled=rank == 0)
    try:
        from .spec import (
            SpecError,
            load_json,
            parse_import_spec,
            parse_serve_spec,
            parse_text_metric_spec,
            parse_train_spec,
        )

        parsers = {
            "train": parse_train_spec,
            "import-model": parse_import_spec,
            "serve": parse_serve_spec,
            "score-text": parse_text_metric_spec,
        }
        try:
            doc = load_json(args.spec)
            spec = parsers[args.command](doc)
        except SpecError as e:
            raise RuntimeFailure("invalid_spec", str(e)) from e
        os.makedirs(args.workdir, exist_ok=True)
        workdir = os.path.abspath(args.workdir)
        if args.command == "train" and args.nproc_per_node > 1 and "RANK" not in os.environ:
            from .launch import launch

            return launch(args.nproc_per_node, os.path.abspath(args.spec), workdir, emitter)
        if args.command == "train":
            from .train import run

            return run(spec, workdir, emitter)  # type: ignore[arg-type]
        if args.command == "serve":
            from .serve import run_serve

            return run_serve(spec, workdir, emitter)  # type: ignore[arg-type]
        if args.command == "score-text":
            from .text_metrics import run_score_text

            return run_score_text(spec, workdir, emitter)
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
