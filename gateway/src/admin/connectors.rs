//! `/admin/v1/connectors`: connector instances, created, changed, enabled, disabled and removed
//! while the gateway runs (see [`catalog`](super::catalog) for how a change is applied).
//!
//! `PUT /connectors/{name}` creates or replaces a definition (the same fields as a
//! `[[connectors]]` entry of the config file; omitted `secrets` keep the current ones);
//! `PATCH` merges a partial one (`{"enabled": false}`, `{"plugin": "<id>"}`); secrets are
//! never returned, only their names. `POST /connectors/{name}/preview` shows the event its plugin
//! would receive for one resource (`preview.rs`).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{AdminError, AdminState, json_body};

/// The connector routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/connectors", get(list))
        .route(
            "/connectors/{name}",
            get(show).put(put).patch(patch).delete(remove),
        )
        .route("/connectors/{name}/preview", post(super::preview::preview))
}

async fn list(State(state): State<AdminState>) -> Response {
    let connectors = state.catalog.connectors();
    Json(serde_json::json!({"total": connectors.len(), "connectors": connectors})).into_response()
}

async fn show(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    Ok(Json(state.catalog.connector(&name)?).into_response())
}

async fn put(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let created = state
        .catalog
        .put_connector(&name, json_body(&body?)?)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(state.catalog.connector(&name)?)).into_response())
}

async fn patch(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    state
        .catalog
        .patch_connector(&name, json_body(&body?)?)
        .await?;
    Ok(Json(state.catalog.connector(&name)?).into_response())
}

async fn remove(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    state.catalog.delete_connector(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
