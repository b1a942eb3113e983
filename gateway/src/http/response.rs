//! SCIM answers as HTTP responses: the media type, `ETag` and `Location`, and every
//! [`ScimError`] as a SCIM error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::Answer;
use crate::scim::ScimError;

/// The media type of every SCIM response body.
pub const SCIM_JSON: &str = "application/scim+json";

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = (self.status, scim_body(&self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim-gateway\""),
            );
        }
        response
    }
}

/// A JSON body with the SCIM media type.
pub fn scim_body(value: &serde_json::Value) -> Response {
    scim_bytes(value.to_string().into_bytes())
}

/// A `200` response carrying JSON text that is already encoded, with the SCIM media type.
pub fn scim_bytes(body: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))],
        body,
    )
        .into_response()
}

/// A resource as a response: its `ETag`, and for a `201` its `Location`, both built from the
/// resource itself so that `attributes` cannot drop them.
pub fn resource(answer: Answer, status: StatusCode) -> Response {
    let mut response = scim_bytes(answer.body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(etag) = answer.version.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = answer.location.and_then(|l| HeaderValue::from_str(&l).ok())
    {
        headers.insert(header::LOCATION, location);
    }
    response
}
