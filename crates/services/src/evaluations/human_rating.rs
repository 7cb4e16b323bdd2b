//! Rating a human evaluation: a rater's next item, an item shown blind (its answers under the
//! labels A, B, … in the rater's own order for that item, with the prompt and the reference),
//! and a rating — scores, a preference, error tags, a skip, a flag — stored by model position.

use super::human::{shuffle_key, state, HumanEval, HumanEvalMode};
use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use database::human_evals::RatingRow;
use datasets::Message;
use domain::{Permission, Role, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One answer as a rater sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShownAnswer {
    /// A, B, …: the rater's own order for this item.
    pub label: String,
    pub text: String,
}

/// A rater's progress.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RaterProgress {
    pub items: i64,
    pub rated: i64,
    pub skipped: i64,
    pub flagged: i64,
    /// Items neither rated nor skipped.
    pub remaining: i64,
}

/// An item shown to a rater.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HumanEvalItem {
    /// The item's number (what a rating names).
    pub item: i64,
    /// Its place in this rater's order (1 = first).
    pub position: i64,
    /// The conversation answered (null when the answers came from a predictions file).
    #[schema(value_type = Option<Vec<Object>>)]
    pub prompt: Option<Vec<Message>>,
    pub references: Vec<String>,
    pub answers: Vec<ShownAnswer>,
    /// This rater's rating of the item so far, in the labels shown.
    pub my_rating: Option<RatingInput>,
}

/// A rater's page: the item (null when every item is rated or skipped) and their progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RaterView {
    pub item: Option<HumanEvalItem>,
    pub progress: RaterProgress,
}

/// One shown answer's rating.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRating {
    /// A whole-number score per criterion (rubric: every criterion).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, i64>,
    /// Error tags of the task's list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 30)]
    pub tags: Vec<String>,
}

/// A rating of one item, in the labels the rater was shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingInput {
    #[schema(minimum = 0)]
    pub item: i64,
    /// Skip the item (no scores or preference then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip: bool,
    /// Per shown label (A, B, …): rubric scores (required for every answer) and error tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answers: BTreeMap<String, AnswerRating>,
    /// Pairwise: the better answer's label, or `tie`.
    #[schema(max_length = 3)]
    pub preference: Option<String>,
    /// Why the item is flagged (a wrong reference, an unreadable prompt …).
    #[schema(min_length = 1, max_length = 500)]
    pub flag: Option<String>,
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

/// A verdict by model position (`human_ratings.verdict`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    /// Rubric: each position's scores.
    #[serde(default)]
    pub scores: Vec<BTreeMap<String, i64>>,
    /// Pairwise: the preferred position (None: a tie).
    #[serde(default)]
    pub preferred: Option<usize>,
    /// Each position's error tags.
    #[serde(default)]
    pub tags: Vec<Vec<String>>,
    /// The position shown first (label A), for position-bias figures.
    pub shown_first: usize,
}

/// The sealed free text of a rating.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Notes {
    pub flag: Option<String>,
    pub comment: Option<String>,
}

fn label(i: usize) -> String {
    char::from(b'A' + i as u8).to_string()
}

impl HumanEval {
    /// The positions in the order a rater sees them on an item (label A shows `order[0]`).
    pub(crate) fn shown_order(&self, rater: &str, item: i64) -> Vec<usize> {
        let rater_key = rater_number(rater);
        let mut order: Vec<usize> = (0..self.evaluation_ids.len()).collect();
        order.sort_by_key(|p| shuffle_key(&self.config.seed, "label", rater_key ^ item, *p as i64));
        order
    }

    /// The items in a rater's own order.
    fn item_order(&self, rater: &str) -> Vec<i64> {
        let rater_key = rater_number(rater);
        let mut items: Vec<i64> = (0..self.row.items).collect();
        items.sort_by_key(|i| shuffle_key(&self.config.seed, "order", rater_key, *i));
        items
    }

