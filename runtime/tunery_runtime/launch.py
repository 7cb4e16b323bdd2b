"""``train --nproc-per-node N``: starts N ranks on this machine and keeps the protocol's promises.

torchrun works too (``torchrun --nproc_per_node N -m tunery_runtime train …``), but on SIGTERM it
exits 1 after its workers stopped cleanly, and a rank that dies leaves the others blocked in a
collective. This launcher forwards SIGTERM/SIGINT to every rank, relays rank 0's events, ends the
others when one rank fails, and exits with rank 0's code (0, 1, 2 or 75). When a rank fails
without rank 0 having printed the last word, it prints a `failed` event itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from .events import Emitter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, spec: str, workdir: str, emitter: Emitter) -> int:
    port = _free_port()
    procs: list[subprocess.Popen] = []
    for rank in range(nproc):
        env = dict(
            os.environ,
            RANK=str(rank),
            WORLD_SIZE=str(nproc),
            LOCAL_RANK=str(rank),
            LOCAL_WORLD_SIZE=str(nproc),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tunery_runtime", "train", "--spec", spec, "--workdir", workdir],
                env=env,
                stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                text=True,
            )
        )

    last_event: list[str | None] = [None]

    def relay() -> None:
        assert procs[0].stdout is not None
        for line in procs[0].stdout:
            try:
                last_event[0] = json.loads(line).get("event")
            except ValueError:
                pass
            with emitter.lock:
                emitter.stream.write(line)
                emitter.stream.flush()

    relay_thread = threading.Thread(target=relay, daemon=True)
    relay_thread.start()

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    failed_rank: int | None = None
    while any(p.poll() is None for p in procs):
        for rank, p in enumerate(procs):
            code = p.poll()
            if code is not None and code not in (0, 75) and failed_rank is None:
                failed_rank = rank
                deadline = time.time() + 10  # let the others report, then end them
                while time.time() < deadline and any(q.poll() is None for q in procs):
                    time.sleep(0.1)
                for q in procs:
                    if q.poll() is None:
                        q.kill()
        time.sleep(0.1)
    relay_thread.join(timeout=10)
    codes = [p.wait() for p in procs]
    if failed_rank is None:
        return codes[0]
    if last_event[0] in ("failed", "stopped", "finished") and codes[0] != 0 and codes[0] >= 0:
        return codes[0]
    emitter.failed("internal", f"rank {failed_rank} exited with code {codes[failed_rank]}", "see the log for its error")
    return 1
