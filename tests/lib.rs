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

    /// Starts a gateway on a fresh data directory (which also holds the configuration file)
    /// with `toml` as its configuration and the test token.
    pub fn start_with_config(toml: &str) -> Self {
        let dir = scratch_dir("cfg");
        let config = write_config(&dir, toml);
        let mut gw = Self::start_in(&dir, &["--config", config.to_str().expect("utf-8 path")]);
        gw.owns_dir = true;
        gw
    }

    /// Starts a gateway with the given environment (no default SCIM token; the test admin
    /// token). It listens on a free loopback port unless `extra` names `--listen`.
    pub fn spawn(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
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
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
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

    /// Stops the process cleanly (SIGTERM, then waits for it to exit). Idle connections are
    /// closed first so that the graceful shutdown has nothing to wait for.
    pub fn stop(&mut self) {
        self.client = Client::new();
        if let Some(mut child) = self.child.take() {
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !sent {
                let _ = child.kill();
            }
            let status = child.wait().expect("wait for the gateway");
            assert!(
                status.success() || !sent,
                "the gateway exited with {status} on SIGTERM"
            );
        }
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

/// An HTTP receiver for connectors that forward events (the `echo` plugin with `url` set): it
/// records every JSON body POSTed to it and answers `{"id": "r-<id>"}`. It binds 127.0.0.1 on a
/// free port; its threads end with the test process.
pub struct Sink {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// Every body received, in order.
    received: Arc<Mutex<Vec<Value>>>,
}

impl Sink {
    /// Starts a sink.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let origin = format!("http://{}", listener.local_addr().expect("sink address"));
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || sink_connection(stream, &log));
            }
        });
        Sink { origin, received }
    }

    /// Every event received so far.
    pub fn events(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every event as (plugin version, operation, resource id).
    pub fn triples(&self) -> Vec<(String, String, String)> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        self.events()
            .iter()
            .map(|e| (text(&e["plugin"]), text(&e["operation"]), text(&e["id"])))
            .collect()
    }
}

/// Serves HTTP/1.1 requests on one connection until the peer closes it.
fn sink_connection(stream: std::net::TcpStream, log: &Mutex<Vec<Value>>) {
    use std::io::{Read, Write};
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer = json!({"id": format!("r-{}", event["id"].as_str().unwrap_or_default())});
        log.lock().unwrap_or_else(|e| e.into_inner()).push(event);
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
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
