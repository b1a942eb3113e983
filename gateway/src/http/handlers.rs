//! One handler per route: extract, call the service (in pass-through mode, the system of record
//! through [`PassThrough`](crate::scim::passthrough::PassThrough)), render with the SCIM media
//! type and ETag.

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Actor;
use super::extract::{BaseUrl, ListParams, ScimJson, ScimPath, header_text};
use super::{AppState, passthrough};
use crate::error::{ScimError, scim_body, scim_bytes};
use crate::scim::discovery::{self, KINDS};
use crate::scim::list::{LIST_RESPONSE, ListQuery};
use crate::scim::resource::etag_matches;
use crate::scim::schema::ResourceKind;
use crate::scim::service::version;
use crate::scim::{bulk, service::Service};
use crate::store::Membership;

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

/// Renders a resource a write answered with the attributes the request asked for.
fn render(
    service: &Service,
    kind: ResourceKind,
    stored: Value,
    groups: Option<Vec<Membership>>,
    base: &str,
    q: &ListQuery,
    status: StatusCode,
) -> Result<Response, ScimError> {
    render_with(kind, stored, base, status, |r| {
        service.render(kind, r, groups, base, q)
    })
}

/// A resource as a response: `shape` makes the body (URLs, requested attributes), while the
/// `ETag` and `Location` come from the resource itself.
fn render_with(
    kind: ResourceKind,
    resource: Value,
    base: &str,
    status: StatusCode,
    shape: impl FnOnce(Value) -> Result<Value, ScimError>,
) -> Result<Response, ScimError> {
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let version = version(&resource).map(str::to_owned);
    let body = shape(resource)?;
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

/// A SCIM response with `ETag` and (for a 201) `Location`, built from the id so that
/// `attributes` cannot drop it.
fn respond(
    body: Vec<u8>,
    version: Option<&str>,
    status: StatusCode,
    location: Option<&str>,
) -> Response {
    let mut response = scim_bytes(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(etag) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}

pub async fn list(
    State(state): State<AppState>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ListParams(q): ListParams,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    if let Some(relay) = &state.pass_through {
        return passthrough::list_response(relay, kind, &base, &q).await;
    }
    Ok(scim_bytes(state.service.list_response(
        &[kind],
        &q,
        &base,
    )?))
}

pub async fn search(
    State(state): State<AppState>,
    ScimPath(endpoint): ScimPath<String>,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    let q = ListQuery::from_search_request(&body)?;
    if let Some(relay) = &state.pass_through {
        return passthrough::list_response(relay, kind, &base, &q).await;
    }
    Ok(scim_bytes(state.service.list_response(
        &[kind],
        &q,
        &base,
    )?))
}

pub async fn search_root(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    if state.pass_through.is_some() {
        return Err(passthrough::not_served());
    }
    let q = ListQuery::from_search_request(&body)?;
    Ok(scim_bytes(state.service.list_response(&KINDS, &q, &base)?))
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
    if let Some(relay) = &state.pass_through {
        let created = relay.acting_as(&actor.0).create(kind, &body).await?;
        return render_with(kind, created, &base, StatusCode::CREATED, |r| {
            relay.render(kind, r, &base, &q)
        });
    }
    let stored = state
        .service
        .acting_as(&actor.0)
        .create(kind, &body)
        .await?;
    // A new resource is in no group yet.
    render(
        &state.service,
        kind,
        stored,
        Some(Vec::new()),
        &base,
        &q,
        StatusCode::CREATED,
    )
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
    if let Some(relay) = &state.pass_through {
        let resource = relay.get(kind, &id).await?;
        if let Some(unchanged) = not_modified(wanted, version(&resource)) {
            return Ok(unchanged);
        }
        return render_with(kind, resource, &base, StatusCode::OK, |r| {
            relay.render(kind, r, &base, &q)
        });
    }
    let stored = state.service.find_one(kind, &id)?;
    let rendered = state.service.render_stored(kind, stored, &base, &q)?;
    if let Some(unchanged) = not_modified(wanted, rendered.version.as_deref()) {
        return Ok(unchanged);
    }
    Ok(respond(
        rendered.body,
        rendered.version.as_deref(),
        StatusCode::OK,
        None,
    ))
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
    if let Some(relay) = &state.pass_through {
        let relay_as = relay.acting_as(&actor.0);
        let replaced = relay_as.replace(kind, &id, &body, if_match).await?;
        return render_with(kind, replaced, &base, StatusCode::OK, |r| {
            relay.render(kind, r, &base, &q)
        });
    }
    let stored = (state.service.acting_as(&actor.0))
        .replace(kind, &id, &body, if_match)
        .await?;
    render(
        &state.service,
        kind,
        stored,
        None,
        &base,
        &q,
        StatusCode::OK,
    )
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
    if let Some(relay) = &state.pass_through {
        let patched = (relay.acting_as(&actor.0))
            .patch(kind, &id, &body, if_match)
            .await?;
        return render_with(kind, patched, &base, StatusCode::OK, |r| {
            relay.render(kind, r, &base, &q)
        });
    }
    let stored = (state.service.acting_as(&actor.0))
        .patch(kind, &id, &body, if_match)
        .await?;
    render(
        &state.service,
        kind,
        stored,
        None,
        &base,
        &q,
        StatusCode::OK,
    )
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let kind = kind_of(&endpoint)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    match &state.pass_through {
        Some(relay) => {
            relay
                .acting_as(&actor.0)
                .delete(kind, &id, if_match)
                .await?
        }
        None => {
            (state.service.acting_as(&actor.0))
                .delete(kind, &id, if_match)
                .await?
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn bulk(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    if state.pass_through.is_some() {
        return Err(passthrough::not_served());
    }
    // Every operation is committed (and audited) on its own, each with the caller as author.
    let response = bulk::execute(
        &state.service.acting_as(&actor.0),
        &body,
        state.config.bulk.max_operations,
        &base,
    )
    .await?;
    Ok(scim_body(&response))
}

pub async fn service_provider_config(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
) -> Response {
    scim_body(&discovery::service_provider_config(&state.config, &base))
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
