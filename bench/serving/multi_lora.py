#!/usr/bin/env python3
"""Multi-LoRA serving: one runtime ``serve`` process holding many LoRA adapters against one
process per adapter, and the cost of many adapters against the base model alone.

Requirement (deployment issue): "8 SmolLM2 adapters served by one local backend versus 8
single-model processes, same request mix: <= 1/4 of the memory and >= 2x the throughput; with 16
adapters loaded, throughput >= 75% of the base model alone."

Server under test: the runtime's ``serve`` mode (``python -m tunery_runtime serve``,
protocol/README.md "Serve spec"), SmolLM2-135M-Instruct in float32 on the CPU (the built-in GGUF,
imported once with ``import-model`` into ``~/.cache/tunery/bench/smollm2-hf/``), LoRA adapters
made with PEFT over it (r=8, alpha=16, all-linear, ``init_lora_weights=False`` with a fixed seed
per adapter, so every adapter is a real, non-zero and different one; cached in
``~/.cache/tunery/bench/smollm2-lora/``). Every server gets the same spec apart from its adapters
and thread count: ``max_batch_size`` 16, ``batch_wait_ms`` 50 (``--max-batch-size``,
``--batch-wait-ms``).

Request mix (identical in every measurement): N chat requests (default 64, ``--quick`` 32),
request k asks short question k mod 16 of adapter k mod adapters (round-robin; the base model in
the base-only mixes, which are otherwise identical),
``max_tokens`` 32 with ``ignore_eos`` (every answer is exactly 32 tokens, checked), temperature 0.
A closed-loop client pool of 16 threads (``--concurrency``) in this process keeps 16 requests in
flight: each thread takes the next request, POSTs it to ``/v1/chat/completions`` with
``http.client`` (one keep-alive connection per thread and server) and reads the whole answer.
Throughput = the sum of ``usage.completion_tokens`` / the wall time from the first request sent
to the last answer received. Before each measurement every server answers a warm-up (the first
16 requests of the mix with ``max_tokens`` 4), not measured. Also printed, not a goal: the CPU
time (user + system) the servers used during the mix, as a share of the machine's cores and as
tokens per CPU-second. On a machine shared with other work the wall-clock figures drop with the
share of the cores the servers get (and eight single-threaded processes win a larger share from
a busy neighbour than one two-threaded one), while tokens per CPU-second hardly moves.

Part 1, 8 adapters. A: one server holding the 8 adapters, ``threads`` 2 (the machine's 2 cores).
B: 8 servers, each the base plus ONE adapter, ``threads`` 1 each (together they share the same
2 cores: the same CPU budget); request k goes to server k mod 8, so B serves exactly the same
requests. A and B are never measured at the same time: each round starts one setup, waits for it
to be ready, warms it up, measures the mix, stops it, then does the same for the other; rounds
alternate the order (A,B then B,A; ``--rounds``, default 2) and the best throughput of each setup
is kept. Memory: the resident set (RSS, psutil) of every process of the setup and their children,
summed, sampled every 100 ms from the warm-up to the end of the mix; the peak is reported (the
highest over the rounds). RSS counts the pages that processes share (the Python, torch and
libraries' code) once per process, so the proportional set size (PSS, ``/proc/PID/smaps_rollup``,
shared pages divided among the processes that share them, sampled every second) is printed too.

Part 2, 16 adapters. One server holding 16 adapters (``threads`` 2) serves the mix round-robin
over the 16 adapters, and the same mix with ``model`` = the base's name (no adapter in any row).
A second server with no adapter loaded at all (the base model as deployed alone, not wrapped by
PEFT) serves the same base mix too. Both servers are started together and stay up (an idle one
uses no CPU); their measurements run one at a time, in rotated order per round, best of the
rounds. Goal: 16-adapter throughput / base throughput in the same process >= 0.75; the ratio to
the adapter-free server is printed as well.

Run with the runtime's Python (torch, transformers, peft, psutil):

    ~/.cache/tunery/venvs/runtime-*/bin/python bench/serving/multi_lora.py [--quick]

``--step-profile`` only times one decoding step of a batch of 16 for the plain base model and for
PEFT with 16 adapters loaded, the rows spread over 0, 1, 2, 4, 8 and 16 adapters: where the time
goes (about 2 minutes).

Internal sub-commands (started by the script itself): ``_make_adapters N``,
``_step_profile THREADS BATCH``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.normpath(os.path.join(HERE, "..", "..", "runtime"))

GGUF = os.path.expanduser("~/.cache/tunery/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
MODEL_DIR = os.path.expanduser("~/.cache/tunery/bench/smollm2-hf")
ADAPTER_ROOT = os.path.expanduser("~/.cache/tunery/bench/smollm2-lora")
LORA = {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"}
ADAPTER_SEED = 5000  # adapter i is made with seed ADAPTER_SEED + i
BASE_NAME = "smollm2"

PROMPTS = [
    "What is the capital of France?",
    "Give me three tips for staying focused.",
    "Explain photosynthesis in one sentence.",
    "Write a haiku about the sea.",
    "What is 17 times 23?",
    "Name a few uses of a paperclip.",
    "Why is the sky blue?",
    "Suggest a name for a grey cat.",
    "How do I boil an egg?",
    "What does a compiler do?",
    "Describe a sunset in two sentences.",
    "List three fruits that are red.",
    "What is the opposite of ancient?",
    "Translate 'good morning' into Spanish.",
    "How many legs does a spider have?",
    "Tell me a fun fact about owls.",
]


def thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=RUNTIME + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
    )
    env.pop("TUNERY_SERVE_TOKEN", None)
    return env


# ------------------------------------------------------------------------------------------------
# the model and the adapters (made once, cached)


def ensure_model() -> str:
    if os.path.exists(os.path.join(MODEL_DIR, "config.json")):
        return MODEL_DIR
    os.makedirs(os.path.dirname(MODEL_DIR), exist_ok=True)
    work = MODEL_DIR + ".import-work"
    os.makedirs(work, exist_ok=True)
    spec = os.path.join(work, "import.json")
    with open(spec, "w") as f:
        json.dump({"spec_version": 1, "source": {"kind": "gguf", "path": GGUF}, "output_dir": MODEL_DIR}, f)
    print(f"importing {GGUF} into {MODEL_DIR} (once)", flush=True)
    r = subprocess.run(
        [sys.executable, "-m", "tunery_runtime", "import-model", "--spec", spec, "--workdir", work],
        env=thread_env(os.cpu_count() or 2), stdout=subprocess.DEVNULL,
    )
    if r.returncode != 0:
        sys.exit(f"import-model failed with exit code {r.returncode}")
    return MODEL_DIR


def adapter_dir(i: int) -> str:
    return os.path.join(ADAPTER_ROOT, f"r8-all-linear-seed{ADAPTER_SEED + i}")


def ensure_adapters(n: int) -> list[str]:
    dirs = [adapter_dir(i) for i in range(n)]
    if not all(os.path.isfile(os.path.join(d, "adapter_model.safetensors")) for d in dirs):
        print(f"making {n} LoRA adapters under {ADAPTER_ROOT} (once)", flush=True)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "_make_adapters", str(n)], env=thread_env(os.cpu_count() or 2))
        if r.returncode != 0:
            sys.exit(f"making the adapters failed with exit code {r.returncode}")
    return dirs


def make_adapters_main(n: int) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    for i in range(n):
        out = adapter_dir(i)
        if os.path.isfile(os.path.join(out, "adapter_model.safetensors")):
            continue
        base = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float32)
        torch.manual_seed(ADAPTER_SEED + i)
        cfg = LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, init_lora_weights=False, **LORA)
        model = get_peft_model(base, cfg)
        tmp = out + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        os.replace(tmp, out)
        print(f"  adapter {i}: {out}", flush=True)


def step_profile_main(threads: int, batch: int) -> None:
    """Where the time goes (``--step-profile``): the time of one decoding step of a batch of
    ``batch`` rows (40-token prompts, KV cache, ``logits_to_keep`` 1, as the engine calls it) for
    the plain base model and for the base wrapped by PEFT with 16 adapters loaded, the rows
    spread over 0 (all ``__base__``), 1, 2, 4, 8 and 16 adapters: through PEFT's mixed-adapter
    batches (``adapter_names``) and through the runtime's batched LoRA (``batched_lora.py``, what
    ``serve`` uses). Best of 2 x 12 steps."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float32).eval()
    prompt = torch.randint(100, 5000, (batch, 40))
    arg = "cache" if "cache" in __import__("inspect").signature(base.forward).parameters else "past_key_values"

    sys.path.insert(0, RUNTIME)
    from tunery_runtime.batched_lora import BatchedLora

    batched = BatchedLora()

    def step_ms(model, names, through_batched: bool = False) -> float:
        extra = {} if names is None or through_batched else {"adapter_names": names}
        if through_batched:
            batched.plan(names, prompt.device)
        best = float("inf")
        with torch.inference_mode():
            for _ in range(2):
                out = model(input_ids=prompt, use_cache=True, logits_to_keep=1, **extra)
                cache = out[arg] if arg in out else out["past_key_values"]
                t = time.perf_counter()
                for _ in range(12):
                    out = model(input_ids=torch.randint(100, 5000, (batch, 1)), use_cache=True, logits_to_keep=1,
                                **{arg: cache}, **extra)
                    cache = out[arg] if arg in out else out["past_key_values"]
                best = min(best, (time.perf_counter() - t) / 12 * 1000)
        batched.clear()
        return best

    print(f"one decoding step, batch {batch}, {threads} torch threads, fp32 CPU (best of 2 x 12 steps):", flush=True)
    plain = step_ms(base, None)
    print(f"  {'base model, no PEFT':50s}{plain:7.0f} ms", flush=True)
    dirs = [adapter_dir(i) for i in range(16)]
    model = PeftModel.from_pretrained(base, dirs[0], adapter_name="a0", is_trainable=False)
    for i, d in enumerate(dirs[1:], 1):
        model.load_adapter(d, adapter_name=f"a{i}", is_trainable=False)
    model.eval()
    batched.rebuild(model)
    for k in (0, 1, 2, 4, 8, 16):
        names = ["__base__"] * batch if k == 0 else [f"a{i % k}" for i in range(batch)]
        rows = "rows all __base__" if k == 0 else f"rows over {k} adapter(s)"
        ms = step_ms(model, names)
        print(f"  {'PEFT, 16 loaded, ' + rows:50s}{ms:7.0f} ms  ({ms / plain:.2f}x)", flush=True)
        ms = step_ms(model, names, through_batched=True)
        print(f"  {'batched LoRA, 16 loaded, ' + rows:50s}{ms:7.0f} ms  ({ms / plain:.2f}x)", flush=True)


