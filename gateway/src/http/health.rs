//! Probes for orchestrators, without authentication: `GET /healthz` (the process answers) and
//! `GET /readyz` (the store can be read and the delivery dispatcher has started).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::metrics::DeliveryMetrics;
use crate::store::{Store, StoreError};

/// What readiness looks at.
#[derive(Clone)]
pub struct Health {
    /// The store, read once per probe.
    pub store: Arc<dyn Store>,
    /// Where the dispatcher marks that it has started.
    pub delivery: Arc<DeliveryMetrics>,
}

/// `GET /healthz`: `200 {"status":"ok"}` while the process serves HTTP.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: `200` when every check passes, `503` otherwise; the body names each check's
/// result and lists the failed ones.
pub async fn readyz(State(health): State<Health>) -> Response {
    // A read of the outbox past its end: opens a read transaction and a table, returns nothing.
    let store = health.store.jobs_after(u64::MAX, 1).map(|_| ());
    readiness(store, health.delivery.has_started()).into_response()
}

/// The readiness verdict from the checks' results.
fn readiness(store: Result<(), StoreError>, dispatcher_started: bool) -> (StatusCode, Json<Value>) {
    let mut checks = Map::new();
    let mut failed = Vec::new();
    match store {
        Ok(()) => {
            checks.insert("store".into(), "ok".into());
        }
        Err(e) => {
            // The reason goes to the log only: this endpoint answers anyone.
            tracing::warn!(error = %e, "readiness: the store cannot be read");
            checks.insert("store".into(), "cannot be read".into());
            failed.push("store");
        }
    }
    if dispatcher_started {
        checks.insert("dispatcher".into(), "ok".into());
    } else {
        checks.insert("dispatcher".into(), "not started".into());
        failed.push("dispatcher");
    }
    let (status, word) = if failed.is_empty() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    (
        status,
        Json(json!({"status": word, "checks": checks, "failed": failed})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redb::RedbStore;

    #[test]
    fn every_failed_check_is_named() {
        let (status, Json(body)) = readiness(Ok(()), true);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"status": "ready", "checks": {"store": "ok", "dispatcher": "ok"}, "failed": []})
        );
        let (status, Json(body)) = readiness(Err(StoreError::Io("disk gone".into())), false);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["failed"], json!(["store", "dispatcher"]));
        assert_eq!(body["checks"]["store"], "cannot be read");
        assert!(!body.to_string().contains("disk gone"), "{body}");
    }

    #[tokio::test]
    async fn not_ready_until_the_dispatcher_starts() {
        let dir = std::env::temp_dir().join(format!("readyz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let health = Health {
            store: Arc::new(RedbStore::open(&dir).unwrap()),
            delivery: Arc::new(DeliveryMetrics::new([])),
        };
        let response = readyz(State(health.clone())).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        health.delivery.mark_started();
        let response = readyz(State(health)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let _ = std::fs::remove_dir_all(dir);
    }
}
