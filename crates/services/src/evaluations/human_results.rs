//! A human evaluation's results and its preferences as a DPO dataset.
//!
//! Rubric: per criterion and model, the score distribution and the mean of each item's mean
//! score with a 95% bootstrap interval over items; agreement per criterion over the (item,
//! model) units — Krippendorff's alpha (interval and ordinal) for any number of raters, and
//! quadratic-weighted Cohen's kappa when exactly two raters rated. Pairwise: votes, the share
//! of items where each model is preferred (a tie counts half) with its interval, how often the
//! answer shown first was chosen, and agreement (nominal and ordinal alpha; unweighted kappa for
//! two raters). Both: error tags per model, flags and comments.

use super::human::{HumanEval, HumanEvalMode};
use super::human_rating::{Notes, Verdict};
use crate::datasets::{DatasetAccess, ExportTarget, VersionOrigin};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use database::datasets::VersionRow;
use domain::{Permission, ValidationError};
use metrics::agreement::{cohen_kappa, krippendorff_alpha, KappaWeights, Level};
use metrics::suite::{mean_interval, Bootstrap};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One rater's rating of one item, opened.
pub(crate) struct Rated {
    pub rater: String,
    pub item: i64,
    /// None: skipped.
    pub verdict: Option<Verdict>,
    pub notes: Notes,
}

/// Where a human evaluation's preferences go.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceExport {
    /// Add a version to this dataset …
    pub dataset_id: Option<String>,
    /// … or create a dataset with this name.
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    /// The new dataset's project (default: the human evaluation's).
    pub project_id: Option<String>,
}

/// A human evaluation's results (`GET /api/v1/human-evals/{id}/results`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HumanEvalResults {
    pub object: &'static str,
    pub id: String,
    /// rubric or pairwise.
    pub mode: String,
    /// open or closed.
    pub state: String,
    pub items: i64,
    /// The models rated, by the position the figures name (raters never saw which was which).
    pub models: Vec<RatedModel>,
    pub raters: Vec<RaterTally>,
    /// Rubric figures per criterion, or the pairwise figures (as `mode` says).
    pub figures: HumanEvalFigures,
    /// Every tag of the task with how often raters gave it to each model (by position).
    pub error_tags: Vec<TagCounts>,
    pub flags: Vec<RaterNote>,
    pub comments: Vec<RaterNote>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RatedModel {
    pub position: usize,
    pub evaluation_id: String,
    /// The evaluation's name.
    pub name: String,
    /// The model or deployment it evaluated (null for answers from a predictions file).
    pub model: Option<String>,
}

