//! Answers only pass-through mode has: lists read from the system of record, and the refusal of
//! what it does not serve.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::error::{ScimError, scim_body};
use crate::scim::list::{LIST_RESPONSE, ListQuery};
use crate::scim::passthrough::PassThrough;
use crate::scim::schema::ResourceKind;

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
        .map(|r| relay.render(kind, r, base, q))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(scim_body(&json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": q.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })))
}

/// The answer to `/Bulk` and the root `/.search`, which pass-through mode does not serve.
pub(super) fn not_served() -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not available in pass-through mode: the system of record is asked one resource type \
         and one operation at a time",
    )
}
