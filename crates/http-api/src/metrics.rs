//! Prometheus metrics: request counts and latency histograms by method, route and status; and
//! for the inference gateway, per deployment: requests by status, prompt and completion
//! tokens, latency, time to first token, and requests in flight (the queue in front of it).

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

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    inference: Family<InferenceLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    inference_latency: Family<DeploymentLabels, Histogram>,
    first_token: Family<DeploymentLabels, Histogram>,
    in_flight: Family<DeploymentLabels, Gauge>,
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
        Metrics { registry, requests, latency, inference, tokens, inference_latency, first_token, in_flight }
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

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
