//! The HTTP edge: routes, authentication and the mapping of every failure to a SCIM error.
//!
//! Every route under `/scim/v2` passes the bearer-token check first. Handlers only translate
//! between HTTP and [`Provisioning`]: extract, call, answer ([`response`]). Which way resources
//! are kept (the store, or a system of record in pass-through mode) was decided when the
//! `Provisioning` was built; no handler branches on it.
//!
//! Beside the SCIM and admin routes: `/metrics` (admin tokens unless `[metrics] public`),
//! `/healthz` and `/readyz` ([`health`], unauthenticated). Every request is counted and timed
//! by route template ([`crate::metrics::requests`]).

mod auth;
mod extract;
mod handlers;
pub mod health;
pub mod response;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{any, get, post};

use crate::admin::AdminState;
use crate::app::Provisioning;
use crate::auth::TokenSet;
use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::scim::ScimError;

/// The SCIM base path.
pub const BASE_PATH: &str = "/scim/v2";

/// What every handler can reach, behind one `Arc`: axum clones the state for every request
/// (and the auth middleware once more), and one shared counter is cheaper to clone than the
/// several inside [`App`].
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    /// Shares `app` with every handler.
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// See [`AppState`].
pub struct App {
    /// The SCIM operations, over whichever way resources are kept.
    pub provisioning: Provisioning,
    /// The configuration the server runs with (limits for discovery and bulk).
    pub config: Arc<Config>,
    /// Accepted SCIM client tokens.
    pub tokens: Arc<TokenSet>,
    /// The turns of `/Bulk` requests: `[bulk] max_concurrent` permits, gateway-wide.
    pub bulk_turns: tokio::sync::Semaphore,
}

/// Serves a SCIM request within its time budget (`[http] request_budget_ms`, `app/budget.rs`).
async fn with_budget(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let length = std::time::Duration::from_millis(state.config.http.request_budget_ms);
    crate::app::budget::within(length, next.run(req)).await
}

/// The routes. Serve them wrapped in [`trim_trailing_slash`], which must run before routing.
pub fn router(state: AppState, admin: AdminState, metrics: Metrics) -> Router {
    let metrics_public = state.config.metrics.public;
    let bulk_limit = state.config.bulk.max_payload_bytes;
    let body_limit = state.config.max_body_bytes;
    let scim = Router::new()
        .route(
            "/ServiceProviderConfig",
            get(handlers::service_provider_config),
        )
        .route("/ResourceTypes", get(handlers::resource_types))
        .route("/ResourceTypes/{id}", get(handlers::resource_type))
        .route("/Schemas", get(handlers::schemas))
        .route("/Schemas/{id}", get(handlers::schema))
        .route("/Me", any(handlers::me))
        .route("/Me/{*rest}", any(handlers::me))
        .route("/.search", post(handlers::search_root))
        .route(
            "/Bulk",
            post(handlers::bulk).layer(DefaultBodyLimit::max(bulk_limit)),
        )
        .route("/{endpoint}", get(handlers::list).post(handlers::create))
        .route("/{endpoint}/.search", post(handlers::search))
        .route(
            "/{endpoint}/{id}",
            get(handlers::get_one)
                .put(handlers::replace)
                .patch(handlers::patch)
                .delete(handlers::delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            with_budget,
        ))
        .with_state(state);
    let health = health::Health {
        store: admin.store.clone(),
        delivery: metrics.delivery.clone(),
    };
    let mut metrics_route = get(metrics::serve).with_state(metrics.clone());
    if !metrics_public {
        metrics_route = metrics_route.route_layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            crate::admin::require_admin,
        ));
    }
    Router::new()
        .route("/metrics", metrics_route)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz).with_state(health))
        .nest(BASE_PATH, scim)
        .nest(crate::admin::BASE_PATH, crate::admin::router(admin))
        .fallback(not_found)
        // Outermost, so that it sees the matched route and every answer, refusals included.
        .layer(axum::middleware::from_fn_with_state(
            metrics.http,
            metrics::requests::track,
        ))
        .layer(axum::middleware::map_response(close_after_unread_body))
}

/// Marks a `413` answer `Connection: close`.
///
/// The refused body was never read, so hyper cannot reuse the connection and closes it after
/// answering. Without the header a keep-alive client returns that connection to its pool and
/// its next request fails on a closed socket; with it, the client knows to open a new one.
async fn close_after_unread_body(
    mut response: axum::response::Response,
) -> axum::response::Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

async fn not_found() -> ScimError {
    ScimError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this method is not supported on this endpoint",
    )
}

/// Serves `/scim/v2/Users/` as `/scim/v2/Users`: some clients (and Microsoft's tests) add a
/// trailing slash.
pub async fn trim_trailing_slash(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let new = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = new.parse() {
            *req.uri_mut() = uri;
        }
    }
    next.run(req).await
}
