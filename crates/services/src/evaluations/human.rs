//! Human evaluation: assigned raters score the answers of one to eight evaluations on one test
//! set on a rubric (by default relevance, fluency and factual accuracy, 0–5), or say which of
//! two answers is better (pairwise). Raters are named, or chosen by their role where the task
//! lives. Presentation is blind and randomised per rater: each rater walks the items in an order
//! of their own, and sees an item's answers side by side under the labels A, B, … in an order
//! of their own, with the reference answer; they rate, skip or flag an item and may come back
//! to change it. Ratings are stored by model position, never by the label shown. Results
//! (`human_results.rs`): score distributions, per-model means with bootstrap intervals,
//! inter-rater agreement, error tags, flags; pairwise preferences export as a DPO dataset.

use super::examples::Case;
use super::{check_name, state as evaluation_state};
use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::human_evals::HumanEvalRow;
use domain::ids::IdKind;
use domain::{validate, Permission, Role, ValidationError};
use serde::{Deserialize, Serialize};

/// Most items (examples) one human evaluation holds: people rate them one by one.
pub const MAX_ITEMS: usize = 5000;

/// How raters judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HumanEvalMode {
    /// Every answer scored on each criterion.
    Rubric,
    /// The better of two answers chosen (or a tie).
    Pairwise,
}

impl HumanEvalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HumanEvalMode::Rubric => "rubric",
            HumanEvalMode::Pairwise => "pairwise",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<HumanEvalMode> {
        match s {
            "rubric" => Ok(HumanEvalMode::Rubric),
            "pairwise" => Ok(HumanEvalMode::Pairwise),
            other => Err(Error::Internal(format!("stored human evaluation mode '{other}' is unknown"))),
        }
    }
}

/// A rubric criterion: a whole-number score from `min` to `max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Lower-case letters, digits and underscores.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    pub name: String,
    /// What raters judge by it.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    /// Lowest score (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub min: i64,
    /// Highest score (default 5).
    #[serde(default = "default_max")]
    #[schema(minimum = 1, maximum = 100)]
    pub max: i64,
}

fn default_max() -> i64 {
    5
}

/// The default rubric: relevance, fluency and factual accuracy, 0–5.
pub fn default_criteria() -> Vec<Criterion> {
    [
        ("relevance", "Does the answer address what was asked?"),
        ("fluency", "Is the answer well written and easy to read?"),
        ("factual_accuracy", "Is what the answer states true (the reference shows one correct answer)?"),
    ]
    .into_iter()
    .map(|(name, description)| Criterion { name: name.into(), description: description.into(), min: 0, max: 5 })
    .collect()
}

/// The error tags raters choose from by default.
pub const DEFAULT_ERROR_TAGS: [&str; 6] = ["hallucination", "incomplete", "off_topic", "wrong_language", "formatting", "unsafe"];

/// Who rates: named users, and anyone whose role where the task lives is one of `roles`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Raters {
    /// User ids of the organization.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub users: Vec<String>,
    /// Roles (admin, researcher, developer, viewer): in the task's project (the project role,
    /// else the organization role), or in the organization for a task outside any project.
    #[serde(default)]
    #[schema(schema_with = roles_schema)]
    pub roles: Vec<String>,
}

fn roles_schema() -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(domain::schema::one_of(false, Role::ALL.iter().map(|r| r.as_str())))
        .max_items(Some(4))
}

