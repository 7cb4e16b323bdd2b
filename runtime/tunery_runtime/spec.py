"""Strict parsing of the job specs (protocol/README.md, spec v1).

Every object rejects unknown keys; every error names the full path of the offending field, the
rule it breaks and the value it got, e.g. ``training.learning_rate: must be > 0, got 0``.
The messages are part of the protocol: protocol/spec-invalid/expected-errors.json pins them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

SPEC_VERSION = 1

_MISSING = object()


class SpecError(ValueError):
    """A refused spec; ``str(err)`` is the exact message reported in the `failed` event."""


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Obj:
    """Reads the keys of one JSON object, then refuses the ones nobody asked for."""

    def __init__(self, value: Any, path: str):
        if not isinstance(value, dict):
            raise SpecError(f"{path or 'spec'}: expected an object, got {_show(value)}")
        self.value = value
        self.path = path
        self.seen: set[str] = set()

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.seen.add(key)
        if key in self.value:
            return self.value[key]
        if default is _MISSING:
            raise SpecError(f"{_join(self.path, key)}: required key is missing")
        return default

    def finish(self) -> None:
        # Unknown keys are reported in the order they appear in the document.
        for key in self.value:
            if key not in self.seen:
                raise SpecError(f"{_join(self.path, key)}: unknown key")

    # typed readers -----------------------------------------------------------------------

    def string(self, key: str, default: Any = _MISSING, *, nullable: bool = False) -> Any:
        value = self.raw(key, default)
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise SpecError(f"{_join(self.path, key)}: expected a string, got {_show(value)}")
        if value == "":
            raise SpecError(f"{_join(self.path, key)}: must not be empty")
        return value

    def path_(self, key: str, default: Any = _MISSING, *, nullable: bool = False) -> Any:
        value = self.string(key, default, nullable=nullable)
        if value is not None and not os.path.isabs(value):
            raise SpecError(f"{_join(self.path, key)}: must be an absolute path, got {_show(value)}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or value not in choices:
            raise SpecError(
                f"{_join(self.path, key)}: must be one of {', '.join(choices)}, got {_show(value)}"
            )
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise SpecError(f"{_join(self.path, key)}: expected a boolean, got {_show(value)}")
        return value

    def integer(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        nullable: bool = False,
        min: int | None = None,
        max: int | None = None,
    ) -> Any:
        value = self.raw(key, default)
        if value is None and nullable:
            return None
        # JSON has one number type: 8.0 is accepted as 8, 8.5 and true are not.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{_join(self.path, key)}: expected an integer, got {_show(value)}")
        if min is not None and max is not None and not (min <= value <= max):
            raise SpecError(f"{_join(self.path, key)}: must be between {min} and {max}, got {value}")
        if min is not None and value < min:
            raise SpecError(f"{_join(self.path, key)}: must be >= {min}, got {value}")
        if max is not None and value > max:
            raise SpecError(f"{_join(self.path, key)}: must be <= {max}, got {value}")
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        nullable: bool = False,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
    ) -> Any:
        value = self.raw(key, default)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{_join(self.path, key)}: expected a number, got {_show(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecError(f"{_join(self.path, key)}: must be finite, got {value}")
        if gt is not None and not value > gt:
            raise SpecError(f"{_join(self.path, key)}: must be > {_num(gt)}, got {_show(value)}")
        if ge is not None and not value >= ge:
            raise SpecError(f"{_join(self.path, key)}: must be >= {_num(ge)}, got {_show(value)}")
        if lt is not None and not value < lt:
            raise SpecError(f"{_join(self.path, key)}: must be < {_num(lt)}, got {_show(value)}")
        return float(value)

    def obj(self, key: str, *, required: bool = False) -> "_Obj":
        value = self.raw(key) if required else self.raw(key, {})
        return _Obj(value, _join(self.path, key))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --------------------------------------------------------------------------------------------
# train spec


@dataclass(frozen=True)
class ModelSpec:
    path: str
    chat_template: str | None = None


@dataclass(frozen=True)
class DataSpec:
    train_path: str
    validation_path: str | None = None
    max_seq_length: int = 1024
    packing: bool = True


@dataclass(frozen=True)
class LoraSpec:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass(frozen=True)
class FreezeSpec:
    trainable_layers: int = 2


@dataclass(frozen=True)
class MethodSpec:
    kind: str = "lora"
    lora: LoraSpec = field(default_factory=LoraSpec)
    freeze: FreezeSpec = field(default_factory=FreezeSpec)

    @property
    def is_lora_family(self) -> bool:
        return self.kind in ("lora", "qlora", "dora")


@dataclass(frozen=True)
class TrainingSpec:
    epochs: float = 1.0
    max_steps: int | None = None
    micro_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    precision: str = "auto"
    gradient_checkpointing: bool = False
    eval_every_steps: int | None = None
    early_stopping_patience: int | None = None
    checkpoint_every_steps: int = 50
    keep_checkpoints: int = 2
    log_every_steps: int = 1
    dpo_beta: float = 0.1
    # With more than one process: 0 replicates the model on every rank (DDP); 2 shards
    # gradients and optimizer states, 3 also the weights (FSDP, ZeRO-2/3 style).
    zero_stage: int = 0
    # adamw, or adamw_8bit (bitsandbytes): named by the server, never switched here.
    optimizer: str = "adamw"
    # Save the weights of the best evaluation, not the last step's (needs eval_every_steps).
    keep_best: bool = False


@dataclass(frozen=True)
class OutputSpec:
    merge_lora: bool = False


@dataclass(frozen=True)
class TrainSpec:
    spec_version: int
    job_id: str
    objective: str
    model: ModelSpec
    data: DataSpec
    method: MethodSpec
    training: TrainingSpec
    output: OutputSpec
    resume_from: str | None = None
    device: str = "auto"
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        tm = d["method"]["lora"]["target_modules"]
        if isinstance(tm, tuple):
            d["method"]["lora"]["target_modules"] = list(tm)
        return d

    def hash(self) -> str:
        """SHA-256 of the spec without the fields that may change between a run and its resume."""
        d = self.to_dict()
        for key in ("resume_from", "device", "threads"):
            d.pop(key, None)
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


def _version(o: _Obj) -> int:
    value = o.raw("spec_version")
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"spec_version: expected an integer, got {_show(value)}")
    if value != SPEC_VERSION:
        raise SpecError(f"spec_version: unsupported version {value} (this runtime reads {SPEC_VERSION})")
    return value


def parse_train_spec(doc: Any) -> TrainSpec:
    root = _Obj(doc, "")
    version = _version(root)
    job_id = root.string("job_id")
    objective = root.choice("objective", ("sft", "cpt", "dpo"), "sft")

    m = root.obj("model", required=True)
    model = ModelSpec(path=m.path_("path"), chat_template=m.string("chat_template", None, nullable=True))
    m.finish()

    d = root.obj("data", required=True)
    data = DataSpec(
        train_path=d.path_("train_path"),
        validation_path=d.path_("validation_path", None, nullable=True),
        max_seq_length=d.integer("max_seq_length", 1024, min=16, max=131072),
        packing=d.boolean("packing", True),
    )
    d.finish()

    me = root.obj("method")
    kind = me.choice("kind", ("full", "freeze", "lora", "qlora", "dora"), "lora")
    lo = me.obj("lora")
    rank = lo.integer("rank", 8, min=1)
    alpha = lo.number("alpha", 16, gt=0)
    dropout = lo.number("dropout", 0.05, ge=0, lt=1)
    tm_raw = lo.raw("target_modules", "all-linear")
    tm_path = _join(lo.path, "target_modules")
    if isinstance(tm_raw, str):
        if tm_raw != "all-linear":
            raise SpecError(f'{tm_path}: must be "all-linear" or a list of module names, got {_show(tm_raw)}')
        target_modules: str | tuple[str, ...] = tm_raw
    elif isinstance(tm_raw, list):
        if not tm_raw:
            raise SpecError(f"{tm_path}: must not be empty")
        for i, name in enumerate(tm_raw):
            if not isinstance(name, str) or not name:
                raise SpecError(f"{tm_path}[{i}]: expected a non-empty string, got {_show(name)}")
        target_modules = tuple(tm_raw)
    else:
        raise SpecError(f'{tm_path}: must be "all-linear" or a list of module names, got {_show(tm_raw)}')
    lo.finish()
    fr = me.obj("freeze")
    freeze = FreezeSpec(trainable_layers=fr.integer("trainable_layers", 2, min=1))
    fr.finish()
    me.finish()
    method = MethodSpec(
        kind=kind,
        lora=LoraSpec(rank=rank, alpha=alpha, dropout=dropout, target_modules=target_modules),
        freeze=freeze,
    )

    t = root.obj("training")
    training = TrainingSpec(
        epochs=t.number("epochs", 1.0, gt=0),
        max_steps=t.integer("max_steps", None, nullable=True, min=1),
        micro_batch_size=t.integer("micro_batch_size", 4, min=1),
        gradient_accumulation_steps=t.integer("gradient_accumulation_steps", 1, min=1),
        learning_rate=t.number("learning_rate", 2e-4, gt=0),
        lr_scheduler=t.choice("lr_scheduler", ("constant", "linear", "cosine"), "cosine"),
        warmup_steps=t.integer("warmup_steps", 0, min=0),
        weight_decay=t.number("weight_decay", 0.0, ge=0),
        max_grad_norm=t.number("max_grad_norm", 1.0, ge=0),
        seed=t.integer("seed", 42, min=0, max=2**32 - 1),
        precision=t.choice("precision", ("auto", "fp32", "bf16", "fp16"), "auto"),
        gradient_checkpointing=t.boolean("gradient_checkpointing", False),
        eval_every_steps=t.integer("eval_every_steps", None, nullable=True, min=1),
        early_stopping_patience=t.integer("early_stopping_patience", None, nullable=True, min=1),
        checkpoint_every_steps=t.integer("checkpoint_every_steps", 50, min=1),
        keep_checkpoints=t.integer("keep_checkpoints", 2, min=1),
        log_every_steps=t.integer("log_every_steps", 1, min=1),
        dpo_beta=t.number("dpo_beta", 0.1, gt=0),
        zero_stage=t.integer("zero_stage", 0, min=0, max=3),
        optimizer=t.choice("optimizer", ("adamw", "adamw_8bit"), "adamw"),
        keep_best=t.boolean("keep_best", False),
    )
    t.finish()

    o = root.obj("output")
    output = OutputSpec(merge_lora=o.boolean("merge_lora", False))
    o.finish()

    resume_from = root.string("resume_from", None, nullable=True)
    device = root.choice("device", ("auto", "cpu", "cuda", "mps"), "auto")
    threads = root.integer("threads", None, nullable=True, min=1)
    root.finish()

    # Rules that involve more than one field.
    if training.eval_every_steps is not None and data.validation_path is None:
        raise SpecError("training.eval_every_steps: needs data.validation_path")
    if training.keep_best and training.eval_every_steps is None:
        raise SpecError("training.keep_best: needs training.eval_every_steps")
    if training.early_stopping_patience is not None and training.eval_every_steps is None:
        raise SpecError("training.early_stopping_patience: needs training.eval_every_steps")
    if training.zero_stage == 1:
        raise SpecError("training.zero_stage: must be 0 (replicas), 2 (shard gradients and optimizer states) or 3 (also weights), got 1")
    if training.zero_stage and kind == "qlora":
        raise SpecError("training.zero_stage: sharding (2 or 3) does not support method.kind qlora; use 0 (DDP)")
    if output.merge_lora and not method.is_lora_family:
        raise SpecError(f'output.merge_lora: only for method.kind lora, qlora or dora, got "{method.kind}"')

    return TrainSpec(
        spec_version=version,
        job_id=job_id,
        objective=objective,
        model=model,
        data=data,
        method=method,
        training=training,
        output=output,
        resume_from=resume_from,
        device=device,
        threads=threads,
    )


# --------------------------------------------------------------------------------------------
# import-model spec


@dataclass(frozen=True)
class ImportSource:
    kind: str
    path: str


@dataclass(frozen=True)
class ImportSpec:
    spec_version: int
    source: ImportSource
    output_dir: str


def parse_import_spec(doc: Any) -> ImportSpec:
    root = _Obj(doc, "")
    version = _version(root)
    s = _Obj(root.raw("source"), "source")
    source = ImportSource(kind=s.choice("kind", ("gguf", "directory", "archive")), path=s.path_("path"))
    s.finish()
    output_dir = root.path_("output_dir")
    root.finish()
    return ImportSpec(spec_version=version, source=source, output_dir=output_dir)


# --------------------------------------------------------------------------------------------
# serve spec


@dataclass(frozen=True)
class ServeAdapter:
    name: str
    path: str


@dataclass(frozen=True)
class ServeSpec:
    spec_version: int
    model_path: str
    model_name: str
    chat_template: str | None
    weights: str | None
    adapters: tuple[ServeAdapter, ...]
    host: str
    port: int
    device: str
    threads: int | None
    max_batch_size: int
    batch_wait_ms: int
    max_model_len: int | None
    batched_lora: bool


def adapter_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a served adapter (PEFT keys modules by it), or None."""
    if name == "__base__":
        return 'is reserved ("__base__" is the base model in a mixed batch)'
    if "." in name or "/" in name or any(c.isspace() for c in name):
        return "must not contain '.', '/' or whitespace"
    return None


