//! The end-to-end harness: builds and starts the real `scim-gateway` binary on a free loopback
//! port with its own data directory, and talks HTTP to it.
//!
//! Every [`Gateway`] is stopped by its handle when dropped (or killed with `SIGKILL` on demand),
//! and its data directory removed, so tests clean up after themselves even when they fail.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

/// The token every test gateway accepts (given through `SCIM_GATEWAY_TOKEN`).
pub const TOKEN: &str = "e2e-test-token";

/// The admin token every test gateway accepts (given through `SCIM_GATEWAY_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "e2e-admin-token";

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

/// A fresh, unique scratch directory under the system temp dir, removed when the guard is dropped
/// (also when the test panics). It derefs to its [`Path`].
pub fn scratch_dir(tag: &str) -> ScratchDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "scim-gw-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    ScratchDir(dir)
}

/// A scratch directory that removes itself when dropped. Declare it before the [`Gateway`] that
/// uses it: locals drop in reverse order, so the gateway is killed before its directory goes.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl std::ops::Deref for ScratchDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for ScratchDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long [`Gateway::stop`] waits for the process to exit after SIGTERM.
pub const STOP_WAIT: Duration = Duration::from_secs(60);

/// A running gateway process.
pub struct Gateway {
    /// The process.
    child: Option<Child>,
    /// `http://127.0.0.1:PORT/scim/v2`.
    pub base: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The scratch directory it owns (removed after the process is killed), if any.
    scratch: Option<ScratchDir>,
    /// The HTTP client.
    pub client: Client,
}

impl Gateway {
    /// Starts a gateway on a fresh data directory.
    pub fn start() -> Self {
        let dir = scratch_dir("data");
        let mut gw = Self::start_in(&dir, &[]);
        gw.scratch = Some(dir);
        gw
    }