/// A request for a human evaluation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHumanEval {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub project_id: Option<String>,
    /// The models rated: succeeded evaluations on one test set (1 to 8 for a rubric, exactly 2
    /// for pairwise).
    #[schema(min_items = 1, max_items = 8)]
    pub evaluation_ids: Vec<String>,
    /// rubric (default) or pairwise.
    pub mode: Option<HumanEvalMode>,
    /// The rubric (default: relevance, fluency, factual_accuracy on 0–5); not for pairwise.
    #[schema(min_items = 1, max_items = 10)]
    pub criteria: Option<Vec<Criterion>>,
    /// Tags raters may attach to an answer (default: hallucination, incomplete, off_topic,
    /// wrong_language, formatting, unsafe).
    #[schema(max_items = 30)]
    pub error_tags: Option<Vec<String>>,
    pub raters: Raters,
    /// Shown to raters with every item.
    #[schema(max_length = 4000)]
    pub instructions: Option<String>,
    /// Rate a random sample of this many examples (default: all, at most 5000).
    #[schema(minimum = 1, maximum = 5000)]
    pub sample: Option<u32>,
}

/// What a human evaluation was made with (`human_evals.config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HumanEvalConfig {
    /// The rubric (empty for pairwise).
    pub criteria: Vec<Criterion>,
    pub error_tags: Vec<String>,
    pub raters: Raters,
    pub instructions: String,
    /// The example (of the evaluations) each item shows.
    pub examples: Vec<i64>,
    /// The test set's dataset version, when the evaluations have one.
    pub dataset_version_id: Option<String>,
    /// Secret seed of each rater's item order and answer labels (never shown: it would unblind).
    pub seed: String,
}

/// States of a human evaluation.
pub mod state {
    pub const OPEN: &str = "open";
    pub const CLOSED: &str = "closed";
}

/// A human evaluation, read back.
#[derive(Debug, Clone)]
pub struct HumanEval {
    pub row: HumanEvalRow,
    pub mode: HumanEvalMode,
    pub config: HumanEvalConfig,
    /// The evaluations rated, by position.
    pub evaluation_ids: Vec<String>,
}

impl HumanEval {
    fn of(row: HumanEvalRow, evaluation_ids: Vec<String>) -> Result<HumanEval> {
        let config = serde_json::from_str(&row.config)
            .map_err(|e| Error::Internal(format!("human evaluation {}: the stored configuration does not parse: {e}", row.id)))?;
        Ok(HumanEval { mode: HumanEvalMode::parse(&row.mode)?, row, config, evaluation_ids })
    }
}

fn check_criteria(criteria: Vec<Criterion>) -> Result<Vec<Criterion>> {
    if criteria.is_empty() || criteria.len() > 10 {
        return Err(ValidationError::new("criteria", format!("give 1 to 10 criteria (got {})", criteria.len())).into());
    }
    for (i, c) in criteria.iter().enumerate() {
        let good_name = c.name.len() <= 40
            && c.name.starts_with(|ch: char| ch.is_ascii_lowercase())
            && c.name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if !good_name {
            return Err(ValidationError::new(
                &format!("criteria[{i}].name"),
                "lower-case letters, digits and _, starting with a letter (at most 40)",
            )
            .into());
        }
        if c.description.chars().count() > 500 {
            return Err(ValidationError::new(&format!("criteria[{i}].description"), "at most 500 characters").into());
        }
        if !(0..=100).contains(&c.min) || !(1..=100).contains(&c.max) {
            return Err(ValidationError::new(&format!("criteria[{i}]"), "min is 0 to 100 and max 1 to 100").into());
        }
        if c.min >= c.max {
            return Err(ValidationError::unprocessable(&format!("criteria[{i}].max"), format!("must be above min ({})", c.min)).into());
        }
        if criteria[..i].iter().any(|o| o.name == c.name) {
            return Err(ValidationError::unprocessable(&format!("criteria[{i}].name"), format!("'{}' is named twice", c.name)).into());
        }
    }
    Ok(criteria)
}

