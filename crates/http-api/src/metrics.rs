//! Prometheus metrics: request counts and latency histograms by method, route and status; and
//! for the inference gateway, per deployment: requests by status, prompt and completion
//! tokens, latency, time to first token, and requests in flight (the queue in front of it);
//! and for autoscalers, the training queue and waiting GPU demand per GPU type, each node's
//! GPUs, free GPUs and whether it is idle, and the running jobs (read at each scrape).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeploymentLabels {
    pub deployment: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InferenceLabels {
    pub deployment: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub deployment: String,
    /// `prompt` or `completion`.
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GpuTypeLabels {
    pub gpu_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    pub node: String,
    pub gpu_type: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    inference: Family<InferenceLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    inference_latency: Family<DeploymentLabels, Histogram>,
    first_token: Family<DeploymentLabels, Histogram>,
    in_flight: Family<DeploymentLabels, Gauge>,
    queued_jobs: Family<GpuTypeLabels, Gauge>,
    waiting_gpus: Family<GpuTypeLabels, Gauge>,
    node_gpus: Family<NodeLabels, Gauge>,
    node_free_gpus: Family<NodeLabels, Gauge>,
    node_idle: Family<NodeLabels, Gauge>,
    running_jobs: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tunery");
        let requests = Family::<RequestLabels, Counter>::default();
        let seconds = || Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(seconds);
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer an HTTP request", latency.clone());
        let inference = Family::<InferenceLabels, Counter>::default();
        let tokens = Family::<TokenLabels, Counter>::default();
        let inference_latency = Family::<DeploymentLabels, Histogram>::new_with_constructor(seconds);
        let first_token = Family::<DeploymentLabels, Histogram>::new_with_constructor(seconds);
        let in_flight = Family::<DeploymentLabels, Gauge>::default();
        registry.register("inference_requests", "Inference requests through the gateway, by deployment and status", inference.clone());
        registry.register("inference_tokens", "Prompt and completion tokens through the gateway", tokens.clone());
        registry.register("inference_duration_seconds", "Time to the end of an inference answer", inference_latency.clone());
        registry.register("inference_time_to_first_token_seconds", "Time to an answer's first token", first_token.clone());
        registry.register("inference_in_flight", "Inference requests in flight (queued or generating) per deployment", in_flight.clone());
        let (queued_jobs, waiting_gpus) = (Family::<GpuTypeLabels, Gauge>::default(), Family::<GpuTypeLabels, Gauge>::default());
        let (node_gpus, node_free_gpus, node_idle) =
            (Family::<NodeLabels, Gauge>::default(), Family::<NodeLabels, Gauge>::default(), Family::<NodeLabels, Gauge>::default());
        let running_jobs = Gauge::default();
        registry.register("queue_jobs", "Training jobs waiting, by the GPU type they ask for (any: any type)", queued_jobs.clone());
        registry.register("queue_waiting_gpus", "GPUs the waiting training jobs ask for, by GPU type", waiting_gpus.clone());
        registry.register("node_gpus", "GPUs (or CPU slots) of each node", node_gpus.clone());
        registry.register("node_free_gpus", "Free GPUs (or CPU slots) of each node", node_free_gpus.clone());
        registry.register("node_idle", "1 when a node runs no job", node_idle.clone());
        registry.register("jobs_running", "Training jobs running on this server's nodes", running_jobs.clone());
        Metrics {
            registry,
            requests,
            latency,
            inference,
            tokens,
            inference_latency,
            first_token,
            in_flight,
            queued_jobs,
            waiting_gpus,
            node_gpus,
            node_free_gpus,
            node_idle,
            running_jobs,
        }
    }
}

impl Metrics {
    pub fn observe(&self, labels: RequestLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// One finished inference request of `deployment`.
    pub fn inference(&self, deployment: &str, status: u16, tokens: (i64, i64), seconds: f64, first_token_s: Option<f64>) {
        let d = || DeploymentLabels { deployment: deployment.to_string() };
        self.inference.get_or_create(&InferenceLabels { deployment: deployment.to_string(), status }).inc();
        for (kind, n) in [("prompt", tokens.0), ("completion", tokens.1)] {
            let labels = TokenLabels { deployment: deployment.to_string(), kind: kind.to_string() };
            self.tokens.get_or_create(&labels).inc_by(n.max(0) as u64);
        }
        self.inference_latency.get_or_create(&d()).observe(seconds);
        if let Some(s) = first_token_s {
            self.first_token.get_or_create(&d()).observe(s);
        }
    }

    /// Requests of `deployment` in flight: +1 when one is routed, -1 when it ends.
    pub fn in_flight(&self, deployment: &str, delta: i64) {
        self.in_flight.get_or_create(&DeploymentLabels { deployment: deployment.to_string() }).inc_by(delta);
    }

    /// The scheduler's figures at this scrape (types no longer waiting drop out).
    pub fn set_cluster(&self, c: &services::training::ClusterMetrics) {
        for (family, values) in [(&self.queued_jobs, &c.queued_jobs), (&self.waiting_gpus, &c.waiting_gpus)] {
            family.clear();
            for (gpu_type, n) in values {
                family.get_or_create(&GpuTypeLabels { gpu_type: gpu_type.clone() }).set(*n as i64);
            }
        }
        for family in [&self.node_gpus, &self.node_free_gpus, &self.node_idle] {
            family.clear();
        }
        for (node, gpu_type, gpus, free) in &c.nodes {
            let labels = NodeLabels { node: node.clone(), gpu_type: gpu_type.clone() };
            self.node_gpus.get_or_create(&labels).set(i64::from(*gpus));
            self.node_free_gpus.get_or_create(&labels).set(i64::from(*free));
            self.node_idle.get_or_create(&labels).set(i64::from(free == gpus));
        }
        self.running_jobs.set(c.running_jobs as i64);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
