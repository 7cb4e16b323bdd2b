"""The Rust chat-template crate renders exactly like the runtime: every fixture case of
``crates/chat-template/tests/fixtures`` (which the Rust tests render byte for byte) is rendered
here with the tokenizer's ``apply_chat_template`` — the call the runtime trains with — and must
give the same text, or fail where the fixture expects an error.

And it locates the same trained spans: ``tests/fixtures/spans/<fixture>.json`` holds the spans the
crate computes for every training rendering (written and checked by the crate's
``tests/trained_spans.rs``); every case with an assistant turn goes through the runtime's own
``Tokenizing`` here, and the tokens it labels must be exactly those that overlap the Rust trained
spans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RUNTIME, build_tokenizer
from tunery_runtime.data import IGNORE, Tokenizing
from tunery_runtime.errors import RuntimeFailure

FIXTURES = RUNTIME.parent / "crates" / "chat-template" / "tests" / "fixtures"
SPANS = FIXTURES / "spans"


def _cases():
    for path in sorted(FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text())
        for case in fixture["cases"]:
            source = case.get("source", fixture.get("source"))
            yield pytest.param(fixture.get("special_tokens", {}), source, case, id=f"{path.stem}/{case['name']}")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(str(tmp_path_factory.mktemp("parity-tokenizer")))


@pytest.mark.parametrize("special_tokens,source,case", list(_cases()))
def test_rust_fixture_renders_identically_through_apply_chat_template(tokenizer, special_tokens, source, case):
    tok = tokenizer
    for name, value in special_tokens.items():
        setattr(tok, name, value)
    kwargs = dict(case.get("variables") or {})
    render = lambda: tok.apply_chat_template(  # noqa: E731
        case["messages"], chat_template=source, tokenize=False, add_generation_prompt=case["add_generation_prompt"], **kwargs
    )
    if case.get("expected") is not None:
        assert render() == case["expected"]
    else:
        with pytest.raises(Exception):
            render()


def test_every_fixture_file_is_covered():
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert {"chatml", "llama3", "qwen2", "mistral", "gemma", "phi3", "features"} <= set(names), names
    assert len(list(_cases())) > 50


# --------------------------------------------------------------------------------------------
# trained spans


def _span_cases():
    for path in sorted(SPANS.glob("*.json")):
        golden = json.loads(path.read_text())
        fixture = json.loads((FIXTURES / path.name).read_text())
        cases = {case["name"]: case for case in fixture["cases"]}
        for expected in golden["cases"]:
            case = cases[expected["name"]]
            if not any(m["role"] == "assistant" for m in case["messages"]):
                continue
            source = case.get("source", fixture.get("source"))
            yield pytest.param(fixture.get("special_tokens", {}), source, case, expected, id=f"{path.stem}/{case['name']}")


class _WithVariables:
    """The tokenizer, with a case's template variables passed to ``apply_chat_template`` as the
    Rust crate passes them (the runtime itself gives none); everything else goes to the tokenizer."""

    def __init__(self, tok, variables):
        self._tok, self._variables = tok, variables

    def apply_chat_template(self, *args, **kwargs):
        return self._tok.apply_chat_template(*args, **kwargs, **self._variables)

    def __call__(self, *args, **kwargs):
        return self._tok(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)


@pytest.mark.parametrize("special_tokens,source,case,expected", list(_span_cases()))
def test_runtime_trains_exactly_the_rust_trained_spans(tokenizer, special_tokens, source, case, expected):
    tok = tokenizer
    for name, value in special_tokens.items():
        setattr(tok, name, value)
    tok.chat_template = source
    tokenizing = Tokenizing(_WithVariables(tok, case.get("variables") or {}), 10**6)
    messages = [{"role": m["role"], "content": m["content"], "weight": m.get("weight", 1)} for m in case["messages"]]
    text = case["expected"]

    # The rule: the same text, method, spans (in characters) and unlocated messages.
    located = tokenizing.locate(messages)
    assert located.text == text
    assert (located.method, located.unlocated) == (expected["method"], expected["unlocated"])
    assert [(s.message_index, s.role, [s.start, s.content_end, s.end], s.trained) for s in located.spans] == [
        (s["message_index"], s["role"], s["chars"], s["trained"]) for s in expected["spans"]
    ]
    for s in expected["spans"]:
        assert text[s["chars"][0] : s["chars"][2]] == s["text"]

    # The labels: a trained assistant message the template does not show is refused, as the Rust
    # side refuses it at submission; otherwise exactly the tokens that overlap a trained span.
    trained = [(s["chars"][0], s["chars"][2]) for s in expected["spans"] if s["trained"]]
    refused = [k for k in expected["unlocated"] if messages[k]["role"] == "assistant" and messages[k]["weight"] != 0]
    if refused:
        with pytest.raises(RuntimeFailure) as err:
            tokenizing.chat(messages, 0, "case")
        assert err.value.code == "unsupported" and f"message {refused[0]}'s content" in err.value.message
        return
    example = tokenizing.chat(messages, 0, "case")
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    overlaps = [any(s < e_span and e > s_span for s_span, e_span in trained) for s, e in offsets]
    if not any(overlaps[1:]):
        assert example is None, "no trained token: the example is dropped"
        return
    assert example.input_ids == enc["input_ids"]
    labelled = [l != IGNORE for l in example.labels]
    assert labelled[0] is False
    assert labelled[1:] == overlaps[1:], [
        (text[s:e], l) for (s, e), l, o in zip(offsets, labelled, overlaps) if l != o
    ]
    for l, t in zip(example.labels, example.input_ids):
        assert l in (IGNORE, t)
    # Every trained character is in a labelled token (but the first token, never predicted).
    covered = set()
    for (s, e), l in zip(offsets, labelled):
        if l:
            covered.update(range(s, e))
    first = set(range(*offsets[0]))
    for s_span, e_span in trained:
        assert set(range(s_span, e_span)) - first <= covered, text[s_span:e_span]


def test_every_fixture_has_its_golden_spans():
    assert sorted(p.name for p in SPANS.glob("*.json")) == sorted(p.name for p in FIXTURES.glob("*.json"))
    cases = list(_span_cases())
    assert len(cases) >= 80
    names = {c.id.split("/")[0] for c in cases}
    assert {"chatml", "llama3", "qwen2", "mistral", "mistral-v0.1", "gemma", "phi3", "features"} <= names
