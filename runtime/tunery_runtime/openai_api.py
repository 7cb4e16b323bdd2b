"""The OpenAI HTTP subset ``serve`` speaks (protocol/README.md, "Serve spec"): request
validation with OpenAI-shaped errors that name the field, and the response and chunk objects."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """An HTTP error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    @property
    def type(self) -> str:
        if self.status == 401:
            return "authentication_error"
        if self.status >= 500:
            return "server_error"
        return "invalid_request_error"

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad(param: str | None, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, f"{param}: {message}" if param else message, param, code)


ROLES = ("system", "user", "assistant")
# ``ignore_eos`` is vLLM's extension: generate exactly max_tokens (benchmarks, load tests).
_COMMON = ("model", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "stream", "stream_options", "ignore_eos")
CHAT_FIELDS = frozenset(_COMMON + ("messages", "max_completion_tokens"))
COMPLETION_FIELDS = frozenset(_COMMON + ("prompt",))
# Neutral values that are not null, 0, false or "text" but mean "nothing asked for" all the same.
_NEUTRAL_EXTRA = {"response_format": ({"type": "text"},), "best_of": (1,), "tool_choice": ("none",)}


def _neutral(key: str, value: Any) -> bool:
    if value is None or value is False or value == "text":
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return True
    if isinstance(value, (list, dict)) and not value:
        return True
    return value in _NEUTRAL_EXTRA.get(key, ())


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def refuse_unknown(obj: dict, allowed: frozenset | set, path: str = "") -> None:
    for key, value in obj.items():
        if key not in allowed and not _neutral(key, value):
            name = f"{path}.{key}" if path else key
            raise bad(name, f"is not supported by this server (only its neutral value is accepted), got {_show(value)}", "unsupported_parameter")


