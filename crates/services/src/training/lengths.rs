//! One pass over a job's dataset version at submission: each record rendered through the chat
//! template the job trains with and counted with the base model's own tokenizer. It resolves
//! `max_seq_length: "auto"` (the smallest multiple of 64 covering the 99th percentile of the
//! lengths, capped by the model's context) and refuses a dataset the template cannot label —
//! a record it cannot render, or whose trained turns it cannot locate — naming the record.

use crate::datasets::internal;
use crate::{Error, Result, Services};
use chat_template::ChatTemplate;
use database::datasets::VersionRow;
use datasets::{Record, TokenCounter};
use domain::training::Objective;
use domain::ValidationError;
use std::sync::Arc;

/// What the pass measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lengths {
    /// Records of the kind the objective trains on.
    pub records: u64,
    /// 99th percentile (nearest rank) of their token lengths as the runtime sees them (a
    /// preference pair's longer sequence).
    pub p99: u64,
    pub max: u64,
    /// Every sequence one epoch trains on (a preference pair's two), in tokens.
    sequences: Vec<u32>,
    /// Text for continued pre-training: cut into windows of the sequence length, every token
    /// kept (plus EOS), rather than cut off at it.
    windowed: bool,
}

impl Lengths {
    /// The tokens one epoch trains on when sequences are cut at `max_seq_length`: what the
    /// runtime counts as `tokens` (real tokens, no padding).
    pub fn epoch_tokens(&self, max_seq_length: u32) -> u64 {
        match self.windowed {
            true => self.sequences.iter().map(|&n| u64::from(n) + 1).sum(),
            false => self.sequences.iter().map(|&n| u64::from(n.min(max_seq_length))).sum(),
        }
    }
}

/// The token lengths of the sequences one record trains as (one; a preference pair's two), or
/// why the template cannot label it.
fn record_length(
    record: &Record,
    objective: Objective,
    template: Option<&ChatTemplate>,
    counter: &dyn TokenCounter,
) -> Option<std::result::Result<Vec<u64>, String>> {
    let rendered_length = |messages: &[datasets::Message]| -> std::result::Result<u64, String> {
        let template = template.ok_or("the base model has no chat template (choose one with chat_template)")?;
        let rendered = template.render_with_spans(messages).map_err(|e| format!("the chat template cannot render it: {e}"))?;
        if let Some(&turn) = rendered.unlocated.first() {
            return Err(format!("the chat template's output does not contain message {turn}'s content, so it cannot be labelled"));
        }
        let trains = messages.iter().any(|m| m.role == datasets::Role::Assistant && m.weight != Some(0));
        if trains && rendered.trained_spans().next().is_none() {
            return Err("the chat template marks no trained span for its assistant turns".into());
        }
        Ok(counter.count(&rendered.text).map_err(|e| format!("its tokens cannot be counted: {e}"))? as u64)
    };
    match (objective, record) {
        (Objective::Sft, Record::Chat { messages }) => Some(rendered_length(messages).map(|n| vec![n])),
        (Objective::Dpo, Record::Preference { prompt, chosen, rejected }) => {
            let with = |answer: &[datasets::Message]| [prompt.as_slice(), answer].concat();
            Some(rendered_length(&with(chosen)).and_then(|c| rendered_length(&with(rejected)).map(|r| vec![c, r])))
        }
        (Objective::Cpt, Record::Text { text }) => {
            Some(counter.count(text).map(|n| vec![n as u64]).map_err(|e| format!("its tokens cannot be counted: {e}")))
        }
        _ => None,
    }
}

impl Services {
    /// Measures `version` for `objective` through `template` and `counter` (blocking work on a
    /// blocking thread). `field` names the request field a refusal points at.
    pub(crate) async fn measure_lengths(
        &self,
        version: &VersionRow,
        objective: Objective,
        template: Option<Arc<ChatTemplate>>,
        counter: Arc<dyn TokenCounter>,
        field: &'static str,
    ) -> Result<Lengths> {
        let (blobs, version) = (self.blobs_handle(), version.clone());
        tokio::task::spawn_blocking(move || -> Result<Lengths> {
            let mut lengths: Vec<u32> = Vec::new();
            let mut sequences: Vec<u32> = Vec::new();
            let mut refused: Option<(usize, String)> = None;
            crate::datasets::scan_version(&blobs, &version, |index, _, record| {
                if refused.is_some() {
                    return;
                }
                match record_length(record, objective, template.as_deref(), counter.as_ref()) {
                    Some(Ok(ns)) => {
                        let ns: Vec<u32> = ns.into_iter().map(|n| u32::try_from(n).unwrap_or(u32::MAX)).collect();
                        lengths.push(ns.iter().copied().max().unwrap_or(0));
                        sequences.extend(ns);
                    }
                    Some(Err(why)) => refused = Some((index, why)),
                    None => {}
                }
            })?;
            if let Some((index, why)) = refused {
                return Err(ValidationError::unprocessable(field, format!("record {index} of the dataset: {why}")).into());
            }
            if lengths.is_empty() {
                return Err(Error::from(ValidationError::unprocessable(
                    field,
                    format!("no record the objective {} trains on", objective.as_str()),
                )));
            }
            lengths.sort_unstable();
            let rank = (lengths.len() as f64 * 0.99).ceil() as usize;
            let p99 = u64::from(lengths[rank.clamp(1, lengths.len()) - 1]);
            let max = u64::from(*lengths.last().expect("not empty"));
            Ok(Lengths { records: lengths.len() as u64, p99, max, sequences, windowed: objective == Objective::Cpt })
        })
        .await
        .map_err(internal)?
    }
}

