//! What metrics use beyond the metrics crate, as an evaluation records it: the WordNet of
//! METEOR's synonym stage, BERTScore's encoder and layer, the BLEURT checkpoint — each by its
//! digest. Recorded when the evaluation is created from what the administrator configured
//! (`settings::EvaluationSettings`), then required when it is scored: an evaluation scored
//! after the configuration changed, or rerun on another installation, fails naming what
//! differs instead of giving other figures under the same name.

use super::EvaluationConfig;
use crate::settings::MetricModel;
use crate::{Error, Result, Services};
use domain::ValidationError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A file set by what it is called and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = MetricFileDigest)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub name: String,
    pub sha256: String,
}

/// BERTScore's encoder and layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = MetricEncoder)]
#[serde(deny_unknown_fields)]
pub struct Encoder {
    pub name: String,
    pub sha256: String,
    /// None: the encoder's last layer.
    pub layer: Option<u32>,
}

/// What an evaluation's metrics were computed with beyond the metrics crate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricResources {
    /// METEOR's WordNet (None: no synonym stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wordnet: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bertscore: Option<Encoder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bleurt: Option<Digest>,
}

impl MetricResources {
    pub fn is_empty(&self) -> bool {
        self == &MetricResources::default()
    }
}

/// Where the runtime finds a neural metric's model.
pub(crate) struct RuntimeMetric {
    pub name: &'static str,
    pub path: PathBuf,
    pub layer: Option<u32>,
}

fn digest(m: &MetricModel) -> Digest {
    Digest { name: m.name(), sha256: m.sha256.clone() }
}

impl Services {
    /// The resources `metrics` need, from this server's configuration: METEOR takes WordNet when
    /// one is configured; BERTScore and BLEURT are refused (422 naming the metric and the
    /// setting) without their model or without the runtime.
    pub(crate) fn metric_resources(&self, metrics: &[String]) -> Result<MetricResources> {
        let e = &self.settings().evaluation;
        let mut out = MetricResources::default();
        for (i, metric) in metrics.iter().enumerate() {
            let field = format!("metrics[{i}]");
            let refused = |why: String| -> Error { ValidationError::unprocessable(&field, why).into() };
            match metric.as_str() {
                "meteor" => out.wordnet = e.wordnet.map(|w| Digest { name: w.version.clone(), sha256: w.sha256.clone() }),
                "bertscore" | "bleurt" if self.settings().training.runtime.is_none() => {
                    return Err(refused(format!(
                        "{metric} runs a neural model in the training runtime, which this server has not got (the administrator sets --runtime-python)"
                    )))
                }
                "bertscore" => {
                    let model = e.bertscore_model.as_ref().ok_or_else(|| {
                        refused("bertscore needs an encoder: the administrator sets --bertscore-model (scripts/fetch-bertscore-encoder.sh fetches all-MiniLM-L6-v2)".into())
                    })?;
                    out.bertscore = Some(Encoder { name: model.name(), sha256: model.sha256.clone(), layer: e.bertscore_layer });
                }
                "bleurt" => {
                    let model = e.bleurt_checkpoint.as_ref().ok_or_else(|| {
                        refused("bleurt needs a checkpoint: the administrator sets --bleurt-checkpoint to a BLEURT model ported to PyTorch".into())
                    })?;
                    out.bleurt = Some(digest(model));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The metrics crate's options for `config`, with the WordNet it recorded (which this
    /// server must still have).
    pub(crate) fn text_options(&self, config: &EvaluationConfig) -> Result<metrics::suite::TextOptions> {
        let tokenize = metrics::BleuTokenizer::parse(&config.tokenize)
            .ok_or_else(|| Error::Internal(format!("stored tokenize '{}' is unknown", config.tokenize)))?;
        let wordnet = match &config.resources.wordnet {
            None => None,
            Some(want) => match self.settings().evaluation.wordnet {
                Some(w) if w.sha256 == want.sha256 => Some(w),
                have => {
                    return Err(Error::Conflict(format!(
                        "METEOR was asked with {} (sha256 {}), and this server has {}: set --wordnet-dir to that WordNet",
                        want.name,
                        short(&want.sha256),
                        have.map_or("no WordNet".to_string(), |w| format!("{} (sha256 {})", w.version, short(&w.sha256)))
                    )))
                }
            },
        };
        Ok(metrics::suite::TextOptions { tokenize, stemmer: config.rouge_stemmer, wordnet })
    }

    /// The neural metrics of `config` with the model each recorded (which this server must
    /// still have).
    pub(crate) fn runtime_metrics(&self, config: &EvaluationConfig) -> Result<Vec<RuntimeMetric>> {
        let e = &self.settings().evaluation;
        let mut out = Vec::new();
        for metric in config.metrics.iter().filter(|m| metrics::suite::RUNTIME_METRICS.contains(&m.as_str())) {
            let (name, want, have, setting, layer) = match metric.as_str() {
                "bertscore" => {
                    let want = config.resources.bertscore.as_ref().map(|b| Digest { name: b.name.clone(), sha256: b.sha256.clone() });
                    let layer = config.resources.bertscore.as_ref().and_then(|b| b.layer);
                    if config.resources.bertscore.is_some() && layer != e.bertscore_layer {
                        return Err(Error::Conflict(format!(
                            "BERTScore was asked with layer {}, and this server uses {}: set --bertscore-layer",
                            layer.map_or("last".into(), |l| l.to_string()),
                            e.bertscore_layer.map_or("the last".into(), |l| l.to_string())
                        )));
                    }
                    ("bertscore", want, e.bertscore_model.as_ref(), "--bertscore-model", layer)
                }
                _ => ("bleurt", config.resources.bleurt.clone(), e.bleurt_checkpoint.as_ref(), "--bleurt-checkpoint", None),
            };
            let want = want.ok_or_else(|| Error::Internal(format!("the evaluation asks for {name} but recorded no model for it")))?;
            match have {
                Some(m) if m.sha256 == want.sha256 => out.push(RuntimeMetric { name, path: m.path.clone(), layer }),
                have => {
                    return Err(Error::Conflict(format!(
                        "{name} was asked with {} (sha256 {}), and this server has {}: set {setting} to that model",
                        want.name,
                        short(&want.sha256),
                        have.map_or("none".to_string(), |m| format!("{} (sha256 {})", m.name(), short(&m.sha256)))
                    )))
                }
            }
        }
        Ok(out)
    }
}

fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}