# ------------------------------------------------------------------------------------------------
# serve processes

LIVE: list["Server"] = []  # every process started and not yet reaped: stopped on any exit


class Server:
    def __init__(self, label: str, workdir: str, adapters: list[tuple[str, str]], threads: int, args):
        self.label = label
        self.workdir = workdir
        self.threads = threads
        self.spec = {
            "spec_version": 1,
            "model_path": MODEL_DIR,
            "model_name": BASE_NAME,
            "chat_template": None,
            "adapters": [{"name": n, "path": p} for n, p in adapters],
            "host": "127.0.0.1",
            "port": 0,
            "device": "cpu",
            "threads": threads,
            "max_batch_size": args.max_batch_size,
            "batch_wait_ms": args.batch_wait_ms,
            "max_model_len": None,
        }
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.failed: str | None = None
        self.ready = threading.Event()
        self.started_at = 0.0

    def start(self) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        spec_path = os.path.join(self.workdir, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(self.spec, f, indent=1)
        self.stderr = open(os.path.join(self.workdir, "stderr.log"), "w")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tunery_runtime", "serve", "--spec", spec_path, "--workdir", self.workdir],
            env=thread_env(self.threads), stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            start_new_session=True,  # Ctrl-C reaches this script only; it stops the servers itself
        )
        LIVE.append(self)
        threading.Thread(target=self._read_events, daemon=True).start()

    def _read_events(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "ready":
                self.port = int(event["port"])
                self.ready.set()
            elif event.get("event") == "failed":
                self.failed = f"{event.get('code')}: {event.get('message')}"
        if not self.ready.is_set() and self.failed is None:
            self.failed = f"exited with code {self.proc.wait()} before it was ready"
        self.ready.set()

    def wait_ready(self, timeout: float = 600) -> float:
        if not self.ready.wait(timeout):
            raise RuntimeError(f"{self.label}: not ready after {timeout:.0f} s (see {self.workdir}/stderr.log)")
        if self.failed:
            raise RuntimeError(f"{self.label}: {self.failed} (see {self.workdir}/stderr.log)")
        return time.monotonic() - self.started_at

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.stderr.close()
        if self in LIVE:
            LIVE.remove(self)


def start_all(servers: list[Server]) -> float:
    """Starts the servers together; returns the seconds until the last is ready."""
    t0 = time.monotonic()
    for s in servers:
        s.start()
    for s in servers:
        s.wait_ready()
    return time.monotonic() - t0


def stop_all(servers: list[Server]) -> None:
    for s in servers:
        if s.proc is not None and s.proc.poll() is None:
            try:
                os.killpg(s.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for s in servers:
        s.stop()


def stop_everything() -> None:
    stop_all(list(LIVE))


# ------------------------------------------------------------------------------------------------
# memory sampling


def _pss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class MemorySampler:
    """Sums the RSS of the given processes and their children every ``interval`` seconds (and
    their PSS every second) and keeps the peaks."""

    def __init__(self, pids: list[int], interval: float = 0.1):
        import psutil

        self.psutil = psutil
        self.roots = [psutil.Process(p) for p in pids]
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _procs(self):
        procs = list(self.roots)
        for r in self.roots:
            try:
                procs.extend(r.children(recursive=True))
            except self.psutil.Error:
                pass
        return procs

    def _run(self) -> None:
        procs = self._procs()
        last_tree = last_pss = 0.0
        while True:
            now = time.monotonic()
            if now - last_tree >= 1.0:
                procs, last_tree = self._procs(), now
            rss = 0
            for p in procs:
                try:
                    rss += p.memory_info().rss
                except self.psutil.Error:
                    pass
            self.peak_rss = max(self.peak_rss, rss)
            self.samples += 1
            if now - last_pss >= 1.0:
                last_pss = now
                pss = sum(_pss_kib(p.pid) or 0 for p in procs) * 1024
                self.peak_pss = max(self.peak_pss, pss)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------------
# the client


def build_mix(n_requests: int, adapters: list[str] | None, max_tokens: int) -> list[tuple[int, dict]]:
    """(route, body) per request: route = the index of the adapter (which server in setup B)."""
    mix = []
    k_adapters = len(adapters) if adapters else 1
    for k in range(n_requests):
        a = k % k_adapters
        prompt = PROMPTS[k % len(PROMPTS)]
        body = {
            "model": adapters[a] if adapters else BASE_NAME,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "ignore_eos": True,
        }
        mix.append((a, body))
    return mix


def run_mix(mix: list[tuple[int, dict]], ports: list[int], concurrency: int) -> dict:
    """Sends the mix with ``concurrency`` requests in flight; request (route, body) goes to
    ``ports[route % len(ports)]``. Returns tokens, seconds, tokens/s and the answers."""
    lock = threading.Lock()
    state = {"next": 0}
    results: list[dict | None] = [None] * len(mix)
    errors: list[str] = []
    barrier = threading.Barrier(concurrency + 1)

    def worker() -> None:
        conns: dict[int, http.client.HTTPConnection] = {}
        barrier.wait()
        try:
            while True:
                with lock:
                    i = state["next"]
                    if i >= len(mix) or errors:
                        return
                    state["next"] = i + 1
                route, body = mix[i]
                port = ports[route % len(ports)]
                conn = conns.get(port)
                if conn is None:
                    conn = conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                t = time.monotonic()
                try:
                    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException) as e:
                    with lock:
                        errors.append(f"request {i} to port {port}: {type(e).__name__}: {e}")
                    return
                if resp.status != 200:
                    with lock:
                        errors.append(f"request {i} to port {port}: HTTP {resp.status}: {data[:300]!r}")
                    return
                answer = json.loads(data)
                results[i] = {
                    "tokens": answer["usage"]["completion_tokens"],
                    "text": answer["choices"][0]["message"]["content"],
                    "seconds": time.monotonic() - t,
                }
        finally:
            for c in conns.values():
                c.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    tokens = sum(r["tokens"] for r in results)  # type: ignore[index]
    short = [i for i, r in enumerate(results) if r["tokens"] != mix[i][1]["max_tokens"]]  # type: ignore[index]
    if short:
        raise RuntimeError(f"{len(short)} answers are not exactly max_tokens long (ignore_eos not honoured?)")
    latencies = sorted(r["seconds"] for r in results)  # type: ignore[union-attr]
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tps": tokens / seconds,
        "p50_latency": latencies[len(latencies) // 2],
        "texts": [r["text"] for r in results],  # type: ignore[index]
    }


def warm_up(mix: list[tuple[int, dict]], ports: list[int], concurrency: int) -> None:
    n = max(concurrency, len(ports))
    short = [(route, dict(body, max_tokens=4)) for route, body in mix[:n]]
    run_mix(short, ports, concurrency)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes and their children so far."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for p in [root] + root.children(recursive=True):
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


def measure(servers: list[Server], mix, concurrency: int) -> dict:
    ports = [s.port for s in servers]  # type: ignore[misc]
    pids = [s.proc.pid for s in servers]  # type: ignore[union-attr]
    with MemorySampler(pids) as mem:
        warm_up(mix, ports, concurrency)
        cpu0 = cpu_seconds(pids)
        result = run_mix(mix, ports, concurrency)
        cpu = cpu_seconds(pids) - cpu0
    result.update(peak_rss=mem.peak_rss, peak_pss=mem.peak_pss, cpu=cpu, tpcpu=result["tokens"] / cpu)
    return result


def probe(server: Server, models: list[str], max_tokens: int = 16) -> list[str]:
    """The greedy answers of each model on one server to the same prompt (not timed): shows that
    the adapters are real and different from each other and from the base."""
    mix = [(0, {"model": m, "messages": [{"role": "user", "content": PROMPTS[0]}], "max_tokens": max_tokens,
                "temperature": 0, "ignore_eos": True}) for m in models]
    return run_mix(mix, [server.port], len(models))["texts"]  # type: ignore[list-item]


# ------------------------------------------------------------------------------------------------
# main


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def loadavg() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="32 requests, 1 round (smoke test)")
    ap.add_argument("--requests", type=int, default=None, help="requests in the mix (default 64; --quick 32)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per part, best kept (default 2; --quick 1)")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--adapters", type=int, default=8, help="adapters in part 1 (default 8)")
    ap.add_argument("--many", type=int, default=16, help="adapters in part 2 (default 16)")
    ap.add_argument("--threads", type=int, default=2, help="the CPU budget: torch threads of the one server; "
                    "the per-adapter servers get max(1, threads // adapters) each (default 2)")
    ap.add_argument("--max-batch-size", type=int, default=16)
    ap.add_argument("--batch-wait-ms", type=int, default=50)
    ap.add_argument("--part", choices=["1", "2", "both"], default="both")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tunery-bench-serving"))
    ap.add_argument("--step-profile", action="store_true",
                    help="only time one decoding step per number of adapters in the batch (where the time goes)")
    args = ap.parse_args()
    if args.step_profile:
        ensure_model()
        ensure_adapters(16)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "_step_profile", str(args.threads),
                            str(args.max_batch_size)], env=thread_env(args.threads))
        return r.returncode
    n_requests = args.requests or (32 if args.quick else 64)
    rounds = args.rounds or (1 if args.quick else 2)

    ensure_model()
    dirs = ensure_adapters(max(args.adapters, args.many))
    names = [f"lora_{i:02d}" for i in range(len(dirs))]
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    single_threads = max(1, args.threads // args.adapters)
    t_start = time.monotonic()
    print(f"SmolLM2-135M-Instruct fp32 CPU, LoRA r=8 alpha=16 all-linear; mix: {n_requests} chat requests, "
          f"max_tokens {args.max_tokens} (ignore_eos), temperature 0, {args.concurrency} in flight; "
          f"serve max_batch_size {args.max_batch_size}, batch_wait_ms {args.batch_wait_ms}; "
          f"{os.cpu_count()} CPUs, load average {loadavg()}", flush=True)
    summary: dict = {"args": vars(args), "load_before": loadavg()}
    code = 0

    if args.part in ("1", "both"):
        n = args.adapters
        mix = build_mix(n_requests, names[:n], args.max_tokens)
        best: dict[str, dict] = {}
        for r in range(rounds):
            order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
            for which in order:
                if which == "A":
                    servers = [Server("A", os.path.join(args.workdir, f"r{r}-A"), list(zip(names[:n], dirs[:n])), args.threads, args)]
                else:
                    servers = [Server(f"B{i}", os.path.join(args.workdir, f"r{r}-B{i}"), [(names[i], dirs[i])], single_threads, args)
                               for i in range(n)]
                try:
                    startup = start_all(servers)
                    res = measure(servers, mix, args.concurrency)
                    if which == "A" and "probe" not in best:
                        best["probe"] = {"texts": probe(servers[0], [BASE_NAME] + names[:n])}
                finally:
                    stop_all(servers)
                res["startup"] = startup
                print(f"  part 1 round {r + 1} {which}: {res['tps']:7.1f} tokens/s ({res['tokens']} tokens in "
                      f"{res['seconds']:.1f} s), peak RSS {mib(res['peak_rss'])}, PSS {mib(res['peak_pss'])}, "
                      f"ready after {startup:.0f} s, load {loadavg()}", flush=True)
                prev = best.get(which)
                if prev is None:
                    best[which] = res
                else:
                    keep = res if res["tps"] > prev["tps"] else prev
                    keep = dict(keep, peak_rss=max(res["peak_rss"], prev["peak_rss"]),
                                peak_pss=max(res["peak_pss"], prev["peak_pss"]))
                    best[which] = keep
        a, b = best["A"], best["B"]
        same = sum(x == y for x, y in zip(a["texts"], b["texts"]))
        distinct = len(set(best["probe"]["texts"]))
        mem_ratio = a["peak_rss"] / b["peak_rss"]
        pss_ratio = a["peak_pss"] / b["peak_pss"]
        tps_ratio = a["tps"] / b["tps"]
        part1 = {"A": {k: v for k, v in a.items() if k != "texts"}, "B": {k: v for k, v in b.items() if k != "texts"},
                 "memory_ratio_rss": mem_ratio, "memory_ratio_pss": pss_ratio, "throughput_ratio": tps_ratio,
                 "identical_answers": same, "distinct_first_answers": distinct}
        summary["part1"] = part1

    if args.part in ("2", "both"):
        m = args.many
        mix_many = build_mix(n_requests, names[:m], args.max_tokens)
        mix_base = build_mix(n_requests, None, args.max_tokens)
        multi = Server("M", os.path.join(args.workdir, "multi16"), list(zip(names[:m], dirs[:m])), args.threads, args)
        plain = Server("P", os.path.join(args.workdir, "base-only"), [], args.threads, args)
        runs = {"many": (multi, mix_many), "base": (multi, mix_base), "plain": (plain, mix_base)}
        best2: dict[str, dict] = {}
        try:
            start_all([multi, plain])
            for r in range(rounds):
                keys = list(runs)
                order = keys[r % 3:] + keys[:r % 3]
                for key in order:
                    server, mix = runs[key]
                    res = measure([server], mix, args.concurrency)
                    print(f"  part 2 round {r + 1} {key:5s}: {res['tps']:7.1f} tokens/s ({res['tokens']} tokens in "
                          f"{res['seconds']:.1f} s), peak RSS {mib(res['peak_rss'])}, load {loadavg()}", flush=True)
                    prev = best2.get(key)
                    keep = res if prev is None or res["tps"] > prev["tps"] else prev
                    best2[key] = dict(keep, peak_rss=max(res["peak_rss"], prev["peak_rss"] if prev else 0))
        finally:
            stop_all([multi, plain])
        summary["part2"] = {k: {x: y for x, y in v.items() if x != "texts"} for k, v in best2.items()}

    # -------------------------------------------------------------------------------- report
    print()
    print(f"SmolLM2-135M-Instruct, fp32, CPU, {n_requests} chat requests x {args.max_tokens} tokens (ignore_eos), "
          f"{args.concurrency} in flight, best of {rounds} round(s); serve max_batch_size {args.max_batch_size}, "
          f"batch_wait_ms {args.batch_wait_ms}")
    goals = []
    if "part1" in summary:
        n = args.adapters
        a, b = best["A"], best["B"]
        w = 34
        print(f"{'':{w}s}{f'B: {n} processes x 1 adapter':>30s}{f'A: 1 process x {n} adapters':>30s}{'A / B':>10s}")
        print(f"{'torch threads':{w}s}{f'{single_threads} each ({n * single_threads} in all)':>30s}{args.threads:>30d}{'':>10s}")
        print(f"{'generated tokens':{w}s}{b['tokens']:>30d}{a['tokens']:>30d}{'':>10s}")
        print(f"{'wall seconds':{w}s}{b['seconds']:>30.1f}{a['seconds']:>30.1f}{'':>10s}")
        print(f"{'tokens per second':{w}s}{b['tps']:>30.1f}{a['tps']:>30.1f}{tps_ratio:>9.2f}x")
        print(f"{'median request latency, s':{w}s}{b['p50_latency']:>30.2f}{a['p50_latency']:>30.2f}{'':>10s}")
        cores = os.cpu_count() or 1
        print(f"{f'server CPU use (of {cores} cores)':{w}s}{b['cpu'] / b['seconds'] / cores:>30.0%}"
              f"{a['cpu'] / a['seconds'] / cores:>30.0%}{'':>10s}")
        print(f"{'tokens per server CPU-second':{w}s}{b['tpcpu']:>30.1f}{a['tpcpu']:>30.1f}{a['tpcpu'] / b['tpcpu']:>9.2f}x")
        print(f"{'peak RSS, all processes':{w}s}{mib(b['peak_rss']):>30s}{mib(a['peak_rss']):>30s}{mem_ratio:>10.3f}")
        print(f"{'peak PSS, all processes':{w}s}{mib(b['peak_pss']):>30s}{mib(a['peak_pss']):>30s}{pss_ratio:>10.3f}")
        print(f"{'seconds until ready':{w}s}{b['startup']:>30.0f}{a['startup']:>30.0f}{'':>10s}")
        print(f"(greedy answers identical in A and B: {same} of {len(a['texts'])}; "
              f"distinct greedy answers of the base and the {n} adapters to one prompt: {distinct} of {n + 1})")
        goals.append(("memory A / B (peak RSS)", mem_ratio, "<=", 0.25, f"{mem_ratio:.3f}",
                      f"; by PSS {pss_ratio:.3f}"))
        goals.append(("throughput A / B", tps_ratio, ">=", 2.0, f"{tps_ratio:.2f}x", ""))
        print()
    if "part2" in summary:
        m = args.many
        p2 = best2
        w = 52
        print(f"{'one process, threads ' + str(args.threads):{w}s}{'tokens/s':>10s}{'seconds':>10s}{'peak RSS':>12s}"
              f"{'tok/CPU-s':>11s}{'vs base':>9s}")
        base_tps = p2["base"]["tps"]
        for key, label in (("plain", "base model, no adapter loaded (other process)"),
                           ("base", f"base model, {m} adapters loaded (same process)"),
                           ("many", f"{m} adapters loaded, round-robin over them")):
            x = p2[key]
            print(f"{label:{w}s}{x['tps']:>10.1f}{x['seconds']:>10.1f}{mib(x['peak_rss']):>12s}{x['tpcpu']:>11.1f}"
                  f"{x['tps'] / base_tps:>9.2f}")
        ratio = p2["many"]["tps"] / base_tps
        ratio_plain = p2["many"]["tps"] / p2["plain"]["tps"]
        goals.append((f"{m} adapters / base (same process)", ratio, ">=", 0.75, f"{ratio:.2f}",
                      f"; vs the adapter-free process {ratio_plain:.2f}"))
        summary["part2"]["ratio"] = ratio
        summary["part2"]["ratio_plain"] = ratio_plain
        print()
    for label, value, op, target, shown, extra in goals:
        ok = value <= target if op == "<=" else value >= target
        print(f"{label}: {shown}  (goal {op} {target:g}: {'met' if ok else 'NOT met'}){extra}")
    summary["load_after"] = loadavg()
    summary["seconds"] = time.monotonic() - t_start
    with open(os.path.join(args.workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"(load average before {summary['load_before']}, after {summary['load_after']}; "
          f"{summary['seconds'] / 60:.1f} min; logs and summary.json in {args.workdir})")
    return code


def _on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_make_adapters":
        make_adapters_main(int(sys.argv[2]))
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "_step_profile":
        step_profile_main(int(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: stopping the servers", file=sys.stderr)
        sys.exit(130)
    finally:
        stop_everything()
