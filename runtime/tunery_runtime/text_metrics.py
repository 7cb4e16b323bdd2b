"""Text metrics that need a neural model (``score-text``): BERTScore and BLEURT.

BERTScore is computed as the ``bert-score`` package (0.3.13) computes it with ``idf=False`` and
no baseline rescaling: each text is encoded with the tokenizer's special tokens (whitespace
stripped, truncated to the tokenizer's maximum length; the slow tokenizer, as bert-score loads
it), embedded by the encoder's layer ``layer`` (``hidden_states[layer]``, what bert-score's
model cut to ``layer`` layers outputs), every token vector normalised; precision is the mean
over the candidate's tokens but ``[CLS]``/``[SEP]`` of the best cosine similarity with any
reference token (its special tokens included), recall the same the other way, F1 their harmonic
mean; an empty candidate or reference scores 0; with several references each of P, R and F1
is the largest over them (bert-score's ``max(dim=0)``). bert-score also lets padding take part
in the maximum as similarity 0, which changes a score only when every similarity of a token is
negative; here padding never takes part.

BLEURT is a regression model over (reference, candidate) pairs: a PyTorch port whose folder
loads with ``AutoModelForSequenceClassification`` and has one output (for example the
``bleurt-base-512`` ports); the score is the output for ``tokenizer(reference, candidate)``,
the largest over the references.

The examples file (JSON lines ``{"prediction", "references"}``) is named in the spec and read
from the workdir; scores are written to ``scores.jsonl`` there, one line per example
(``{"precision", "recall", "f1"}`` or ``{"score"}``), announced by an ``artifact`` event of kind
``text_scores``; ``finished.summary`` names the model and layer.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import torch

from .errors import RuntimeFailure
from .events import Emitter
from .model import pick_device


@dataclass(frozen=True)
class TextMetricSpec:
    spec_version: int
    metric: str  # bertscore | bleurt
    model_path: str
    layer: int | None
    examples_path: str
    batch_size: int
    device: str
    threads: int | None


def read_examples(path: str) -> list[tuple[str, list[str]]]:
    examples = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                doc = json.loads(line)
                prediction, references = doc["prediction"], doc["references"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise RuntimeFailure("invalid_data", f"examples line {n}: {e}") from e
            if not isinstance(prediction, str) or not isinstance(references, list) or not references:
                raise RuntimeFailure("invalid_data", f"examples line {n}: prediction must be a string and references a non-empty list")
            if not all(isinstance(r, str) for r in references):
                raise RuntimeFailure("invalid_data", f"examples line {n}: every reference must be a string")
            examples.append((prediction, references))
    return examples


def _load(loader: Any, path: str, what: str) -> Any:
    try:
        return loader(path)
    except Exception as e:  # noqa: BLE001 - any load failure is the model's
        raise RuntimeFailure("model_load_failed", f"the {what} at {path} does not load: {type(e).__name__}: {e}") from e


def _encode(tokenizer: Any, text: str) -> list[int]:
    text = text.strip()
    if not text:
        return tokenizer("", add_special_tokens=True)["input_ids"]  # [CLS] [SEP]: scores 0
    return tokenizer.encode(text, add_special_tokens=True, max_length=tokenizer.model_max_length, truncation=True)


def _padded(rows: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def bertscore(
    examples: list[tuple[str, list[str]]], model_path: str, layer: int | None, batch_size: int, device: torch.device
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    from transformers import AutoModel, AutoTokenizer

    tokenizer = _load(lambda p: AutoTokenizer.from_pretrained(p, use_fast=False), model_path, "BERTScore encoder's tokenizer")
    model = _load(AutoModel.from_pretrained, model_path, "BERTScore encoder")
    model.to(device).eval()
    layers = int(getattr(model.config, "num_hidden_layers", 0))
    layer = layers if layer is None else layer
    if not 0 <= layer <= layers:
        raise RuntimeFailure("invalid_spec", f"layer: the encoder has {layers} layers (0 is its embeddings), got {layer}")
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id}
    # Each distinct text embedded once, longest first (batches of similar lengths pad little),
    # in an order that does not depend on the process (a set's order does): the same batches,
    # so the same float sums, on every run.
    encoded = {t: _encode(tokenizer, t) for p, refs in examples for t in [p, *refs]}
    texts = sorted(encoded, key=lambda t: (-len(encoded[t]), t))
    embedded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            rows = [encoded[t] for t in batch]
            ids, mask = _padded(rows, tokenizer.pad_token_id, device)
            hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
            for i, (text, row) in enumerate(zip(batch, rows)):
                vectors = hidden[i, : len(row)].float()
                vectors = vectors / vectors.norm(dim=-1, keepdim=True)
                weights = torch.tensor([0.0 if t in special else 1.0 for t in row], device=vectors.device)
                embedded[text] = (vectors, weights)

    def pair(candidate: str, reference: str) -> tuple[float, float, float]:
        (c, cw), (r, rw) = embedded[candidate], embedded[reference]
        if cw.sum() == 0 or rw.sum() == 0:
            return 0.0, 0.0, 0.0
        sim = c @ r.T
        p = float((sim.max(dim=1).values * cw).sum() / cw.sum())
        r_ = float((sim.max(dim=0).values * rw).sum() / rw.sum())
        f = 2 * p * r_ / (p + r_) if p + r_ != 0 else 0.0
        return p, r_, f

    scores = []
    for prediction, references in examples:
        each = [pair(prediction, ref) for ref in references]
        scores.append({"precision": max(e[0] for e in each), "recall": max(e[1] for e in each), "f1": max(e[2] for e in each)})
    about = {
        "model": os.path.basename(os.path.normpath(model_path)),
        "model_type": getattr(model.config, "model_type", None),
        "layer": layer,
        "layers": layers,
        "idf": False,
        "rescale_with_baseline": False,
    }
    return scores, about


def bleurt(
    examples: list[tuple[str, list[str]]], model_path: str, batch_size: int, device: torch.device
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = _load(AutoTokenizer.from_pretrained, model_path, "BLEURT checkpoint's tokenizer")
    model = _load(AutoModelForSequenceClassification.from_pretrained, model_path, "BLEURT checkpoint")
    if int(getattr(model.config, "num_labels", 0)) != 1:
        raise RuntimeFailure(
            "model_load_failed",
            f"the BLEURT checkpoint at {model_path} has {model.config.num_labels} outputs; a BLEURT port is a regression model with one",
        )
    model.to(device).eval()
    pairs = [(i, ref, prediction) for i, (prediction, references) in enumerate(examples) for ref in references]
    best: list[float | None] = [None] * len(examples)
    limit = min(int(getattr(tokenizer, "model_max_length", 512)), 512)
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            inputs = tokenizer(
                [r for _, r, _ in batch], [c for _, _, c in batch], padding=True, truncation=True, max_length=limit, return_tensors="pt"
            ).to(device)
            values = model(**inputs).logits[:, 0].float().tolist()
            for (i, _, _), v in zip(batch, values):
                best[i] = v if best[i] is None else max(best[i], v)  # type: ignore[type-var]
    about = {"model": os.path.basename(os.path.normpath(model_path)), "model_type": getattr(model.config, "model_type", None)}
    return [{"score": float(v)} for v in best if v is not None], about


def run_score_text(spec: TextMetricSpec, workdir: str, emitter: Emitter) -> int:
    if spec.threads:
        torch.set_num_threads(spec.threads)
    device = pick_device(spec.device, 0)
    examples = read_examples(spec.examples_path)
    started = time.monotonic()
    emitter.emit(
        "started",
        device=str(device),
        dtype="fp32",
        world_size=1,
        total_steps=len(examples),
        trainable_parameters=0,
        total_parameters=0,
        memory={"total_bytes": None, "available_bytes": None},
        resumed_from_step=None,
        attention=None,
    )
    if spec.metric == "bertscore":
        scores, about = bertscore(examples, spec.model_path, spec.layer, spec.batch_size, device)
    else:
        scores, about = bleurt(examples, spec.model_path, spec.batch_size, device)
    path = os.path.join(workdir, "scores.jsonl")
    with open(path + ".part", "w", encoding="utf-8") as f:
        for s in scores:
            f.write(json.dumps(s, allow_nan=False) + "\n")
    os.replace(path + ".part", path)
    emitter.emit("artifact", kind="text_scores", path="scores.jsonl")
    summary = {"metric": spec.metric, "examples": len(examples), "seconds": round(time.monotonic() - started, 3), **about}
    emitter.emit("finished", status="completed", summary=summary)
    return 0