/// One rater's progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RaterTally {
    pub rater_id: String,
    /// Null when the rater is no longer a user of the organization.
    pub name: Option<String>,
    pub rated: u64,
    pub skipped: u64,
    pub flagged: u64,
    pub remaining: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum HumanEvalFigures {
    Rubric(RubricFigures),
    Pairwise(PairwiseFigures),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RubricFigures {
    pub criteria: Vec<CriterionFigures>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CriterionFigures {
    pub name: String,
    pub min: i64,
    pub max: i64,
    pub models: Vec<RubricModelFigures>,
    /// Over the (item, model) units: interval and ordinal alpha; kappa (quadratic) for two raters.
    pub agreement: Agreement,
}

/// One model's scores on one criterion.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RubricModelFigures {
    pub position: usize,
    pub evaluation_id: String,
    /// Items rated for it.
    pub items: usize,
    /// Scores given (an item rated by two raters counts twice).
    pub ratings: u64,
    /// The mean over items of each item's mean score (null before any rating).
    pub mean: Option<f64>,
    /// Its 95% bootstrap interval over items.
    pub interval: Option<[f64; 2]>,
    /// How many scores of each value, from the criterion's min to max.
    pub histogram: Vec<ScoreCount>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoreCount {
    pub score: i64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PairwiseFigures {
    /// Items with at least one verdict.
    pub items: usize,
    pub votes: u64,
    pub ties: u64,
    /// Per model: its votes and the share of items where it is preferred (a tie counts half).
    pub models: Vec<PreferenceShare>,
    /// How often the answer shown first was chosen, of the decided votes (position bias).
    pub first_shown_chosen: Option<f64>,
    /// Over items: nominal and ordinal alpha; unweighted kappa for two raters.
    pub agreement: Agreement,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreferenceShare {
    pub position: usize,
    pub evaluation_id: String,
    pub votes: u64,
    pub preferred_share: Option<f64>,
    /// Its 95% bootstrap interval over items.
    pub interval: Option<[f64; 2]>,
}

/// How much the raters agree. An alpha is present at the levels that suit the scale (null when
/// fewer than two raters rated a unit, or every value is the same).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Agreement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krippendorff_alpha_interval: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krippendorff_alpha_ordinal: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krippendorff_alpha_nominal: Option<Option<f64>>,
    /// Units rated by two raters or more.
    pub units_rated_twice: usize,
    /// Null unless exactly two raters rated.
    pub cohen_kappa: Option<Kappa>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Kappa {
    pub raters: [String; 2],
    /// quadratic or none.
    pub weights: String,
    /// Units both rated.
    pub units: usize,
    pub kappa: Option<f64>,
}

/// Error tags given to each model: `counts` by position.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TagCounts {
    pub tag: String,
    pub counts: Vec<u64>,
}

/// A flag or comment a rater left on an item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RaterNote {
    pub item: i64,
    pub rater_id: String,
    pub text: String,
}

fn bootstrap() -> Bootstrap {
    Bootstrap { resamples: 1000, confidence: 0.95, seed: 12345 }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The agreement figures of units (each unit's values by rater): alpha at `levels`, and with
/// exactly two raters Cohen's kappa over the units both rated.
fn agreement(
    units: &BTreeMap<(i64, usize), BTreeMap<String, f64>>,
    levels: &[Level],
    categories: &[f64],
    weights: KappaWeights,
) -> Agreement {
    let values: Vec<Vec<f64>> = units.values().map(|by_rater| by_rater.values().copied().collect()).collect();
    let mut out = Agreement { units_rated_twice: values.iter().filter(|v| v.len() >= 2).count(), ..Agreement::default() };
    for level in levels {
        let alpha = Some(krippendorff_alpha(&values, *level));
        match level {
            Level::Interval => out.krippendorff_alpha_interval = alpha,
            Level::Ordinal => out.krippendorff_alpha_ordinal = alpha,
            Level::Nominal => out.krippendorff_alpha_nominal = alpha,
            Level::Ratio => unreachable!("no human evaluation scale is a ratio scale"),
        }
    }
    let raters: BTreeSet<&String> = units.values().flat_map(|by_rater| by_rater.keys()).collect();
    if raters.len() == 2 {
        let (r1, r2) = (raters.first().expect("two"), raters.last().expect("two"));
        let (a, b): (Vec<f64>, Vec<f64>) = units.values().filter_map(|u| Some((*u.get(*r1)?, *u.get(*r2)?))).unzip();
        out.cohen_kappa = Some(Kappa {
            raters: [(*r1).clone(), (*r2).clone()],
            weights: weights.name().to_string(),
            units: a.len(),
            kappa: cohen_kappa(&a, &b, categories, weights),
        });
    }
    out
}

/// The rubric figures: per criterion, each model's distribution, mean and interval, and the
/// raters' agreement.
pub(crate) fn rubric_figures(h: &HumanEval, rated: &[Rated]) -> RubricFigures {
    let models = h.evaluation_ids.len();
    let criteria: Vec<CriterionFigures> = h
        .config
        .criteria
        .iter()
        .map(|c| {
            let mut units: BTreeMap<(i64, usize), BTreeMap<String, f64>> = BTreeMap::new();
            for r in rated {
                let Some(v) = &r.verdict else { continue };
                for (p, scores) in v.scores.iter().enumerate() {
                    if let Some(s) = scores.get(&c.name) {
                        units.entry((r.item, p)).or_default().insert(r.rater.clone(), *s as f64);
                    }
                }
            }
            let per_model: Vec<RubricModelFigures> = (0..models)
                .map(|p| {
                    let mut histogram: BTreeMap<i64, u64> = (c.min..=c.max).map(|s| (s, 0)).collect();
                    let mut item_means = Vec::new();
                    for ((_, at), by_rater) in units.iter().filter(|((_, at), _)| *at == p) {
                        debug_assert_eq!(*at, p);
                        for s in by_rater.values() {
                            *histogram.entry(*s as i64).or_default() += 1;
                        }
                        item_means.push(by_rater.values().sum::<f64>() / by_rater.len() as f64);
                    }
                    RubricModelFigures {
                        position: p,
                        evaluation_id: h.evaluation_ids[p].clone(),
                        items: item_means.len(),
                        ratings: histogram.values().sum::<u64>(),
                        mean: mean(&item_means),
                        interval: mean_interval(&item_means, bootstrap()),
                        histogram: histogram.iter().map(|(s, n)| ScoreCount { score: *s, count: *n }).collect(),
                    }
                })
                .collect();
            let scale: Vec<f64> = (c.min..=c.max).map(|s| s as f64).collect();
            CriterionFigures {
                name: c.name.clone(),
                min: c.min,
                max: c.max,
                models: per_model,
                agreement: agreement(&units, &[Level::Interval, Level::Ordinal], &scale, KappaWeights::Quadratic),
            }
        })
        .collect();
    RubricFigures { criteria }
}

/// The pairwise figures: votes, each model's preferred share with its interval, first-shown
/// picks and agreement. Codes per verdict: 0 the first model, 1 a tie, 2 the second.
pub(crate) fn pairwise_figures(h: &HumanEval, rated: &[Rated]) -> PairwiseFigures {
    let mut units: BTreeMap<(i64, usize), BTreeMap<String, f64>> = BTreeMap::new();
    let (mut wins, mut ties, mut decided, mut first_chosen) = ([0u64; 2], 0u64, 0u64, 0u64);
    for r in rated {
        let Some(v) = &r.verdict else { continue };
        let code = match v.preferred {
            Some(p) => {
                wins[p.min(1)] += 1;
                decided += 1;
                first_chosen += u64::from(p == v.shown_first);
                2.0 * p.min(1) as f64
            }
            None => {
                ties += 1;
                1.0
            }
        };
        units.entry((r.item, 0)).or_default().insert(r.rater.clone(), code);
    }
    // Each item's share for the second model (a tie half), averaged over its raters.
    let second_share: Vec<f64> =
        units.values().map(|by_rater| by_rater.values().map(|c| c / 2.0).sum::<f64>() / by_rater.len() as f64).collect();
    let first_share: Vec<f64> = second_share.iter().map(|s| 1.0 - s).collect();
    let share = |values: &[f64], p: usize| PreferenceShare {
        position: p,
        evaluation_id: h.evaluation_ids[p].clone(),
        votes: wins[p],
        preferred_share: mean(values),
        interval: mean_interval(values, bootstrap()),
    };
    PairwiseFigures {
        items: units.len(),
        votes: wins[0] + wins[1] + ties,
        ties,
        models: vec![share(&first_share, 0), share(&second_share, 1)],
        first_shown_chosen: (decided > 0).then(|| first_chosen as f64 / decided as f64),
        agreement: agreement(&units, &[Level::Nominal, Level::Ordinal], &[0.0, 1.0, 2.0], KappaWeights::None),
    }
}

/// Error tags per model: `[{tag, counts: [per position]}]` for every tag of the task.
fn tag_counts(h: &HumanEval, rated: &[Rated]) -> Vec<TagCounts> {
    h.config
        .error_tags
        .iter()
        .map(|t| {
            let counts: Vec<u64> = (0..h.evaluation_ids.len())
                .map(|p| {
                    rated.iter().filter_map(|r| r.verdict.as_ref()).filter(|v| v.tags.get(p).is_some_and(|ts| ts.contains(t))).count()
                        as u64
                })
                .collect();
            TagCounts { tag: t.clone(), counts }
        })
        .collect()
}

impl Services {
    /// Every rating of a human evaluation, opened.
    async fn rated(&self, h: &HumanEval) -> Result<Vec<Rated>> {
        let rows = database::human_evals::ratings(&mut *self.db().read().await?, &h.row.id).await?;
        rows.iter()
            .map(|row| {
                let (verdict, notes) = self.open_rating(row)?;
                Ok(Rated { rater: row.rater_id.clone(), item: row.item, verdict, notes })
            })
            .collect()
    }

    /// The results of a human evaluation. While it is open they are shown to those who may
    /// deploy models where it lives (raters would be swayed by them); once closed, to every
    /// viewer.
    pub async fn human_eval_results(&self, principal: &Principal, id: &str) -> Result<HumanEvalResults> {
        let h = self.human_eval_with(principal, id, Permission::ViewMetrics).await?;
        if h.row.state == super::human::state::OPEN {
            match self.require_on_resource(principal, h.row.project_id.as_deref(), "human evaluation", Permission::DeployModel).await {
                Err(Error::PermissionDenied(_)) => {
                    return Err(Error::Forbidden(format!(
                        "human evaluation {id} is open: its results are shown once it is closed (or to those who may deploy models)"
                    )))
                }
                other => other?,
            }
        }
        let rated = self.rated(&h).await?;
        let mut raters: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
        for r in &rated {
            let counts = raters.entry(&r.rater).or_default();
            counts[usize::from(r.verdict.is_none())] += 1;
            counts[2] += u64::from(r.notes.flag.is_some());
        }
        let mut conn = self.db().read().await?;
        let mut models = Vec::new();
        for (p, eid) in h.evaluation_ids.iter().enumerate() {
            let e = database::evaluations::get_any(&mut conn, eid).await.or_not_found("evaluation")?;
            models.push(RatedModel { position: p, evaluation_id: eid.clone(), name: e.name, model: e.model });
        }
        let mut rater_list = Vec::new();
        for (rater, [done, skipped, flagged]) in &raters {
            let name = database::users::get(&mut conn, &principal.organization_id, rater).await.map(|u| u.name).ok();
            let remaining = h.row.items as u64 - done - skipped;
            rater_list.push(RaterTally {
                rater_id: rater.to_string(),
                name,
                rated: *done,
                skipped: *skipped,
                flagged: *flagged,
                remaining,
            });
        }
        drop(conn);
        let notes = |pick: fn(&Notes) -> &Option<String>| -> Vec<RaterNote> {
            rated
                .iter()
                .filter_map(|r| pick(&r.notes).as_ref().map(|t| RaterNote { item: r.item, rater_id: r.rater.clone(), text: t.clone() }))
                .collect()
        };
        let figures = match h.mode {
            HumanEvalMode::Rubric => HumanEvalFigures::Rubric(rubric_figures(&h, &rated)),
            HumanEvalMode::Pairwise => HumanEvalFigures::Pairwise(pairwise_figures(&h, &rated)),
        };
        Ok(HumanEvalResults {
            object: "human_eval.results",
            id: h.row.id.clone(),
            mode: h.mode.as_str().to_string(),
            state: h.row.state.clone(),
            items: h.row.items,
            models,
            raters: rater_list,
            figures,
            error_tags: tag_counts(&h, &rated),
            flags: notes(|n| &n.flag),
            comments: notes(|n| &n.comment),
        })
    }

    /// Exports a pairwise human evaluation's preferences as a DPO dataset version: per item,
    /// the answer most raters preferred is `chosen` and the other `rejected` (items with a tie
    /// or a split vote, and pairs of equal answers, are left out). The test set's version is its
    /// parent in the lineage. Needs `deploy_model` on the task and `upload_dataset` where the
    /// data goes.
    pub async fn export_human_preferences(
        &self,
        principal: &Principal,
        id: &str,
        export: PreferenceExport,
        ctx: &RequestContext,
    ) -> Result<(DatasetAccess, VersionRow)> {
        let h = self.human_eval_with(principal, id, Permission::DeployModel).await?;
        if h.mode != HumanEvalMode::Pairwise {
            return Err(ValidationError::unprocessable(
                "mode",
                format!("human evaluation {id} is a rubric: only pairwise preferences make a DPO dataset"),
            )
            .into());
        }
        let target = ExportTarget { dataset_id: export.dataset_id, name: export.name, project_id: export.project_id };
        let description = format!("preferences of the raters of human evaluation {}", h.row.name);
        let target = self.check_export_target(principal, &target, h.row.project_id.clone(), description).await?;
        let mut votes: BTreeMap<i64, [u64; 2]> = BTreeMap::new();
        for r in self.rated(&h).await? {
            if let Some(p) = r.verdict.and_then(|v| v.preferred) {
                votes.entry(r.item).or_default()[p.min(1)] += 1;
            }
        }
        let cases = self.human_eval_cases(&h).await?;
        let (mut lines, mut pairs, mut split, mut equal) = (Vec::new(), 0u64, 0u64, 0u64);
        for (item, [first, second]) in votes {
            let example = h.config.examples[item as usize] as usize;
            let (a, b) = (&cases[0][example], &cases[1][example]);
            let Some(prompt) = &a.prompt else {
                return Err(ValidationError::unprocessable(
                    "evaluation_ids",
                    "the answers came from a predictions file: there are no prompts to train on",
                )
                .into());
            };
            let (chosen, rejected) = match first.cmp(&second) {
                std::cmp::Ordering::Greater => (a, b),
                std::cmp::Ordering::Less => (b, a),
                std::cmp::Ordering::Equal => {
                    split += 1;
                    continue;
                }
            };
            let (chosen, rejected) = (chosen.prediction.clone().unwrap_or_default(), rejected.prediction.clone().unwrap_or_default());
            if chosen == rejected {
                equal += 1;
                continue;
            }
            let prompt: Vec<Value> = prompt.iter().map(|m| json!({"role": m.role, "content": m.content})).collect();
            let record = json!({
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            });
            lines.extend_from_slice(record.to_string().as_bytes());
            lines.push(b'\n');
            pairs += 1;
        }
        if pairs == 0 {
            return Err(ValidationError::unprocessable(
                "id",
                format!("no item of human evaluation {id} has a majority preference between two different answers yet ({split} split, {equal} with equal answers)"),
            )
            .into());
        }
        let parent = match &h.config.dataset_version_id {
            Some(v) => Some(
                database::datasets::version_by_id(&mut *self.db().read().await?, &principal.organization_id, v)
                    .await
                    .or_not_found("dataset version")?,
            ),
            None => None,
        };
        let recipe = json!({
            "human_eval_id": h.row.id, "evaluations": h.evaluation_ids, "pairs": pairs, "left_out_split_votes": split,
            "left_out_equal_answers": equal, "rule": "per item, the answer most raters preferred is chosen; ties and split votes are left out",
        });
        let origin = VersionOrigin { parent: parent.as_ref(), recipe: Some(&recipe), deployment_id: None };
        let filename = format!("{}-preferences-{}.jsonl", h.row.id, now_ms());
        self.store_export(principal, target, lines, &filename, origin, ctx).await
    }
}
