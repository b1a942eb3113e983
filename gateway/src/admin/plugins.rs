//! `/admin/v1/plugins`: upload, list, inspect and delete connector plugins.
//!
//! `POST /plugins` takes the component's bytes as the body (`application/wasm`), optionally
//! with `?sha256=<hex>`: an upload whose digest differs is refused. Uploading the same bytes
//! again answers `200` with the plugin already there; a new plugin answers `201`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::catalog::MAX_PLUGIN_BYTES;
use super::{AdminError, AdminState};

/// The plugin routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route(
            "/plugins",
            get(list)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES)),
        )
        .route("/plugins/{id}", get(show).delete(remove))
}

/// Query of an upload.
#[derive(Debug, Deserialize)]
struct UploadQuery {
    /// The digest the admin expects (hex, `sha256:` prefix optional).
    sha256: Option<String>,
}

async fn upload(
    State(state): State<AdminState>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let (Query(q), body) = (query?, body?);
    if body.is_empty() {
        return Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "the body must be the plugin's .wasm component",
        ));
    }
    let (plugin, created) = state.catalog.upload(&body, q.sha256.as_deref()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(plugin)).into_response())
}

async fn list(State(state): State<AdminState>) -> Result<Response, AdminError> {
    let plugins = state.catalog.plugins()?;
    Ok(Json(serde_json::json!({"total": plugins.len(), "plugins": plugins})).into_response())
}

async fn show(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    Ok(Json(state.catalog.plugin(&id)?).into_response())
}

async fn remove(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    state.catalog.delete_plugin(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