impl Services {
    /// `config` with `max_seq_length: "auto"` resolved from the training version's lengths,
    /// after checking that the job's chat template labels every record of `versions` (training
    /// first, then validation). The template is the built-in `chat_template` when named, else
    /// the base model's own; tokens are counted with the base model's tokenizer.
    pub(crate) async fn measured_config(
        &self,
        principal: &crate::Principal,
        base: &crate::models::BaseModel,
        config: &domain::training::TrainingConfig,
        chat_template: Option<&str>,
        context_length: u32,
        versions: &[(&VersionRow, &'static str)],
    ) -> Result<(domain::training::TrainingConfig, Option<Lengths>)> {
        let objective = config.objective;
        let auto = config.data.max_seq_length == domain::training::MaxSeqLength::Auto;
        if objective == Objective::Cpt && !auto {
            return Ok((config.clone(), None));
        }
        let template = match (objective, chat_template) {
            (Objective::Cpt, _) => None,
            (_, Some(name)) => {
                Some(Arc::new(ChatTemplate::builtin(name).map_err(|e| ValidationError::new("chat_template", e.to_string()))?))
            }
            (_, None) if base.row.chat_template.is_some() => Some(Arc::new(self.base_model_chat_template(principal, &base.row.id).await?)),
            (_, None) => None,
        };
        let counter = self
            .token_counter_for(&principal.organization_id, Some(&base.row.id), "base_model_id")
            .await?
            .ok_or_else(|| Error::Internal("a base model id always names its counter".into()))?
            .counter;
        let mut resolved = config.clone();
        let mut measured = None;
        for (i, (version, field)) in versions.iter().enumerate() {
            let lengths = self.measure_lengths(version, objective, template.clone(), counter.clone(), field).await?;
            if i == 0 {
                measured = Some(lengths);
            }
        }
        if let (true, Some(lengths)) = (auto, &measured) {
            let tokens = domain::training::MaxSeqLength::auto_for(lengths.p99, context_length);
            resolved.data.max_seq_length = domain::training::MaxSeqLength::Tokens(tokens);
        }
        Ok((resolved, measured))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datasets::{Message, Role};

    struct Words;
    impl TokenCounter for Words {
        fn count(&self, text: &str) -> std::result::Result<usize, String> {
            Ok(text.split_whitespace().count())
        }
    }

    #[test]
    fn lengths_are_of_the_rendered_text_and_unlabelable_records_are_refused() {
        let chatml = ChatTemplate::builtin("chatml").unwrap();
        let chat = Record::Chat { messages: vec![Message::new(Role::User, "one two"), Message::new(Role::Assistant, "three")] };
        let n = record_length(&chat, Objective::Sft, Some(&chatml), &Words).unwrap().unwrap();
        assert!(n.len() == 1 && n[0] > 3, "the template's own tokens count too: {n:?}");
        let pair = Record::Preference {
            prompt: vec![Message::new(Role::User, "one two")],
            chosen: vec![Message::new(Role::Assistant, "three")],
            rejected: vec![Message::new(Role::Assistant, "three four five")],
        };
        let both = record_length(&pair, Objective::Dpo, Some(&chatml), &Words).unwrap().unwrap();
        assert_eq!((both.len(), both[1] - both[0]), (2, 2), "a pair trains as two sequences: {both:?}");
        assert_eq!(record_length(&chat, Objective::Cpt, Some(&chatml), &Words), None);
        // gemma has no system role: a system message cannot be rendered.
        let gemma = ChatTemplate::builtin("gemma").unwrap();
        let system = Record::Chat {
            messages: vec![Message::new(Role::System, "be brief"), Message::new(Role::User, "hi"), Message::new(Role::Assistant, "hello")],
        };
        match record_length(&system, Objective::Sft, Some(&gemma), &Words) {
            Some(Err(why)) => assert!(why.contains("cannot"), "{why}"),
            other => panic!("gemma rendered a system turn: {other:?}"),
        }
    }
}
