//! Usage: one row per inference request (key, user, deployment, tokens, time to first token,
//! latency, status), written in batches by a background task so that the request path never
//! waits for a write, and aggregated per minute or day on request.

use crate::{now_ms, Principal, Result, Services};
use database::inference::{InferenceRow, UsageBucket, UsageFilter};
use domain::{Permission, ValidationError};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// One finished request, as the gateway reports it: its usage row, what the content policy
/// did to it, and the exchange when its deployment logs requests.
#[derive(Debug, Clone)]
pub struct InferenceRecord {
    pub row: InferenceRow,
    pub safety: super::safety::Tally,
    pub exchange: Option<super::inference_logs::Exchange>,
}

impl InferenceRecord {
    pub fn of(row: InferenceRow) -> InferenceRecord {
        InferenceRecord { row, safety: Default::default(), exchange: None }
    }
}

/// The rows one request becomes.
struct Rows {
    usage: InferenceRow,
    events: Vec<database::safety::SafetyEventRow>,
    log: Option<database::safety::InferenceLogRow>,
}

/// Rows written per transaction at most.
const BATCH: usize = 500;

/// Queues usage rows for its writer task (started with it; it ends when the recorder is
/// dropped); `flush` waits until everything queued is written.
pub struct UsageRecorder {
    tx: mpsc::UnboundedSender<Command>,
    /// The last request time of each deployment in this process (for scale to zero).
    last_used: Mutex<HashMap<String, i64>>,
}

