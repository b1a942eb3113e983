//! Outbound HTTP through the host.
//!
//! The host checks each request against the connector instance's allowlist, adds the secret
//! headers, and enforces a timeout and a response-size cap. A request names secrets, never holds
//! them:
//!
//! ```
//! use scim_gateway_plugin_sdk::http;
//! # use scim_gateway_plugin_sdk::testing::FakeHost;
//! # let host = FakeHost::new();
//! # host.secret("api-token").respond(201, r#"{"id":"42"}"#);
//! let created: serde_json::Value = http::Request::post("https://api.example.com/users")
//!     .json(&serde_json::json!({ "userName": "bjensen" }))
//!     .secret_header("Authorization", "api-token", "Bearer ")
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! # assert_eq!(created["id"], "42");
//! # Ok::<(), scim_gateway_plugin_sdk::DeliveryError>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DeliveryError;
use crate::bindings::all::scim_gateway::connector::host as wire;

pub use wire::{HttpError, Response, SecretHeader};

/// An HTTP request being built; [`send`](Request::send) sends it.
#[derive(Debug, Clone)]
pub struct Request {
    /// What goes to the host.
    wire: wire::Request,
    /// A failure while building (a body that did not serialise), reported by `send`.
    error: Option<String>,
}

impl Request {
    /// A request with any method.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            wire: wire::Request {
                method: method.into(),
                url: url.into(),
                headers: Vec::new(),
                secret_headers: Vec::new(),
                body: Vec::new(),
            },
            error: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Request::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Request::new("PUT", url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Request::new("PATCH", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Request::new("DELETE", url)
    }

    /// Adds a header (`Host` and the secret headers' names are refused by the host).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.wire.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a header whose value the host builds: `prefix` followed by the named secret's value.
    pub fn secret_header(
        mut self,
        header: impl Into<String>,
        secret: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        self.wire.secret_headers.push(SecretHeader {
            header: header.into(),
            secret: secret.into(),
            prefix: prefix.into(),
        });
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.wire.body = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(mut self, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.wire.body = body;
                self.header("Content-Type", "application/json")
            }
            Err(e) => {
                self.error = Some(format!("the JSON body does not serialise: {e}"));
                self
            }
        }
    }

    /// Sends the request and waits for the response, whatever its status.
    pub fn send(self) -> Result<Response, HttpError> {
        if let Some(e) = self.error {
            return Err(HttpError::InvalidRequest(e));
        }
        crate::host::http_request(&self.wire)
    }
}

impl Response {
    /// A response, for tests.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into any type (a permanent error if it does not parse).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, DeliveryError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            DeliveryError::permanent(format!(
                "the response (status {}) is not the expected JSON: {e}",
                self.status
            ))
        })
    }

    /// The response if its status is 2xx; otherwise a delivery error: transient for 408, 429 and
    /// 5xx (worth retrying), permanent for the rest. The message holds the status and the start of
    /// the body.
    pub fn error_for_status(self) -> Result<Self, DeliveryError> {
        if self.is_success() {
            return Ok(self);
        }
        let mut body = self.text();
        if body.len() > 500 {
            let mut end = 500;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
            body.push('…');
        }
        let message = format!("the target answered {}: {body}", self.status);
        Err(match self.status {
            408 | 429 | 500..=599 => DeliveryError::transient(message),
            _ => DeliveryError::permanent(message),
        })
    }
}

impl From<HttpError> for DeliveryError {
    /// A timeout or a failed connection is transient; a refused or invalid request, or an
    /// oversized response, is permanent (it would fail the same way again).
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Timeout | HttpError::Transport(_) => DeliveryError::transient(describe(&e)),
            HttpError::Denied(_) | HttpError::InvalidRequest(_) | HttpError::TooLarge(_) => {
                DeliveryError::permanent(describe(&e))
            }
        }
    }
}

/// A sentence for an HTTP failure.
fn describe(e: &HttpError) -> String {
    match e {
        HttpError::Denied(m) => format!("request denied by the sandbox: {m}"),
        HttpError::InvalidRequest(m) => format!("invalid request: {m}"),
        HttpError::Timeout => "no response in time".to_owned(),
        HttpError::TooLarge(cap) => format!("the response is larger than {cap} bytes"),
        HttpError::Transport(m) => format!("connection failed: {m}"),
    }
}
