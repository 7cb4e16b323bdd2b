"""``serve``: one base model and its LoRA adapters behind an OpenAI-compatible HTTP subset on a
loopback port (protocol/README.md, "Serve spec").

Standard-library HTTP (``ThreadingHTTPServer``, HTTP/1.1, keep-alive). Whole answers carry a
``Content-Length``; streams are ``text/event-stream`` in chunked transfer encoding, one chunk per
``data:`` line, written at once (TCP_NODELAY). A stream that is cut short (the server stops, the
engine fails) ends without ``data: [DONE]`` and without the final empty chunk, so a client sees
an interrupted body. A client that goes away (its socket reads EOF, or a write fails) cancels its
request's rows at the engine's next step.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import queue
import select
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .adapters import AdapterError, AdapterSet
from .engine import Engine, ModelNotFound, Request, Sampling
from .errors import RuntimeFailure
from .openai_api import Answer, ApiError, refuse_unknown, bad, context_error, parse_request
from .spec import ServeSpec, adapter_name_problem

log = logging.getLogger("tunery_runtime")

MAX_BODY = 4 * 1024 * 1024
TOKEN_ENV = "TUNERY_SERVE_TOKEN"
POLL_S = 0.05  # how often a waiting handler looks for a departed client


class Served:
    """What the HTTP handlers share: the engine, the tokenizer and the server's settings."""

    def __init__(self, spec: ServeSpec, engine: Engine, tokenizer: Any, tokenizer_lock: Any, max_model_len: int):
        self.spec = spec
        self.engine = engine
        self.tokenizer = tokenizer
        self.tokenizer_lock = tokenizer_lock
        self.max_model_len = max_model_len
        self.token = os.environ.get(TOKEN_ENV) or None
        self.created = int(time.time())
        self.admin_lock = threading.Lock()  # one adapter load or unload at a time
        self.active = 0  # handlers running
        self.active_lock = threading.Lock()

    def encode(self, req: Any, adapter: str | None = None) -> list[int]:
        tok = self.tokenizer
        template = self.engine.adapters.templates.get(adapter) if adapter is not None else None
        with self.tokenizer_lock:
            if req.kind == "completion":
                ids = tok(req.prompt)["input_ids"]
                if not ids:
                    raise bad("prompt", "must not be empty")
                return list(ids)
            if template is None and not getattr(tok, "chat_template", None):
                raise bad("messages", "this model has no chat template; use /v1/completions or set the serve spec's chat_template")
            try:
                text = tok.apply_chat_template(req.messages, chat_template=template, tokenize=False, add_generation_prompt=True)
            except Exception as e:  # noqa: BLE001 - a template that refuses the conversation
                raise bad("messages", f"the chat template refused these messages: {e}") from e
            return list(tok(text, add_special_tokens=False)["input_ids"])

    def encode_answered(self, messages: list[dict[str, str]], answer: str, adapter: str | None = None) -> list[int]:
        """The tokens of the conversation with ``answer`` as the assistant's next message."""
        tok = self.tokenizer
        template = self.engine.adapters.templates.get(adapter) if adapter is not None else None
        with self.tokenizer_lock:
            try:
                text = tok.apply_chat_template(
                    [*messages, {"role": "assistant", "content": answer}], chat_template=template, tokenize=False, add_generation_prompt=False
                )
            except Exception as e:  # noqa: BLE001 - a template that refuses the conversation
                raise bad("messages", f"the chat template refused these messages: {e}") from e
            return list(tok(text, add_special_tokens=False)["input_ids"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tunery-serve"
    disable_nagle_algorithm = True
    served: Served  # set on the subclass made by make_server

    # ------------------------------------------------------------------------ plumbing

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        with self.served.active_lock:
            self.served.active += 1
        try:
            self._authenticate()
            path = self.path.split("?", 1)[0]
            if method == "GET" and path == "/health":
                return self._health()
            if method == "GET" and path == "/v1/models":
                return self._models()
            if method == "POST" and path == "/v1/chat/completions":
                return self._generate("chat")
            if method == "POST" and path == "/v1/completions":
                return self._generate("completion")
            if method == "POST" and path == "/v1/tunery/score":
                return self._score()
            if method == "POST" and path == "/adapters":
                return self._load_adapter()
            if method == "DELETE" and path.startswith("/adapters/"):
                from urllib.parse import unquote

                return self._unload_adapter(unquote(path[len("/adapters/") :]))
            # vLLM's runtime LoRA endpoints, the same operations under vLLM's names.
            if method == "POST" and path == "/v1/load_lora_adapter":
                return self._load_adapter(("lora_name", "lora_path"))
            if method == "POST" and path == "/v1/unload_lora_adapter":
                return self._unload_adapter(self._lora_name())
            known = ("/health", "/v1/models", "/v1/chat/completions", "/v1/completions", "/adapters", "/v1/load_lora_adapter",
                     "/v1/unload_lora_adapter", "/v1/tunery/score")
            if path in known or path.startswith("/adapters/"):
                raise ApiError(405, f"method {method} is not allowed on {path}", None, "method_not_allowed")
            raise ApiError(404, f"no such endpoint: {method} {path}", None, "not_found")
        except ApiError as e:
            self._send_json(e.status, e.body())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - one failed request never ends the server
            log.exception("request failed")
            self._send_json(500, ApiError(500, f"{type(e).__name__}: {e}", None, "internal").body())
        finally:
            with self.served.active_lock:
                self.served.active -= 1

    def _authenticate(self) -> None:
        token = self.served.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            self.close_connection = True  # its body is left unread
            raise ApiError(401, "a valid bearer token is required (Authorization: Bearer ...)", None, "invalid_api_key")

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._chunked_body()
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "bad Content-Length", None, "invalid_request") from None
            if length > MAX_BODY:
                self._discard(length)
                raise ApiError(413, f"the request body is {length} bytes; at most {MAX_BODY} are accepted", None, "request_too_large")
            raw = self.rfile.read(length) if length > 0 else b""
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, f"the request body is not valid JSON: {e}", None, "invalid_json") from e

    def _discard(self, length: int) -> None:
        """Reads and drops a refused body (so that the client reads the answer rather than a
        reset), unless it is huge: then the connection is closed."""
        self.close_connection = True
        if length > 16 * MAX_BODY:
            return
        while length > 0:
            got = self.rfile.read(min(length, 1 << 16))
            if not got:
                return
            length -= len(got)

    def _chunked_body(self) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "bad chunked request body", None, "invalid_request") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                raise ApiError(413, f"the request body is over {MAX_BODY} bytes", None, "request_too_large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _client_gone(self) -> bool:
        """True when the client closed its end (the socket reads EOF) or reset it."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # ------------------------------------------------------------------------ endpoints

    def _health(self) -> None:
        queued, running = self.served.engine.counts()
        self._send_json(
            200,
            {
                "status": "ok",
                "model": self.served.spec.model_name,
                "adapters": self.served.engine.adapter_names(),
                "queued": queued,
                "running": running,
            },
        )

    def _models(self) -> None:
        names = [self.served.spec.model_name] + self.served.engine.adapter_names()
        data = [{"id": n, "object": "model", "created": self.served.created, "owned_by": "tunery"} for n in names]
        self._send_json(200, {"object": "list", "data": data})

    def _load_adapter(self, fields: tuple[str, str] = ("name", "path")) -> None:
        """Loads an adapter: ``{"name", "path"}`` (``/adapters``) or vLLM's ``{"lora_name",
        "lora_path"}`` (``/v1/load_lora_adapter``)."""
        body = self._body()
        if not isinstance(body, dict):
            raise bad(None, "the request body must be a JSON object")
        name_field, path_field = fields
        for key in body:
            if key not in fields:
                raise bad(key, "unknown field", "unsupported_parameter")
        name, path = body.get(name_field), body.get(path_field)
        if not isinstance(name, str) or not name:
            raise bad(name_field, f"expected a non-empty string, got {json.dumps(name)}")
        problem = adapter_name_problem(name)
        if problem:
            raise bad(name_field, f"{problem}, got {json.dumps(name)}")
        if name == self.served.spec.model_name:
            raise ApiError(409, f"{name_field}: {name} is the base model's name", name_field, "name_taken")
        if not isinstance(path, str) or not path:
            raise bad(path_field, f"expected a non-empty string, got {json.dumps(path)}")
        if not os.path.isabs(path):
            raise bad(path_field, f"must be an absolute path, got {json.dumps(path)}")
        engine = self.served.engine
        with self.served.admin_lock:
            loaded = engine.served_path(name)
            if loaded is not None:
                if os.path.normpath(loaded) == os.path.normpath(path):
                    return self._send_json(200, {"name": name, "loaded": True})
                raise ApiError(409, f"{name_field}: adapter {name} is already loaded from {loaded}", name_field, "adapter_conflict")
            try:
                engine.load_adapter(name, path)
            except AdapterError as e:
                raise bad(path_field, str(e), "adapter_load_failed") from e
        self._send_json(200, {"name": name, "loaded": True})

    def _lora_name(self) -> str:
        body = self._body()
        if not isinstance(body, dict):
            raise bad(None, "the request body must be a JSON object")
        for key in body:
            if key != "lora_name":
                raise bad(key, "unknown field", "unsupported_parameter")
        name = body.get("lora_name")
        if not isinstance(name, str) or not name:
            raise bad("lora_name", f"expected a non-empty string, got {json.dumps(name)}")
        return name

    def _unload_adapter(self, name: str) -> None:
        engine = self.served.engine
        with self.served.admin_lock:
            if engine.served_path(name) is None:
                raise ApiError(404, f"no adapter named {name} is loaded", "name", "model_not_found")
            engine.unload_adapter(name)
        self._send_json(200, {"name": name, "loaded": False})

    def _score(self) -> None:
        """How likely the model finds an answer to a conversation (for perplexity):
        ``{"model", "messages", "answer"}`` → ``{"tokens", "logprob"}``, the answer's tokens being
        those the chat template adds for it as the assistant's next message (its end-of-turn
        marker included), the log-probability summed over them (natural log)."""
        served = self.served
        body = self._body()
        if not isinstance(body, dict):
            raise bad(None, "the body must be a JSON object")
        refuse_unknown(body, {"model", "messages", "answer"})
        model, answer = body.get("model"), body.get("answer")
        if not isinstance(model, str) or not model:
            raise bad("model", "give the model's name")
        if not isinstance(answer, str):
            raise bad("answer", "give the answer as a string")
        adapter: str | None = None
        if model != served.spec.model_name:
            if served.engine.served_path(model) is None:
                raise ApiError(404, f"The model `{model}` does not exist.", "model", "model_not_found")
            adapter = model
        req = parse_request({"model": model, "messages": body.get("messages")}, "chat")
        prompt_ids = served.encode(req, adapter)
        full_ids = served.encode_answered(req.messages, answer, adapter)
        if full_ids[: len(prompt_ids)] != prompt_ids or len(full_ids) <= len(prompt_ids):
            raise bad("messages", "the chat template renders the answered conversation without the prompt as its start")
        if len(full_ids) > served.max_model_len:
            raise context_error(served.max_model_len, len(full_ids), None, "answer")
        try:
            logprob = served.engine.score(adapter, full_ids, len(prompt_ids))
        except ModelNotFound:
            raise ApiError(404, f"The model `{model}` does not exist.", "model", "model_not_found") from None
        self._send_json(200, {"object": "tunery.score", "model": model, "tokens": len(full_ids) - len(prompt_ids), "logprob": logprob})

    def _generate(self, kind: str) -> None:
        served = self.served
        req = parse_request(self._body(), kind)
        adapter: str | None = None
        if req.model != served.spec.model_name:
            if served.engine.served_path(req.model) is None:
                raise ApiError(404, f"The model `{req.model}` does not exist.", "model", "model_not_found")
            adapter = req.model
        prompt_ids = served.encode(req, adapter)
        param = "messages" if kind == "chat" else "prompt"
        limit = served.max_model_len
        if req.max_tokens is None:
            if len(prompt_ids) >= limit:
                raise context_error(limit, len(prompt_ids), None, param)
            max_tokens = limit - len(prompt_ids)
        else:
            if len(prompt_ids) + req.max_tokens > limit:
                raise context_error(limit, len(prompt_ids), req.max_tokens, param)
            max_tokens = req.max_tokens
        sampling = Sampling(
            max_tokens=max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            n=req.n,
            stop=req.stop,
            seed=req.seed,
            ignore_eos=req.ignore_eos,
        )
        request = Request(adapter, prompt_ids, sampling)
        try:
            served.engine.submit(request)
        except ModelNotFound:
            raise ApiError(404, f"The model `{req.model}` does not exist.", "model", "model_not_found") from None
        answer = Answer(kind, req.model)
        try:
            if req.stream:
                self._stream(request, answer, req.include_usage, req.continuous_usage)
            else:
                self._whole(request, answer)
        finally:
            if not request.closed:
                request.cancel()
                served.engine.wake()

    def _events(self, request: Request):
        """The request's events; stops (cancelling it) when the client goes away."""
        last_check = time.monotonic()
        while True:
            try:
                event = request.events.get(timeout=POLL_S)
            except queue.Empty:
                event = None
            now = time.monotonic()
            if event is None or now - last_check >= POLL_S:
                last_check = now
                if self._client_gone():
                    log.info("client went away: request %d cancelled", request.id)
                    self.close_connection = True
                    return
            if event is not None:
                yield event
                if event[0] in ("done", "error", "aborted"):
                    return

    def _whole(self, request: Request, answer: Answer) -> None:
        n = request.sampling.n
        texts = [""] * n
        reasons = ["stop"] * n
        for event in self._events(request):
            kind = event[0]
            if kind == "text":
                texts[event[1]] += event[2]
            elif kind == "finish":
                reasons[event[1]] = event[2]
            elif kind == "done":
                return self._send_json(200, answer.whole(texts, reasons, event[1]))
            elif kind == "error":
                raise ApiError(500, f"generation failed: {event[1]}", None, "internal")
            elif kind == "aborted":
                self.close_connection = True
                raise ApiError(503, event[1], None, "server_stopping")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _sse(self, obj: Any) -> None:
        self._write_chunk(b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n")

    def _stream(self, request: Request, answer: Answer, include_usage: bool, continuous_usage: bool = False) -> None:
        def usage() -> bool | dict[str, int]:
            if not continuous_usage:
                return include_usage
            prompt, completion = len(request.prompt_ids), request.completion_tokens
            return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            started = set()
            for event in self._events(request):
                kind = event[0]
                if kind in ("text", "finish"):
                    choice = event[1]
                    first = choice not in started
                    started.add(choice)
                    if kind == "text":
                        self._sse(answer.chunk(choice, event[2], None, first=first, usage=usage()))
                    else:
                        text = "" if first or answer.kind == "completion" else None
                        self._sse(answer.chunk(choice, text, event[2], first=first, usage=usage()))
                elif kind == "done":
                    if include_usage:
                        self._sse(answer.usage_chunk(event[1]))
                    self._write_chunk(b"data: [DONE]\n\n")
                    self._write_chunk(b"")  # the last chunk: 0\r\n\r\n
                    return
                else:  # error or aborted: end the stream without [DONE], the body left incomplete
                    log.warning("stream of request %d ended early: %s", request.id, event[1])
                    self.close_connection = True
                    return
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away: request %d cancelled", request.id)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def make_server(served: Served) -> _Server:
    handler = type("ServeHandler", (Handler,), {"served": served})
    host = served.spec.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("ServeServer", (_Server,), {"address_family": family})
    try:
        return server_class((host, served.spec.port), handler)
    except OSError as e:
        raise RuntimeFailure("internal", f"cannot listen on {host}:{served.spec.port}: {e.strerror or e}") from e


# ------------------------------------------------------------------------------------ the mode


def _load(spec: ServeSpec):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .model import pick_device

    if spec.threads:
        torch.set_num_threads(spec.threads)
    device = pick_device(spec.device, 0)
    if device.type == "cuda":
        dtype, dtype_name = (torch.bfloat16, "bf16") if torch.cuda.is_bf16_supported() else (torch.float16, "fp16")
    else:
        dtype, dtype_name = torch.float32, "fp32"
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.model_path)
        model = AutoModelForCausalLM.from_pretrained(spec.model_path, dtype=dtype)
    except Exception as e:
        raise RuntimeFailure("model_load_failed", f"cannot load the model from {spec.model_path}: {e}") from e
    if spec.chat_template is not None:
        tokenizer.chat_template = spec.chat_template
    if spec.weights is not None:
        overlay_weights(model, spec.weights)
    model.to(device).eval()
    adapters = AdapterSet(model)
    for a in spec.adapters:
        try:
            adapters.load(a.name, a.path)
        except AdapterError as e:
            raise RuntimeFailure("model_load_failed", f"adapter {a.name}: {e}") from e
    return tokenizer, adapters, device, dtype_name


