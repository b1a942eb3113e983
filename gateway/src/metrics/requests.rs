//! HTTP request metrics: a middleware that times every request and counts it by route
//! template, method and status.
//!
//! The route label is the template the router matched (`/scim/v2/{endpoint}/{id}`), never the
//! raw path, so ids do not turn into label values; a request no route matched is counted under
//! [`UNMATCHED`]. Methods outside the standard set are counted as `OTHER`. The label space is
//! therefore bounded by the routes, the methods and the status codes.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::histogram::{HTTP_BUCKETS, Histogram};
use super::text::{Encoder, Kind, Value};

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// One route's latency histograms by (method label, status).
type RouteSeries = HashMap<(&'static str, u16), Histogram>;

/// Request counts and latencies. The request counter is the histogram's count, so the two never
/// disagree.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// Latency histograms by route template, then by (method, status).
    series: RwLock<HashMap<String, RouteSeries>>,
}

impl HttpMetrics {
    /// Records one answered request.
    pub fn record(&self, route: &str, method: &Method, status: u16, elapsed: std::time::Duration) {
        let key = (method_label(method), status);
        {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(h) = series.get(route).and_then(|by_key| by_key.get(&key)) {
                h.observe(elapsed);
                return;
            }
        }
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        series
            .entry(route.to_owned())
            .or_default()
            .entry(key)
            .or_insert_with(|| Histogram::new(HTTP_BUCKETS))
            .observe(elapsed);
    }

    /// Writes `scim_gateway_http_requests_total` and
    /// `scim_gateway_http_request_duration_seconds`.
    pub fn encode(&self, e: &mut Encoder) {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<(&str, &str, String, &Histogram)> = series
            .iter()
            .flat_map(|(route, by_key)| {
                by_key.iter().map(move |((method, status), h)| {
                    (route.as_str(), *method, status.to_string(), h)
                })
            })
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));

        let name = "scim_gateway_http_requests_total";
        e.family(
            name,
            Kind::Counter,
            "HTTP requests answered, by route template, method and status.",
        );
        for (route, method, status, h) in &rows {
            e.sample(name, &labels(route, method, status), Value::Int(h.count()));
        }
        let name = "scim_gateway_http_request_duration_seconds";
        e.family(name, Kind::Histogram, "Time to answer an HTTP request (until the response head), by route template, method and status.");
        for (route, method, status, h) in &rows {
            h.encode(e, name, &labels(route, method, status));
        }
    }
}

/// The labels of one request series.
fn labels<'a>(route: &'a str, method: &'a str, status: &'a str) -> [(&'static str, &'a str); 3] {
    [("route", route), ("method", method), ("status", status)]
}

/// The method as a label value, from a fixed set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Middleware that records every request in [`HttpMetrics`]. Add it with `Router::layer` on the
/// outermost router, where the matched route is known.
pub async fn track(State(metrics): State<Arc<HttpMetrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let response = next.run(req).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.record(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn requests_are_counted_per_route_method_and_status() {
        let m = HttpMetrics::default();
        let ms = Duration::from_millis(1);
        m.record("/scim/v2/{endpoint}/{id}", &Method::GET, 200, ms);
        m.record("/scim/v2/{endpoint}/{id}", &Method::GET, 200, ms);
        m.record("/scim/v2/{endpoint}/{id}", &Method::GET, 404, ms);
        let custom = Method::from_bytes(b"PURGE").unwrap();
        m.record(UNMATCHED, &custom, 404, ms);
        let mut e = Encoder::default();
        m.encode(&mut e);
        let text = e.finish();
        let line = |s: &str| text.lines().any(|l| l == s);
        assert!(
            line(
                "scim_gateway_http_requests_total{route=\"/scim/v2/{endpoint}/{id}\",method=\"GET\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            line(
                "scim_gateway_http_requests_total{route=\"/scim/v2/{endpoint}/{id}\",method=\"GET\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(
            line(
                "scim_gateway_http_requests_total{route=\"unmatched\",method=\"OTHER\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(
            line(
                "scim_gateway_http_request_duration_seconds_count{route=\"/scim/v2/{endpoint}/{id}\",method=\"GET\",status=\"200\"} 2"
            ),
            "{text}"
        );
    }
}
