//! The Rust side of `protocol/README.md`: the spec file the runtime reads and the events it
//! prints. One parser for every executor.

use domain::training::{DataConfig, Hyperparameters, MethodConfig, Objective};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::PathBuf;

pub const SPEC_VERSION: u32 = 1;

/// Exit code of a runtime that stopped on request after saving a checkpoint.
pub const EXIT_STOPPED: i32 = 75;
/// Exit code of a runtime that refused its spec.
pub const EXIT_INVALID_SPEC: i32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub path: PathBuf,
    #[serde(default)]
    pub chat_template: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    pub train_path: PathBuf,
    #[serde(default)]
    pub validation_path: Option<PathBuf>,
    #[serde(default = "default_max_seq_length")]
    pub max_seq_length: u32,
    #[serde(default = "default_true")]
    pub packing: bool,
}

/// The runtime's own default for a spec without the key (protocol/README.md).
fn default_max_seq_length() -> u32 {
    1024
}

fn default_true() -> bool {
    true
}

fn default_device() -> String {
    "auto".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    pub merge_lora: bool,
}

/// The train spec, version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub spec_version: u32,
    pub job_id: String,
    #[serde(default)]
    pub objective: Objective,
    pub model: ModelSection,
    pub data: DataSection,
    #[serde(default)]
    pub method: MethodConfig,
    #[serde(default)]
    pub training: Hyperparameters,
    #[serde(default)]
    pub output: OutputSection,
    #[serde(default)]
    pub resume_from: Option<PathBuf>,
    #[serde(default = "default_device")]
    pub device: String,
    #[serde(default)]
    pub threads: Option<u32>,
}

/// Paths and choices that complete a job's configuration into a spec.
#[derive(Debug, Clone)]
pub struct SpecInputs {
    pub job_id: String,
    pub model_path: PathBuf,
    pub chat_template: Option<String>,
    pub train_path: PathBuf,
    pub validation_path: Option<PathBuf>,
    pub resume_from: Option<PathBuf>,
    pub device: String,
    pub threads: Option<u32>,
    pub merge_lora: bool,
    /// The job's `data.max_seq_length`, resolved (a submission turns `auto` into a number).
    pub max_seq_length: u32,
}

impl TrainSpec {
    pub fn new(objective: Objective, method: MethodConfig, data: &DataConfig, training: Hyperparameters, inputs: SpecInputs) -> TrainSpec {
        TrainSpec {
            spec_version: SPEC_VERSION,
            job_id: inputs.job_id,
            objective,
            model: ModelSection { path: inputs.model_path, chat_template: inputs.chat_template },
            data: DataSection {
                train_path: inputs.train_path,
                validation_path: inputs.validation_path,
                max_seq_length: inputs.max_seq_length,
                packing: data.packing,
            },
            method,
            training,
            output: OutputSection { merge_lora: inputs.merge_lora },
            resume_from: inputs.resume_from,
            device: inputs.device,
            threads: inputs.threads,
        }
    }
}

/// The serve spec: a long-running OpenAI-compatible server on a loopback port for one base
/// model and the LoRA adapters loaded into it (at start, or later over its `/adapters`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSpec {
    pub spec_version: u32,
    pub model_path: PathBuf,
    /// The name requests use for the base model itself.
    pub model_name: String,
    pub chat_template: Option<String>,
    /// Parameters by name copied over the loaded model (a full or freeze fine-tune's
    /// checkpoint, `trainable.safetensors`).
    pub weights: Option<PathBuf>,
    pub adapters: Vec<ServeAdapter>,
    pub host: String,
    /// 0: any free port, reported by the `ready` event.
    pub port: u16,
    pub device: String,
    pub threads: Option<u32>,
    pub max_batch_size: u32,
    pub batch_wait_ms: u32,
    pub max_model_len: Option<u32>,
}

/// A LoRA adapter a serving runtime holds, by the name requests use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeAdapter {
    pub name: String,
    pub path: PathBuf,
}

/// The import-model spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    pub spec_version: u32,
    pub source: ImportSource,
    pub output_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImportSource {
    Gguf {
        path: PathBuf,
    },
    Directory {
        path: PathBuf,
    },
    /// A tar or zip of a model directory, extracted safely by the runtime.
    Archive {
        path: PathBuf,
    },
}