def parse_serve_spec(doc: Any) -> ServeSpec:
    root = _Obj(doc, "")
    version = _version(root)
    model_path = root.path_("model_path")
    model_name = root.string("model_name")
    chat_template = root.string("chat_template", None, nullable=True)
    weights = root.path_("weights", None, nullable=True)
    raw = root.raw("adapters", [])
    if not isinstance(raw, list):
        raise SpecError(f"adapters: expected a list, got {_show(raw)}")
    adapters: list[ServeAdapter] = []
    for i, item in enumerate(raw):
        a = _Obj(item, f"adapters[{i}]")
        adapter = ServeAdapter(name=a.string("name"), path=a.path_("path"))
        a.finish()
        problem = adapter_name_problem(adapter.name)
        if problem:
            raise SpecError(f"adapters[{i}].name: {problem}, got {_show(adapter.name)}")
        if adapter.name == model_name:
            raise SpecError(f"adapters[{i}].name: must differ from model_name, got {_show(adapter.name)}")
        if any(b.name == adapter.name for b in adapters):
            raise SpecError(f"adapters[{i}].name: duplicate name {_show(adapter.name)}")
        adapters.append(adapter)
    spec = ServeSpec(
        spec_version=version,
        model_path=model_path,
        model_name=model_name,
        chat_template=chat_template,
        weights=weights,
        adapters=tuple(adapters),
        host=root.string("host", "127.0.0.1"),
        port=root.integer("port", 0, min=0, max=65535),
        device=root.choice("device", ("auto", "cpu", "cuda", "mps"), "auto"),
        threads=root.integer("threads", None, nullable=True, min=1, max=1024),
        max_batch_size=root.integer("max_batch_size", 8, min=1, max=256),
        batch_wait_ms=root.integer("batch_wait_ms", 5, min=0, max=1000),
        max_model_len=root.integer("max_model_len", None, nullable=True, min=1),
        batched_lora=root.boolean("batched_lora", True),
    )
    root.finish()
    return spec


def parse_text_metric_spec(doc: Any) -> Any:
    from .text_metrics import TextMetricSpec

    root = _Obj(doc, "")
    version = _version(root)
    spec = TextMetricSpec(
        spec_version=version,
        metric=root.choice("metric", ("bertscore", "bleurt")),
        model_path=root.path_("model_path"),
        layer=root.integer("layer", None, nullable=True, min=0, max=1000),
        examples_path=root.path_("examples_path"),
        batch_size=root.integer("batch_size", 32, min=1, max=1024),
        device=root.choice("device", ("auto", "cpu", "cuda", "mps"), "auto"),
        threads=root.integer("threads", None, nullable=True, min=1, max=1024),
    )
    root.finish()
    if spec.metric == "bleurt" and spec.layer is not None:
        raise SpecError("layer: only BERTScore takes a layer")
    return spec


def load_json(path: str) -> Any:
    """Reads a spec file; unreadable or malformed JSON is a SpecError too."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise SpecError(f"spec: cannot read {path}: {e.strerror}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"spec: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
