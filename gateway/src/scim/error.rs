//! The one error type a SCIM request fails with: a status, a `scimType` and a detail, as the
//! SCIM error body carries them (RFC 7644 section 3.12).
//!
//! Modules keep their own typed errors (`FilterError`, `PatchError`, `SchemaError`, and below
//! this layer `StoreError`); each converts into [`ScimError`] once (the protocol's here, the
//! store's in `store`), so that the status and `scimType` of every failure are decided in one
//! place. The HTTP edge turns a `ScimError` into a response (`http::response`).

use http::StatusCode;
use serde_json::json;

use super::filter::FilterError;
use super::patch::PatchError;
use super::schema::SchemaError;

/// The `schemas` URN of a SCIM error response.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A request failure, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {scim_type:?}: {detail}")]
pub struct ScimError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The SCIM `scimType` keyword, for the 400/409/413 errors that have one.
    pub scim_type: Option<&'static str>,
    /// A human-readable explanation.
    pub detail: String,
}

impl ScimError {
    /// An error with a status and no `scimType`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// A `400 Bad Request` with the given `scimType`.
    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// `404 Not Found` for a resource id.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} {id} not found"))
    }

    /// `500` for a failure that is the gateway's, not the client's. The detail is logged and the
    /// client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// The SCIM error body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        Self::bad_request("invalidFilter", e.0)
    }
}

impl From<PatchError> for ScimError {
    fn from(e: PatchError) -> Self {
        Self::bad_request(e.scim_type(), e.to_string())
    }
}

impl From<SchemaError> for ScimError {
    fn from(e: SchemaError) -> Self {
        Self::bad_request(e.scim_type(), e.to_string())
    }
}
