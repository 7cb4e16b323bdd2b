//! LLM-as-judge: a judge model (any deployment — also an external OpenAI-compatible URL — or a
//! model id deployed on demand) rates one evaluation's answers on a rubric, or compares two
//! evaluations' answers on the same test set pairwise. Pairwise judging asks twice per
//! example, with A's answer shown first and with B's shown first: only a verdict that holds in
//! both orders counts as a win, any disagreement is a tie, so the judge's preference for a
//! position cannot decide the result (the share of consistent verdicts and of first-position
//! picks are reported). The judge is asked greedily for a verdict in a fixed form (`Rating:
//! [[N]]`, `[[A]]`/`[[B]]`/`[[C]]`, MT-Bench's); a reply without one counts as unparsed, named
//! in the results, never as a default.

use super::examples::Case;
use super::{BootstrapSettings, EvaluationConfig, GenerationSettings};
use crate::{Error, Principal, RequestContext, Result, Services};
use datasets::{Message, Role};
use domain::{Permission, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How the judge judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JudgeMode {
    /// Each answer of one evaluation rated from 1 to `scale`.
    Rubric,
    /// The answers of two evaluations compared, in both orders.
    Pairwise,
}

/// A request to judge evaluations' answers with a model.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJudgeEvaluation {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub project_id: Option<String>,
    /// The judge: a deployment's name (also an external OpenAI-compatible URL's) or a model id.
    #[schema(min_length = 1, max_length = 300)]
    pub judge: String,
    pub mode: JudgeMode,
    /// Succeeded evaluations whose answers are judged: one (rubric) or two on the same test set
    /// (pairwise: A, then B).
    #[schema(min_items = 1, max_items = 2)]
    pub evaluation_ids: Vec<String>,
    /// What is judged (default: helpfulness, relevance, accuracy and level of detail).
    #[schema(min_length = 1, max_length = 2000)]
    pub criteria: Option<String>,
    /// The highest rating (rubric; 2–100, default 10).
    #[schema(minimum = 2, maximum = 100)]
    pub scale: Option<u32>,
    /// Most tokens per judgement (16–4096, default 512).
    #[schema(minimum = 16, maximum = 4096)]
    pub max_tokens: Option<u32>,
    /// Requests in flight at once (1–64, default 8).
    #[schema(minimum = 1, maximum = 64)]
    pub concurrency: Option<u32>,
    #[serde(default)]
    pub bootstrap: BootstrapSettings,
}

/// How a judge evaluation judges (stored in its configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JudgeConfig {
    pub mode: JudgeMode,
    pub evaluation_ids: Vec<String>,
    pub criteria: String,
    pub scale: u32,
    /// The version of the prompts below.
    pub prompt_version: String,
}

const DEFAULT_CRITERIA: &str = "helpfulness, relevance, accuracy and level of detail";
const PROMPT_VERSION: &str = "tunery-judge-1 (MT-Bench style; pairwise in both orders)";
const SYSTEM: &str = "You are an impartial judge of the quality of AI assistants' answers.";

