"""``serve``: the OpenAI-compatible inference server over one base model and its LoRA adapters
(protocol/README.md, "Serve spec"). The server runs as a real subprocess and is spoken to over
real HTTP; one server is shared by the tests of this module (its state changes are undone by the
tests that make them), a second one is started for the SIGTERM test."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import CHATML, RUNTIME, of, run_train
from tunery_runtime.events import validate_event
from tunery_runtime.spec import SpecError, parse_serve_spec

pytestmark = pytest.mark.slow

TOKEN = "s3cret-serve-token"
BASE = "bm_tiny"
HELLO = [{"role": "user", "content": "Hello!"}]


# ------------------------------------------------------------------------------------ helpers


def make_adapter(out: Path, seed: int, base_dir: str | None = None, hidden_size: int | None = None, r: int = 4,
                 target_modules: Any = "all-linear", use_dora: bool = False) -> str:
    """A LoRA adapter with random, non-zero weights (so that it changes the answers), saved by PEFT.
    ``hidden_size`` builds it over a differently shaped tiny Llama instead (it does not fit)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    if hidden_size is None:
        model = AutoModelForCausalLM.from_pretrained(base_dir)
    else:
        cfg = LlamaConfig(hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          intermediate_size=64, vocab_size=400)
        model = LlamaForCausalLM(cfg)
    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=target_modules, init_lora_weights=False, use_dora=use_dora)
    peft = get_peft_model(model, config)
    peft.save_pretrained(str(out))
    return str(out)