    /// Checks a rating against the task and turns it into a verdict by position.
    fn verdict_of(&self, rater: &str, r: &RatingInput) -> Result<Option<Verdict>> {
        if r.item < 0 || r.item >= self.row.items {
            return Err(
                ValidationError::unprocessable("item", format!("no item {} (items are 0 to {})", r.item, self.row.items - 1)).into()
            );
        }
        if r.flag.as_ref().is_some_and(|f| f.trim().is_empty() || f.chars().count() > 500) {
            return Err(ValidationError::new("flag", "1 to 500 characters, not only white space").into());
        }
        if r.comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
            return Err(ValidationError::new("comment", "at most 2000 characters").into());
        }
        if r.skip {
            if !r.answers.is_empty() || r.preference.is_some() {
                return Err(ValidationError::unprocessable("skip", "a skipped item has no scores or preference").into());
            }
            return Ok(None);
        }
        let order = self.shown_order(rater, r.item);
        let k = order.len();
        let labels: Vec<String> = (0..k).map(label).collect();
        if let Some(unknown) = r.answers.keys().find(|l| !labels.contains(l)) {
            return Err(ValidationError::unprocessable(
                &format!("answers.{unknown}"),
                format!("no answer is labelled '{unknown}' (labels: {})", labels.join(", ")),
            )
            .into());
        }
        let mut verdict =
            Verdict { scores: vec![BTreeMap::new(); k], tags: vec![Vec::new(); k], shown_first: order[0], ..Verdict::default() };
        for (l, given) in &r.answers {
            let at = labels.iter().position(|x| x == l).expect("a known label");
            for (i, t) in given.tags.iter().enumerate() {
                if !self.config.error_tags.contains(t) {
                    return Err(ValidationError::unprocessable(
                        &format!("answers.{l}.tags[{i}]"),
                        format!("'{t}' is not one of the tags: {}", self.config.error_tags.join(", ")),
                    )
                    .into());
                }
            }
            let mut tags = given.tags.clone();
            tags.sort();
            tags.dedup();
            verdict.tags[order[at]] = tags;
            if self.mode == HumanEvalMode::Pairwise && !given.scores.is_empty() {
                return Err(
                    ValidationError::unprocessable(&format!("answers.{l}.scores"), "pairwise asks for a preference, not scores").into()
                );
            }
            if let Some(name) = given.scores.keys().find(|n| !self.config.criteria.iter().any(|c| &c.name == *n)) {
                return Err(ValidationError::unprocessable(&format!("answers.{l}.scores.{name}"), "not a criterion of this rubric").into());
            }
            verdict.scores[order[at]] = given.scores.clone();
        }
        match self.mode {
            HumanEvalMode::Rubric => {
                if r.preference.is_some() {
                    return Err(ValidationError::unprocessable("preference", "a rubric asks for scores, not a preference").into());
                }
                for (at, l) in labels.iter().enumerate() {
                    for c in &self.config.criteria {
                        let field = format!("answers.{l}.scores.{}", c.name);
                        match verdict.scores[order[at]].get(&c.name) {
                            None => {
                                return Err(ValidationError::unprocessable(
                                    &field,
                                    "missing: score every criterion of every answer (or skip the item)",
                                )
                                .into())
                            }
                            Some(v) if !(c.min..=c.max).contains(v) => {
                                return Err(ValidationError::unprocessable(&field, format!("{v} is outside {} to {}", c.min, c.max)).into())
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            HumanEvalMode::Pairwise => {
                verdict.preferred = match r.preference.as_deref() {
                    Some("tie") => None,
                    Some(p) => match labels.iter().position(|l| l == p) {
                        Some(at) => Some(order[at]),
                        None => return Err(ValidationError::unprocessable("preference", format!("'{p}' is not A, B or tie")).into()),
                    },
                    None => {
                        return Err(ValidationError::unprocessable(
                            "preference",
                            "say which answer is better: A, B or tie (or skip the item)",
                        )
                        .into())
                    }
                };
            }
        }
        Ok(Some(verdict))
    }

    /// A stored verdict back in the labels a rater saw.
    fn as_shown(&self, row: &RatingRow, verdict: Option<Verdict>, notes: Notes) -> RatingInput {
        let order = self.shown_order(&row.rater_id, row.item);
        let mut input =
            RatingInput { item: row.item, skip: verdict.is_none(), flag: notes.flag, comment: notes.comment, ..Default::default() };
        if let Some(v) = verdict {
            for (at, position) in order.iter().enumerate() {
                let answer = AnswerRating {
                    scores: v.scores.get(*position).cloned().unwrap_or_default(),
                    tags: v.tags.get(*position).cloned().unwrap_or_default(),
                };
                if answer != AnswerRating::default() {
                    input.answers.insert(label(at), answer);
                }
            }
            if self.mode == HumanEvalMode::Pairwise {
                input.preference = Some(match v.preferred {
                    Some(p) => label(order.iter().position(|x| *x == p).unwrap_or(0)),
                    None => "tie".to_string(),
                });
            }
        }
        input
    }
}

/// A stable number for a rater's id (mixed into their shuffles).
fn rater_number(rater: &str) -> i64 {
    shuffle_key(rater, "rater", 0, 0) as i64
}

impl Services {
    /// The rated evaluation's human evaluation, checked that the caller rates it: named, or
    /// holding one of its roles where it lives (403 otherwise).
    async fn as_rater(&self, principal: &Principal, id: &str) -> Result<HumanEval> {
        let h = self.human_eval_with(principal, id, Permission::ViewMetrics).await?;
        if h.config.raters.users.contains(&principal.user_id) {
            return Ok(h);
        }
        let role: Role = match &h.row.project_id {
            Some(p) => self.visible_project(principal, p).await?.my_role.unwrap_or(principal.org_role),
            None => principal.org_role,
        };
        if h.config.raters.roles.iter().any(|r| r == role.as_str()) {
            return Ok(h);
        }
        Err(Error::Forbidden(format!("you are not a rater of human evaluation {id}")))
    }

    pub(crate) fn open_rating(&self, row: &RatingRow) -> Result<(Option<Verdict>, Notes)> {
        let verdict = match &row.verdict {
            Some(v) => Some(serde_json::from_str(v).map_err(|e| {
                Error::Internal(format!("the rating of item {} by {} in {} does not parse: {e}", row.item, row.rater_id, row.human_eval_id))
            })?),
            None => None,
        };
        let notes = match &row.notes {
            Some(sealed) => {
                serde_json::from_str(&self.open_secret(sealed, &notes_binding(&row.human_eval_id, &row.rater_id, row.item))?)
                    .map_err(|e| Error::Internal(format!("the notes of item {} in {} do not parse: {e}", row.item, row.human_eval_id)))?
            }
            None => Notes::default(),
        };
        Ok((verdict, notes))
    }

    async fn progress_of(&self, h: &HumanEval, rater: &str) -> Result<(RaterProgress, Vec<RatingRow>)> {
        let rows = database::human_evals::ratings_of(&mut *self.db().read().await?, &h.row.id, rater, None).await?;
        let rated = rows.iter().filter(|r| r.status == "rated").count() as i64;
        let skipped = rows.len() as i64 - rated;
        let flagged = rows.iter().filter(|r| r.flagged != 0).count() as i64;
        Ok((RaterProgress { items: h.row.items, rated, skipped, flagged, remaining: h.row.items - rows.len() as i64 }, rows))
    }

    /// The caller's next item (the first in their order they have neither rated nor skipped)
    /// and their progress.
    pub async fn next_human_eval_item(&self, principal: &Principal, id: &str) -> Result<RaterView> {
        let h = self.as_rater(principal, id).await?;
        let (progress, rows) = self.progress_of(&h, &principal.user_id).await?;
        let done: std::collections::HashSet<i64> = rows.iter().map(|r| r.item).collect();
        let next = h.item_order(&principal.user_id).into_iter().find(|i| !done.contains(i));
        let item = match next {
            Some(i) => Some(self.show_item(&h, &principal.user_id, i, None).await?),
            None => None,
        };
        Ok(RaterView { item, progress })
    }

    /// One item as the caller sees it, with their rating of it so far.
    pub async fn human_eval_item(&self, principal: &Principal, id: &str, item: i64) -> Result<RaterView> {
        let h = self.as_rater(principal, id).await?;
        if item < 0 || item >= h.row.items {
            return Err(Error::NotFound("item"));
        }
        let (progress, rows) = self.progress_of(&h, &principal.user_id).await?;
        let mine = rows.into_iter().find(|r| r.item == item);
        Ok(RaterView { item: Some(self.show_item(&h, &principal.user_id, item, mine).await?), progress })
    }

    async fn show_item(&self, h: &HumanEval, rater: &str, item: i64, mine: Option<RatingRow>) -> Result<HumanEvalItem> {
        let example = h.config.examples[item as usize];
        let mut answers = Vec::new();
        let (mut prompt, mut references) = (None, Vec::new());
        for (at, position) in h.shown_order(rater, item).into_iter().enumerate() {
            let rows = database::evaluations::examples(&mut *self.db().read().await?, &h.evaluation_ids[position], example, 1).await?;
            let row = rows
                .into_iter()
                .next()
                .ok_or_else(|| Error::Internal(format!("evaluation {} has no example {example}", h.evaluation_ids[position])))?;
            let case = self.open_case(&row)?;
            answers.push(ShownAnswer { label: label(at), text: case.prediction.unwrap_or_default() });
            (prompt, references) = (case.prompt, case.references);
        }
        let place = h.item_order(rater).iter().position(|i| *i == item).unwrap_or(0) as i64 + 1;
        let my_rating = match mine {
            Some(row) => {
                let (verdict, notes) = self.open_rating(&row)?;
                Some(h.as_shown(&row, verdict, notes))
            }
            None => None,
        };
        Ok(HumanEvalItem { item, position: place, prompt, references, answers, my_rating })
    }

    /// Stores the caller's rating of an item (replacing theirs before); the task must be open.
    pub async fn rate_human_eval_item(&self, principal: &Principal, id: &str, r: RatingInput, ctx: &RequestContext) -> Result<RaterView> {
        let h = self.as_rater(principal, id).await?;
        let verdict = h.verdict_of(&principal.user_id, &r)?;
        let notes =
            Notes { flag: r.flag.as_ref().map(|f| f.trim().to_string()), comment: r.comment.clone().filter(|c| !c.trim().is_empty()) };
        let row = RatingRow {
            human_eval_id: id.to_string(),
            rater_id: principal.user_id.clone(),
            item: r.item,
            status: if verdict.is_some() { "rated" } else { "skipped" }.to_string(),
            verdict: verdict.as_ref().map(|v| serde_json::to_string(v).expect("a verdict serialises")),
            flagged: i64::from(notes.flag.is_some()),
            notes: (notes != Notes::default()).then(|| {
                self.seal_secret(&serde_json::to_string(&notes).expect("notes serialise"), &notes_binding(id, &principal.user_id, r.item))
            }),
            updated_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        let now = database::human_evals::lock(tx.conn(), id).await.or_not_found("human evaluation")?;
        if now != state::OPEN {
            return Err(Error::Conflict(format!("human evaluation {id} is {now}: it takes no more ratings")));
        }
        database::human_evals::put_rating(tx.conn(), &row).await?;
        let details = serde_json::json!({"item": r.item, "status": row.status, "flagged": row.flagged != 0});
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "human_eval.rate").target("human_eval", id).details(details), ctx)
            .await?;
        tx.commit().await?;
        let (progress, _) = self.progress_of(&h, &principal.user_id).await?;
        Ok(RaterView { item: Some(self.show_item(&h, &principal.user_id, r.item, Some(row)).await?), progress })
    }
}

/// The row a rater's notes on an item are sealed for.
fn notes_binding(human_eval_id: &str, rater_id: &str, item: i64) -> String {
    format!("human_eval:{human_eval_id}:rater:{rater_id}:item:{item}")
}
