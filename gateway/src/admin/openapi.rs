//! `GET /admin/v1/openapi.json`: the OpenAPI 3.1 description of the admin API, a static document
//! (`openapi.json` next to this file) compiled into the binary.
//!
//! The tests below keep it honest: every route the admin router serves is in the document, and
//! every operation in the document is served.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AdminState;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The document's route.
pub fn routes() -> Router<AdminState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

#[cfg(test)]
mod tests;