    /// Starts a gateway on `data_dir` (kept when dropped), with extra CLI args and the test token.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Self {
        Self::spawn(data_dir, extra, &[("SCIM_GATEWAY_TOKEN", TOKEN)])
    }

    /// Starts a gateway on a fresh data directory (which also holds the configuration file)
    /// with `toml` as its configuration and the test token.
    pub fn start_with_config(toml: &str) -> Self {
        let dir = scratch_dir("cfg");
        let config = write_config(&dir, toml);
        let mut gw = Self::start_in(&dir, &["--config", config.to_str().expect("utf-8 path")]);
        gw.scratch = Some(dir);
        gw
    }

    /// Starts a gateway with the given environment (no default SCIM token; the test admin
    /// token), its log on the test's standard error. It listens on a free loopback port unless
    /// `extra` names `--listen`.
    pub fn spawn(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::launch(data_dir, extra, env, None)
    }

    /// Starts a gateway like [`Gateway::spawn`], but with its standard error (its log) appended
    /// to the file `log` instead of the test's own. `env` may set `RUST_LOG`.
    pub fn spawn_logged(data_dir: &Path, extra: &[&str], env: &[(&str, &str)], log: &Path) -> Self {
        Self::launch(data_dir, extra, env, Some(log))
    }

    fn launch(data_dir: &Path, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Self {
        let stderr = match log {
            None => Stdio::inherit(),
            Some(log) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .expect("open the gateway's log file"),
            ),
        };
        let mut cmd = Command::new(gateway_bin());
        cmd.arg("serve");
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env_remove("SCIM_GATEWAY_TOKEN")
            .env("SCIM_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // Everything that may panic comes before the spawn or kills the child first: a test that
        // fails must not leave a gateway running.
        let client = client();
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
                    let _ = child.wait();
                    let log = log.map(|l| format!("; its log: {}", l.display()));
                    panic!(
                        "gateway did not start; it printed: {printed:?}{}",
                        log.unwrap_or_default()
                    );
                }
            }
        }
        GENERATED.with(|g| *g.borrow_mut() = printed);
        Gateway {
            child: Some(child),
            base: base.unwrap_or_default(),
            data_dir: data_dir.to_owned(),
            scratch: None,
            client,
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

    /// Stops the process cleanly: SIGTERM, then waits for it to exit, at most [`STOP_WAIT`] (a
    /// bound, not a timing claim). Idle connections are closed first so that the graceful
    /// shutdown has nothing to wait for. A gateway that does not exit in time is killed and the
    /// test fails; so does one that exits with an error.
    #[track_caller]
    pub fn stop(&mut self) {
        self.client = Client::new();
        let Some(mut child) = self.child.take() else {
            return;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !sent {
            let _ = child.kill();
        }
        let deadline = Instant::now() + STOP_WAIT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the gateway did not exit within {} s of SIGTERM; killed it",
                        STOP_WAIT.as_secs()
                    );
                }
            }
        };
        assert!(
            status.success() || !sent,
            "the gateway exited with {status} on SIGTERM"
        );
    }

    /// The address the gateway listens on, `http://127.0.0.1:PORT` (no base path).
    pub fn origin(&self) -> &str {
        self.base.trim_end_matches("/scim/v2")
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

    /// A request to an admin API path (`/admin/v1/...`) with the test admin token.
    pub fn admin_req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.origin()))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// Sends an admin request with a JSON body; answers the status and the JSON answer (`Null`
    /// when there is none).
    pub fn admin_send(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .admin_req(method, path)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("admin request");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// GET an admin API path (`/admin/v1/...`) with the test admin token; answers the JSON.
    pub fn admin(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.origin()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .expect("admin request");
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        r.json().expect("admin JSON")
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

    /// PATCH `path` with a PatchOp body holding `ops`.
    pub fn patch_ops(&self, path: &str, ops: Value) -> Response {
        self.patch(path, &patch_body(ops))
    }

    /// GET `/{endpoint}` with query parameters (percent-encoded here); asserts `200` and
    /// answers the ListResponse.
    #[track_caller]
    pub fn list(&self, endpoint: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = parts(self.get(&format!("{endpoint}{}", query(params))));
        assert_eq!(status, 200, "list {endpoint} {params:?}: {body}");
        assert_eq!(body["schemas"][0], LIST_RESPONSE, "{body}");
        body
    }

    /// The `userName`s of the users `filter` selects, sorted.
    #[track_caller]
    pub fn user_names(&self, filter: &str) -> Vec<String> {
        let mut names = field_of(&self.list("/Users", &[("filter", filter)]), "userName");
        names.sort();
        names
    }

    /// The stored resource at `path` (asserts `200`).
    #[track_caller]
    pub fn fetch(&self, path: &str) -> Value {
        expect(self.get(path), 200)
    }
}

/// An HTTP client for the tests. reqwest is built without a bundled TLS provider (the gateway
/// installs ring's); install the same here, whoever comes first.
pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

thread_local! {
    static GENERATED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for Gateway {
    /// Kills the process; then the owned scratch directory (a field) removes itself.
    fn drop(&mut self) {
        self.kill9();
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
    let ct = header(&r, "content-type").unwrap_or_default();
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

/// The core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The Enterprise User extension URN.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The PatchOp message URN.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The ListResponse message URN.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The SearchRequest message URN.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The BulkRequest message URN.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The BulkResponse message URN.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// Asserts the response status and answers its JSON body (Null when there is none).
#[track_caller]
pub fn expect(r: Response, status: u16) -> Value {
    let (got, body) = parts(r);
    assert_eq!(got, status, "status; body: {body}");
    body
}

/// A resource's `id`.
#[track_caller]
pub fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {resource}"))
        .to_owned()
}

/// A resource's `meta.version`.
#[track_caller]
pub fn version_of(resource: &Value) -> String {
    resource["meta"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no meta.version in {resource}"))
        .to_owned()
}

/// A response header as text.
pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The string values of `attr` across a ListResponse's resources, in response order.
pub fn field_of(list: &Value, attr: &str) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources in {list}"))
        .iter()
        .map(|r| r[attr].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Percent-encodes a query-string component (everything but RFC 3986 unreserved characters).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A query string (`?k=v&...`, empty for no parameters), percent-encoded.
pub fn query(params: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// A PatchOp request body holding `ops` (a JSON array of operations).
pub fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// Writes `toml` as `config.toml` in `dir`; answers its path.
pub fn write_config(dir: &Path, toml: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

/// The hex SHA-256 of `token`, as `scim-gateway hash-token` prints it.
pub fn hash_token(token: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(gateway_bin())
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run hash-token");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{token}\n").as_bytes())
        .expect("write token");
    let out = child.wait_with_output().expect("hash-token output");
    assert!(out.status.success(), "hash-token failed");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// The `value`s of a group's `members`, sorted (empty when it has none).
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| m["value"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The given strings, owned and sorted.
pub fn sorted<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.as_ref().to_owned()).collect();
    v.sort();
    v
}

/// A gateway configuration whose connector `sink` is the `echo` plugin forwarding every User and
/// Group change to `sink`, retried quickly and without end; a held request does not time out.
pub fn echo_config(sink: &Target) -> String {
    let plugin = build_plugin("echo", &[]).display().to_string();
    let origin = &sink.origin;
    format!(
        "[delivery]\nmax_attempts = 1000\nbase_delay_ms = 50\nmax_delay_ms = 500\n\n\
         [[connectors]]\nname = \"sink\"\nplugin = \"{plugin}\"\n\
         resource_types = [\"User\", \"Group\"]\ntimeout_ms = 600000\n\
         allowed_hosts = [\"{origin}\"]\n[connectors.config]\nurl = \"{origin}/events\"\n"
    )
}

/// Builds a workspace plugin for wasm32-wasip2 in release mode (with the shared guest builder,
/// `scim-gateway-guest-build`), with extra environment variables for its build (e.g.
/// `ECHO_VERSION`), and answers the path of a copy of its `.wasm` that later builds do not
/// overwrite. Each (package, environment) is built once per test run; builds share
/// `target/plugins` (and so its compiled dependencies) and run one at a time.
pub fn build_plugin(package: &str, env: &[(&str, &str)]) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let tag: String = env.iter().map(|(k, v)| format!("-{k}-{v}")).collect();
    let key = format!("{package}{tag}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let wasm = scim_gateway_guest_build::build(&[package], env)
        .join(format!("{}.wasm", package.replace('-', "_")));
    let copies = workspace().join("target").join("plugins").join("e2e");
    std::fs::create_dir_all(&copies).expect("create target/plugins/e2e");
    let copy = copies.join(format!("{key}.wasm"));
    std::fs::copy(&wasm, &copy).expect("copy the built plugin");
    built.insert(key, copy.clone());
    copy
}

/// A recording HTTP target for connectors (the `echo` plugin with `url` set, or any plugin
/// pointed at it, a system of record included): it records every request, in arrival order,
/// with its method, path, headers and JSON body, and answers `{"id": "r-<id>"}` (the body's
/// `id`) with `200`, or the status set by [`Target::answer_with`]. It can be told to refuse the
/// next requests ([`Target::refuse_next`]: `503`, which the gateway retries) and to hold
/// requests unanswered until the test releases or abandons them (what lets a test decide what
/// is in flight). It binds 127.0.0.1 on a port of the kernel's choosing; dropping it closes
/// every request it still holds, every connection and the listener.
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// What it received and what it was told.
    state: Arc<(Mutex<TargetState>, std::sync::Condvar)>,
}

/// One request a [`Target`] received.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when it is empty or not JSON): for `echo`, the event.
    pub body: Value,
    /// The status it is answered with: `503` if refused ([`Target::refuse_next`]).
    pub status: u16,
    /// Where its answer is.
    pub answer: Answer,
    /// When it arrived.
    pub at: Instant,
}

impl Arrival {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        (self.headers.iter())
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether it was refused (answered `503` by [`Target::refuse_next`], or `429` by
    /// [`Target::throttle_next`]).
    pub fn refused(&self) -> bool {
        self.status == 503 || self.status == 429
    }
}

/// Where a [`Target`]'s answer to one request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Held: not answered yet.
    Held,
    /// Answered (with its [`Arrival::status`]).
    Sent,
    /// Closed without an answer: [`Target::abandon_held`], or its sender had already gone.
    Abandoned,
}

#[derive(Debug)]
struct TargetState {
    /// Every request, in arrival order.
    arrivals: Vec<Arrival>,
    /// How many of the next requests are refused.
    refuse: usize,
    /// How many of the next requests are answered `429` with `Retry-After`, and its seconds.
    throttle: (usize, u64),
    /// The status of the requests not refused.
    status: u16,
    /// Whether new requests are held.
    holding: bool,
    /// Unanswered requests per resource id (of the bodies that name one).
    open: BTreeMap<String, usize>,
    /// Requests that arrived while an earlier one for the same resource was unanswered.
    overlaps: Vec<String>,
    /// Set when the target is dropped: the listener stops accepting.
    stopped: bool,
    /// A handle on every connection, to close them when the target is dropped.
    connections: Vec<std::net::TcpStream>,
}

impl Target {
    /// Starts a target.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the target");
        let origin = format!("http://{}", listener.local_addr().expect("target address"));
        let state = Arc::new((
            Mutex::new(TargetState {
                arrivals: Vec::new(),
                refuse: 0,
                throttle: (0, 0),
                status: 200,
                holding: false,
                open: BTreeMap::new(),
                overlaps: Vec::new(),
                stopped: false,
                connections: Vec::new(),
            }),
            std::sync::Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut state = lock(&shared.0);
                if state.stopped {
                    return; // dropping the listener closes it
                }
                if let Ok(handle) = stream.try_clone() {
                    state.connections.push(handle);
                }
                drop(state);
                let shared = shared.clone();
                std::thread::spawn(move || target_connection(stream, &shared));
            }
        });
        Target { origin, state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TargetState> {
        lock(&self.state.0)
    }

    /// Every request received so far, in arrival order, with its answer.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.lock().arrivals.clone()
    }

    /// Every body received so far, in arrival order (refused and held ones included).
    pub fn events(&self) -> Vec<Value> {
        self.arrivals().into_iter().map(|a| a.body).collect()
    }

    /// The bodies accepted so far (answered with a `2xx`), in arrival order: what was
    /// delivered.
    pub fn delivered(&self) -> Vec<Value> {
        self.arrivals()
            .into_iter()
            .filter(|a| (200..300).contains(&a.status) && a.answer == Answer::Sent)
            .map(|a| a.body)
            .collect()
    }

    /// Every event as (plugin version, operation, resource id).
    pub fn triples(&self) -> Vec<(String, String, String)> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        self.events()
            .iter()
            .map(|e| (text(&e["plugin"]), text(&e["operation"]), text(&e["id"])))
            .collect()
    }

    /// Refuses the next `n` requests with `503` (which the gateway retries).
    pub fn refuse_next(&self, n: usize) {
        self.lock().refuse = n;
    }

    /// Answers the next `n` requests `429 Too Many Requests` with `Retry-After: seconds`.
    pub fn throttle_next(&self, n: usize, seconds: u64) {
        self.lock().throttle = (n, seconds);
    }

    /// Answers the requests arriving from now on (those not refused) with `status`, and the
    /// usual body.
    pub fn answer_with(&self, status: u16) {
        self.lock().status = status;
    }

    /// Holds every request from now on unanswered, until [`Target::release_held`],
    /// [`Target::stop_holding`] or [`Target::abandon_held`].
    pub fn hold(&self) {
        self.lock().holding = true;
    }

    /// The bodies of the requests held unanswered now, in arrival order.
    pub fn held(&self) -> Vec<Value> {
        let state = self.lock();
        (state.arrivals.iter())
            .filter(|a| a.answer == Answer::Held)
            .map(|a| a.body.clone())
            .collect()
    }

    /// Answers every request held now; requests arriving later are still held.
    pub fn release_held(&self) {
        self.settle_held(Answer::Sent);
    }

    /// Answers every request held now and holds no more.
    pub fn stop_holding(&self) {
        self.lock().holding = false;
        self.settle_held(Answer::Sent);
    }

    /// Closes every request held now without answering it (its sender is gone), and holds no
    /// more.
    pub fn abandon_held(&self) {
        self.lock().holding = false;
        self.settle_held(Answer::Abandoned);
    }

    fn settle_held(&self, answer: Answer) {
        let mut state = self.lock();
        for a in &mut state.arrivals {
            if a.answer == Answer::Held {
                a.answer = answer;
            }
        }
        self.state.1.notify_all();
    }

    /// The requests that arrived while an earlier request for the same resource was still
    /// unanswered (a gateway delivers one change of a resource at a time).
    pub fn overlaps(&self) -> Vec<String> {
        self.lock().overlaps.clone()
    }
}

impl Drop for Target {
    /// Abandons what it holds, closes every connection and stops the listener (woken by one
    /// last connection of its own).
    fn drop(&mut self) {
        self.abandon_held();
        let mut state = self.lock();
        state.stopped = true;
        for stream in state.connections.drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        drop(state);
        let _ = std::net::TcpStream::connect(self.origin.trim_start_matches("http://"));
    }
}

/// Locks `m`, whether or not a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the peer of `stream` has closed it (or reset it): it will read nothing more.
fn peer_closed(stream: &std::net::TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let closed = match stream.peek(&mut [0; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

/// One HTTP/1.1 request as read: method, path, headers (names in lower case), body.
type Request = (String, String, Vec<(String, String)>, Vec<u8>);

/// Reads one HTTP/1.1 request from `reader`; `None` once the peer has closed the connection.
fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> Option<Request> {
    use std::io::Read;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, headers, body))
}

/// Serves HTTP/1.1 requests on one connection of a [`Target`] until the peer closes it.
fn target_connection(
    stream: std::net::TcpStream,
    shared: &(Mutex<TargetState>, std::sync::Condvar),
) {
    use std::io::Write;
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((method, path, headers, body)) = read_request(&mut reader) {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        let (lock_, wake) = shared;
        let mut state = lock(lock_);
        let retry_after = state.throttle.1;
        let status = if state.throttle.0 > 0 {
            state.throttle.0 -= 1;
            429
        } else if state.refuse > 0 {
            state.refuse -= 1;
            503
        } else {
            state.status
        };
        if !id.is_empty() {
            let open = state.open.entry(id.clone()).or_default();
            *open += 1;
            if *open > 1 {
                let what = format!("{} {id}", body["operation"].as_str().unwrap_or_default());
                state.overlaps.push(what);
            }
        }
        let answer = if state.holding {
            Answer::Held
        } else {
            Answer::Sent
        };
        let at = state.arrivals.len();
        state.arrivals.push(Arrival {
            method,
            path,
            headers,
            body,
            status,
            answer,
            at: Instant::now(),
        });
        while state.arrivals[at].answer == Answer::Held {
            state = wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.arrivals[at].answer == Answer::Sent && peer_closed(reader.get_ref()) {
            // Its sender is gone (a gateway killed while the request was on its way): nobody
            // will hear the answer, so it is not one.
            state.arrivals[at].answer = Answer::Abandoned;
        }
        let answer = state.arrivals[at].answer;
        if let Some(open) = state.open.get_mut(&id) {
            *open -= 1;
        }
        drop(state);
        if answer == Answer::Abandoned {
            return;
        }
        let (kind, text) = if status == 503 || status == 429 {
            ("text/plain", "refused by the test".to_owned())
        } else {
            let text = json!({"id": format!("r-{id}")}).to_string();
            ("application/json", text)
        };
        let extra = match status {
            429 => format!("retry-after: {retry_after}\r\n"),
            _ => String::new(),
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\n{extra}content-length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Waits (at most 180 s: a bound, not a timing claim; the machine may be busy) until `check`
/// answers `Ok`; panics with its last complaint.
#[track_caller]
pub fn eventually(mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match check() {
            Ok(()) => return,
            Err(why) if Instant::now() > deadline => panic!("not reached in 180 s: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `Ok` when `cond` holds, else `what` as the complaint: [`eventually`] with a plain condition.
pub fn when(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_owned()) }
}

// ---------------------------------------------------------------------------------------------
// Ports. No test binds a port, releases it and hands the number to a child (another process may
// take it in between): a gateway binds port 0 and reports its port (`listening on ...`). When a
// child must be given an address before anything listens there, the test holds the port itself
// for as long as the address is in use: [`ClosedPort`] (nothing will ever answer) or [`Relay`]
// (a stand-in that forwards to a target that comes and goes).
// ---------------------------------------------------------------------------------------------

/// A loopback TCP socket bound without `SO_REUSEADDR` and never listening.
fn bound_not_listening() -> (socket2::Socket, u16) {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
    socket.bind(&any.into()).expect("bind a loopback port");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("the bound port");
    (socket, port)
}

/// A loopback port known to refuse connections for as long as this value lives.
///
/// Why this is sound where "port 9" or "a port whose listener was closed" is not: the port is
/// bound by this process, without `SO_REUSEADDR` and without listening. Nothing accepts on it,
/// so a connection is refused (`ECONNREFUSED`, what a plugin reports as a transient failure);
/// and no other socket can bind it meanwhile, because sharing a bound port needs the reuse
/// option on both sockets. A closed listener's port, by contrast, can be taken by anyone the
/// moment it is closed, and port 9 is simply a port someone may be using.
pub struct ClosedPort {
    _socket: socket2::Socket,
    port: u16,
}

impl ClosedPort {
    /// Binds one.
    pub fn new() -> Self {
        let (socket, port) = bound_not_listening();
        ClosedPort {
            _socket: socket,
            port,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// `http://127.0.0.1:PORT` of a [`ClosedPort`] this process holds until it exits: the target of
/// a connector that must never reach anything.
pub fn closed_origin() -> &'static str {
    static CLOSED: OnceLock<(ClosedPort, String)> = OnceLock::new();
    &CLOSED
        .get_or_init(|| {
            let port = ClosedPort::new();
            let origin = port.origin();
            (port, origin)
        })
        .1
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// A loopback port this process holds for as long as this value lives, standing in for a
/// target at a fixed address that goes down and comes back (the target itself binds port 0).
///
/// It starts *down* the way a [`ClosedPort`] is: bound and not listening, so connections are
/// refused. [`Relay::forward_to`] brings it *up*: it listens and forwards every connection to
/// the target. [`Relay::cut`] takes it down again: open connections are shut down and new ones
/// closed as soon as they are accepted (the port stays held, so nothing else can answer there).
pub struct Relay {
    port: u16,
    state: Arc<Mutex<RelayState>>,
}

struct RelayState {
    /// The socket, until it listens.
    idle: Option<socket2::Socket>,
    /// Where connections go; `None` while down.
    target: Option<std::net::SocketAddr>,
    /// Both ends of every forwarded connection.
    live: Vec<std::net::TcpStream>,
}

impl Relay {
    /// Binds one, down.
    pub fn new() -> Self {
        let (socket, port) = bound_not_listening();
        Relay {
            port,
            state: Arc::new(Mutex::new(RelayState {
                idle: Some(socket),
                target: None,
                live: Vec::new(),
            })),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RelayState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Comes up: forwards every new connection to `origin` (`http://HOST:PORT`, any path).
    pub fn forward_to(&self, origin: &str) {
        let authority = origin
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let target: std::net::SocketAddr = authority
            .parse()
            .unwrap_or_else(|e| panic!("not an IP origin: {origin}: {e}"));
        let mut state = self.lock();
        state.target = Some(target);
        if let Some(socket) = state.idle.take() {
            socket.listen(128).expect("listen");
            let listener = std::net::TcpListener::from(socket);
            let shared = self.state.clone();
            std::thread::spawn(move || relay_accept(&listener, &shared));
        }
    }

    /// Goes down: shuts every forwarded connection and closes new ones at once.
    pub fn cut(&self) {
        let mut state = self.lock();
        state.target = None;
        for stream in state.live.drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Default for Relay {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Accepts connections for a [`Relay`] until the process ends.
fn relay_accept(listener: &std::net::TcpListener, shared: &Mutex<RelayState>) {
    for inbound in listener.incoming().flatten() {
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        let Some(target) = state.target else {
            continue; // down: dropping `inbound` closes it
        };
        let Ok(outbound) = std::net::TcpStream::connect(target) else {
            continue;
        };
        let (Ok(a), Ok(b), Ok(c), Ok(d)) = (
            inbound.try_clone(),
            outbound.try_clone(),
            inbound.try_clone(),
            outbound.try_clone(),
        ) else {
            continue;
        };
        state.live.extend([c, d]);
        drop(state);
        std::thread::spawn(move || pipe(inbound, outbound));
        std::thread::spawn(move || pipe(b, a));
    }
}

/// Copies `from` to `to` until either side closes, then shuts both.
fn pipe(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

// ---------------------------------------------------------------------------------------------
// Metrics: one scrape of `/metrics`, parsed.
// ---------------------------------------------------------------------------------------------

impl Gateway {
    /// `GET /metrics` with `token` if given (no parsing, whatever the status).
    pub fn metrics_response(&self, token: Option<&str>) -> Response {
        let req = self.client.get(format!("{}/metrics", self.origin()));
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        req.send().expect("GET /metrics")
    }

    /// The metrics, read with the admin token (asserts `200`) and parsed.
    #[track_caller]
    pub fn metrics(&self) -> Metrics {
        let r = self.metrics_response(Some(ADMIN_TOKEN));
        assert_eq!(r.status().as_u16(), 200, "GET /metrics");
        Metrics::parse(&r.text().expect("metrics text"))
    }
}

/// One scrape of the Prometheus text exposition: samples by name and label set.
#[derive(Debug)]
pub struct Metrics {
    /// Every sample.
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
    /// The text as served.
    pub text: String,
}

impl Metrics {
    /// Parses the text format's sample lines (label values may hold escaped `\`, `"`, `\n`).
    #[track_caller]
    pub fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_owned(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    (name.to_owned(), parse_labels(body))
                }
            };
            samples.insert((name, labels), value);
        }
        Self {
            samples,
            text: text.to_owned(),
        }
    }

    /// The sample with exactly these labels (0 when absent: a counter not yet incremented).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).unwrap_or(0.0)
    }

    /// The sample with exactly these labels, if present.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "quoted value of {key} in {body}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("dangling escape in {body}"),
                },
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

// ---------------------------------------------------------------------------------------------
// Writers for kill -9 tests.
// ---------------------------------------------------------------------------------------------

/// Client threads creating users (`<tag>-<thread>-<n>@example.com`) as fast as a gateway accepts
/// them, each until the gateway stops answering (it was killed), [`Writers::join`] or
/// `per_thread` users. Kill -9 tests start them, wait for some acknowledged writes and kill the
/// gateway while more are in flight.
pub struct Writers {
    /// Every acknowledged write: (userName, id).
    acked: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    /// Starts `threads` writers against `gw`.
    pub fn start(gw: &Gateway, tag: &str, threads: usize, per_thread: usize) -> Self {
        let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|t| {
                let (acked, stop) = (acked.clone(), stop.clone());
                let (base, client, tag) = (gw.base.clone(), gw.client.clone(), tag.to_owned());
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let name = format!("{tag}-{t}-{i}@example.com");
                        let sent = client
                            .post(format!("{base}/Users"))
                            .bearer_auth(TOKEN)
                            .header("content-type", "application/scim+json")
                            .body(user(&name).to_string())
                            .send();
                        let Ok(response) = sent else { break };
                        let (status, body) = parts(response);
                        if status != 201 {
                            break;
                        }
                        let id = body["id"].as_str().unwrap_or_default().to_owned();
                        acked
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((name, id));
                    }
                })
            })
            .collect();
        Writers {
            acked,
            stop,
            threads,
        }
    }

    /// How many writes have been acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits ([`eventually`]) until at least `n` writes are acknowledged.
    #[track_caller]
    pub fn wait_for(&self, n: usize) {
        eventually(|| {
            let acked = self.acked();
            when(acked >= n, &format!("{acked} of {n} writes acknowledged"))
        });
    }

    /// Stops the writers and waits for them; answers every acknowledged write as (userName,
    /// id).
    pub fn join(self) -> Vec<(String, String)> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("a writer panicked");
        }
        let acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        acked.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Admin errors, plugin uploads, a recording target that can hold requests, captured gateway
// logs and whole-directory scans: the helpers of the admin, pass-through and secrecy tests.
// ---------------------------------------------------------------------------------------------

/// Asserts an admin API refusal: the HTTP `status`, and the documented body
/// `{"error": {"status": N, "message": "..."}}` with nothing else in it and a message that says
/// something. Answers the message.
#[track_caller]
pub fn assert_admin_error(answer: (u16, Value), status: u16) -> String {
    let (got, body) = answer;
    assert_eq!(got, status, "status; body: {body}");
    let keys = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    };
    assert_eq!(keys(&body), ["error"], "the admin error shape: {body}");
    assert_eq!(
        keys(&body["error"]),
        ["message", "status"],
        "the admin error shape: {body}"
    );
    assert_eq!(body["error"]["status"], status, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "an empty message: {body}");
    message.to_owned()
}

/// The bytes of the `echo` plugin built with `ECHO_VERSION=version`.
pub fn echo_wasm(version: &str) -> Vec<u8> {
    std::fs::read(build_plugin("echo", &[("ECHO_VERSION", version)])).expect("read echo.wasm")
}

impl Gateway {
    /// Uploads a plugin: `POST /admin/v1/plugins{query}` with `wasm` as an `application/wasm`
    /// body (bytes, or a streamed [`reqwest::blocking::Body`]). Answers the status and the JSON
    /// answer (`Null` when there is none).
    pub fn upload_plugin(
        &self,
        wasm: impl Into<reqwest::blocking::Body>,
        query: &str,
    ) -> (u16, Value) {
        let r = self
            .admin_req(Method::POST, &format!("/admin/v1/plugins{query}"))
            .header("content-type", "application/wasm")
            .body(wasm)
            .send()
            .expect("upload a plugin");
        parts(r)
    }

    /// Uploads a plugin the gateway must accept (`201`, or `200` when it is already there);
    /// answers the plugin as the gateway describes it.
    #[track_caller]
    pub fn install_plugin(&self, wasm: Vec<u8>) -> Value {
        let (status, plugin) = self.upload_plugin(wasm, "");
        assert!(matches!(status, 200 | 201), "upload: {status} {plugin}");
        plugin
    }
}

/// Starts a gateway on `data_dir` with `extra` arguments and `env` (beside the test tokens)
/// that must refuse to start: answers what it wrote to its standard error, once it exited
/// unsuccessfully (a panic if it starts, or runs for two minutes).
pub fn start_refused(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(gateway_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("SCIM_GATEWAY_TOKEN", TOKEN)
        .env("SCIM_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert!(
        status.is_some_and(|s| !s.success()),
        "the start is refused: {stderr}"
    );
    stderr
}

/// Every file under `dir` (recursively) with its bytes, whatever its name: the store, caches,
/// temporary files.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`, byte for byte.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_refuses_connections_and_no_one_else_can_bind_it() {
        let closed = ClosedPort::new();
        let addr = ("127.0.0.1", closed.port());
        let refused = std::net::TcpStream::connect(addr).expect_err("nothing accepts");
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        // std's listeners set SO_REUSEADDR, as tokio's do: even so, the port cannot be taken.
        let taken = std::net::TcpListener::bind(addr).expect_err("the port is held");
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
        let taken = std::net::TcpListener::bind(("0.0.0.0", closed.port())).expect_err("held");
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_relay_refuses_then_forwards_then_closes_what_it_forwarded() {
        use std::io::{Read, Write};
        let relay = Relay::new();
        let addr = relay.origin().trim_start_matches("http://").to_owned();
        let refused = std::net::TcpStream::connect(&addr).expect_err("down");
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

        let target = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let origin = format!("http://{}", target.local_addr().expect("address"));
        std::thread::spawn(move || {
            for mut s in target.incoming().flatten() {
                let mut byte = [0; 1];
                while s.read_exact(&mut byte).is_ok() && s.write_all(&byte).is_ok() {}
            }
        });
        relay.forward_to(&origin);
        let mut client = std::net::TcpStream::connect(&addr).expect("up");
        client.write_all(b"x").expect("send");
        let mut echoed = [0; 1];
        client.read_exact(&mut echoed).expect("echoed");
        assert_eq!(&echoed, b"x");

        relay.cut();
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
        assert!(rest.is_empty(), "the forwarded connection is shut");
        let mut late = std::net::TcpStream::connect(&addr).expect("accepted, then closed");
        let _ = late.write_all(b"x");
        assert_eq!(late.read(&mut echoed).unwrap_or(0), 0, "closed at once");
    }
}
