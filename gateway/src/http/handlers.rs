//! One handler per route: extract, call [`Provisioning`](crate::app::Provisioning), answer with
//! the SCIM media type and ETag. The handlers do not know which mode the gateway runs in.

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::Actor;
use super::extract::{BaseUrl, ListParams, ScimBytes, ScimJson, ScimPath, header_text, parse_json};
use super::response::{resource, scim_answer, scim_body};
use crate::model::{KINDS, ResourceKind};
use crate::scim::ScimError;
use crate::scim::discovery::{self, Capabilities};
use crate::scim::list::{LIST_RESPONSE, ListQuery};
use crate::scim::resource::etag_matches;

/// The resource kind served at `/{endpoint}` (`Users`, `Groups`; case-insensitive), or `404`.
pub(super) fn kind_of(endpoint: &str) -> Result<ResourceKind, ScimError> {
    KINDS
        .into_iter()
        .find(|k| k.endpoint().eq_ignore_ascii_case(endpoint))
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::NOT_FOUND,
                format!("no resource type is served at /{endpoint}"),
            )
        })
}

pub async fn list(
    State(state): State<AppState>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    Ok(scim_answer(state.provisioning.list(kind, &q, &base).await?))
}

pub async fn search(
    State(state): State<AppState>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    let q = ListQuery::from_search_request(&body)?;
    Ok(scim_answer(state.provisioning.list(kind, &q, &base).await?))
}

pub async fn search_root(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    Ok(scim_answer(
        state.provisioning.search_all(&body, &base).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    let p = &state.provisioning;
    let created = p.acting_as(&actor.0).create(kind, &body).await?;
    let answer = p.answer(kind, created, true, &base, &q)?;
    Ok(resource(answer, StatusCode::CREATED))
}

pub async fn get_one(
    State(state): State<AppState>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    let wanted = header_text(&headers, header::IF_NONE_MATCH);
    let answer = state.provisioning.fetch(kind, &id, &base, &q).await?;
    if let Some(unchanged) = not_modified(wanted, answer.version.as_deref()) {
        return Ok(unchanged);
    }
    Ok(resource(answer, StatusCode::OK))
}

/// `304 Not Modified` (with the `ETag`) when `If-None-Match` names the current version.
fn not_modified(wanted: Option<&str>, current: Option<&str>) -> Option<Response> {
    let current = current.filter(|c| wanted.is_some_and(|w| etag_matches(w, c)))?;
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(current) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Some(response)
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
    let kind = kind_of(&endpoint)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    let p = &state.provisioning;
    let replaced = (p.acting_as(&actor.0))
        .replace(kind, &id, &body, if_match)
        .await?;
    Ok(resource(
        p.answer(kind, replaced, false, &base, &q)?,
        StatusCode::OK,
    ))
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
    let kind = kind_of(&endpoint)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    let p = &state.provisioning;
    let patched = (p.acting_as(&actor.0))
        .patch(kind, &id, &body, if_match)
        .await?;
    // A group's PATCH answers `204` unless the request asks for attributes: the whole group
    // would grow with its members (RFC 7644 section 3.5.2 allows either).
    if kind == ResourceKind::Group && q.attributes.is_empty() && q.excluded.is_empty() {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Some(tag) =
            crate::scim::resource::version(&patched).and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(header::ETAG, tag);
        }
        return Ok(response);
    }
    Ok(resource(
        p.answer(kind, patched, false, &base, &q)?,
        StatusCode::OK,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    (state.provisioning.acting_as(&actor.0))
        .delete(kind, &id, if_match)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn bulk(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    BaseUrl(base): BaseUrl,
    ScimBytes(bytes): ScimBytes,
) -> Result<Response, ScimError> {
    // The body is read before the turn is taken (a slow upload holds no turn, and the body's
    // deadline counts from the head) but parsed only once it comes: a queued request holds its
    // bytes, not the several times larger parsed operations and their results.
    let _turn =
        state.bulk_turns.acquire().await.map_err(|_| {
            ScimError::new(StatusCode::SERVICE_UNAVAILABLE, "the gateway is stopping")
        })?;
    let body = parse_json(&bytes)?;
    drop(bytes);
    // Every operation is committed (and audited) on its own, each with the caller as author.
    let response = state
        .provisioning
        .acting_as(&actor.0)
        .bulk(body, &base)
        .await?;
    Ok(scim_body(&response))
}

pub async fn service_provider_config(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
) -> Response {
    let offers = state.provisioning.offers();
    let capabilities = Capabilities {
        bulk: offers.bulk,
        sort: offers.sort,
        max_operations: state.config.bulk.max_operations,
        max_payload_bytes: state.config.bulk.max_payload_bytes,
        max_results: state.config.scim.max_results,
    };
    scim_body(&discovery::service_provider_config(&capabilities, &base))
}

/// A `ListResponse` holding every item (the discovery endpoints are never paged).
fn full_list(items: Vec<Value>) -> Response {
    scim_body(&json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    }))
}

pub async fn resource_types(BaseUrl(base): BaseUrl) -> Response {
    full_list(discovery::resource_types(&base))
}

pub async fn resource_type(
    BaseUrl(base): BaseUrl,
    ScimPath(id): ScimPath<String>,
) -> Result<Response, ScimError> {
    discovery::resource_type(&id, &base)
        .map(|v| scim_body(&v))
        .ok_or_else(|| ScimError::not_found("ResourceType", &id))
}

pub async fn schemas(BaseUrl(base): BaseUrl) -> Response {
    full_list(discovery::schemas(&base))
}

pub async fn schema(
    BaseUrl(base): BaseUrl,
    ScimPath(id): ScimPath<String>,
) -> Result<Response, ScimError> {
    discovery::schema_by_id(&id, &base)
        .map(|v| scim_body(&v))
        .ok_or_else(|| ScimError::not_found("Schema", &id))
}

/// `/Me` (RFC 7644 section 3.11): clients authenticate as systems, not as users.
pub async fn me() -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "/Me is not supported: tokens identify provisioning systems, not users",
    )
}