/// One event printed by the runtime. Fields beyond the ones named are kept in `extra` so that a
/// newer runtime's additions reach the event log unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: i64,
    pub kind: EventKind,
    /// The whole object as printed (for storage and streaming).
    pub raw: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Started {
        total_steps: Option<i64>,
        device: String,
    },
    Progress {
        step: i64,
        total_steps: Option<i64>,
        loss: Option<f64>,
        tokens_per_second: Option<f64>,
    },
    Eval {
        step: i64,
        eval_loss: Option<f64>,
    },
    System,
    Checkpoint {
        step: i64,
        path: String,
    },
    Artifact {
        kind: String,
        path: String,
    },
    Log {
        level: String,
        message: String,
    },
    /// A serving runtime listens (`serve`).
    Ready {
        host: String,
        port: u16,
    },
    Finished {
        status: String,
        summary: Map<String, Value>,
    },
    Stopped {
        step: Option<i64>,
        checkpoint: Option<String>,
    },
    Failed {
        code: String,
        message: String,
        hint: Option<String>,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::Progress { .. } => "progress",
            EventKind::Eval { .. } => "eval",
            EventKind::System => "system",
            EventKind::Checkpoint { .. } => "checkpoint",
            EventKind::Artifact { .. } => "artifact",
            EventKind::Log { .. } => "log",
            EventKind::Ready { .. } => "ready",
            EventKind::Finished { .. } => "finished",
            EventKind::Stopped { .. } => "stopped",
            EventKind::Failed { .. } => "failed",
        }
    }

    pub fn step(&self) -> Option<i64> {
        match self {
            EventKind::Progress { step, .. } | EventKind::Eval { step, .. } | EventKind::Checkpoint { step, .. } => Some(*step),
            EventKind::Stopped { step, .. } => *step,
            _ => None,
        }
    }
}

/// Why a line is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("event has no \"event\" field")]
    NoType,
    #[error("unknown event type \"{0}\"")]
    UnknownType(String),
    #[error("event \"{event}\": field \"{field}\" is missing or has the wrong type")]
    Field { event: String, field: &'static str },
}

fn int(o: &Map<String, Value>, event: &str, field: &'static str) -> Result<i64, ParseError> {
    o.get(field).and_then(Value::as_i64).ok_or(ParseError::Field { event: event.to_string(), field })
}

fn text(o: &Map<String, Value>, event: &str, field: &'static str) -> Result<String, ParseError> {
    o.get(field).and_then(Value::as_str).map(str::to_string).ok_or(ParseError::Field { event: event.to_string(), field })
}

fn opt_f64(o: &Map<String, Value>, field: &str) -> Option<f64> {
    o.get(field).and_then(Value::as_f64)
}

/// Parses one stdout line of the runtime.
pub fn parse_event(line: &str) -> Result<Event, ParseError> {
    let value: Value = serde_json::from_str(line.trim()).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let Value::Object(o) = value else { return Err(ParseError::NotJson("not an object".into())) };
    let name = o.get("event").and_then(Value::as_str).ok_or(ParseError::NoType)?.to_string();
    let time = int(&o, &name, "time")?;
    let n = name.as_str();
    let kind = match n {
        "started" => EventKind::Started { total_steps: o.get("total_steps").and_then(Value::as_i64), device: text(&o, n, "device")? },
        "progress" => EventKind::Progress {
            step: int(&o, n, "step")?,
            total_steps: o.get("total_steps").and_then(Value::as_i64),
            loss: opt_f64(&o, "loss"),
            tokens_per_second: opt_f64(&o, "tokens_per_second"),
        },
        "eval" => EventKind::Eval { step: int(&o, n, "step")?, eval_loss: opt_f64(&o, "eval_loss") },
        "system" => EventKind::System,
        "checkpoint" => EventKind::Checkpoint { step: int(&o, n, "step")?, path: text(&o, n, "path")? },
        "artifact" => EventKind::Artifact { kind: text(&o, n, "kind")?, path: text(&o, n, "path")? },
        "log" => EventKind::Log { level: text(&o, n, "level")?, message: text(&o, n, "message")? },
        "ready" => EventKind::Ready {
            host: text(&o, n, "host")?,
            port: o
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or(ParseError::Field { event: n.to_string(), field: "port" })?,
        },
        "finished" => EventKind::Finished {
            status: text(&o, n, "status")?,
            summary: o.get("summary").and_then(Value::as_object).cloned().unwrap_or_default(),
        },
        "stopped" => EventKind::Stopped {
            step: o.get("step").and_then(Value::as_i64),
            checkpoint: o.get("checkpoint").and_then(Value::as_str).map(str::to_string),
        },
        "failed" => EventKind::Failed {
            code: text(&o, n, "code")?,
            message: text(&o, n, "message")?,
            hint: o.get("hint").and_then(Value::as_str).map(str::to_string),
        },
        other => return Err(ParseError::UnknownType(other.to_string())),
    };
    Ok(Event { time, kind, raw: o })
}