class Server:
    """``python -m tunery_runtime serve`` as a subprocess, with its events read from stdout."""

    def __init__(self, spec: dict, workdir: Path, token: str | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        spec_path = workdir / "serve-spec.json"
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": str(RUNTIME), "HF_HUB_OFFLINE": "1"}
        env.pop("TUNERY_SERVE_TOKEN", None)
        if token is not None:
            env["TUNERY_SERVE_TOKEN"] = token
        self.token = token
        self.stderr_path = workdir / "stderr.txt"
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tunery_runtime", "serve", "--spec", str(spec_path), "--workdir", str(workdir / "w")],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
            cwd=str(RUNTIME),
        )
        self.events: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self.wait_for("ready", 180)
        self.port = self.ready["port"]

    def _read(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            self.events.append(event)
            self._queue.put(event)
        self._queue.put(None)

    def wait_for(self, kind: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind} event in {timeout}s; stderr:\n{self.log()[-3000:]}") from None
            if event is None:
                raise AssertionError(f"the server exited ({self.proc.wait()}) before {kind}; stderr:\n{self.log()[-3000:]}")
            if event["event"] == kind:
                return event

    def log(self) -> str:
        self.stderr.flush()
        return self.stderr_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.stderr.close()

    # HTTP -------------------------------------------------------------------------------

    def headers(self, token: Any = "default") -> dict[str, str]:
        token = self.token if token == "default" else token
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        return h

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, token: Any = "default") -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=self.headers(token))
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        assert resp.getheader("Content-Type", "").startswith("application/json"), resp.getheaders()
        return resp.status, json.loads(payload)

    def chat(self, model: str, messages: list = HELLO, **kw: Any) -> dict:
        status, body = self.call("POST", "/v1/chat/completions", {"model": model, "messages": messages, **kw})
        assert status == 200, body
        return body

    def open_stream(self, path: str, body: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("POST", path, body=json.dumps({**body, "stream": True}).encode(), headers=self.headers())
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        assert resp.getheader("Content-Type", "").startswith("text/event-stream")
        return conn, resp

    def stream(self, path: str, body: dict) -> tuple[list[dict], bool]:
        """(chunks, whether the stream ended with data: [DONE])."""
        conn, resp = self.open_stream(path, body)
        chunks, done = [], False
        for line in resp.read().decode().split("\n"):
            if not line:
                continue
            assert line.startswith("data: "), line
            assert not done, "data after [DONE]"
            if line == "data: [DONE]":
                done = True
            else:
                chunks.append(json.loads(line[len("data: ") :]))
        conn.close()
        return chunks, done

    def health(self) -> dict:
        status, body = self.call("GET", "/health")
        assert status == 200, body
        return body


def assert_error(status: int, body: Any, want_status: int, param: Any, code: str | None = None) -> None:
    assert status == want_status, body
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    assert err["type"] == ("authentication_error" if status == 401 else "server_error" if status >= 500 else "invalid_request_error")


def texts_of(chunks: list[dict], n: int, field: str) -> tuple[list[str], list[str | None]]:
    texts, reasons = [""] * n, [None] * n
    for c in chunks:
        for choice in c["choices"]:
            piece = choice["delta"].get("content") if field == "delta" else choice["text"]
            texts[choice["index"]] += piece or ""
            if choice["finish_reason"] is not None:
                assert reasons[choice["index"]] is None, "two final chunks for one choice"
                reasons[choice["index"]] = choice["finish_reason"]
    return texts, reasons


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("adapters")
    return {
        "a1": make_adapter(d / "a1", 1, tiny_model_dir),
        "a2": make_adapter(d / "a2", 2, tiny_model_dir),
        "misfit": make_adapter(d / "misfit", 3, hidden_size=48),
    }


def serve_spec(model_dir: str, paths: dict[str, str], **overrides: Any) -> dict:
    return {
        "spec_version": 1,
        "model_path": model_dir,
        "model_name": BASE,
        "adapters": [{"name": "a1", "path": paths["a1"]}, {"name": "a2", "path": paths["a2"]}],
        "device": "cpu",
        "threads": 1,
        "max_batch_size": 8,
        "batch_wait_ms": 100,
        # beyond the tiny model's 512 positions (RoPE does not mind), for the long requests below
        "max_model_len": 32768,
        **overrides,
    }


@pytest.fixture(scope="module")
def server(tiny_model_dir: str, adapters: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    s = Server(serve_spec(tiny_model_dir, adapters), tmp_path_factory.mktemp("serve"), token=TOKEN)
    yield s
    s.stop()


# ------------------------------------------------------------------------------------ tests


def test_ready_event_health_and_models(server):
    ready = server.ready
    validate_event(ready)
    assert (ready["host"], ready["device"], ready["dtype"], ready["adapters"]) == ("127.0.0.1", "cpu", "fp32", ["a1", "a2"])
    assert ready["port"] > 0  # port 0 asked: the real one is reported
    assert server.health() == {"status": "ok", "model": BASE, "adapters": ["a1", "a2"], "queued": 0, "running": 0}
    status, models = server.call("GET", "/v1/models")
    assert status == 200 and models["object"] == "list"
    assert [m["id"] for m in models["data"]] == [BASE, "a1", "a2"]
    for m in models["data"]:
        assert m["object"] == "model" and m["owned_by"] == "tunery" and isinstance(m["created"], int)
    assert TOKEN not in server.log()  # the token is never logged


def test_chat_completion_with_usage(server, tiny_model_dir):
    from transformers import AutoTokenizer

    body = server.chat(BASE, max_tokens=6, temperature=0)
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion" and body["model"] == BASE
    assert isinstance(body["created"], int)
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["finish_reason"] in ("stop", "length")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt_tokens = len(tok.apply_chat_template(HELLO, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
    usage = body["usage"]
    assert usage["prompt_tokens"] == prompt_tokens
    assert 1 <= usage["completion_tokens"] <= 6
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    status, body = server.call("POST", "/v1/completions", {"model": "a1", "prompt": "The quick brown", "max_tokens": 4, "temperature": 0})
    assert status == 200, body
    assert body["id"].startswith("cmpl-") and body["object"] == "text_completion"
    assert isinstance(body["choices"][0]["text"], str) and body["usage"]["completion_tokens"] <= 4


@pytest.mark.parametrize("path, field", [("/v1/chat/completions", "delta"), ("/v1/completions", "text")])
def test_stream_is_well_formed_and_equals_the_whole_answer(server, path, field):
    request = {"model": "a1", "max_tokens": 12, "temperature": 0}
    request.update({"messages": HELLO} if field == "delta" else {"prompt": "Hello!"})
    status, whole = server.call("POST", path, request)
    assert status == 200, whole
    chunks, done = server.stream(path, {**request, "stream_options": {"include_usage": True}})
    assert done, "the stream must end with data: [DONE]"
    obj = "chat.completion.chunk" if field == "delta" else "text_completion"
    assert {c["object"] for c in chunks} == {obj}
    assert len({c["id"] for c in chunks}) == 1 and {c["model"] for c in chunks} == {"a1"}
    *body_chunks, usage_chunk = chunks
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == whole["usage"]
    assert all(c["usage"] is None for c in body_chunks)  # include_usage: null on every other chunk
    if field == "delta":
        assert body_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all("role" not in c["choices"][0]["delta"] for c in body_chunks[1:])
    assert body_chunks[-1]["choices"][0]["finish_reason"] is not None
    assert all(c["choices"][0]["finish_reason"] is None for c in body_chunks[:-1])
    texts, reasons = texts_of(body_chunks, 1, field)
    key = (lambda c: c["message"]["content"]) if field == "delta" else (lambda c: c["text"])
    assert texts == [key(whole["choices"][0])]
    assert reasons == [whole["choices"][0]["finish_reason"]]
    # without include_usage: no usage chunk and no usage fields
    chunks, done = server.stream(path, request)
    assert done and all("usage" not in c and c["choices"] for c in chunks)
    assert texts_of(chunks, 1, field)[0] == texts



def test_continuous_usage_meters_every_chunk(server):
    """stream_options.continuous_usage_stats (the gateway asks for it): every chunk carries the
    usage so far, so a stream cut short is still metered."""
    request = {"model": "a2", "messages": HELLO, "max_tokens": 8, "temperature": 0}
    status, whole = server.call("POST", "/v1/chat/completions", request)
    assert status == 200, whole
    options = {"include_usage": True, "continuous_usage_stats": True}
    chunks, done = server.stream("/v1/chat/completions", {**request, "stream_options": options})
    assert done
    counts = [c["usage"]["completion_tokens"] for c in chunks]
    assert all(c["usage"]["prompt_tokens"] == whole["usage"]["prompt_tokens"] for c in chunks)
    assert counts == sorted(counts) and counts[0] >= 1, counts
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]
    status, body = server.call("POST", "/v1/chat/completions", {**request, "stream": True, "stream_options": {"continuous_usage_stats": 1}})
    assert status == 400 and body["error"]["param"] == "stream_options.continuous_usage_stats", body


def test_ignore_eos_generates_exactly_max_tokens(server):
    body = server.chat("a1", max_tokens=40, temperature=0, ignore_eos=True)
    assert body["usage"]["completion_tokens"] == 40 and body["choices"][0]["finish_reason"] == "length", body
    status, body = server.call("POST", "/v1/chat/completions", {"model": "a1", "messages": HELLO, "ignore_eos": "yes"})
    assert status == 400 and body["error"]["param"] == "ignore_eos", body


def test_an_adapter_renders_through_its_own_chat_template(server, adapters, tmp_path):
    """An adapter trained through another template than the base's keeps it beside its weights;
    its requests are rendered with it (here one that puts a marker before the conversation)."""
    import shutil

    own = tmp_path / "own-template"
    shutil.copytree(adapters["a1"], own)
    template = "OWN " + CHATML
    (own / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    status, body = server.call("POST", "/adapters", {"name": "templated", "path": str(own)})
    assert status == 200, body
    try:
        plain = server.chat("a1", max_tokens=1, temperature=0)["usage"]["prompt_tokens"]
        marked = server.chat("templated", max_tokens=1, temperature=0)["usage"]["prompt_tokens"]
        assert marked > plain, (plain, marked)
    finally:
        assert server.call("DELETE", "/adapters/templated")[0] == 200


PROMPTS = ["Hello!", "What is the capital of France?", "Answer briefly: yes or no."]


def test_score_gives_the_answers_log_probability_as_the_model_computes_it(server, tiny_model_dir, adapters):
    """``/v1/tunery/score`` (perplexity): the answer's tokens as the chat template appends them, and
    their summed log-probability equal to the model's own loss on them, for the base model and
    through an adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    answer = "Hello there, how are you?"
    prompt = tok.apply_chat_template(HELLO, add_generation_prompt=True, tokenize=False)
    full = tok.apply_chat_template([*HELLO, {"role": "assistant", "content": answer}], tokenize=False)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tok(full, add_special_tokens=False)["input_ids"]
    labels = [-100] * len(prompt_ids) + full_ids[len(prompt_ids):]
    for name in (BASE, "a1"):
        status, body = server.call("POST", "/v1/tunery/score", {"model": name, "messages": HELLO, "answer": answer})
        assert status == 200, body
        assert body["tokens"] == len(full_ids) - len(prompt_ids)
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
        if name != BASE:
            model = PeftModel.from_pretrained(model, adapters[name]).eval()
        with torch.inference_mode():
            loss = model(input_ids=torch.tensor([full_ids]), labels=torch.tensor([labels])).loss.item()
        assert abs(body["logprob"] + loss * body["tokens"]) < 1e-3 * body["tokens"], (body, loss)
    status, body = server.call("POST", "/v1/tunery/score", {"model": "nope", "messages": HELLO, "answer": answer})
    assert_error(status, body, 404, "model", "model_not_found")
    status, body = server.call("POST", "/v1/tunery/score", {"model": BASE, "messages": HELLO, "answer": 3})
    assert_error(status, body, 400, "answer")


def test_adapters_in_one_batch_answer_as_when_served_alone(server):
    jobs = [(model, p) for model in (BASE, "a1", "a2") for p in PROMPTS]

    def ask(job):
        model, prompt = job
        body = server.chat(model, [{"role": "user", "content": prompt}], max_tokens=10, temperature=0)
        return body["choices"][0]["message"]["content"]

    alone = [ask(j) for j in jobs]
    by_model = {m: alone[i * len(PROMPTS) : (i + 1) * len(PROMPTS)] for i, m in enumerate((BASE, "a1", "a2"))}
    assert by_model[BASE] != by_model["a1"] and by_model["a1"] != by_model["a2"], "the adapters must change the answers"
    # all at once: gathered within batch_wait_ms into mixed batches
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        together = list(pool.map(ask, jobs))
    assert together == alone


def test_batched_lora_gives_the_logits_of_peft_mixed_batches(tiny_model_dir, adapters, tmp_path, monkeypatch):
    """Batched LoRA (adapters concatenated per layer, or each row's gathered when many are
    loaded) computes what PEFT's mixed-adapter batches compute, also for adapters of another rank
    over fewer modules; a batch of base rows is the base model; a DoRA adapter in a batch sends
    it through PEFT."""
    from transformers import AutoModelForCausalLM

    from tunery_runtime import batched_lora
    from tunery_runtime.adapters import AdapterSet

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    ids = torch.randint(0, base.config.vocab_size, (5, 7), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        plain = base(input_ids=ids).logits.clone()
    aset = AdapterSet(base)
    aset.load("a1", adapters["a1"])
    aset.load("a2", adapters["a2"])
    aset.load("r8", make_adapter(tmp_path / "r8", 5, tiny_model_dir, r=8, target_modules=["q_proj", "v_proj"]))
    names = ["__base__", "a1", "a2", "r8", "a1"]
    model = aset.model

    def through_batched(names, ids):
        assert aset.batched.plan(names, ids.device)
        try:
            return model(input_ids=ids).logits
        finally:
            aset.batched.clear()

    with torch.inference_mode():
        # a prompt (7 tokens a row: each row's own matrices) and one token a row (as decoding:
        # all adapters at once, each row's block kept)
        reference = model(input_ids=ids, adapter_names=names).logits
        batched = through_batched(names, ids)
        one = ids[:, :1]
        reference_one = model(input_ids=one, adapter_names=names).logits
        batched_one = through_batched(names, one)
        assert aset.batched.plan(["__base__"] * 5, ids.device)
        try:
            base_only = model(input_ids=ids).logits
        finally:
            aset.batched.clear()
    torch.testing.assert_close(batched, reference, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batched_one, reference_one, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(batched[1], batched[0]), "the adapters must change the logits"
    assert all(m._tunery_stack.concat for m in aset.batched.modules)
    monkeypatch.setattr(batched_lora, "CONCAT_MAX", 0)  # as with many adapters loaded: gathered per row
    aset.batched.rebuild(aset.peft)
    assert not any(m._tunery_stack.concat for m in aset.batched.modules)
    with torch.inference_mode():
        gathered = through_batched(names, one)
    torch.testing.assert_close(gathered, reference_one, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(base_only, plain, rtol=0, atol=0)
    aset.load("dora", make_adapter(tmp_path / "dora", 6, tiny_model_dir, use_dora=True))
    assert not aset.batched.plan(["a1", "dora"], ids.device)
    assert aset.batched.plan(["a1", "a2"], ids.device)
    aset.batched.clear()
    for name in ("dora", "r8", "a2", "a1"):
        aset.unload(name)
    assert aset.peft is None and not aset.batched.modules


def test_engine_decodes_a_mixed_batch_like_each_row_alone(tiny_model_dir, adapters):
    """White-box: rows of the base and of two adapters (greedy and seeded sampling, prompts of
    different lengths) decoded in one batch give the same tokens as each decoded alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunery_runtime.adapters import AdapterSet
    from tunery_runtime.engine import Engine, Request, Sampling

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    aset = AdapterSet(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval())
    aset.load("a1", adapters["a1"])
    aset.load("a2", adapters["a2"])
    engine = Engine(aset, tok, torch.device("cpu"), max_batch_size=16, batch_wait_ms=0,
                    eos_ids={tok.eos_token_id}, pad_id=tok.pad_token_id, tokenizer_lock=threading.Lock())
    jobs = [
        (None, PROMPTS[0], Sampling(max_tokens=8, temperature=0)),
        ("a1", PROMPTS[1], Sampling(max_tokens=8, temperature=0)),
        ("a2", PROMPTS[2], Sampling(max_tokens=8, temperature=0)),
        ("a1", PROMPTS[0], Sampling(max_tokens=8, temperature=0)),
        ("a2", PROMPTS[1], Sampling(max_tokens=8, temperature=1.0, top_p=0.9, seed=11)),
        (None, PROMPTS[2], Sampling(max_tokens=5, temperature=0.8, seed=12, n=2)),
    ]

    def decode(batch):
        requests = [Request(adapter, tok(prompt)["input_ids"], s) for adapter, prompt, s in batch]
        for r in requests:
            engine.submit(r)
        rows = engine._gather()
        assert len(rows) == sum(s.n for _, _, s in batch)
        engine._decode(rows)
        assert all(r.closed for r in requests)
        return [row.stream.ids for row in rows]

    together = decode(jobs)
    alone = [ids for job in jobs for ids in decode([job])]
    assert together == alone
    assert together[0] != together[3], "a1 must change the base's answer"


def test_n_choices_and_stop_strings(server):
    body = server.chat(BASE, max_tokens=5, temperature=1.0, seed=5, n=2)
    assert [c["index"] for c in body["choices"]] == [0, 1]
    one = server.chat(BASE, max_tokens=5, temperature=1.0, seed=5)
    assert body["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"]  # the prompt is counted once
    assert 2 <= body["usage"]["completion_tokens"] <= 10

    full = server.chat("a1", [{"role": "user", "content": PROMPTS[1]}], max_tokens=16, temperature=0)["choices"][0]["message"]["content"]
    candidates = [full[k : k + 2] for k in range(1, len(full) - 1)]
    stop = next(s for s in candidates if "\ufffd" not in s and s.strip() and full.find(s) >= 1)
    want = full[: full.find(stop)]
    request = {"model": "a1", "messages": [{"role": "user", "content": PROMPTS[1]}], "max_tokens": 16, "temperature": 0}
    for stops in (stop, ["zzzz-never", stop]):
        choice = server.chat(**{**request, "stop": stops})["choices"][0]
        assert (choice["message"]["content"], choice["finish_reason"]) == (want, "stop")
        chunks, done = server.stream("/v1/chat/completions", {**request, "stop": stops})
        assert done and texts_of(chunks, 1, "delta") == ([want], ["stop"])


def test_seed_reproduces_sampled_answers(server):
    request = {"messages": [{"role": "user", "content": PROMPTS[1]}], "max_tokens": 10, "temperature": 1.0, "top_p": 0.9}

    def ask(seed, model="a2"):
        return server.chat(model, **request, seed=seed)["choices"][0]["message"]["content"]

    first = ask(1234)
    assert ask(1234) == first
    # the same seed in a batch with other requests: the same answer
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda args: ask(*args), [(1234, "a2"), (99, "a1"), (98, BASE), (1234, "a2")]))
    assert results[0] == results[3] == first
    assert len({ask(seed) for seed in range(5)}) > 1


def test_hot_load_and_unload(server, adapters):
    status, body = server.call("POST", "/adapters", {"name": "hot", "path": adapters["a1"]})
    assert (status, body) == (200, {"name": "hot", "loaded": True})
    assert server.call("POST", "/adapters", {"name": "hot", "path": adapters["a1"]}) == (200, {"name": "hot", "loaded": True})
    status, body = server.call("POST", "/adapters", {"name": "hot", "path": adapters["a2"]})
    assert_error(status, body, 409, "name")
    assert "hot" in [m["id"] for m in server.call("GET", "/v1/models")[1]["data"]]
    ask = {"messages": HELLO, "max_tokens": 8, "temperature": 0}
    assert server.chat("hot", **ask)["choices"] == server.chat("a1", **ask)["choices"]  # same weights as a1

    # an unload waits for the adapter's requests in flight: this one is answered to its end with
    # the adapter's weights (as a1 answers it), though the DELETE came after its first token
    long = {"messages": HELLO, "max_tokens": 300, "temperature": 0}
    want = server.chat("a1", **long)["choices"][0]
    assert want["finish_reason"] == "length"
    conn, resp = server.open_stream("/v1/chat/completions", {"model": "hot", **long})
    first = resp.readline()
    result: list = []
    t = threading.Thread(target=lambda: result.append(server.call("DELETE", "/adapters/hot")))
    t.start()
    rest = resp.read().decode()
    conn.close()
    t.join(60)
    assert result == [(200, {"name": "hot", "loaded": False})]
    lines = [first.decode().strip()] + [line for line in rest.split("\n") if line]
    assert lines[-1] == "data: [DONE]", "the request in flight finishes"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert texts_of(chunks, 1, "delta") == ([want["message"]["content"]], ["length"])

    assert "hot" not in [m["id"] for m in server.call("GET", "/v1/models")[1]["data"]]
    assert server.health()["adapters"] == ["a1", "a2"]
    status, body = server.call("POST", "/v1/chat/completions", {"model": "hot", **ask})
    assert_error(status, body, 404, "model", "model_not_found")
    status, body = server.call("DELETE", "/adapters/hot")
    assert_error(status, body, 404, "name")


def test_vllms_runtime_lora_endpoints_load_and_unload_too(server, adapters):
    """The same operations under vLLM's names, so that one client drives both servers."""
    status, body = server.call("POST", "/v1/load_lora_adapter", {"lora_name": "vl", "lora_path": adapters["a2"]})
    assert (status, body) == (200, {"name": "vl", "loaded": True}), body
    assert server.chat("vl", max_tokens=2, temperature=0)["choices"]
    status, body = server.call("POST", "/v1/load_lora_adapter", {"lora_name": "vl2", "path": adapters["a2"]})
    assert_error(status, body, 400, "path")
    status, body = server.call("POST", "/v1/unload_lora_adapter", {"lora_name": "vl"})
    assert (status, body) == (200, {"name": "vl", "loaded": False}), body
    status, body = server.call("POST", "/v1/unload_lora_adapter", {"lora_name": "vl"})
    assert_error(status, body, 404, "name")
    assert server.health()["adapters"] == ["a1", "a2"]


def test_adapters_that_cannot_load_are_refused(server, adapters, tmp_path):
    status, body = server.call("POST", "/adapters", {"name": "misfit", "path": adapters["misfit"]})
    assert_error(status, body, 400, "path")
    assert "shape mismatch" in body["error"]["message"]
    status, body = server.call("POST", "/adapters", {"name": "nothing", "path": str(tmp_path)})
    assert_error(status, body, 400, "path")
    assert "adapter_config.json" in body["error"]["message"]
    status, body = server.call("POST", "/adapters", {"name": "rel", "path": "relative/dir"})
    assert_error(status, body, 400, "path")
    status, body = server.call("POST", "/adapters", {"name": BASE, "path": adapters["a1"]})
    assert_error(status, body, 409, "name")
    status, body = server.call("POST", "/adapters", {"name": "a.b", "path": adapters["a1"]})
    assert_error(status, body, 400, "name")
    # the server is unharmed
    assert server.health()["adapters"] == ["a1", "a2"]
    assert server.chat("a1", max_tokens=2, temperature=0)["choices"]
    assert server.chat(BASE, max_tokens=2, temperature=0)["choices"]


def _chat(**kw):
    return {"model": BASE, "messages": HELLO, "max_tokens": 2, **kw}


@pytest.mark.parametrize(
    "body, status, param, code",
    [
        ({"model": "nope", "messages": HELLO}, 404, "model", "model_not_found"),
        ({"model": BASE}, 400, "messages", None),
        (_chat(model=None), 400, "model", None),
        (_chat(messages=[{"role": "robot", "content": "hi"}]), 400, "messages[0].role", None),
        (_chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]), 400, "messages[0].content[0].type", None),
        (_chat(temperature=2.5), 400, "temperature", None),
        (_chat(top_p=1.5), 400, "top_p", None),
        (_chat(n=17), 400, "n", None),
        (_chat(n=0), 400, "n", None),
        (_chat(max_tokens=0), 400, "max_tokens", None),
        (_chat(stop=["a", "b", "c", "d", "e"]), 400, "stop", None),
        (_chat(seed="1"), 400, "seed", None),
        (_chat(presence_penalty=0.5), 400, "presence_penalty", None),
        (_chat(tools=[{"type": "function", "function": {"name": "f"}}]), 400, "tools", None),
        (_chat(stream_options={"include_usage": True}), 400, "stream_options", None),
        (_chat(max_tokens=40000), 400, "messages", "context_length_exceeded"),
        ({"model": BASE, "prompt": ["a", "b"]}, 400, "prompt", None),
    ],
)
def test_bad_requests_get_openai_errors_naming_the_field(server, body, status, param, code):
    path = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
    got_status, got = server.call("POST", path, body)
    assert_error(got_status, got, status, param, code)


