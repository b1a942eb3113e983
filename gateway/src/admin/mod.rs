//! The admin API under `/admin/v1`: what operators ask a running gateway. Authenticated with
//! admin tokens, which are distinct from SCIM client tokens: a SCIM token gets `403` here, and an
//! admin token is not accepted by the SCIM endpoints.
//!
//! Errors have one shape: `{"error": {"status": 404, "message": "..."}}`.
//!
//! This module holds the authentication, the error type and the router; each area has its own
//! file: [`jobs`] (delivery jobs: list, show, retry, discard), [`audit`] (the audit trail),
//! `plugins.rs` and `connectors.rs` (plugins and connector instances, managed live through the
//! [`catalog`]), `preview.rs` (the event a connector's plugin would receive, its mapping
//! applied), [`reconcile`] and [`openapi`] (`GET /openapi.json`, the OpenAPI 3.1
//! description of all of it).

pub mod audit;
pub mod catalog;
mod connectors;
pub mod jobs;
pub mod openapi;
mod plugins;
mod preview;
pub mod reconcile;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Notify;

use crate::auth::TokenSet;
use crate::metrics::DeliveryMetrics;
use crate::store::Store;
use catalog::{Catalog, CatalogError};

/// The admin API's base path.
pub const BASE_PATH: &str = "/admin/v1";

/// What the admin handlers reach.
#[derive(Clone)]
pub struct AdminState {
    /// The store (jobs, dead letters, delivery history, audit trail).
    pub store: Arc<dyn Store>,
    /// Accepted admin tokens.
    pub admin_tokens: Arc<TokenSet>,
    /// Accepted SCIM tokens (to answer 403 rather than 401 to a SCIM client).
    pub scim_tokens: Arc<TokenSet>,
    /// Plugins and connector instances.
    pub catalog: Arc<Catalog>,
    /// Reconcile runs.
    pub reconciler: Arc<reconcile::Reconciler>,
    /// The dispatcher's figures: which jobs run now; dead letters retried or discarded are
    /// reported here.
    pub delivery: Arc<DeliveryMetrics>,
    /// Wakes the dispatcher (after a retry put jobs back in the outbox).
    pub committed: Arc<Notify>,
}

/// An admin API failure.
#[derive(Debug)]
pub struct AdminError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
}

impl AdminError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A `400`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED
            && let Ok(v) = header::HeaderValue::from_str("Bearer realm=\"scim-gateway-admin\"")
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "admin: store failure");
        AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<CatalogError> for AdminError {
    fn from(e: CatalogError) -> Self {
        let status = match &e {
            CatalogError::NotFound(_) => StatusCode::NOT_FOUND,
            CatalogError::Conflict(_) => StatusCode::CONFLICT,
            CatalogError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CatalogError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CatalogError::Store(e) => return e.clone().into(),
        };
        AdminError::new(status, e.to_string())
    }
}

/// A JSON request body, or `400` in the admin error shape.
fn json_body(bytes: &[u8]) -> Result<serde_json::Value, AdminError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AdminError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

impl From<BytesRejection> for AdminError {
    fn from(e: BytesRejection) -> Self {
        // A body over the limit answers 413, in the admin error shape like every other refusal;
        // one that came too slowly, 408.
        if crate::listen::came_late(&e) {
            return AdminError::new(StatusCode::REQUEST_TIMEOUT, e.body_text());
        }
        AdminError::new(e.status(), e.body_text())
    }
}

impl From<QueryRejection> for AdminError {
    fn from(e: QueryRejection) -> Self {
        AdminError::bad_request(e.body_text())
    }
}

impl From<JsonRejection> for AdminError {
    fn from(e: JsonRejection) -> Self {
        AdminError::new(e.status(), e.body_text())
    }
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .merge(jobs::router())
        .merge(audit::router())
        .merge(plugins::routes())
        .merge(connectors::routes())
        .merge(reconcile::routes())
        .merge(openapi::routes())
        .fallback(|| async { AdminError::new(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .method_not_allowed_fallback(|| async {
            AdminError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this method is not supported on this endpoint",
            )
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_admin,
        ))
        .with_state(state)
}

/// `401` without a known token, `403` for a SCIM client's token. Also guards `/metrics`.
pub async fn require_admin(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let token = crate::auth::bearer(req.headers());
    match token {
        Some(t) if state.admin_tokens.verify(&t).is_some() => next.run(req).await,
        Some(t) if state.scim_tokens.verify(&t).is_some() => AdminError::new(
            StatusCode::FORBIDDEN,
            "a SCIM client token cannot use the admin API",
        )
        .into_response(),
        _ => AdminError::new(
            StatusCode::UNAUTHORIZED,
            "an admin bearer token is required",
        )
        .into_response(),
    }
}
