//! The admin API over HTTP for the CLI: one blocking client with the admin token, answers as
//! JSON, and every failure (unreachable gateway, refused token, the API's error shape) as one
//! readable line.

use std::time::Duration;

use anyhow::anyhow;
use reqwest::blocking::RequestBuilder;
use reqwest::{Method, StatusCode, Url, header};
use serde_json::Value;

/// How long one request may take (an upload compiles the plugin before it is answered).
const TIMEOUT: Duration = Duration::from_secs(120);

/// A request body.
pub enum Body {
    /// None.
    Empty,
    /// A JSON document.
    Json(Value),
    /// A WebAssembly component.
    Wasm(Vec<u8>),
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The JSON body; `Null` when there is none (`204`).
    pub body: Value,
}

/// A client of one gateway's admin API.
pub struct Client {
    /// The HTTP client.
    http: reqwest::blocking::Client,
    /// The gateway's address, as given (for messages).
    origin: String,
    /// The admin API's base URL (`…/admin/v1`).
    base: Url,
    /// The admin token, if one was given.
    token: Option<String>,
}

impl Client {
    /// A client of the gateway at `url` (`http://host:port`; a trailing `/admin/v1` is fine).
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let mut base = Url::parse(url).map_err(|e| anyhow!("--url {url} is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(anyhow!("--url {url} is not an http:// or https:// address"));
        }
        if !base
            .path()
            .trim_end_matches('/')
            .ends_with(crate::admin::BASE_PATH)
        {
            let path = format!(
                "{}{}",
                base.path().trim_end_matches('/'),
                crate::admin::BASE_PATH
            );
            base.set_path(&path);
        }
        // reqwest is built without a bundled TLS provider: install ring's, as the gateway does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| anyhow!("cannot set up an HTTP client: {e}"))?;
        Ok(Self {
            http,
            origin: url.trim_end_matches('/').to_owned(),
            base,
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// The URL of the admin API path made of `segments` (each percent-encoded), with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// `GET` of the admin API path made of `segments`.
    pub fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Answer> {
        self.send(Method::GET, self.url(segments, query), Body::Empty)
    }

    /// Sends a request; answers a 2xx answer, or the failure as one line.
    pub fn send(&self, method: Method, url: Url, body: Body) -> anyhow::Result<Answer> {
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = with_body(request, body);
        let response = request.send().map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| anyhow!("reading the gateway's answer: {}", root_cause(&e)))?;
        if !status.is_success() {
            return Err(self.refused(status, &text));
        }
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                anyhow!(
                    "{} answered {status} with something that is not JSON; is it a scim-gateway?",
                    self.origin
                )
            })?
        };
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    /// A request that did not get an answer.
    fn unreachable(&self, e: &reqwest::Error) -> anyhow::Error {
        let cause = root_cause(e);
        if e.is_connect() {
            anyhow!("cannot connect to the gateway at {}: {cause}", self.origin)
        } else if e.is_timeout() {
            anyhow!(
                "the gateway at {} did not answer within {} s",
                self.origin,
                TIMEOUT.as_secs()
            )
        } else {
            anyhow!("request to the gateway at {} failed: {cause}", self.origin)
        }
    }

    /// An answer other than 2xx: the API's message (from its error shape) with its status.
    fn refused(&self, status: StatusCode, text: &str) -> anyhow::Error {
        let message = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .or_else(|| {
                let line = text.lines().next().unwrap_or_default().trim();
                (!line.is_empty()).then(|| super::table::short(line, 200))
            })
            .unwrap_or_else(|| "no reason given".to_owned());
        let hint = match (status, &self.token) {
            (StatusCode::UNAUTHORIZED, None) => {
                " (no token given: use --token or SCIM_GATEWAY_ADMIN_TOKEN)"
            }
            (StatusCode::UNAUTHORIZED, Some(_)) => " (the token given is not an admin token)",
            _ => "",
        };
        anyhow!("{status}: {message}{hint}")
    }
}

/// Adds the body and its content type.
fn with_body(request: RequestBuilder, body: Body) -> RequestBuilder {
    match body {
        Body::Empty => request,
        Body::Json(v) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(v.to_string()),
        Body::Wasm(bytes) => request
            .header(header::CONTENT_TYPE, "application/wasm")
            .body(bytes),
    }
}

/// The innermost reason of an error (`Connection refused (os error 111)`).
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_built_under_the_admin_base_and_encoded() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/admin/v1/",
        ] {
            let c = Client::new(url, None).unwrap();
            let u = c.url(&["connectors", "a b/c"], &[("state", "dead".into())]);
            assert_eq!(
                u.as_str(),
                "http://127.0.0.1:8080/admin/v1/connectors/a%20b%2Fc?state=dead"
            );
        }
        let c = Client::new("https://gw.example/base", Some(String::new())).unwrap();
        assert_eq!(
            c.url(&["jobs"], &[]).as_str(),
            "https://gw.example/base/admin/v1/jobs"
        );
        assert!(c.token.is_none());
        assert!(Client::new("not a url", None).is_err());
        assert!(Client::new("ftp://x", None).is_err());
    }

    #[test]
    fn refusals_read_as_one_line() {
        let c = Client::new("http://127.0.0.1:8080", None).unwrap();
        let body = r#"{"error":{"status":404,"message":"no connector named 'x'"}}"#;
        assert_eq!(
            c.refused(StatusCode::NOT_FOUND, body).to_string(),
            "404 Not Found: no connector named 'x'"
        );
        let e = c.refused(StatusCode::UNAUTHORIZED, "").to_string();
        assert!(
            e.starts_with("401 Unauthorized: no reason given (no token"),
            "{e}"
        );
        let e = c
            .refused(StatusCode::BAD_GATEWAY, "<html>\nbad</html>")
            .to_string();
        assert_eq!(e, "502 Bad Gateway: <html>");
    }
}
