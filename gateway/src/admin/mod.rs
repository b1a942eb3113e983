//! The admin API under `/admin/v1`: what operators ask a running gateway. Authenticated with
//! admin tokens, which are distinct from SCIM client tokens: a SCIM token gets `403` here, and an
//! admin token is not accepted by the SCIM endpoints.
//!
//! Errors have one shape: `{"error": {"status": 404, "message": "..."}}`.
//!
//! It answers what happened to deliveries: `GET /admin/v1/jobs?state=pending|dead` (outbox or
//! dead letters, optionally `&connector=NAME`) and `GET /admin/v1/jobs/{seq}`, each job with
//! every attempt and its reason; and it manages plugins (`plugins.rs`) and connector instances
//! (`connectors.rs`) live, through the [`catalog`].

pub mod catalog;
mod connectors;
mod plugins;
pub mod reconcile;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::auth::TokenSet;
use crate::store::{Job, Store};
use catalog::{Catalog, CatalogError};

/// The admin API's base path.
pub const BASE_PATH: &str = "/admin/v1";

/// What the admin handlers reach.
#[derive(Clone)]
pub struct AdminState {
    /// The store (jobs, dead letters).
    pub store: Arc<dyn Store>,
    /// Accepted admin tokens.
    pub admin_tokens: Arc<TokenSet>,
    /// Accepted SCIM tokens (to answer 403 rather than 401 to a SCIM client).
    pub scim_tokens: Arc<TokenSet>,
    /// Plugins and connector instances.
    pub catalog: Arc<Catalog>,
    /// Reconcile runs.
    pub reconciler: Arc<reconcile::Reconciler>,
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
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
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

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/jobs", get(list_jobs))
        .route("/jobs/{seq}", get(get_job))
        .merge(plugins::routes())
        .merge(connectors::routes())
        .merge(reconcile::routes())
        .fallback(|| async { AdminError::new(StatusCode::NOT_FOUND, "no such admin endpoint") })
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

/// Query of `GET /jobs`.
#[derive(Debug, Deserialize)]
struct JobQuery {
    /// `pending` (the outbox: pending and retrying) or `dead`.
    state: Option<String>,
    /// Only this connector's jobs.
    connector: Option<String>,
}

/// Most jobs one listing returns.
const MAX_LISTED: usize = 1000;

async fn list_jobs(
    State(state): State<AdminState>,
    Query(q): Query<JobQuery>,
) -> Result<Response, AdminError> {
    let jobs: Vec<Job> = match q.state.as_deref().unwrap_or("pending") {
        "pending" => state.store.jobs_after(0, MAX_LISTED)?,
        "dead" => state.store.dead_jobs()?,
        other => {
            return Err(AdminError::new(
                StatusCode::BAD_REQUEST,
                format!("state must be 'pending' or 'dead', not '{other}'"),
            ));
        }
    };
    let jobs: Vec<Job> = jobs
        .into_iter()
        .filter(|j| q.connector.as_ref().is_none_or(|c| *c == j.connector))
        .take(MAX_LISTED)
        .collect();
    Ok(Json(json!({"total": jobs.len(), "jobs": jobs})).into_response())
}

async fn get_job(
    State(state): State<AdminState>,
    Path(seq): Path<String>,
) -> Result<Response, AdminError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| AdminError::new(StatusCode::BAD_REQUEST, "a job id is a number"))?;
    match state.store.job(seq)? {
        Some(job) => Ok(Json(job).into_response()),
        None => Err(AdminError::new(
            StatusCode::NOT_FOUND,
            format!("job {seq} not found"),
        )),
    }
}
