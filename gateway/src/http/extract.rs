//! Request extractors that fail with SCIM errors: JSON bodies, query parameters, the base URL.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::Value;

use crate::scim::ScimError;
use crate::scim::list::ListQuery;

/// A JSON request body (`application/scim+json` or `application/json`).
pub struct ScimJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ScimBytes(bytes) = ScimBytes::from_request(req, state).await?;
        parse_json(&bytes).map(ScimJson)
    }
}

/// A JSON request body's bytes, read whole but not parsed yet (see [`parse_json`]): what
/// `/Bulk` holds while it waits for its turn.
pub struct ScimBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ScimBytes {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim().to_owned();
            if essence != "application/scim+json" && essence != "application/json" {
                return Err(ScimError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "Content-Type must be application/scim+json or application/json, not '{essence}'"
                    ),
                ));
            }
        }
        Bytes::from_request(req, state)
            .await
            .map(ScimBytes)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ScimError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the request body is too large",
                    )
                } else if crate::listen::came_late(&rejection) {
                    ScimError::new(StatusCode::REQUEST_TIMEOUT, crate::listen::BODY_LATE)
                } else {
                    ScimError::bad_request("invalidSyntax", rejection.body_text())
                }
            })
    }
}

/// Parses a body read by [`ScimBytes`]; not JSON is `400 invalidSyntax`.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ScimError::bad_request("invalidSyntax", format!("the body is not valid JSON: {e}"))
    })
}

/// Path parameters; a malformed one (bad percent-encoding) is `400 invalidSyntax`.
pub struct ScimPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ScimPath<T> {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ScimPath(v))
            .map_err(|e| ScimError::bad_request("invalidSyntax", e.body_text()))
    }
}

/// The list/search parameters of the query string.
pub struct ListParams(pub ListQuery);

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ScimError::bad_request("invalidSyntax", e.body_text()))?;
        ListQuery::from_params(&pairs).map(ListParams)
    }
}

/// The absolute SCIM base URL as the client addressed it (for `meta.location` and `$ref`s).
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        let scheme = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https" || *p == "http")
            .unwrap_or("http");
        Ok(BaseUrl(format!("{scheme}://{host}{}", super::BASE_PATH)))
    }
}

/// The value of a header as text, if present and readable.
pub fn header_text(headers: &axum::http::HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
