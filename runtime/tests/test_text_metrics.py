"""score-text: BERTScore equal to the bert-score package on the real offline encoder, BLEURT
through a PyTorch port (a tiny regression model built here), and the subprocess protocol."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import PYTHON, RUNTIME, require_file
from tunery_runtime.errors import RuntimeFailure
from tunery_runtime.events import validate_event
from tunery_runtime.text_metrics import bertscore, bleurt

CACHE = Path(os.environ.get("TUNERY_CACHE_DIR", Path.home() / ".cache" / "tunery"))
ENCODER = Path(os.environ.get("TUNERY_BERTSCORE_MODEL", CACHE / "models" / "all-minilm-l6-v2"))
REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "bertscore_reference.json").read_text())
CPU = torch.device("cpu")


def encoder() -> str:
    require_file(ENCODER / "model.safetensors", "scripts/fetch-bertscore-encoder.sh fetches it")
    return str(ENCODER)


@pytest.mark.parametrize("result", REFERENCE["results"], ids=lambda r: f"layer{r['layer']}")
def test_bertscore_equals_the_bert_score_package(result):
    cases = result["cases"]
    # Batches of 3 over texts of mixed lengths: padding must not change a score.
    scores, about = bertscore([(c["prediction"], c["references"]) for c in cases], encoder(), result["layer"], 3, CPU)
    assert about["layer"] == result["layer"] and about["layers"] == 6 and about["model_type"] == "bert"
    for case, got in zip(cases, scores):
        for key in ("precision", "recall", "f1"):
            assert got[key] == pytest.approx(case[key], abs=1e-5), (case["prediction"][:40], key)


def test_bertscore_edge_cases():
    scores, about = bertscore([("", ["a reference"]), ("an answer", ["   "]), ("same words", ["same words"])], encoder(), None, 8, CPU)
    assert about["layer"] == 6  # the last layer by default
    assert scores[0] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert scores[1] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert scores[2]["f1"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(RuntimeFailure, match="the encoder has 6 layers"):
        bertscore([("a", ["b"])], encoder(), 7, 8, CPU)


@pytest.fixture(scope="module")
def tiny_bleurt(tmp_path_factory) -> Path:
    """A regression model over (reference, candidate) in the shape of the BLEURT PyTorch ports:
    BertForSequenceClassification with one output, with the encoder's WordPiece tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    directory = tmp_path_factory.mktemp("bleurt")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).eval().save_pretrained(directory)
    AutoTokenizer.from_pretrained(encoder()).save_pretrained(directory)
    return directory


def test_bleurt_scores_each_pair_with_the_checkpoint_and_keeps_the_best_reference(tiny_bleurt):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    examples = [("The cat sat.", ["A cat was sitting.", "Dogs bark loudly at night."]), ("Paris", ["The capital is Paris"])]
    scores, about = bleurt(examples, str(tiny_bleurt), 2, CPU)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bleurt)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bleurt).eval()
    with torch.no_grad():
        for (candidate, references), got in zip(examples, scores):
            each = [model(**tokenizer(r, candidate, return_tensors="pt")).logits[0, 0].item() for r in references]
            assert got["score"] == pytest.approx(max(each), abs=1e-5)
    assert about["model_type"] == "bert"


def test_a_classifier_is_not_a_bleurt_checkpoint(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=3)
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(RuntimeFailure, match="has 3 outputs; a BLEURT port is a regression model with one"):
        bleurt([("a", ["b"])], str(tmp_path), 2, CPU)
    with pytest.raises(RuntimeFailure, match="does not load"):
        bleurt([("a", ["b"])], str(tmp_path / "missing"), 2, CPU)


def test_score_text_process_prints_events_and_writes_scores_in_order(tmp_path):
    examples = tmp_path / "examples.jsonl"
    rows = [{"prediction": "The cat sat on the mat.", "references": ["A cat was sitting on the mat."]}, {"prediction": "yes", "references": ["no"]}]
    examples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"spec_version": 1, "metric": "bertscore", "model_path": encoder(), "layer": 6, "examples_path": str(examples), "device": "cpu"}))
    env = dict(os.environ, PYTHONPATH=str(RUNTIME), HF_HUB_OFFLINE="1")
    proc = subprocess.run([PYTHON, "-m", "tunery_runtime", "score-text", "--spec", str(spec), "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    for e in events:
        validate_event(e)
    assert [e["event"] for e in events] == ["started", "artifact", "finished"]
    assert events[1] == {**events[1], "kind": "text_scores", "path": "scores.jsonl"}
    assert events[2]["summary"]["layer"] == 6 and events[2]["summary"]["model"] == ENCODER.name
    scores = [json.loads(l) for l in (tmp_path / "w" / "scores.jsonl").read_text().splitlines()]
    want = REFERENCE["results"][0]["cases"]
    assert scores[0]["f1"] == pytest.approx(want[0]["f1"], abs=1e-5) and scores[1]["f1"] == pytest.approx(want[5]["f1"], abs=1e-5)
    # A malformed line is invalid_data naming it.
    examples.write_text(json.dumps(rows[0]) + "\n" + '{"prediction": 3, "references": ["x"]}\n')
    proc = subprocess.run([PYTHON, "-m", "tunery_runtime", "score-text", "--spec", str(spec), "--workdir", str(tmp_path / "w2")],
                          capture_output=True, text=True, env=env, timeout=300)
    last = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 1 and last["code"] == "invalid_data" and "line 2" in last["message"], proc.stdout
