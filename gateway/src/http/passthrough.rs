//! Answers only pass-through mode has: lists read from the system of record, and the refusal of
//! what it does not serve.

use crate::error::{ScimError, scim_bytes};
use crate::scim::list::{ListQuery, list_response_text};
use crate::scim::passthrough::PassThrough;
use crate::scim::schema::ResourceKind;
use axum::http::StatusCode;
use axum::response::Response;

/// A `ListResponse` of what the system of record answered.
pub(super) async fn list_response(
    relay: &PassThrough,
    kind: ResourceKind,
    base: &str,
    q: &ListQuery,
) -> Result<Response, ScimError> {
    let (total, page) = relay.search(kind, q).await?;
    let resources = page
        .into_iter()
        .map(|r| Ok(relay.render(kind, r, base, q)?.to_string().into_bytes()))
        .collect::<Result<Vec<_>, ScimError>>()?;
    Ok(scim_bytes(list_response_text(
        total,
        q.start_index,
        &resources,
    )))
}

/// The answer to `/Bulk` and the root `/.search`, which pass-through mode does not serve.
pub(super) fn not_served() -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not available in pass-through mode: the system of record is asked one resource type \
         and one operation at a time",
    )
}