fn check_tags(tags: Vec<String>) -> Result<Vec<String>> {
    if tags.len() > 30 {
        return Err(ValidationError::new("error_tags", format!("at most 30 tags (got {})", tags.len())).into());
    }
    let mut out: Vec<String> = Vec::new();
    for (i, t) in tags.into_iter().enumerate() {
        let t = t.trim().to_string();
        if t.is_empty() || t.chars().count() > 40 {
            return Err(ValidationError::unprocessable(&format!("error_tags[{i}]"), "1 to 40 characters, not only white space").into());
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// A seeded choice of `n` of `0..total` in ascending order (all when `n` ≥ `total`).
fn sample_examples(total: usize, n: Option<usize>, seed: &str) -> Vec<i64> {
    let mut all: Vec<i64> = (0..total as i64).collect();
    if let Some(n) = n.filter(|n| *n < total) {
        all.sort_by_key(|i| shuffle_key(seed, "sample", *i, 0));
        all.truncate(n);
        all.sort_unstable();
    }
    all
}

/// A number that orders things for one purpose (`what`, a rater's id or `sample`): the first 8
/// bytes of SHA-256 over the secret seed, the purpose and the thing.
pub(super) fn shuffle_key(seed: &str, what: &str, a: i64, b: i64) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{seed}/{what}/{a}/{b}").as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl Services {
    /// Creates a human evaluation (open at once). Needs `deploy_model` where it goes and sight
    /// of the evaluations, which must have succeeded on one test set.
    pub async fn create_human_eval(&self, principal: &Principal, n: NewHumanEval, ctx: &RequestContext) -> Result<HumanEval> {
        self.require_in(principal, n.project_id.as_deref(), Permission::DeployModel).await?;
        let mode = n.mode.unwrap_or(HumanEvalMode::Rubric);
        let count = n.evaluation_ids.len();
        match mode {
            HumanEvalMode::Rubric if !(1..=8).contains(&count) => {
                return Err(ValidationError::new("evaluation_ids", format!("give 1 to 8 evaluations (got {count})")).into())
            }
            HumanEvalMode::Pairwise if count != 2 => {
                return Err(ValidationError::unprocessable(
                    "evaluation_ids",
                    format!("pairwise compares exactly 2 evaluations (got {count})"),
                )
                .into())
            }
            _ => {}
        }
        if let Some(i) = (1..count).find(|i| n.evaluation_ids[..*i].contains(&n.evaluation_ids[*i])) {
            return Err(ValidationError::unprocessable(&format!("evaluation_ids[{i}]"), "is named twice").into());
        }
        let criteria = match (mode, n.criteria) {
            (HumanEvalMode::Rubric, c) => check_criteria(c.unwrap_or_else(default_criteria))?,
            (HumanEvalMode::Pairwise, None) => Vec::new(),
            (HumanEvalMode::Pairwise, Some(_)) => {
                return Err(ValidationError::unprocessable("criteria", "pairwise asks which answer is better: no criteria").into())
            }
        };
        let error_tags = check_tags(n.error_tags.unwrap_or_else(|| DEFAULT_ERROR_TAGS.iter().map(|t| t.to_string()).collect()))?;
        let raters = self.check_raters(principal, n.raters).await?;
        let instructions = n.instructions.unwrap_or_default();
        if instructions.chars().count() > 4000 {
            return Err(ValidationError::new("instructions", "at most 4000 characters").into());
        }
        if n.sample.is_some_and(|s| s == 0 || s as usize > MAX_ITEMS) {
            return Err(ValidationError::new("sample", format!("must be 1 to {MAX_ITEMS}")).into());
        }
        let sources = self.on_one_test_set(principal, &n.evaluation_ids, "evaluation_ids").await?;
        let (first, first_cases) = &sources[0];
        if first.row.kind == "judge" {
            return Err(
                ValidationError::unprocessable("evaluation_ids[0]", "a judge evaluation holds verdicts, not answers to rate").into()
            );
        }
        if let Some(i) = sources.iter().position(|(e, _)| e.row.kind == "judge") {
            return Err(ValidationError::unprocessable(
                &format!("evaluation_ids[{i}]"),
                "a judge evaluation holds verdicts, not answers to rate",
            )
            .into());
        }
        let total = first_cases.len();
        if total > MAX_ITEMS && n.sample.is_none() {
            return Err(ValidationError::unprocessable(
                "sample",
                format!("the test set has {total} examples: give a sample of at most {MAX_ITEMS}"),
            )
            .into());
        }
        let seed = crate::crypto::random_token(16);
        let examples = sample_examples(total, n.sample.map(|s| s as usize), &seed);
        let name = check_name(n.name.as_deref(), || format!("human evaluation of {}", first.row.name))?;
        let config = HumanEvalConfig {
            criteria,
            error_tags,
            raters,
            instructions,
            dataset_version_id: first.row.dataset_version_id.clone(),
            examples,
            seed,
        };
        let row = HumanEvalRow {
            id: crate::crypto::new_id(IdKind::HumanEval),
            organization_id: principal.organization_id.clone(),
            project_id: n.project_id,
            name,
            mode: mode.as_str().to_string(),
            state: state::OPEN.to_string(),
            config: serde_json::to_string(&config).expect("a configuration serialises"),
            items: config.examples.len() as i64,
            created_by: principal.user_id.clone(),
            created_at: now_ms(),
            closed_at: None,
        };
        let mut tx = self.db().begin_write().await?;
        for id in &n.evaluation_ids {
            database::evaluations::lock(tx.conn(), id).await.or_not_found("evaluation")?;
        }
        database::human_evals::insert(tx.conn(), &row, &n.evaluation_ids).await?;
        let event = AuditEvent::by(principal, "human_eval.create").target("human_eval", &row.id).details(serde_json::json!({
            "mode": row.mode, "evaluations": n.evaluation_ids, "items": row.items, "raters": config.raters,
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        HumanEval::of(row, n.evaluation_ids)
    }

    /// Named raters must be users of the organization; roles must be roles; someone must rate.
    async fn check_raters(&self, principal: &Principal, raters: Raters) -> Result<Raters> {
        if raters.users.is_empty() && raters.roles.is_empty() {
            return Err(ValidationError::unprocessable("raters", "name users or roles who rate").into());
        }
        if raters.users.len() > 100 {
            return Err(ValidationError::new("raters.users", "at most 100 users").into());
        }
        for (i, r) in raters.roles.iter().enumerate() {
            if Role::parse(r).is_none() {
                return Err(ValidationError::new(
                    &format!("raters.roles[{i}]"),
                    format!("'{r}' is not a role (admin, researcher, developer, viewer)"),
                )
                .into());
            }
        }
        let mut conn = self.db().read().await?;
        for (i, u) in raters.users.iter().enumerate() {
            if database::users::get(&mut conn, &principal.organization_id, u).await.is_err() {
                return Err(ValidationError::unprocessable(
                    &format!("raters.users[{i}]"),
                    format!("'{u}' is not a user of this organization"),
                )
                .into());
            }
        }
        let mut users = raters.users;
        users.sort();
        users.dedup();
        let mut roles = raters.roles;
        roles.sort();
        roles.dedup();
        Ok(Raters { users, roles })
    }

    /// A human evaluation the caller may see (`view_metrics` where it lives; 404 otherwise) and
    /// holds `permission` on.
    pub(super) async fn human_eval_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<HumanEval> {
        let mut conn = self.db().read().await?;
        let row = database::human_evals::get(&mut conn, &principal.organization_id, id).await.or_not_found("human evaluation")?;
        let sources = database::human_evals::sources(&mut conn, id).await?;
        drop(conn);
        self.require_on_resource(principal, row.project_id.as_deref(), "human evaluation", permission).await?;
        HumanEval::of(row, sources)
    }

    pub async fn get_human_eval(&self, principal: &Principal, id: &str) -> Result<HumanEval> {
        self.human_eval_with(principal, id, Permission::ViewMetrics).await
    }

    /// Human evaluations the caller may see, newest first.
    pub async fn list_human_evals(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<HumanEval>> {
        principal.require(Permission::ViewMetrics)?;
        let limit = validate::page_limit(limit)?;
        let mut out = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let rows = database::human_evals::list(&mut *self.db().read().await?, &principal.organization_id, cursor.as_deref(), limit + 1)
                .await?;
            let exhausted = rows.len() as i64 <= limit;
            for row in rows {
                cursor = Some(row.id.clone());
                if let Ok(h) = self.human_eval_with(principal, &row.id, Permission::ViewMetrics).await {
                    out.push(h);
                    if out.len() as i64 > limit {
                        return Ok(Page::from_rows(out, limit));
                    }
                }
            }
            if exhausted {
                return Ok(Page::from_rows(out, limit));
            }
        }
    }

    /// Closes (no more ratings; results open to every viewer) or reopens a human evaluation.
    pub async fn set_human_eval_open(&self, principal: &Principal, id: &str, open: bool, ctx: &RequestContext) -> Result<HumanEval> {
        self.human_eval_with(principal, id, Permission::DeployModel).await?;
        let (from, to) = if open { (state::CLOSED, state::OPEN) } else { (state::OPEN, state::CLOSED) };
        let mut tx = self.db().begin_write().await?;
        let now = database::human_evals::lock(tx.conn(), id).await.or_not_found("human evaluation")?;
        if now != from {
            return Err(Error::Conflict(format!("human evaluation {id} is {now} already")));
        }
        database::human_evals::set_state(tx.conn(), id, to, (!open).then(now_ms)).await?;
        let action = if open { "human_eval.reopen" } else { "human_eval.close" };
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, action).target("human_eval", id), ctx).await?;
        tx.commit().await?;
        self.get_human_eval(principal, id).await
    }

    /// Deletes a human evaluation and its ratings.
    pub async fn delete_human_eval(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        self.human_eval_with(principal, id, Permission::DeployModel).await?;
        let mut tx = self.db().begin_write().await?;
        database::human_evals::lock(tx.conn(), id).await.or_not_found("human evaluation")?;
        database::human_evals::delete(tx.conn(), id).await?;
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "human_eval.delete").target("human_eval", id), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The cases of the rated evaluations (by position), each its examples in order.
    pub(super) async fn human_eval_cases(&self, h: &HumanEval) -> Result<Vec<Vec<Case>>> {
        let mut out = Vec::new();
        for id in &h.evaluation_ids {
            let row = database::evaluations::get_any(&mut *self.db().read().await?, id).await.or_not_found("evaluation")?;
            if row.state != evaluation_state::SUCCEEDED {
                return Err(Error::Internal(format!("evaluation {id} of human evaluation {} is {}", h.row.id, row.state)));
            }
            out.push(self.evaluation_cases(&row).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_seeded_sorted_and_complete_when_it_covers_everything() {
        let a = sample_examples(100, Some(10), "seed");
        assert_eq!(a, sample_examples(100, Some(10), "seed"));
        assert_ne!(a, sample_examples(100, Some(10), "other"));
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_examples(5, Some(10), "seed"), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample_examples(3, None, "seed"), vec![0, 1, 2]);
    }

    #[test]
    fn criteria_are_checked_by_name_and_scale() {
        assert!(check_criteria(default_criteria()).is_ok());
        let bad = |c: Criterion| check_criteria(vec![c]).unwrap_err().to_string();
        let c = Criterion { name: "clarity".into(), description: String::new(), min: 1, max: 5 };
        assert!(bad(Criterion { name: "Clarity".into(), ..c.clone() }).contains("lower-case"));
        assert!(bad(Criterion { min: 5, ..c.clone() }).contains("above min"));
        let twice = check_criteria(vec![c.clone(), c]).unwrap_err().to_string();
        assert!(twice.contains("named twice"), "{twice}");
    }
}
