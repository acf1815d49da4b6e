//! Prometheus metrics: request counts and latency histograms by method, route (the matched
//! pattern, so ids do not explode the label set) and status, served at `/metrics`.

use crate::routing::Endpoint;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, Resource};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

const DURATION: &str = "http_request_duration_seconds";
const REQUESTS: &str = "http_requests_total";

/// Latency buckets from 0.5 ms to 5 s.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Provider latency buckets, from 50 ms to 2 minutes.
const AI_BUCKETS: [f64; 12] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];

/// The process-wide recorder, installed on first use (one per process, as Prometheus
/// scrapes a process). `None` if another recorder was installed first.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
                .ok()?
                // The assistant's provider: seconds to the first token and to the last byte.
                .set_buckets_for_metric(Matcher::Prefix("ai_".into()), &AI_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Makes sure the recorder exists before the first request is counted.
pub fn install() {
    let _ = handle();
}

/// Counts one served request.
pub fn record_request(method: &str, route: String, status: StatusCode, seconds: f64) {
    let labels = [("method", method.to_owned()), ("route", route), ("status", status.as_u16().to_string())];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(seconds);
}

pub fn resources() -> Vec<Resource> {
    vec![Endpoint::new("/metrics").get(render).build()]
}

/// Prometheus text exposition format.
async fn render() -> HttpResponse {
    match handle() {
        Some(handle) => {
            HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
        }
        None => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("metrics recorder unavailable\n"),
    }
}