def overlay_weights(model: Any, path: str) -> int:
    """Copies the weights in ``path`` (a full or freeze fine-tune's checkpoint,
    ``trainable.safetensors``: parameters by name) over the loaded model; returns how many
    tensors it copied. A name or shape that is not the model's fails the start, naming it."""
    import torch
    from safetensors.torch import load_file

    try:
        weights = load_file(path)
    except Exception as e:
        raise RuntimeFailure("model_load_failed", f"cannot read the weights {path}: {e}") from e
    named = dict(model.named_parameters())
    unknown = sorted(set(weights) - set(named))
    if unknown:
        raise RuntimeFailure("model_load_failed", f"{path}: {len(unknown)} of its weights are not this model's (first: {unknown[0]})")
    with torch.no_grad():
        for name, tensor in weights.items():
            param = named[name]
            if tuple(tensor.shape) != tuple(param.shape):
                raise RuntimeFailure(
                    "model_load_failed", f"{path}: {name} has shape {tuple(tensor.shape)}, the model's is {tuple(param.shape)}"
                )
            param.copy_(tensor.to(param.dtype))
    return len(weights)


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None), model.config.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, (list, tuple)):
            ids.update(x for x in source if isinstance(x, int))
    return ids


def _context_length(model: Any, tokenizer: Any) -> int:
    cfg = model.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    for source in (text_cfg, cfg):
        value = getattr(source, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**7 else 2048


def _emit_last(emitter: Any, kind: str, **fields: Any) -> None:
    """The last event: a server that went away leaves no reader (a broken pipe is no reason
    to stay alive)."""
    try:
        emitter.emit(kind, **fields)
    except OSError:
        pass


def run_serve(spec: ServeSpec, workdir: str, emitter: Any) -> int:
    stop = threading.Event()
    # The Tunery server that started this process: when it is gone (killed, crashed), nobody
    # routes requests here any more and its next start brings up a new backend, so stop.
    parent = os.getppid()

    def on_signal(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            log.warning("received signal %d: stopping the server", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    tokenizer, adapters, device, dtype_name = _load(spec)
    lock = threading.Lock()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    engine = Engine(
        adapters,
        tokenizer,
        device,
        max_batch_size=spec.max_batch_size,
        batch_wait_ms=spec.batch_wait_ms,
        batched_lora=spec.batched_lora,
        eos_ids=_eos_ids(tokenizer, adapters.base),
        pad_id=pad_id,
        tokenizer_lock=lock,
    )
    max_model_len = spec.max_model_len or _context_length(adapters.base, tokenizer)
    served = Served(spec, engine, tokenizer, lock, max_model_len)
    if stop.is_set():
        emitter.emit("stopped", step=0, checkpoint=None)
        return 75
    server = make_server(served)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="tunery-http", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    log.info("serving %s on http://%s:%d (%s, max_model_len %d)", spec.model_name, spec.host, port, device, max_model_len)
    emitter.emit("ready", host=spec.host, port=int(port), device=str(device), dtype=dtype_name, adapters=engine.adapter_names())

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                log.warning("the process that started this server (pid %d) is gone: stopping", parent)
                stop.set()
        # Whatever happens next, the process ends within the grace period.
        watchdog = threading.Timer(15.0, lambda: os._exit(75))
        watchdog.daemon = True
        watchdog.start()
        server.shutdown()  # no new connections; handlers in flight go on
        server.server_close()
        engine.stop()  # in-flight requests see "aborted": streams end without [DONE]; run() returns

    watcher = threading.Thread(target=watch, name="tunery-stop", daemon=True)
    watcher.start()
    try:
        engine.run()  # decodes on this thread (the one that loaded the model) until stopped
    except BaseException as e:
        log.exception("the engine failed")
        stop.set()
        watcher.join(timeout=20)
        raise RuntimeFailure("internal", f"the engine failed: {type(e).__name__}: {e}") from e
    watcher.join(timeout=20)
    deadline = time.monotonic() + 5
    while served.active and time.monotonic() < deadline:
        time.sleep(0.02)
    _emit_last(emitter, "stopped", step=0, checkpoint=None)
    return 75
