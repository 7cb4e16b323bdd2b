"""The runtime's OpenMP defaults per command, as a fresh interpreter sees them before torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import RUNTIME

PROBE = (
    "import json, os; from tunery_runtime.__main__ import _environment_defaults as d; d(os.environ['CMD']); "
    "print(json.dumps({k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')}))"
)


def defaults(command: str, **given: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(PYTHONPATH=str(RUNTIME), CMD=command, **given)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_training_threads_spin_briefly_then_sleep_unless_the_caller_chose_a_policy():
    assert defaults("train") == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "100000"}
    assert defaults("train", OMP_WAIT_POLICY="PASSIVE") == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": None}
    assert defaults("train", GOMP_SPINCOUNT="5000") == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "5000"}
    assert defaults("serve") == {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None}
