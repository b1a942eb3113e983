//! Metrics: what `GET /metrics` exposes, in the Prometheus text format (version 0.0.4).
//!
//! A small registry of our own rather than the `prometheus-client` crate: that crate writes
//! only the OpenMetrics text format (`_total` added to counter samples, a `# EOF` line, its own
//! media type), while `text/plain; version=0.0.4` is what is asked of this endpoint; and the
//! few metrics here need no more than atomics, two maps and a formatter.
//!
//! - [`requests`]: HTTP requests by route template, method and status (counter and latency
//!   histogram), recorded by a middleware;
//! - [`delivery`]: the outbox by connector and state, the age of its oldest job, attempt
//!   outcomes, plugin call latency and sandbox faults, reported by the dispatcher;
//! - [`histogram`] and [`text`]: the building blocks.
//!
//! Access: admin tokens only by default (a SCIM token gets `403`); `[metrics] public = true`
//! serves it without a token.

pub mod delivery;
pub mod histogram;
pub mod requests;
pub mod text;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub use delivery::DeliveryMetrics;
pub use requests::HttpMetrics;

/// Every metric the gateway keeps.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// HTTP requests.
    pub http: Arc<HttpMetrics>,
    /// Outbound delivery and plugin calls.
    pub delivery: Arc<DeliveryMetrics>,
}

impl Metrics {
    /// Metrics for a gateway with these connectors.
    pub fn new<'a>(connectors: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            http: Arc::new(HttpMetrics::default()),
            delivery: Arc::new(DeliveryMetrics::new(connectors)),
        }
    }

    /// The exposition: every family, in a stable order.
    pub fn render(&self) -> String {
        let mut e = text::Encoder::default();
        self.http.encode(&mut e);
        self.delivery.encode(&mut e);
        e.finish()
    }
}

/// `GET /metrics`.
pub async fn serve(State(metrics): State<Metrics>) -> Response {
    (
        [(header::CONTENT_TYPE, text::CONTENT_TYPE)],
        metrics.render(),
    )
        .into_response()
}
