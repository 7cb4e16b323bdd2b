"""The Rust chat-template crate renders exactly like the runtime: every fixture case of
``crates/chat-template/tests/fixtures`` (which the Rust tests render byte for byte) is rendered
here with the tokenizer's ``apply_chat_template`` — the call the runtime trains with — and must
give the same text, or fail where the fixture expects an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RUNTIME, build_tokenizer

FIXTURES = RUNTIME.parent / "crates" / "chat-template" / "tests" / "fixtures"


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
