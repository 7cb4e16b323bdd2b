//! An evaluation's examples: made from a test set's records, sealed at rest (prompt, references
//! and prediction together: test data is the user's data), opened for the runner and the API.

use crate::datasets::internal;
use crate::{Error, Result, Services};
use database::datasets::VersionRow;
use database::evaluations::{EvaluationRow, ExampleRow};
use datasets::{Message, Record, Role};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What is sealed per example.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Case {
    /// The conversation the model answers (None for a predictions file).
    pub prompt: Option<Vec<Message>>,
    pub references: Vec<String>,
    pub prediction: Option<String>,
    /// A judge evaluation: the answers judged (one, or A and B).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<Vec<String>>,
    /// A judge evaluation: what the judge said (once, or for A-first and B-first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgements: Option<Vec<String>>,
    /// For perplexity: how likely the model finds the (first) reference as its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_logprob: Option<ReferenceLogprob>,
}

/// The model's summed log-probability (natural log) of a reference's tokens, and their number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReferenceLogprob {
    pub tokens: u64,
    pub logprob: f64,
}

/// One example as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationExample {
    pub index: i64,
    /// The messages the model was given (null for a predictions file).
    #[schema(value_type = Option<Vec<Object>>)]
    pub prompt: Option<Vec<Message>>,
    pub references: Vec<String>,
    /// The model's answer (null until it answered).
    pub prediction: Option<String>,
    /// A judge evaluation: the answers judged (one, or A's and B's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<Vec<String>>,
    /// A judge evaluation: the judge's words (once, or with A shown first and with B first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judgements: Option<Vec<String>>,
    /// Score per metric (for metrics defined per example), once scored.
    #[schema(value_type = Option<Object>)]
    pub scores: Option<Value>,
}

/// The prompt and reference of a record, or why it cannot be a test case.
fn case_of(record: &Record) -> std::result::Result<Case, &'static str> {
    let (prompt, answer) = match record {
        Record::Chat { messages } => {
            let Some(last) = messages.iter().rposition(|m| m.role == Role::Assistant) else {
                return Err("a conversation without an assistant message (nothing to compare the answer with)");
            };
            (messages[..last].to_vec(), messages[last].content.clone())
        }
        Record::Preference { prompt, chosen, .. } => {
            let Some(answer) = chosen.iter().rev().find(|m| m.role == Role::Assistant) else {
                return Err("a preference pair whose chosen answer has no assistant message");
            };
            (prompt.clone(), answer.content.clone())
        }
        Record::Text { .. } => return Err("plain text (a test set needs conversations ending with an assistant answer)"),
    };
    if !prompt.iter().any(|m| m.role == Role::User) {
        return Err("no user message before the last assistant message");
    }
    Ok(Case { prompt: Some(prompt), references: vec![answer], ..Case::default() })
}

impl Services {
    /// The test cases of a dataset version (the first `limit`); a record that cannot be one is
    /// refused, named by its index.
    pub(crate) async fn test_cases(&self, version: &VersionRow, limit: Option<usize>) -> Result<Vec<Case>> {
        let (blobs, version) = (self.blobs_handle(), version.clone());
        let cap = limit.unwrap_or(super::MAX_EXAMPLES + 1);
        let cases = tokio::task::spawn_blocking(move || -> Result<Vec<Case>> {
            let mut out = Vec::new();
            let mut error = None;
            crate::datasets::scan_version(&blobs, &version, |index, _, record| {
                if error.is_some() || out.len() >= cap {
                    return;
                }
                match case_of(record) {
                    Ok(c) => out.push(c),
                    Err(why) => error = Some(format!("record {index} of dataset version {} is {why}", version.version)),
                }
            })?;
            match error {
                Some(e) => Err(domain::ValidationError::unprocessable("dataset_id", e).into()),
                None => Ok(out),
            }
        })
        .await
        .map_err(internal)??;
        if cases.is_empty() {
            return Err(
                domain::ValidationError::unprocessable("dataset_id", "the dataset version has no valid records to evaluate on").into()
            );
        }
        if cases.len() > super::MAX_EXAMPLES {
            return Err(domain::ValidationError::unprocessable(
                "limit",
                format!("the test set has more than {} examples: give a limit", super::MAX_EXAMPLES),
            )
            .into());
        }
        Ok(cases)
    }

    /// Seals example `idx` of evaluation `evaluation_id` for its row.
    pub(crate) fn seal_case(&self, evaluation_id: &str, idx: i64, case: &Case) -> String {
        self.seal_secret(&serde_json::to_string(case).expect("a case serialises"), &case_binding(evaluation_id, idx))
    }

    pub(crate) fn open_case(&self, row: &ExampleRow) -> Result<Case> {
        let text = self.open_secret(&row.sealed, &case_binding(&row.evaluation_id, row.idx))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("example {} of evaluation {} does not parse: {e}", row.idx, row.evaluation_id)))
    }

    pub(crate) fn open_example(&self, row: ExampleRow) -> Result<EvaluationExample> {
        let case = self.open_case(&row)?;
        let scores = scores_of(&row)?;
        Ok(EvaluationExample {
            index: row.idx,
            prompt: case.prompt,
            references: case.references,
            prediction: case.prediction,
            answers: case.answers,
            judgements: case.judgements,
            scores,
        })
    }

    /// Every example row of an evaluation, in order (read a thousand at a time).
    pub(crate) async fn example_rows(&self, row: &EvaluationRow) -> Result<Vec<ExampleRow>> {
        let mut out = Vec::with_capacity(row.examples_total as usize);
        loop {
            let rows = database::evaluations::examples(&mut *self.db().read().await?, &row.id, out.len() as i64, 1000).await?;
            if rows.is_empty() {
                return Ok(out);
            }
            out.extend(rows);
        }
    }

    /// Every example of an evaluation, opened, in order.
    pub(crate) async fn evaluation_cases(&self, row: &EvaluationRow) -> Result<Vec<Case>> {
        self.example_rows(row).await?.iter().map(|r| self.open_case(r)).collect()
    }
}

/// An example's stored per-metric scores (None before it was scored).
pub(crate) fn scores_of(row: &ExampleRow) -> Result<Option<Value>> {
    match &row.scores {
        Some(s) => serde_json::from_str(s).map(Some).map_err(|e| {
            Error::Internal(format!("the scores of example {} of evaluation {} do not parse: {e}", row.idx, row.evaluation_id))
        }),
        None => Ok(None),
    }
}

/// The row an evaluation's example is sealed for.
fn case_binding(evaluation_id: &str, idx: i64) -> String {
    format!("evaluation:{evaluation_id}:example:{idx}")
}