def test_neutral_values_are_accepted_and_bodies_are_checked(server):
    neutral = _chat(presence_penalty=0, frequency_penalty=0.0, user=None, logprobs=False, logit_bias={},
                    response_format={"type": "text"}, tools=None, max_completion_tokens=None)
    status, body = server.call("POST", "/v1/chat/completions", neutral)
    assert status == 200, body
    assert_error(*server.call("POST", "/v1/chat/completions", raw=b"{not json"), 400, None, "invalid_json")
    assert_error(*server.call("POST", "/v1/chat/completions", raw=b"[1, 2]"), 400, None)
    big = json.dumps({"model": BASE, "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]}).encode()
    assert_error(*server.call("POST", "/v1/chat/completions", raw=big), 413, None)
    assert_error(*server.call("GET", "/v1/nothing"), 404, None)


def test_bearer_token_is_required(server):
    for token in (None, "wrong"):
        for method, path, body in (("GET", "/health", None), ("POST", "/v1/chat/completions", _chat())):
            status, got = server.call(method, path, body, token=token)
            assert_error(status, got, 401, None)
    assert server.call("GET", "/health")[0] == 200


def test_a_client_that_disconnects_cancels_its_request(server):
    conn, resp = server.open_stream("/v1/chat/completions", {"model": "a2", "messages": HELLO, "max_tokens": 30000, "temperature": 0})
    for _ in range(3):
        line = resp.readline()
        assert line.startswith(b"data: {") and b'"finish_reason": null' in line
        assert resp.readline() == b"\n"
    assert server.health()["running"] == 1  # 30000 tokens take minutes
    conn.sock.shutdown(2)
    conn.close()
    gone = time.monotonic()
    while server.health()["running"]:
        assert time.monotonic() - gone < 5, "the request was not cancelled"
        time.sleep(0.02)
    assert "client went away" in server.log()


def test_sigterm_stops_the_server_and_cuts_streams_short(tiny_model_dir, adapters, tmp_path):
    s = Server(serve_spec(tiny_model_dir, adapters, adapters=[], batch_wait_ms=0), tmp_path)
    try:
        assert s.ready["adapters"] == []
        conn, resp = s.open_stream("/v1/completions", {"model": BASE, "prompt": "Hello!", "max_tokens": 30000, "temperature": 0})
        assert resp.readline().startswith(b"data: ")
        s.proc.send_signal(signal.SIGTERM)
        try:
            rest = resp.read()
        except http.client.IncompleteRead as e:  # the chunked body is cut: an interrupted answer
            rest = e.partial
        assert b"[DONE]" not in rest
        conn.close()
        assert s.proc.wait(timeout=30) == 75
    finally:
        s.stop()
    last = s.events[-1]
    validate_event(last)
    assert (last["event"], last["step"], last["checkpoint"]) == ("stopped", 0, None)


def test_serve_spec_is_strict(tiny_model_dir, tmp_path):
    spec = {"spec_version": 1, "model_path": tiny_model_dir, "model_name": BASE, "bogus": 1}
    code, events = run_train(spec, tmp_path / "w", command="serve")
    assert code == 2
    assert of(events, "failed")[0]["code"] == "invalid_spec"
    assert of(events, "failed")[0]["message"] == "bogus: unknown key"
    parsed = parse_serve_spec({"spec_version": 1, "model_path": "/m", "model_name": "bm"})
    assert (parsed.host, parsed.port, parsed.device, parsed.threads) == ("127.0.0.1", 0, "auto", None)
    assert (parsed.max_batch_size, parsed.batch_wait_ms, parsed.max_model_len, parsed.adapters) == (8, 5, None, ())
    for patch, message in [
        ({"max_batch_size": 0}, "max_batch_size: must be between 1 and 256, got 0"),
        ({"batch_wait_ms": 1001}, "batch_wait_ms: must be between 0 and 1000, got 1001"),
        ({"port": 70000}, "port: must be between 0 and 65535, got 70000"),
        ({"adapters": [{"name": "a", "path": "/a", "rank": 4}]}, "adapters[0].rank: unknown key"),
        ({"adapters": [{"name": "a", "path": "/a"}, {"name": "a", "path": "/b"}]}, 'adapters[1].name: duplicate name "a"'),
        ({"adapters": [{"name": "bm", "path": "/a"}]}, 'adapters[0].name: must differ from model_name, got "bm"'),
        ({"adapters": [{"name": "a", "path": "rel"}]}, 'adapters[0].path: must be an absolute path, got "rel"'),
        ({"model_path": "m"}, 'model_path: must be an absolute path, got "m"'),
    ]:
        with pytest.raises(SpecError) as err:
            parse_serve_spec({"spec_version": 1, "model_path": "/m", "model_name": "bm", **patch})
        assert str(err.value) == message


def test_an_adapter_that_does_not_load_fails_the_start(tiny_model_dir, tmp_path):
    spec = {"spec_version": 1, "model_path": tiny_model_dir, "model_name": BASE, "device": "cpu", "threads": 1,
            "adapters": [{"name": "a", "path": str(tmp_path / "missing")}]}
    code, events = run_train(spec, tmp_path / "w", command="serve")
    assert code == 1
    assert of(events, "failed")[-1]["code"] == "model_load_failed"
    assert not of(events, "ready")


def test_a_failed_peft_load_leaves_the_model_as_it_was(tiny_model_dir, adapters, monkeypatch):
    """Should PEFT itself fail half-way (the shape check let an adapter through), the model is
    put back: no PEFT layers left over the base, the loaded adapters untouched."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from transformers import AutoModelForCausalLM

    from tunery_runtime import adapters as adapters_module
    from tunery_runtime.adapters import AdapterError, AdapterSet

    monkeypatch.setattr(adapters_module, "check_adapter", lambda base, path: {})
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        want = base(input_ids=ids).logits
    aset = AdapterSet(base)
    with pytest.raises(AdapterError):
        aset.load("misfit", adapters["misfit"])  # the first adapter: PEFT had wrapped the base
    assert aset.peft is None and not any(isinstance(m, BaseTunerLayer) for m in aset.model.modules())
    with torch.no_grad():
        assert torch.equal(aset.model(input_ids=ids).logits, want)
    aset.load("a1", adapters["a1"])
    with pytest.raises(AdapterError):
        aset.load("misfit", adapters["misfit"])  # beside a loaded adapter
    assert list(aset.peft.peft_config) == ["a1"] and aset.paths == {"a1": adapters["a1"]}
    with torch.no_grad():
        assert torch.equal(aset.model(input_ids=ids, adapter_names=["__base__"]).logits, want)
    aset.unload("a1")
    assert aset.peft is None and not any(isinstance(m, BaseTunerLayer) for m in aset.model.modules())
    assert "peft_config" not in vars(aset.model)
    aset.load("a2", adapters["a2"])  # a first adapter again, after the last was unloaded
    assert list(aset.peft.peft_config) == ["a2"]


def test_the_server_stops_when_the_process_that_started_it_is_gone(tiny_model_dir, tmp_path):
    """A Tunery server that is killed cannot stop its backends: they notice their parent is
    gone and stop by themselves, so none is left holding a model in memory."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"spec_version": 1, "model_path": tiny_model_dir, "model_name": BASE, "device": "cpu", "threads": 1}))
    parent = (
        "import os, subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'tunery_runtime', 'serve', '--spec', {str(spec)!r}, '--workdir', {str(tmp_path / 'w')!r}],"
        " stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)\n"
        "print(p.pid, p.stdout.readline().decode().strip(), flush=True)\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(RUNTIME)}
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, env=env, timeout=120, check=True).stdout
    pid, ready = out.split(" ", 1)
    assert json.loads(ready)["event"] == "ready", out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(int(pid), signal.SIGKILL)
    raise AssertionError("the server outlived the process that started it")


def test_a_full_fine_tunes_weights_load_over_the_base(tiny_model_dir, tmp_path):
    """The serve spec's ``weights`` (a full or freeze checkpoint's trainable.safetensors) are
    copied over the base model at start; a weight that is not the model's fails the start."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    from tunery_runtime.errors import RuntimeFailure
    from tunery_runtime.serve import _load

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    name, param = next((n, p) for n, p in base.named_parameters() if n.endswith("q_proj.weight"))
    changed = {name: (param.detach() + 0.25).contiguous()}
    save_file(changed, str(tmp_path / "trainable.safetensors"))
    spec = parse_serve_spec(serve_spec(tiny_model_dir, {"a1": "/none", "a2": "/none"}, adapters=[], weights=str(tmp_path / "trainable.safetensors")))
    _, adapters, _, _ = _load(spec)
    served = dict(adapters.base.named_parameters())
    assert torch.equal(served[name], changed[name])
    other = next(n for n in served if n != name and n.endswith("weight"))
    assert torch.equal(served[other], dict(base.named_parameters())[other])

    save_file({"model.no_such.weight": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    spec = parse_serve_spec(serve_spec(tiny_model_dir, {"a1": "/none", "a2": "/none"}, adapters=[], weights=str(tmp_path / "foreign.safetensors")))
    with pytest.raises(RuntimeFailure, match="model.no_such.weight"):
        _load(spec)