/// The conversation an answer replies to, as the judge reads it.
fn question(case: &Case) -> String {
    match &case.prompt {
        Some(messages) => messages
            .iter()
            .map(|m| {
                let who = match m.role {
                    Role::System => "System",
                    Role::User => "User",
                    Role::Assistant => "Assistant",
                };
                format!("{who}: {}", m.content)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => "(not given; judge the answer against the reference)".to_string(),
    }
}

fn chat(user: String) -> Vec<Message> {
    vec![Message::new(Role::System, SYSTEM), Message::new(Role::User, user)]
}

/// The judge's prompts for one example: one (rubric) or two (pairwise: A first, then B first).
pub(crate) fn prompts(j: &JudgeConfig, case: &Case) -> Result<Vec<Vec<Message>>> {
    let answers = case.answers.as_deref().unwrap_or_default();
    let reference = case.references.first().map(String::as_str).unwrap_or_default();
    let q = question(case);
    match (j.mode, answers) {
        (JudgeMode::Rubric, [answer]) => Ok(vec![chat(format!(
            "Rate the assistant's answer to the question below for {criteria}, from 1 (worst) to {scale} (best), \
             comparing it with the reference answer. Explain briefly, then end with your rating in exactly this form: \
             \"Rating: [[N]]\".\n\n[Question]\n{q}\n\n[Reference answer]\n{reference}\n\n\
             [The Start of the Assistant's Answer]\n{answer}\n[The End of the Assistant's Answer]",
            criteria = j.criteria,
            scale = j.scale,
        ))]),
        (JudgeMode::Pairwise, [a, b]) => {
            let ask = |first: &str, second: &str| {
                chat(format!(
                    "Compare the answers of two AI assistants to the question below for {criteria}, using the reference \
                     answer. Do not let the order of the answers, their length or the assistants' names influence you. \
                     Explain briefly, then end with your verdict in exactly this form: \"[[A]]\" if assistant A is better, \
                     \"[[B]]\" if assistant B is better, \"[[C]]\" for a tie.\n\n[Question]\n{q}\n\n[Reference answer]\n{reference}\n\n\
                     [The Start of Assistant A's Answer]\n{first}\n[The End of Assistant A's Answer]\n\n\
                     [The Start of Assistant B's Answer]\n{second}\n[The End of Assistant B's Answer]",
                    criteria = j.criteria,
                ))
            };
            Ok(vec![ask(a, b), ask(b, a)])
        }
        _ => Err(Error::Internal(format!("a {:?} judgement of {} answers", j.mode, answers.len()))),
    }
}

/// The rating in a rubric reply: the last `[[N]]` with N in 1..=scale.
pub(crate) fn rating(reply: &str, scale: u32) -> Option<u32> {
    reply.rmatch_indices("[[").find_map(|(at, _)| {
        let rest = &reply[at + 2..];
        let end = rest.find("]]")?;
        let n: f64 = rest[..end].trim().parse().ok()?;
        (n.fract() == 0.0 && (1.0..=f64::from(scale)).contains(&n)).then_some(n as u32)
    })
}

/// A pairwise verdict: the position the judge preferred (`Some(0)` the first shown,
/// `Some(1)` the second) or a tie (`None`), from the last of `[[A]]`, `[[B]]`, `[[C]]`; no
/// verdict at all is `Err`.
pub(crate) fn verdict(reply: &str) -> std::result::Result<Option<usize>, ()> {
    let last = ["[[A]]", "[[B]]", "[[C]]"].iter().enumerate().filter_map(|(k, tag)| reply.rfind(tag).map(|at| (at, k))).max();
    match last {
        Some((_, 0)) => Ok(Some(0)),
        Some((_, 1)) => Ok(Some(1)),
        Some(_) => Ok(None),
        None => Err(()),
    }
}

/// The results of a judge evaluation and each example's score (rubric: the rating; pairwise:
/// B's share, 100 a win, 50 a tie, 0 a loss; unparsed examples have none).
pub(crate) fn score(j: &JudgeConfig, b: &BootstrapSettings, cases: &[Case]) -> Result<Value> {
    let bootstrap =
        (b.resamples > 0).then_some(metrics::suite::Bootstrap { resamples: b.resamples, confidence: b.confidence, seed: b.seed });
    let mut per_example: Vec<Map<String, Value>> = vec![Map::new(); cases.len()];
    let judgements = |i: usize| cases[i].judgements.as_deref().ok_or_else(|| Error::Internal(format!("example {i} was not judged")));
    let (name, summary) = match j.mode {
        JudgeMode::Rubric => {
            let mut ratings = Vec::new();
            let mut unparsed = Vec::new();
            let mut distribution = vec![0u64; j.scale as usize];
            for (i, scores) in per_example.iter_mut().enumerate() {
                match judgements(i)?.first().and_then(|r| rating(r, j.scale)) {
                    Some(r) => {
                        scores.insert("judge_rating".into(), json!(r));
                        distribution[r as usize - 1] += 1;
                        ratings.push(f64::from(r));
                    }
                    None => unparsed.push(i),
                }
            }
            let mean = (!ratings.is_empty()).then(|| ratings.iter().sum::<f64>() / ratings.len() as f64);
            let mut m = json!({
                "score": mean, "scale": j.scale, "judged": ratings.len(), "unparsed": unparsed.len(),
                "unparsed_examples": unparsed.iter().take(20).collect::<Vec<_>>(), "distribution": distribution,
                "normalized": mean.map(|m| 100.0 * (m - 1.0) / f64::from(j.scale - 1)),
                "implementation": format!("mean rating 1–{} by the judge; {PROMPT_VERSION}", j.scale),
            });
            if let Some(i) = bootstrap.and_then(|b| metrics::suite::mean_interval(&ratings, b)) {
                m["interval"] = json!(i);
                m["confidence"] = json!(b.confidence);
            }
            ("judge_rating", m)
        }
        JudgeMode::Pairwise => {
            let (mut wins_b, mut wins_a, mut ties, mut consistent, mut first_picks, mut decisive) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
            let mut shares = Vec::new();
            let mut unparsed = Vec::new();
            for (i, scores) in per_example.iter_mut().enumerate() {
                let replies = judgements(i)?;
                let [first, second] = replies else { return Err(Error::Internal(format!("example {i} has {} judgements", replies.len()))) };
                let (Ok(v1), Ok(v2)) = (verdict(first), verdict(second)) else {
                    unparsed.push(i);
                    continue;
                };
                for v in [v1, v2].into_iter().flatten() {
                    decisive += 1;
                    first_picks += u64::from(v == 0);
                }
                // In A-first order position 0 is A; in B-first order position 0 is B. As systems
                // (0 = A, 1 = B):
                let (s1, s2) = (v1, v2.map(|p| 1 - p));
                // The winning system when both orders agree on one; else a tie.
                let winner = if s1 == s2 {
                    consistent += 1;
                    s1
                } else {
                    None
                };
                let share = match winner {
                    Some(1) => {
                        wins_b += 1;
                        100.0
                    }
                    Some(_) => {
                        wins_a += 1;
                        0.0
                    }
                    None => {
                        ties += 1;
                        50.0
                    }
                };
                scores.insert("judge_win_rate".into(), json!(share));
                shares.push(share);
            }
            let judged = shares.len();
            let rate = (judged > 0).then(|| shares.iter().sum::<f64>() / judged as f64);
            let mut m = json!({
                "score": rate, "wins_b": wins_b, "wins_a": wins_a, "ties": ties, "judged": judged, "unparsed": unparsed.len(),
                "unparsed_examples": unparsed.iter().take(20).collect::<Vec<_>>(),
                "consistency": (judged > 0).then(|| 100.0 * consistent as f64 / judged as f64),
                "first_position_picks": (decisive > 0).then(|| 100.0 * first_picks as f64 / decisive as f64),
                "evaluation_a": j.evaluation_ids[0], "evaluation_b": j.evaluation_ids[1],
                "implementation": format!("B's win rate (a tie or a verdict that changes with the order counts half); {PROMPT_VERSION}"),
            });
            if let Some(i) = bootstrap.and_then(|b| metrics::suite::mean_interval(&shares, b)) {
                m["interval"] = json!(i);
                m["confidence"] = json!(b.confidence);
            }
            ("judge_win_rate", m)
        }
    };
    Ok(json!({"metrics": {name: summary}, "examples": cases.len(), "per_example": per_example}))
}

impl Services {
    /// Creates a judge evaluation (202; it is queued): the judged evaluations must have
    /// succeeded and, pairwise, be on the same test set. Needs `deploy_model`.
    pub async fn create_judge_evaluation(
        &self,
        principal: &Principal,
        n: NewJudgeEvaluation,
        ctx: &RequestContext,
    ) -> Result<super::Evaluation> {
        self.require_in(principal, n.project_id.as_deref(), Permission::DeployModel).await?;
        let wanted = match n.mode {
            JudgeMode::Rubric => 1,
            JudgeMode::Pairwise => 2,
        };
        if !(1..=2).contains(&n.evaluation_ids.len()) {
            return Err(ValidationError::new("evaluation_ids", format!("give 1 or 2 evaluations (got {})", n.evaluation_ids.len())).into());
        }
        if n.evaluation_ids.len() != wanted {
            let why = format!("{:?} judging takes {wanted} evaluation(s) (got {})", n.mode, n.evaluation_ids.len()).to_lowercase();
            return Err(ValidationError::unprocessable("evaluation_ids", why).into());
        }
        if wanted == 2 && n.evaluation_ids[0] == n.evaluation_ids[1] {
            return Err(ValidationError::unprocessable("evaluation_ids", "judge two different evaluations").into());
        }
        let scale = n.scale.unwrap_or(10);
        if !(2..=100).contains(&scale) {
            return Err(ValidationError::new("scale", format!("must be 2 to 100 (got {scale})")).into());
        }
        let max_tokens = n.max_tokens.unwrap_or(512);
        if !(16..=4096).contains(&max_tokens) {
            return Err(ValidationError::new("max_tokens", format!("must be 16 to 4096 (got {max_tokens})")).into());
        }
        let concurrency = n.concurrency.unwrap_or(8);
        if !(1..=64).contains(&concurrency) {
            return Err(ValidationError::new("concurrency", format!("must be 1 to 64 (got {concurrency})")).into());
        }
        super::check_bootstrap(&n.bootstrap)?;
        let criteria = match n.criteria.as_deref().map(str::trim) {
            Some("") => return Err(ValidationError::unprocessable("criteria", "must not be only white space").into()),
            Some(c) if c.chars().count() > 2000 => return Err(ValidationError::new("criteria", "2000 characters at most").into()),
            Some(c) => c.to_string(),
            None => DEFAULT_CRITERIA.to_string(),
        };
        let judged = self.on_one_test_set(principal, &n.evaluation_ids, "evaluation_ids").await?;
        let first = &judged[0].0;
        let cases: Vec<Case> = (0..judged[0].1.len())
            .map(|i| {
                let answers = judged.iter().map(|(_, cases)| cases[i].prediction.clone().unwrap_or_default()).collect();
                let c = &judged[0].1[i];
                Case { prompt: c.prompt.clone(), references: c.references.clone(), answers: Some(answers), ..Case::default() }
            })
            .collect();
        let model = self.resolve_evaluated_model(principal, &n.judge, ctx).await?;
        let judge =
            JudgeConfig { mode: n.mode, evaluation_ids: n.evaluation_ids.clone(), criteria, scale, prompt_version: PROMPT_VERSION.into() };
        let config = EvaluationConfig {
            metrics: Vec::new(),
            tokenize: first.config.tokenize.clone(),
            rouge_stemmer: first.config.rouge_stemmer,
            bootstrap: n.bootstrap,
            generation: Some(GenerationSettings { max_tokens, ..GenerationSettings::default() }),
            concurrency,
            model: Some(model.clone()),
            dataset_id: first.config.dataset_id.clone(),
            dataset_version: first.config.dataset_version,
            limit: first.config.limit,
            prompt_rendering: Some(PROMPT_VERSION.to_string()),
            metrics_version: super::metrics_version(),
            judge: Some(judge),
            resources: super::MetricResources::default(),
        };
        let name = super::check_name(n.name.as_deref(), || {
            let what = judged.iter().map(|(e, _)| e.row.name.as_str()).collect::<Vec<_>>().join(" vs ");
            format!("{} judges {what}", n.judge)
        })?;
        let row = self.new_evaluation_row(principal, n.project_id, name, "judge", Some(n.judge), &config, cases.len());
        let row = database::evaluations::EvaluationRow {
            deployment_id: Some(model.deployment_id),
            dataset_version_id: first.row.dataset_version_id.clone(),
            ..row
        };
        self.insert_evaluation(principal, row, cases, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_ratings_are_read_from_the_fixed_form_only() {
        assert_eq!(rating("Good answer. Rating: [[8]]", 10), Some(8));
        assert_eq!(rating("[[3]] at first, then Rating: [[9]]", 10), Some(9));
        assert_eq!(rating("Rating: [[11]]", 10), None);
        assert_eq!(rating("Rating: 7", 10), None);
        assert_eq!(rating("Rating: [[7.5]]", 10), None);
        assert_eq!(verdict("A is better. [[A]]"), Ok(Some(0)));
        assert_eq!(verdict("Not [[A]] but [[B]]"), Ok(Some(1)));
        assert_eq!(verdict("[[C]]"), Ok(None));
        assert_eq!(verdict("no verdict"), Err(()));
    }

    #[test]
    fn pairwise_wins_count_only_when_both_orders_agree() {
        let j = JudgeConfig {
            mode: JudgeMode::Pairwise,
            evaluation_ids: vec!["a".into(), "b".into()],
            criteria: DEFAULT_CRITERIA.into(),
            scale: 10,
            prompt_version: PROMPT_VERSION.into(),
        };
        let case = |first: &str, second: &str| Case { judgements: Some(vec![first.into(), second.into()]), ..Case::default() };
        let cases = vec![
            case("[[B]]", "[[A]]"), // B in both orders: B wins
            case("[[A]]", "[[B]]"), // A in both orders: A wins
            case("[[A]]", "[[A]]"), // always the first shown: position bias, a tie
            case("[[C]]", "[[C]]"), // a tie
            case("[[B]]", "nothing"),
        ];
        let r = score(&j, &BootstrapSettings { resamples: 0, ..Default::default() }, &cases).unwrap();
        let m = &r["metrics"]["judge_win_rate"];
        assert_eq!(
            (m["wins_b"].as_u64(), m["wins_a"].as_u64(), m["ties"].as_u64(), m["unparsed"].as_u64()),
            (Some(1), Some(1), Some(2), Some(1)),
            "{m}"
        );
        assert_eq!(m["score"], 50.0);
        assert_eq!(m["consistency"], 75.0);
        // 6 decisive verdicts, 4 for the first position.
        assert!((m["first_position_picks"].as_f64().unwrap() - 400.0 / 6.0).abs() < 1e-9, "{m}");
        assert_eq!(r["per_example"][2]["judge_win_rate"], 50.0);
        assert!(r["per_example"][4].as_object().unwrap().is_empty());
    }
}
