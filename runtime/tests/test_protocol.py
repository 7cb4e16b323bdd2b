"""The golden fixtures in protocol/ (shared with the Rust tests) against this runtime."""

from __future__ import annotations

import io
import json

import pytest

from conftest import PROTOCOL
from tunery_runtime.events import SCHEMA, Emitter, validate_event
from tunery_runtime.spec import SpecError, TrainSpec, load_json, parse_import_spec, parse_train_spec

VALID = sorted((PROTOCOL / "spec").glob("*.json"))
INVALID_DIR = PROTOCOL / "spec-invalid"
EXPECTED = json.loads((INVALID_DIR / "expected-errors.json").read_text())
EVENT_FILES = sorted((PROTOCOL / "events").glob("*.jsonl"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_specs_parse(path):
    spec = parse_train_spec(load_json(str(path)))
    assert isinstance(spec, TrainSpec)
    assert len(spec.hash()) == 64


def test_every_invalid_fixture_has_an_expected_error():
    files = {p.name for p in INVALID_DIR.glob("*.json")} - {"expected-errors.json"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_specs_give_the_exact_error(name):
    with pytest.raises(SpecError) as err:
        parse_train_spec(load_json(str(INVALID_DIR / name)))
    assert str(err.value) == EXPECTED[name]


def test_defaults_are_the_documented_ones():
    spec = parse_train_spec(load_json(str(PROTOCOL / "spec" / "minimal-lora.json")))
    assert spec.objective == "sft"
    assert (spec.data.max_seq_length, spec.data.packing) == (1024, True)
    assert spec.method.kind == "lora"
    assert (spec.method.lora.rank, spec.method.lora.alpha, spec.method.lora.dropout) == (8, 16, 0.05)
    assert spec.method.lora.target_modules == "all-linear"
    assert spec.method.freeze.trainable_layers == 2
    t = spec.training
    assert (t.epochs, t.max_steps, t.micro_batch_size, t.gradient_accumulation_steps) == (1.0, None, 4, 1)
    assert (t.learning_rate, t.lr_scheduler, t.warmup_steps, t.weight_decay, t.max_grad_norm) == (2e-4, "cosine", 0, 0.0, 1.0)
    assert (t.seed, t.precision, t.gradient_checkpointing) == (42, "auto", False)
    assert (t.eval_every_steps, t.early_stopping_patience, t.checkpoint_every_steps, t.keep_checkpoints) == (None, None, 50, 2)
    assert (t.log_every_steps, t.dpo_beta) == (1, 0.1)
    assert (spec.output.merge_lora, spec.resume_from, spec.device, spec.threads) == (False, None, "auto", None)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"training": {"max_grad_norm": -1}}, "training.max_grad_norm: must be >= 0, got -1"),
        ({"training": {"seed": True}}, "training.seed: expected an integer, got true"),
        ({"training": {"early_stopping_patience": 2}}, "training.early_stopping_patience: needs training.eval_every_steps"),
        ({"method": {"lora": {"target_modules": ["q_proj", ""]}}}, 'method.lora.target_modules[1]: expected a non-empty string, got ""'),
        ({"method": {"freeze": {"trainable_layers": 0}}}, "method.freeze.trainable_layers: must be >= 1, got 0"),
        ({"method": "lora"}, 'method: expected an object, got "lora"'),
        ({"threads": 0}, "threads: must be >= 1, got 0"),
    ],
)
def test_more_rules(patch, message):
    doc = json.loads((PROTOCOL / "spec" / "minimal-lora.json").read_text())
    for k, v in patch.items():
        doc[k] = v
    with pytest.raises(SpecError) as err:
        parse_train_spec(doc)
    assert str(err.value) == message


def test_import_spec():
    spec = parse_import_spec({"spec_version": 1, "source": {"kind": "gguf", "path": "/a.gguf"}, "output_dir": "/o"})
    assert (spec.source.kind, spec.source.path, spec.output_dir) == ("gguf", "/a.gguf", "/o")
    with pytest.raises(SpecError, match=r"^source\.kind: must be one of gguf, directory, archive, got \"hub\"$"):
        parse_import_spec({"spec_version": 1, "source": {"kind": "hub", "path": "/a"}, "output_dir": "/o"})
    with pytest.raises(SpecError, match=r"^source\.sha: unknown key$"):
        parse_import_spec({"spec_version": 1, "source": {"kind": "gguf", "path": "/a", "sha": "x"}, "output_dir": "/o"})


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_event_fixtures_match_the_schema(path):
    lines = path.read_text().splitlines()
    assert lines
    for line in lines:
        validate_event(json.loads(line))


def test_event_fixtures_cover_every_event_type():
    kinds = {json.loads(l)["event"] for p in EVENT_FILES for l in p.read_text().splitlines()}
    assert kinds == set(SCHEMA)


def test_emitter_reproduces_the_fixture_events():
    """Every fixture event, re-emitted through the Emitter, has the same fields and JSON types."""
    for path in EVENT_FILES:
        for line in path.read_text().splitlines():
            fixture = json.loads(line)
            out = io.StringIO()
            fields = {k: v for k, v in fixture.items() if k not in ("event", "time")}
            Emitter(out).emit(fixture["event"], **fields)
            emitted = json.loads(out.getvalue())
            assert out.getvalue().count("\n") == 1
            assert set(emitted) == set(fixture)
            assert type(emitted["time"]) is int
            for k in fields:
                assert emitted[k] == fixture[k]


def test_emitter_refuses_malformed_events():
    e = Emitter(io.StringIO())
    with pytest.raises(ValueError):
        e.emit("progress", step=1)
    with pytest.raises(ValueError):
        e.emit("failed", code="oops", message="x", hint=None)
    with pytest.raises(ValueError):
        e.emit("nonsense")


def test_exit_codes_and_invalid_spec_event(tmp_path, capsys):
    from tunery_runtime.__main__ import main

    spec = tmp_path / "spec.json"
    spec.write_text((INVALID_DIR / "unknown-training-key.json").read_text())
    assert main(["train", "--spec", str(spec), "--workdir", str(tmp_path / "w")]) == 2
    events = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(events) == 1
    validate_event(events[0])
    assert events[0]["event"] == "failed"
    assert events[0]["code"] == "invalid_spec"
    assert events[0]["message"] == EXPECTED["unknown-training-key.json"]
    spec.write_text("{not json")
    assert main(["train", "--spec", str(spec), "--workdir", str(tmp_path / "w")]) == 2
