//! Neural text metrics through the runtime's `score-text` mode (protocol/README.md): BERTScore
//! with an encoder, BLEURT with a PyTorch port of a checkpoint. The examples go to a file in a
//! work directory of their own (plaintext while the process runs, as a training job's data
//! does), the process runs to its end, and its `scores.jsonl` is read back; the work directory
//! is removed on every path out, and a failure reports the runtime's own `failed` message.

use crate::local::{Message, RuntimeCommand};
use crate::protocol::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The score-text spec (`spec_version` 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextMetricSpec {
    pub spec_version: u32,
    /// `bertscore` or `bleurt`.
    pub metric: String,
    pub model_path: PathBuf,
    /// BERTScore's layer (None: the encoder's last).
    pub layer: Option<u32>,
    pub examples_path: PathBuf,
    pub batch_size: u32,
    pub device: String,
    pub threads: Option<u32>,
}

/// What the runtime computed: one row per example (`precision`, `recall`, `f1` or `score`) and
/// its `finished.summary` (model, layer, …).
#[derive(Debug, Clone, PartialEq)]
pub struct TextScores {
    pub rows: Vec<Map<String, Value>>,
    pub summary: Map<String, Value>,
}

/// One example as the runtime reads it.
#[derive(Debug, Clone, Serialize)]
pub struct TextExample<'a> {
    pub prediction: &'a str,
    pub references: &'a [String],
}

/// Which metric, with which model, on which device.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMetric<'a> {
    /// `bertscore` or `bleurt`.
    pub metric: &'a str,
    pub model_path: &'a Path,
    /// BERTScore's layer (None: the encoder's last).
    pub layer: Option<u32>,
    /// `auto`, `cpu`, `cuda` or `mps`.
    pub device: &'a str,
}

/// Runs `score-text` for `m` over `examples` in `workdir` (created, then removed).
pub async fn score_text(
    runtime: &RuntimeCommand,
    m: &TextMetric<'_>,
    examples: &[TextExample<'_>],
    workdir: &Path,
) -> Result<TextScores, String> {
    std::fs::create_dir_all(workdir).map_err(|e| format!("creating {}: {e}", workdir.display()))?;
    let result = run(runtime, m, examples, workdir).await;
    if let Err(e) = std::fs::remove_dir_all(workdir) {
        tracing::warn!(workdir = %workdir.display(), error = %e, "could not remove a score-text work directory");
    }
    result
}

async fn run(runtime: &RuntimeCommand, m: &TextMetric<'_>, examples: &[TextExample<'_>], workdir: &Path) -> Result<TextScores, String> {
    let metric = m.metric;
    let examples_path = workdir.join("examples.jsonl");
    let mut lines = String::new();
    for e in examples {
        lines.push_str(&serde_json::to_string(e).map_err(|e| e.to_string())?);
        lines.push('\n');
    }
    std::fs::write(&examples_path, lines).map_err(|e| format!("writing {}: {e}", examples_path.display()))?;
    let spec = TextMetricSpec {
        spec_version: 1,
        metric: metric.to_string(),
        model_path: m.model_path.to_path_buf(),
        layer: m.layer,
        examples_path,
        batch_size: 32,
        device: m.device.to_string(),
        threads: None,
    };
    let spec_path = workdir.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec).map_err(|e| e.to_string())?)
        .map_err(|e| format!("writing {}: {e}", spec_path.display()))?;
    let mut running = runtime.start("score-text", &spec_path, workdir).map_err(|e| e.to_string())?;
    let (mut scores_path, mut summary, mut failure) = (None, None, None);
    while let Some(message) = running.messages.recv().await {
        match message {
            Message::Event(event) => match event.kind {
                EventKind::Artifact { kind, path } if kind == "text_scores" => scores_path = Some(workdir.join(path)),
                EventKind::Finished { summary: s, .. } => summary = Some(s),
                EventKind::Failed { code, message, hint } => {
                    failure = Some(format!("{message} ({code}){}", hint.map(|h| format!("; {h}")).unwrap_or_default()))
                }
                _ => {}
            },
            Message::BadLine { line, error } => tracing::warn!(line, error, "score-text printed a line that is not an event"),
            Message::Stderr(_) | Message::Output(_) => {}
        }
    }
    let exit = running.wait().await;
    if let Some(failure) = failure {
        return Err(format!("{metric}: {failure}"));
    }
    let (Some(scores_path), Some(summary), Some(0)) = (scores_path, summary, exit.code) else {
        return Err(format!("{metric}: the runtime ended without its scores (exit {:?}): {}", exit.code, exit.stderr_tail));
    };
    let text = std::fs::read_to_string(&scores_path).map_err(|e| format!("{metric}: reading {}: {e}", scores_path.display()))?;
    let rows = text
        .lines()
        .enumerate()
        .map(|(i, line)| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(row)) => Ok(row),
            _ => Err(format!("{metric}: scores.jsonl line {} is not an object of scores: {line}", i + 1)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rows.len() != examples.len() {
        return Err(format!("{metric}: the runtime scored {} examples of {}", rows.len(), examples.len()));
    }
    Ok(TextScores { rows, summary })
}
