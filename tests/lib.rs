//! The end-to-end harness: builds and starts the real `scim-gateway` binary on a free loopback
//! port with its own data directory, and talks HTTP to it.
//!
//! Every [`Gateway`] is stopped by its handle when dropped (or killed with `SIGKILL` on demand),
//! and its data directory removed, so tests clean up after themselves even when they fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

/// The token every test gateway accepts (given through `SCIM_GATEWAY_TOKEN`).
pub const TOKEN: &str = "e2e-test-token";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The gateway binary: `SCIM_GATEWAY_BIN` if set, otherwise built once (in this test run's
/// profile) with cargo.
pub fn gateway_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("SCIM_GATEWAY_BIN") {
            return PathBuf::from(bin);
        }
        let release = !cfg!(debug_assertions);
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(workspace()).args([
            "build",
            "-q",
            "-p",
            "scim-gateway",
            "--bin",
            "scim-gateway",
        ]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building scim-gateway failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace().join("target"));
        target
            .join(if release { "release" } else { "debug" })
            .join("scim-gateway")
    })
}

/// A fresh, unique scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "scim-gw-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A running gateway process.
pub struct Gateway {
    /// The process.
    child: Option<Child>,
    /// `http://127.0.0.1:PORT/scim/v2`.
    pub base: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Whether dropping removes `data_dir`.
    owns_dir: bool,
    /// The HTTP client.
    pub client: Client,
}

impl Gateway {
    /// Starts a gateway on a fresh data directory.
    pub fn start() -> Self {
        let mut gw = Self::start_in(&scratch_dir("data"), &[]);
        gw.owns_dir = true;
        gw
    }

    /// Starts a gateway on `data_dir` (kept when dropped), with extra CLI args and the test token.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Self {
        Self::spawn(data_dir, extra, &[("SCIM_GATEWAY_TOKEN", TOKEN)])
    }

    /// Starts a gateway with the given environment (no default token).
    pub fn spawn(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(gateway_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("SCIM_GATEWAY_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn scim-gateway");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut base = None;
        let mut printed = Vec::new();
        while base.is_none() {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        base = Some(url.trim().to_owned());
                    }
                    printed.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("gateway did not start; it printed: {printed:?}");
                }
            }
        }
        GENERATED.with(|g| *g.borrow_mut() = printed);
        Gateway {
            child: Some(child),
            base: base.unwrap_or_default(),
            data_dir: data_dir.to_owned(),
            owns_dir: false,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    /// The lines the last started gateway printed before it listened (on this thread).
    pub fn startup_output() -> Vec<String> {
        GENERATED.with(|g| g.borrow().clone())
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A request to `path` (relative to the SCIM base) with the test token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    /// A request with a JSON body sent as `application/scim+json`.
    pub fn send(&self, method: Method, path: &str, body: &Value) -> Response {
        self.req(method, path)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .expect("request")
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().expect("request")
    }

    /// POST `path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.send(Method::POST, path, body)
    }

    /// PUT `path` with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.send(Method::PUT, path, body)
    }

    /// PATCH `path` with a JSON body.
    pub fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(Method::PATCH, path, body)
    }

    /// DELETE `path`.
    pub fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path).send().expect("request")
    }
}

thread_local! {
    static GENERATED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A response's status and JSON body (Null when there is none).
pub fn parts(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts that `r` is a SCIM error with `status` and (if given) `scim_type`; returns the body.
#[track_caller]
pub fn assert_scim_error(r: Response, status: u16, scim_type: Option<&str>) -> Value {
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (got, body) = parts(r);
    assert_eq!(got, status, "status; body: {body}");
    assert!(ct.starts_with("application/scim+json"), "content-type {ct}");
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{body}"
    );
    assert_eq!(body["status"], status.to_string(), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    body
}

/// A minimal valid user body.
pub fn user(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true
    })
}

/// A minimal valid group body.
pub fn group(display_name: &str, member_ids: &[&str]) -> Value {
    let members: Vec<Value> = member_ids
        .iter()
        .map(|id| serde_json::json!({"value": id}))
        .collect();
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": display_name,
        "members": members
    })
}

/// Creates a resource and returns its stored body (panics unless 201).
#[track_caller]
pub fn create(gw: &Gateway, endpoint: &str, body: &Value) -> Value {
    let (status, body) = parts(gw.post(endpoint, body));
    assert_eq!(status, 201, "create {endpoint}: {body}");
    body
}
