//! Online A/B tests: a traffic split is a name clients call whose requests go to two or more
//! deployments by weight — at random, or sticky per user or per API key (the same caller always
//! reaches the same variant) — and feedback (thumbs or a score) posted for a response id. The
//! readout compares each variant with the first (the control): requests, error rate, latency,
//! ratings, and whether the difference in ratings is significant (`domain::stats`).

use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::evaluations::Gate;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::traffic::SplitRow;
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};

/// One deployment of a split and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub deployment_id: String,
    /// A relative weight, 1–1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: u32,
}

/// Whether a caller keeps reaching the same variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sticky {
    /// Each request is assigned at random by weight.
    None,
    /// Per user (a key's requests count as its owner's).
    User,
    /// Per API key (a session's requests as its user's).
    Key,
}

impl Sticky {
    fn as_str(self) -> &'static str {
        match self {
            Sticky::None => "none",
            Sticky::User => "user",
            Sticky::Key => "key",
        }
    }

    fn parse(owner: &str, v: &str) -> Result<Sticky> {
        match v {
            "none" => Ok(Sticky::None),
            "user" => Ok(Sticky::User),
            "key" => Ok(Sticky::Key),
            other => Err(Error::Internal(format!("{owner}: stored stickiness '{other}' is not one this build knows"))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSplit {
    /// The name clients put in `model` (unique among deployments and splits of the organization).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")]
    pub name: String,
    pub project_id: Option<String>,
    /// Two to ten deployments; the first is the control the others are compared with.
    #[schema(min_items = 2, max_items = 10)]
    pub variants: Vec<Variant>,
    #[serde(default = "default_sticky")]
    pub sticky: Sticky,
    /// Every variant but the first (the control) — and any variant added later — must have an
    /// evaluation of its model passing these thresholds (else `gate_failed`, 422).
    pub gate: Option<Gate>,
}

fn default_sticky() -> Sticky {
    Sticky::User
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitChanges {
    #[schema(min_items = 2, max_items = 10)]
    pub variants: Option<Vec<Variant>>,
    pub sticky: Option<Sticky>,
    /// false: requests to the name answer 409 until it is active again.
    pub active: Option<bool>,
    /// A new gate (every candidate variant must pass it now); without one, variants added to a
    /// gated split must pass its gate.
    pub gate: Option<Gate>,
}

/// A split, read back.
#[derive(Debug, Clone)]
pub struct Split {
    pub row: SplitRow,
    pub variants: Vec<Variant>,
    pub sticky: Sticky,
    pub gate: Option<Gate>,
}

impl Split {
    fn of(row: SplitRow) -> Result<Split> {
        let owner = format!("traffic split {}", row.id);
        let variants =
            serde_json::from_str(&row.variants).map_err(|e| Error::Internal(format!("{owner}: the stored variants do not parse: {e}")))?;
        let sticky = Sticky::parse(&owner, &row.sticky)?;
        let gate = match &row.gate {
            Some(g) => Some(serde_json::from_str(g).map_err(|e| Error::Internal(format!("{owner}: the stored gate does not parse: {e}")))?),
            None => None,
        };
        Ok(Split { row, variants, sticky, gate })
    }

    /// The variant for a caller: sticky ones by a hash of the split and the caller, else by
    /// `random` (uniform in 0..1).
    pub fn pick(&self, p: &Principal, random: f64) -> &Variant {
        let total: u64 = self.variants.iter().map(|v| u64::from(v.weight)).sum();
        let caller = match self.sticky {
            Sticky::None => None,
            Sticky::User => Some(p.user_id.as_str()),
            Sticky::Key => Some(p.api_key_id().unwrap_or(&p.user_id)),
        };
        let point = match caller {
            Some(c) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(format!("{}:{c}", self.row.id).as_bytes());
                u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % total
            }
            None => ((random * total as f64) as u64).min(total - 1),
        };
        let mut acc = 0;
        for v in &self.variants {
            acc += u64::from(v.weight);
            if point < acc {
                return v;
            }
        }
        self.variants.last().expect("a split has variants")
    }
}

/// How a variant did.
#[derive(Debug, Clone)]
pub struct VariantReadout {
    pub deployment_id: String,
    pub weight: u32,
    pub requests: i64,
    pub errors: i64,
    pub mean_latency_ms: Option<f64>,
    pub ratings: domain::stats::Ratings,
    /// Against the control (None for the control, or with too few ratings).
    pub comparison: Option<domain::stats::Comparison>,
}

/// A split's results and what they say.
#[derive(Debug, Clone)]
pub struct SplitReadout {
    pub split: Split,
    pub variants: Vec<VariantReadout>,
    /// In words: which variant is better, or that there is no evidence yet.
    pub conclusion: String,
}

/// Significance level of the readout.
const ALPHA: f64 = 0.05;

/// Feedback on an answer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    /// The answer's `id` (`chatcmpl-…`, `cmpl-…`).
    #[schema(min_length = 1, max_length = 100)]
    pub response_id: String,
    /// Thumbs up (`up`) or down (`down`); or give `score`.
    pub rating: Option<Thumbs>,
    /// A score from 0 (worst) to 1 (best).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub score: Option<f64>,
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Thumbs {
    Up,
    Down,
}

impl Services {
    async fn check_variants(&self, principal: &Principal, variants: &[Variant]) -> Result<()> {
        if !(2..=10).contains(&variants.len()) {
            return Err(ValidationError::new("variants", format!("give 2 to 10 variants (got {})", variants.len())).into());
        }
        for (i, v) in variants.iter().enumerate() {
            if !(1..=1000).contains(&v.weight) {
                return Err(ValidationError::new(&format!("variants[{i}].weight"), format!("must be 1 to 1000 (got {})", v.weight)).into());
            }
            if variants[..i].iter().any(|w| w.deployment_id == v.deployment_id) {
                return Err(ValidationError::unprocessable(&format!("variants[{i}].deployment_id"), "each deployment once").into());
            }
            self.deployment_with(principal, &v.deployment_id, Permission::DeployModel).await?;
        }
        Ok(())
    }

    /// Creates a traffic split over deployments the caller may call (`deploy_model`).
    pub async fn create_split(&self, principal: &Principal, n: NewSplit, ctx: &RequestContext) -> Result<Split> {
        self.require_in(principal, n.project_id.as_deref(), Permission::DeployModel).await?;
        let name = super::check_name(&n.name)?;
        self.check_variants(principal, &n.variants).await?;
        let passed = match &n.gate {
            Some(gate) => self.pass_split_gate(principal, gate, n.variants.iter().enumerate().skip(1)).await?,
            None => Vec::new(),
        };
        let now = now_ms();
        let row = SplitRow {
            id: crate::crypto::new_id(IdKind::TrafficSplit),
            organization_id: principal.organization_id.clone(),
            project_id: n.project_id,
            name,
            variants: serde_json::to_string(&n.variants).map_err(crate::datasets::internal)?,
            sticky: n.sticky.as_str().into(),
            active: 1,
            gate: n.gate.as_ref().map(|g| serde_json::to_string(g).map_err(crate::datasets::internal)).transpose()?,
            created_by: principal.user_id.clone(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db().begin_write().await?;
        if database::deployments::by_name(tx.conn(), &row.organization_id, &row.name).await.is_ok() {
            return Err(Error::Conflict(format!("a deployment is named {}: a split needs a name of its own", row.name)));
        }
        database::traffic::insert(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "traffic_split.create")
            .target("traffic_split", &row.id)
            .details(serde_json::json!({"name": row.name, "variants": n.variants, "gates_passed": passed}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Split::of(row)
    }

    async fn split_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<Split> {
        let row =
            database::traffic::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("traffic split")?;
        self.require_on_resource(principal, row.project_id.as_deref(), "traffic split", permission).await?;
        Split::of(row)
    }

    pub async fn list_splits(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<Split>> {
        principal.require(Permission::ViewMetrics)?;
        let limit = validate::page_limit(limit)?;
        let rows = database::traffic::list(&mut *self.db().read().await?, &principal.organization_id, after, limit + 1).await?;
        let mut visible = Vec::new();
        for row in rows {
            if let Ok(split) = self.split_with(principal, &row.id, Permission::ViewMetrics).await {
                visible.push(split);
            }
        }
        Ok(Page::from_rows(visible, limit))
    }

    pub async fn update_split(&self, principal: &Principal, id: &str, c: SplitChanges, ctx: &RequestContext) -> Result<Split> {
        let old = self.split_with(principal, id, Permission::DeployModel).await?;
        if let Some(v) = &c.variants {
            self.check_variants(principal, v).await?;
        }
        let variants = c.variants.clone().unwrap_or_else(|| old.variants.clone());
        let passed = match (&c.gate, &old.gate) {
            // A new gate: every candidate passes it.
            (Some(gate), _) => self.pass_split_gate(principal, gate, variants.iter().enumerate().skip(1)).await?,
            // The split's gate: variants new to the split pass it.
            (None, Some(gate)) => {
                let added = variants.iter().enumerate().filter(|(_, v)| !old.variants.iter().any(|o| o.deployment_id == v.deployment_id));
                self.pass_split_gate(principal, gate, added).await?
            }
            (None, None) => Vec::new(),
        };
        let mut tx = self.db().begin_write().await?;
        database::traffic::lock(tx.conn(), id).await.or_not_found("traffic split")?;
        let mut row = database::traffic::get(tx.conn(), &principal.organization_id, id).await.or_not_found("traffic split")?;
        if row.updated_at != old.row.updated_at || row.variants != old.row.variants {
            return Err(Error::Conflict(format!("traffic split {id} changed meanwhile: read it again and retry")));
        }
        if let Some(v) = &c.variants {
            row.variants = serde_json::to_string(v).map_err(crate::datasets::internal)?;
        }
        if let Some(g) = &c.gate {
            row.gate = Some(serde_json::to_string(g).map_err(crate::datasets::internal)?);
        }
        if let Some(s) = c.sticky {
            row.sticky = s.as_str().into();
        }
        if let Some(a) = c.active {
            row.active = i64::from(a);
        }
        row.updated_at = now_ms();
        database::traffic::update(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "traffic_split.update")
            .target("traffic_split", id)
            .details(serde_json::json!({"variants": c.variants, "active": c.active, "gate": c.gate, "gates_passed": passed}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Split::of(row)
    }

    /// Checks each `(index, variant)` against `gate`: what each passed with.
    async fn pass_split_gate<'a>(
        &self,
        principal: &Principal,
        gate: &Gate,
        variants: impl Iterator<Item = (usize, &'a Variant)>,
    ) -> Result<Vec<serde_json::Value>> {
        let mut passed = Vec::new();
        for (i, v) in variants {
            let model = self.gated_model_of_deployment(principal, &v.deployment_id).await?;
            let p = self.pass_gate(principal, gate, &model, &format!("variants[{i}]")).await?;
            passed.push(serde_json::json!({"deployment_id": v.deployment_id, "evaluation_id": p.evaluation_id, "scores": p.scores}));
        }
        Ok(passed)
    }

    pub async fn delete_split(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        self.split_with(principal, id, Permission::DeployModel).await?;
        let mut tx = self.db().begin_write().await?;
        database::traffic::lock(tx.conn(), id).await.or_not_found("traffic split")?;
        database::traffic::delete(tx.conn(), id).await?;
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "traffic_split.delete").target("traffic_split", id), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The split a request's `model` names, if any: the deployment it picks for this caller.
    pub(crate) async fn route_split(&self, principal: &Principal, model: &str) -> Result<Option<(String, String)>> {
        let Some(row) = database::traffic::by_name(&mut *self.db().read().await?, &principal.organization_id, model).await? else {
            return Ok(None);
        };
        let split = self.split_with(principal, &row.id, Permission::DeployModel).await.or_not_found("model")?;
        if split.row.active == 0 {
            return Err(Error::Conflict(format!("traffic split {model} is paused; activate it to call it")));
        }
        let random: f64 = rand::random();
        let variant = split.pick(principal, random);
        Ok(Some((split.row.id.clone(), variant.deployment_id.clone())))
    }

    /// Records feedback on an answer the caller's organization received (`deploy_model`).
    pub async fn give_feedback(&self, principal: &Principal, f: NewFeedback, ctx: &RequestContext) -> Result<()> {
        principal.require(Permission::DeployModel)?;
        let (score, kind) = match (f.rating, f.score) {
            (Some(Thumbs::Up), None) => (1.0, "thumbs"),
            (Some(Thumbs::Down), None) => (0.0, "thumbs"),
            (None, Some(s)) if (0.0..=1.0).contains(&s) => (s, "score"),
            (None, Some(s)) => return Err(ValidationError::new("score", format!("must be 0 to 1 (got {s})")).into()),
            _ => return Err(ValidationError::unprocessable("rating", "give either rating (up or down) or score").into()),
        };
        let find = || async { database::inference::get(&mut *self.db().read().await?, &principal.organization_id, &f.response_id).await };
        // The usage row is written within a second of the answer: wait for it once.
        let found = match find().await? {
            Some(r) => Some(r),
            None => {
                self.flush_usage().await;
                find().await?
            }
        };
        if found.is_none() {
            return Err(Error::NotFound("response"));
        }
        let row = database::inference::FeedbackRow {
            response_id: f.response_id.clone(),
            organization_id: principal.organization_id.clone(),
            score,
            kind: kind.into(),
            comment: f.comment,
            created_by: principal.user_id.clone(),
            created_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        database::inference::put_feedback(tx.conn(), &row).await?;
        let event =
            AuditEvent::by(principal, "inference.feedback").target("response", &f.response_id).details(serde_json::json!({"score": score}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A split's results, each variant compared with the control.
    pub async fn split_readout(&self, principal: &Principal, id: &str) -> Result<SplitReadout> {
        let split = self.split_with(principal, id, Permission::ViewMetrics).await?;
        self.flush_usage().await;
        let figures = database::inference::split_figures(&mut *self.db().read().await?, &principal.organization_id, id).await?;
        let readout = |v: &Variant| {
            let f = figures.iter().find(|f| f.deployment_id == v.deployment_id);
            let ratings = domain::stats::Ratings {
                n: f.map_or(0, |f| f.ratings.max(0) as u64),
                sum: f.map_or(0.0, |f| f.score_sum),
                sum_squares: f.map_or(0.0, |f| f.score_square_sum),
            };
            VariantReadout {
                deployment_id: v.deployment_id.clone(),
                weight: v.weight,
                requests: f.map_or(0, |f| f.requests),
                errors: f.map_or(0, |f| f.errors),
                mean_latency_ms: f.filter(|f| f.requests > 0).map(|f| f.latency_ms_sum as f64 / f.requests as f64),
                ratings,
                comparison: None,
            }
        };
        let mut variants: Vec<VariantReadout> = split.variants.iter().map(readout).collect();
        let control = variants[0].ratings;
        for v in variants.iter_mut().skip(1) {
            v.comparison = domain::stats::compare(control, v.ratings);
        }
        let conclusion = conclude(&variants);
        Ok(SplitReadout { split, variants, conclusion })
    }
}

fn conclude(variants: &[VariantReadout]) -> String {
    let control = &variants[0];
    let mut said = Vec::new();
    for v in &variants[1..] {
        match v.comparison {
            None => said.push(format!(
                "{} vs {}: not enough ratings yet ({} and {}; {} each needed)",
                v.deployment_id,
                control.deployment_id,
                v.ratings.n,
                control.ratings.n,
                domain::stats::MIN_RATINGS
            )),
            Some(c) if c.p_value < ALPHA => said.push(format!(
                "{} is rated {} than {} by {:.3} (p = {:.4}): significant at {ALPHA}",
                v.deployment_id,
                if c.difference > 0.0 { "better" } else { "worse" },
                control.deployment_id,
                c.difference.abs(),
                c.p_value
            )),
            Some(c) => said.push(format!(
                "{} vs {}: no significant difference (difference {:+.3}, p = {:.4})",
                v.deployment_id, control.deployment_id, c.difference, c.p_value
            )),
        }
    }
    said.join("; ")
}
