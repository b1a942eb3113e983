//! A native stand-in for the host, so a connector is unit-tested with plain `cargo test`.
//!
//! Compiled for anything but `wasm32`, every host call of this crate goes to a per-thread fake
//! (cargo runs each test on its own thread, so tests do not see each other's). [`FakeHost::new`]
//! resets it and returns a handle to arrange and inspect it:
//!
//! ```
//! use scim_gateway_plugin_sdk::testing::FakeHost;
//! use scim_gateway_plugin_sdk::{http, log, remote_id};
//!
//! let host = FakeHost::new();
//! host.respond(201, r#"{"id":"r-1"}"#).remote_id("User", "u1", "r-u1").secret("token");
//!
//! // …the connector under test runs here…
//! let response = http::Request::post("https://api.example.com/users")
//!     .secret_header("Authorization", "token", "Bearer ")
//!     .send()
//!     .unwrap();
//! log::info("created");
//! assert_eq!(remote_id("User", "u1").as_deref(), Some("r-u1"));
//!
//! assert_eq!(response.status, 201);
//! let sent = host.requests();
//! assert_eq!(sent[0].url, "https://api.example.com/users");
//! assert_eq!(sent[0].secret_headers[0].secret, "token");
//! assert_eq!(host.logs(), [(log::Level::Info, "created".to_owned())]);
//! ```
//!
//! The fake mirrors the host's checks that do not depend on the network: a request naming an
//! unknown secret, or setting `Host` or a secret header's name itself, is an
//! [`HttpError::InvalidRequest`]. Its HMAC is not a real one: it answers
//! `hmac-sha256(<secret>, <n> bytes)` for a known secret, so tests can see which secret was used.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::marker::PhantomData;

use crate::bindings::all::scim_gateway::connector::host as wire;
use crate::http::{HttpError, Response, SecretHeader};
use crate::log::Level;

/// A request the connector sent, as the fake host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers the connector set.
    pub headers: Vec<(String, String)>,
    /// The secret headers the connector asked for (secret names, not values).
    pub secret_headers: Vec<SecretHeader>,
    /// The body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of a header the connector set (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// This thread's fake host.
#[derive(Default)]
struct State {
    /// Answers to the next requests, in order.
    responses: VecDeque<Result<Response, HttpError>>,
    /// The requests received.
    requests: Vec<RecordedRequest>,
    /// (resource type, gateway id) → remote id.
    remote_ids: HashMap<(String, String), String>,
    /// The secrets' names.
    secrets: HashSet<String>,
    /// The lines logged.
    logs: Vec<(Level, String)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// A handle on this thread's fake host; see the [module docs](self).
///
/// Every method takes `&self` and returns it, so arrangements chain.
#[derive(Debug)]
pub struct FakeHost {
    /// The fake is per thread: so is its handle.
    _not_send: PhantomData<*const ()>,
}

impl FakeHost {
    /// Resets this thread's fake host (no responses, requests, remote ids, secrets or logs) and
    /// returns a handle on it.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        with(|s| *s = State::default());
        FakeHost {
            _not_send: PhantomData,
        }
    }

    /// Queues the answer to the next request with no canned answer yet.
    pub fn respond(&self, status: u16, body: impl Into<Vec<u8>>) -> &Self {
        self.respond_with(Response::new(status, body))
    }

    /// Queues a JSON answer (with `content-type: application/json`).
    pub fn respond_json(&self, status: u16, body: &serde_json::Value) -> &Self {
        let mut response = Response::new(status, body.to_string());
        response
            .headers
            .push(("content-type".to_owned(), "application/json".to_owned()));
        self.respond_with(response)
    }

    /// Queues a full response.
    pub fn respond_with(&self, response: Response) -> &Self {
        with(|s| s.responses.push_back(Ok(response)));
        self
    }

    /// Queues a failure (a timeout, a denied origin, …) as the answer to the next request.
    pub fn fail(&self, error: HttpError) -> &Self {
        with(|s| s.responses.push_back(Err(error)));
        self
    }

    /// Makes `remote_id(resource_type, gateway_id)` answer `remote_id`.
    pub fn remote_id(&self, resource_type: &str, gateway_id: &str, remote_id: &str) -> &Self {
        with(|s| {
            s.remote_ids.insert(
                (resource_type.to_owned(), gateway_id.to_owned()),
                remote_id.to_owned(),
            )
        });
        self
    }

    /// Declares a secret (only its name matters: the connector never sees values).
    pub fn secret(&self, name: &str) -> &Self {
        with(|s| s.secrets.insert(name.to_owned()));
        self
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        with(|s| s.requests.clone())
    }

    /// The lines logged so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        with(|s| s.logs.clone())
    }
}

pub(crate) fn http_request(req: &wire::Request) -> Result<wire::Response, HttpError> {
    with(|s| {
        s.requests.push(RecordedRequest {
            method: req.method.clone(),
            url: req.url.clone(),
            headers: req.headers.clone(),
            secret_headers: req.secret_headers.clone(),
            body: req.body.clone(),
        });
        for sh in &req.secret_headers {
            if !s.secrets.contains(&sh.secret) {
                return Err(HttpError::InvalidRequest(format!(
                    "unknown secret `{}`",
                    sh.secret
                )));
            }
        }
        for (name, _) in &req.headers {
            let reserved = name.eq_ignore_ascii_case("host")
                || req
                    .secret_headers
                    .iter()
                    .any(|sh| sh.header.eq_ignore_ascii_case(name));
            if reserved {
                return Err(HttpError::InvalidRequest(format!(
                    "header `{name}` is set by the host"
                )));
            }
        }
        s.responses.pop_front().unwrap_or_else(|| {
            Err(HttpError::Transport(format!(
                "FakeHost has no canned response for {} {}",
                req.method, req.url
            )))
        })
    })
}

pub(crate) fn log(level: Level, message: &str) {
    with(|s| s.logs.push((level, message.to_owned())));
}

pub(crate) fn remote_id(resource_type: &str, gateway_id: &str) -> Option<String> {
    with(|s| {
        s.remote_ids
            .get(&(resource_type.to_owned(), gateway_id.to_owned()))
            .cloned()
    })
}

pub(crate) fn hmac_sha256(secret: &str, data: &[u8]) -> Result<String, String> {
    with(|s| {
        if s.secrets.contains(secret) {
            Ok(format!("hmac-sha256({secret}, {} bytes)", data.len()))
        } else {
            Err(format!("unknown secret `{secret}`"))
        }
    })
}
