//! The resource routes of a gateway in pass-through mode: the same paths and answers as
//! [`handlers`](super::handlers), served by [`PassThrough`] (the system of record) instead of
//! the store.

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::Actor;
use super::extract::{BaseUrl, ListParams, ScimJson, ScimPath, header_text};
use super::handlers::{kind_of, respond};
use crate::error::{ScimError, scim_body};
use crate::scim::list::{LIST_RESPONSE, ListQuery};
use crate::scim::passthrough::PassThrough;
use crate::scim::resource::etag_matches;
use crate::scim::schema::ResourceKind;
use crate::scim::service::version;

/// The pass-through operations; the router mounts these handlers only when there are some.
fn relay(state: &AppState) -> Result<&PassThrough, ScimError> {
    state.pass_through.as_ref().ok_or_else(|| {
        ScimError::internal("a pass-through route is served without pass-through mode")
    })
}

/// A resource from the system of record as a response, with its `ETag` (and `Location`).
fn render(
    relay: &PassThrough,
    kind: ResourceKind,
    resource: Value,
    base: &str,
    q: &ListQuery,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let version = version(&resource).map(str::to_owned);
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = relay.render(kind, resource, base, q)?;
    let location = id.map(|id| format!("{base}/{}/{id}", kind.endpoint()));
    Ok(respond(
        body.to_string().into_bytes(),
        version.as_deref(),
        status,
        location
            .as_deref()
            .filter(|_| status == StatusCode::CREATED),
    ))
}

/// A `ListResponse` of what the system of record answered.
async fn list_response(
    state: &AppState,
    endpoint: &str,
    base: &str,
    q: &ListQuery,
) -> Result<Response, ScimError> {
    let relay = relay(state)?;
    let kind = kind_of(endpoint)?;
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

pub async fn list(
    State(state): State<AppState>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
) -> Result<Response, ScimError> {
    list_response(&state, &endpoint, &base, &q).await
}

pub async fn search(
    State(state): State<AppState>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_search_request(&body)?;
    list_response(&state, &endpoint, &base, &q).await
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let relay = relay(&state)?;
    let kind = kind_of(&endpoint)?;
    let created = relay.acting_as(&actor.0).create(kind, &body).await?;
    render(relay, kind, created, &base, &q, StatusCode::CREATED)
}

pub async fn get_one(
    State(state): State<AppState>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let relay = relay(&state)?;
    let kind = kind_of(&endpoint)?;
    let resource = relay.get(kind, &id).await?;
    if let (Some(wanted), Some(current)) = (
        header_text(&headers, header::IF_NONE_MATCH),
        version(&resource),
    ) && etag_matches(wanted, current)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(current) {
            response.headers_mut().insert(header::ETAG, v);
        }
        return Ok(response);
    }
    render(relay, kind, resource, &base, &q, StatusCode::OK)
}

pub async fn replace(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let relay = relay(&state)?;
    let kind = kind_of(&endpoint)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    let replaced = (relay.acting_as(&actor.0))
        .replace(kind, &id, &body, if_match)
        .await?;
    render(relay, kind, replaced, &base, &q, StatusCode::OK)
}

pub async fn patch(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let relay = relay(&state)?;
    let kind = kind_of(&endpoint)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    let patched = (relay.acting_as(&actor.0))
        .patch(kind, &id, &body, if_match)
        .await?;
    render(relay, kind, patched, &base, &q, StatusCode::OK)
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let relay = relay(&state)?;
    let kind = kind_of(&endpoint)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    (relay.acting_as(&actor.0))
        .delete(kind, &id, if_match)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `/Bulk` and the root `/.search`, which pass-through mode does not serve.
pub async fn not_served() -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not available in pass-through mode: the system of record is asked one resource type \
         and one operation at a time",
    )
}