def _number(body: dict, key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise bad(key, f"expected a number, got {_show(value)}")
    if not lo <= value <= hi:
        raise bad(key, f"must be between {lo:g} and {hi:g}, got {_show(value)}")
    return float(value)


def _integer(body: dict, key: str, lo: int | None = None, hi: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(key, f"expected an integer, got {_show(value)}")
    if lo is not None and value < lo or hi is not None and value > hi:
        rule = f"between {lo} and {hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None else f"<= {hi}"
        raise bad(key, f"must be {rule}, got {value}")
    return value


def _text(content: Any, path: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            at = f"{path}[{j}]"
            if not isinstance(part, dict):
                raise bad(at, f"expected an object, got {_show(part)}")
            if part.get("type") != "text":
                raise bad(f"{at}.type", f'only "text" parts are supported, got {_show(part.get("type"))}')
            if not isinstance(part.get("text"), str):
                raise bad(f"{at}.text", f"expected a string, got {_show(part.get('text'))}")
            refuse_unknown(part, {"type", "text"}, at)
            parts.append(part["text"])
        return "\n".join(parts)
    raise bad(path, f"expected a string or a list of text parts, got {_show(content)}")


def _messages(value: Any) -> list[dict[str, str]]:
    if value is None:
        raise bad("messages", "required", "missing_required_parameter")
    if not isinstance(value, list) or not value:
        raise bad("messages", f"expected a non-empty list of messages, got {_show(value)}")
    out = []
    for i, message in enumerate(value):
        at = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad(at, f"expected an object, got {_show(message)}")
        role = message.get("role")
        if role not in ROLES:
            raise bad(f"{at}.role", f"must be one of {', '.join(ROLES)}, got {_show(role)}")
        if "content" not in message or message["content"] is None:
            raise bad(f"{at}.content", "required", "missing_required_parameter")
        refuse_unknown(message, {"role", "content"}, at)
        out.append({"role": role, "content": _text(message["content"], f"{at}.content")})
    return out


@dataclass(frozen=True)
class GenRequest:
    kind: str  # "chat" | "completion"
    model: str
    messages: list[dict[str, str]] | None
    prompt: str | None
    max_tokens: int | None
    temperature: float
    top_p: float
    n: int
    stop: tuple[str, ...]
    seed: int | None
    stream: bool
    include_usage: bool
    # vLLM's stream_options.continuous_usage_stats: every chunk carries the usage so far (the
    # gateway asks for it, so a stream cut short is still metered).
    continuous_usage: bool = False
    ignore_eos: bool = False


def _flag(body: dict, field: str) -> bool:
    value = body.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(field, f"expected a boolean, got {_show(value)}")
    return value


def parse_request(body: Any, kind: str) -> GenRequest:
    """Validates a chat (``kind`` "chat") or completions request body."""
    if not isinstance(body, dict):
        raise bad(None, f"the request body must be a JSON object, got {_show(body)}")
    refuse_unknown(body, CHAT_FIELDS if kind == "chat" else COMPLETION_FIELDS)
    model = body.get("model")
    if model is None:
        raise bad("model", "required", "missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise bad("model", f"expected a model name, got {_show(model)}")
    messages = prompt = None
    if kind == "chat":
        messages = _messages(body.get("messages"))
        max_tokens = _integer(body, "max_completion_tokens", lo=1)
        if max_tokens is None:
            max_tokens = _integer(body, "max_tokens", lo=1)
    else:
        prompt = body.get("prompt")
        if prompt is None:
            raise bad("prompt", "required", "missing_required_parameter")
        if not isinstance(prompt, str):
            raise bad("prompt", f"expected one string, got {_show(prompt)}")
        max_tokens = _integer(body, "max_tokens", lo=1)
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    n = _integer(body, "n", lo=1, hi=16) or 1
    stop_raw = body.get("stop")
    if stop_raw is None:
        stop: tuple[str, ...] = ()
    elif isinstance(stop_raw, str):
        stop = (stop_raw,)
    elif isinstance(stop_raw, list) and len(stop_raw) <= 4 and all(isinstance(s, str) for s in stop_raw):
        stop = tuple(stop_raw)
    else:
        raise bad("stop", f"expected a string or a list of up to 4 strings, got {_show(stop_raw)}")
    if any(s == "" for s in stop):
        raise bad("stop", "must not contain an empty string")
    seed = _integer(body, "seed", lo=-(2**63), hi=2**64 - 1)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("stream", f"expected a boolean, got {_show(stream)}")
    include_usage = continuous_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise bad("stream_options", "only allowed when stream is true")
        if not isinstance(options, dict):
            raise bad("stream_options", f"expected an object, got {_show(options)}")
        refuse_unknown(options, {"include_usage", "continuous_usage_stats"}, "stream_options")
        include_usage = options.get("include_usage") or False
        if not isinstance(include_usage, bool):
            raise bad("stream_options.include_usage", f"expected a boolean, got {_show(include_usage)}")
        continuous_usage = options.get("continuous_usage_stats") or False
        if not isinstance(continuous_usage, bool):
            raise bad("stream_options.continuous_usage_stats", f"expected a boolean, got {_show(continuous_usage)}")
    return GenRequest(
        kind=kind,
        model=model,
        messages=messages,
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        n=n,
        stop=stop,
        seed=seed,
        stream=bool(stream),
        include_usage=include_usage,
        continuous_usage=continuous_usage,
        ignore_eos=_flag(body, "ignore_eos"),
    )


def context_error(limit: int, prompt_tokens: int, max_tokens: int | None, param: str) -> ApiError:
    if max_tokens is None:
        message = (
            f"This model's maximum context length is {limit} tokens. However, your {param} resulted in "
            f"{prompt_tokens} tokens, which leaves no room for a completion. Please reduce the length of the {param}."
        )
    else:
        message = (
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the {param}, {max_tokens} in the completion). "
            f"Please reduce the length of the {param} or completion."
        )
    return ApiError(400, message, param, "context_length_exceeded")


# ------------------------------------------------------------------------------------ responses


class Answer:
    """Builds the response objects of one request (whole or as stream chunks)."""

    def __init__(self, kind: str, model: str):
        self.kind = kind
        self.model = model
        self.id = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    def _envelope(self, obj: str, choices: list, **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": choices, **extra}

    def whole(self, texts: list[str], reasons: list[str], usage: dict[str, int]) -> dict[str, Any]:
        if self.kind == "chat":
            choices = [
                {"index": i, "message": {"role": "assistant", "content": t}, "logprobs": None, "finish_reason": r}
                for i, (t, r) in enumerate(zip(texts, reasons))
            ]
            return self._envelope("chat.completion", choices, usage=usage)
        choices = [{"index": i, "text": t, "logprobs": None, "finish_reason": r} for i, (t, r) in enumerate(zip(texts, reasons))]
        return self._envelope("text_completion", choices, usage=usage)

    def chunk(
        self, choice: int, text: str | None, reason: str | None, *, first: bool = False, usage: bool | dict[str, int] = False
    ) -> dict[str, Any]:
        """A chunk with one choice; ``usage`` adds ``"usage": null`` (with include_usage), or the
        usage so far (a dict, with continuous_usage_stats)."""
        extra: dict[str, Any] = {"usage": usage if isinstance(usage, dict) else None} if usage else {}
        if self.kind == "chat":
            delta: dict[str, Any] = {}
            if first:
                delta["role"] = "assistant"
            if text is not None:
                delta["content"] = text
            c = {"index": choice, "delta": delta, "logprobs": None, "finish_reason": reason}
            return self._envelope("chat.completion.chunk", [c], **extra)
        c = {"index": choice, "text": text or "", "logprobs": None, "finish_reason": reason}
        return self._envelope("text_completion", [c], **extra)

    def usage_chunk(self, usage: dict[str, int]) -> dict[str, Any]:
        return self._envelope("chat.completion.chunk" if self.kind == "chat" else "text_completion", [], usage=usage)