enum Command {
    Record(Box<Rows>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl UsageRecorder {
    /// The recorder and its writer task, which batches rows into one transaction each.
    pub(crate) fn start(db: database::Db) -> UsageRecorder {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_usage_rows(db, rx));
        UsageRecorder { tx, last_used: Mutex::default() }
    }
}

async fn write_usage_rows(db: database::Db, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut rows = Vec::new();
    let mut waiting = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Record(r) => rows.push(*r),
                Command::Flush(done) => waiting.push(done),
            }
            if rows.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !rows.is_empty() {
            if let Err(e) = write_usage(&db, &rows).await {
                tracing::error!("could not record {} inference requests: {e}", rows.len());
            }
            rows.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn write_usage(db: &database::Db, rows: &[Rows]) -> Result<()> {
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for r in rows.iter().map(|r| &r.usage) {
        if let Some(d) = &r.deployment_id {
            let t = latest.entry(d).or_insert(r.created_at);
            *t = (*t).max(r.created_at);
        }
    }
    let mut tx = db.begin_write().await?;
    let usage: Vec<InferenceRow> = rows.iter().map(|r| r.usage.clone()).collect();
    database::inference::insert_all(tx.conn(), &usage).await?;
    let events: Vec<_> = rows.iter().flat_map(|r| r.events.iter().cloned()).collect();
    database::safety::insert_events(tx.conn(), &events).await?;
    let logs: Vec<_> = rows.iter().filter_map(|r| r.log.clone()).collect();
    database::safety::insert_logs(tx.conn(), &logs).await?;
    for (deployment, at) in latest {
        database::deployments::touch(tx.conn(), deployment, at).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a usage query asks for.
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    pub deployment_id: Option<String>,
    pub api_key_id: Option<String>,
    /// `minute` or `day`.
    pub bucket: Option<String>,
    /// Unix milliseconds; default: the last 24 hours (minute buckets) or 30 days (day buckets).
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Aggregated usage.
#[derive(Debug, Clone)]
pub struct UsageReport {
    pub bucket: &'static str,
    pub from: i64,
    pub to: i64,
    pub buckets: Vec<UsageBucket>,
    /// Each bucket's latency percentiles, by bucket start (Unix milliseconds).
    pub bucket_latency: HashMap<i64, LatencyPercentiles>,
    /// The whole period's latency percentiles (None without requests).
    pub latency: Option<LatencyPercentiles>,
    /// Per API key, most requests first, each with its latency percentiles.
    pub by_key: Vec<(database::inference::KeyUsage, LatencyPercentiles)>,
}

/// Latency percentiles in milliseconds, interpolated linearly between ranks (NumPy's default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LatencyPercentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl LatencyPercentiles {
    /// Of latencies in any order; None when there are none.
    pub fn of(mut latencies: Vec<i64>) -> Option<LatencyPercentiles> {
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_unstable();
        let sorted: Vec<f64> = latencies.into_iter().map(|l| l as f64).collect();
        let at = |q| metrics::suite::percentile(&sorted, q);
        Some(LatencyPercentiles { p50: at(0.5), p95: at(0.95), p99: at(0.99) })
    }
}

/// Latency percentiles per bucket start, per API key (None: a signed-in session) and for the
/// whole period.
type Percentiles = (HashMap<i64, LatencyPercentiles>, HashMap<Option<String>, LatencyPercentiles>, Option<LatencyPercentiles>);

/// Groups each request's (bucket start, key, latency) into its bucket, its key and the period.
fn percentiles(rows: Vec<(i64, Option<String>, i64)>) -> Percentiles {
    let mut per_bucket: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut per_key: HashMap<Option<String>, Vec<i64>> = HashMap::new();
    let mut all = Vec::with_capacity(rows.len());
    for (bucket, key, latency) in rows {
        per_bucket.entry(bucket).or_default().push(latency);
        per_key.entry(key).or_default().push(latency);
        all.push(latency);
    }
    let summarize = |v: Vec<i64>| LatencyPercentiles::of(v).expect("a group holds at least one request");
    (
        per_bucket.into_iter().map(|(b, v)| (b, summarize(v))).collect(),
        per_key.into_iter().map(|(k, v)| (k, summarize(v))).collect(),
        LatencyPercentiles::of(all),
    )
}

impl Services {
    /// Queues a finished request's row (never blocks; written within a second).
    /// Queues a finished request's rows: usage, policy events, and its exchange masked and
    /// sealed (when logged).
    pub fn record_inference(&self, record: InferenceRecord) {
        let events = super::content_policy::event_rows(&record.safety, &record.row);
        let log = record.exchange.as_ref().and_then(|e| self.sealed_log(&record.row, e));
        let rows = Rows { usage: record.row, events, log };
        let _ = self.usage_recorder().tx.send(Command::Record(Box::new(rows)));
    }

    pub(crate) fn mark_used(&self, deployment_id: &str) {
        self.usage_recorder().last_used.lock().expect("last used lock").insert(deployment_id.to_string(), now_ms());
    }

    pub(crate) fn last_used(&self, deployment_id: &str) -> i64 {
        self.usage_recorder().last_used.lock().expect("last used lock").get(deployment_id).copied().unwrap_or(0)
    }

    /// Waits until every row queued so far is written (tests, shutdown).
    pub async fn flush_usage(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.usage_recorder().tx.send(Command::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Usage of a deployment the caller may see (`view_metrics` there).
    pub async fn deployment_usage(&self, principal: &Principal, id: &str, mut q: UsageQuery) -> Result<UsageReport> {
        self.deployment_with(principal, id, Permission::ViewMetrics).await?;
        q.deployment_id = Some(id.to_string());
        self.usage_report(principal, q).await
    }

    /// Usage across the organization (`view_metrics` organization-wide), optionally of one
    /// deployment or one API key.
    pub async fn organization_usage(&self, principal: &Principal, q: UsageQuery) -> Result<UsageReport> {
        principal.require(Permission::ViewMetrics)?;
        if principal.project_restriction().is_some() {
            return Err(crate::Error::Forbidden("an API key restricted to a project sees its deployments' usage only".into()));
        }
        self.usage_report(principal, q).await
    }

    async fn usage_report(&self, principal: &Principal, q: UsageQuery) -> Result<UsageReport> {
        let (bucket, width, span) = match q.bucket.as_deref().unwrap_or("minute") {
            "minute" => ("minute", 60_000, 24 * 3_600_000),
            "day" => ("day", 86_400_000, 30 * 86_400_000),
            other => return Err(ValidationError::new("bucket", format!("'{other}': use minute or day")).into()),
        };
        for (field, value) in [("from", q.from), ("to", q.to)] {
            if value.is_some_and(|v| v < 0) {
                return Err(ValidationError::new(field, "must be Unix milliseconds, 0 or more").into());
            }
        }
        let to = q.to.unwrap_or_else(|| now_ms() + 1);
        let from = q.from.unwrap_or(to - span);
        if from >= to {
            return Err(ValidationError::unprocessable("from", "must be before to").into());
        }
        if (to - from) / width > 50_000 {
            return Err(ValidationError::unprocessable("from", format!("at most 50000 {bucket} buckets in one report")).into());
        }
        let filter = UsageFilter { deployment_id: q.deployment_id, api_key_id: q.api_key_id, from, to };
        let org = &principal.organization_id;
        // One snapshot, so that the totals, the keys and the latencies count the same requests.
        let mut snapshot = self.db().snapshot().await?;
        let buckets = database::inference::usage(snapshot.conn(), org, &filter, width).await?;
        let keys = database::inference::usage_by_key(snapshot.conn(), org, &filter).await?;
        let latencies = database::inference::latencies(snapshot.conn(), org, &filter, width).await?;
        snapshot.finish().await?;
        let (bucket_latency, mut key_latency, latency) = percentiles(latencies);
        let by_key = keys
            .into_iter()
            .map(|k| {
                let p = key_latency.remove(&k.api_key_id).expect("every key with requests has latencies");
                (k, p)
            })
            .collect();
        Ok(UsageReport { bucket, from, to, buckets, bucket_latency, latency, by_key })
    }
}

#[cfg(test)]
mod tests {
    use super::{percentiles, LatencyPercentiles};

    #[test]
    fn latency_percentiles_interpolate_between_ranks_per_bucket_key_and_period() {
        let p = LatencyPercentiles::of((1..=100).rev().collect()).unwrap();
        for (got, want) in [(p.p50, 50.5), (p.p95, 95.05), (p.p99, 99.01)] {
            assert!((got - want).abs() < 1e-9, "{got} != {want}");
        }
        assert_eq!(LatencyPercentiles::of(vec![]), None);
        let key = Some("key_a".to_string());
        let rows = vec![(0, key.clone(), 10), (0, None, 30), (60_000, key.clone(), 20)];
        let (buckets, keys, all) = percentiles(rows);
        assert_eq!(buckets[&0].p50, 20.0);
        assert_eq!(buckets[&60_000].p99, 20.0);
        assert_eq!(keys[&key].p50, 15.0);
        assert_eq!(keys[&None].p95, 30.0);
        assert_eq!(all.unwrap().p50, 20.0);
    }
}
