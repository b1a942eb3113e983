//! SCIM answers as HTTP responses: the media type, `ETag` and `Location`, and every
//! [`ScimError`] as a SCIM error body.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::app::{Answer, Body};
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

/// A `200` response carrying a body that may be streamed, with the SCIM media type.
pub fn scim_answer(body: Body) -> Response {
    match body {
        Body::Whole(bytes) => scim_bytes(bytes),
        Body::Streamed(chunks) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))],
            axum::body::Body::from_stream(Chunked(chunks)),
        )
            .into_response(),
    }
}

/// A streamed body's chunks as the stream axum sends.
struct Chunked(mpsc::Receiver<std::io::Result<Vec<u8>>>);

impl futures_core::Stream for Chunked {
    type Item = std::io::Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// A resource as a response: its `ETag`, and for a `201` its `Location`, both built from the
/// resource itself so that `attributes` cannot drop them.
pub fn resource(answer: Answer, status: StatusCode) -> Response {
    let mut response = scim_answer(answer.body);
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
