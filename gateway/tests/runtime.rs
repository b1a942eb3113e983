//! The connector runtime against real plugins: the `echo` connector and the `hostile` and
//! `future-major` and `fs-snoop` test plugins, built for `wasm32-wasip2` once per run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use scim_gateway::model::Operation;
use scim_gateway::runtime::{
    AllowedHost, CallError, Cidr, ConnectorInstance, InstanceConfig, Limits, PluginEvent,
    RemoteIdLookup, Runtime, RuntimeConfig, RuntimeError, World,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Builds the plugins once (with the shared guest builder, into the same `target/plugins` as
/// the bundled ones: the wasm dependencies build once); answers the directory holding the
/// `.wasm` files.
fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        scim_gateway_guest_build::build(&["echo", "hostile", "future-major", "fs-snoop"], &[])
    })
}

fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

fn runtime() -> Runtime {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir()),
        max_instances: 32,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts")
}

fn no_ids() -> RemoteIdLookup {
    Arc::new(|_: &str, _: &str| None)
}

fn user_event(id: &str) -> PluginEvent {
    PluginEvent {
        operation: Operation::Create,
        resource_type: "User".to_owned(),
        id: id.to_owned(),
        remote_id: None,
        resource: r#"{"userName":"bjensen"}"#.to_owned(),
        changed_paths: Vec::new(),
    }
}

fn settings(name: &str, config: &[(&str, &str)]) -> InstanceConfig {
    InstanceConfig {
        name: name.to_owned(),
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..InstanceConfig::default()
    }
}

async fn hostile(rt: &Runtime, mode: &str, limits: Limits) -> ConnectorInstance {
    let plugin = rt.load(&wasm("hostile")).await.expect("hostile loads");
    let mut s = settings(&format!("hostile-{mode}"), &[("mode", mode)]);
    s.limits = limits;
    rt.instance(plugin, s).expect("instance")
}

#[tokio::test]
async fn echo_loads_describes_and_delivers() {
    let rt = runtime();
    let plugin = rt.load(&wasm("echo")).await.expect("echo loads");
    assert_eq!(plugin.world(), World::Connector);
    assert_eq!(plugin.contract_version(), "0.1.0");
    assert_eq!(plugin.sha256().len(), 64);
    let d = plugin.descriptor();
    assert_eq!((d.name.as_str(), d.version.as_str()), ("echo", "0.1.0"));
    assert_eq!(d.resource_types, ["User", "Group"]);
    assert_eq!(d.secret_names, ["api-token"]);
    assert!(d.config_keys.iter().any(|k| k.name == "url" && !k.required));

    let echo = rt
        .instance(plugin, settings("echo", &[]))
        .expect("instance");
    let delivered = echo
        .provision(&user_event("u1"), no_ids())
        .await
        .expect("delivers");
    assert_eq!(delivered.remote_id, "echo-u1");
    assert_eq!(echo.validate_config().await.expect("runs"), Ok(()));
}

#[tokio::test]
async fn the_compiled_plugin_is_cached_by_hash() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let config = RuntimeConfig {
        cache_dir: Some(dir.clone()),
        max_instances: 8,
        ..RuntimeConfig::default()
    };
    let rt = Runtime::new(config.clone()).expect("runtime");
    let plugin = rt.load(&wasm("echo")).await.expect("loads");
    let cached = files();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with(plugin.sha256()) && cached[0].ends_with(".cwasm"));

    // Another runtime with the same settings loads the artefact; other settings compile anew.
    let again = Runtime::new(config.clone()).expect("runtime");
    let started = Instant::now();
    again
        .load(&wasm("echo"))
        .await
        .expect("loads from the cache");
    let from_cache = started.elapsed();
    assert_eq!(files(), cached);
    let other = Runtime::new(RuntimeConfig {
        pooling: false,
        ..config
    })
    .expect("runtime");
    other.load(&wasm("echo")).await.expect("loads");
    assert_eq!(files().len(), 2);
    println!("load from the cache: {from_cache:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn validate_config_reports_the_plugins_refusal() {
    let rt = runtime();
    let plugin = rt.load(&wasm("echo")).await.expect("loads");
    let echo = rt
        .instance(plugin, settings("echo", &[("url", "ftp://nope")]))
        .expect("instance");
    let answer = echo.validate_config().await.expect("runs");
    assert!(answer.expect_err("refused").contains("http(s) URL"));

    let plugin = rt.load(&wasm("hostile")).await.expect("loads");
    let hostile = rt.instance(plugin, settings("h", &[])).expect("instance");
    let answer = hostile.validate_config().await.expect("runs");
    assert_eq!(
        answer,
        Err("missing required configuration: mode".to_owned())
    );
}

#[tokio::test]
async fn an_endless_loop_times_out_and_the_next_call_works() {
    let rt = runtime();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let looping = hostile(&rt, "loop", limits.clone()).await;
    let started = Instant::now();
    let err = looping
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("times out");
    assert_eq!(
        err,
        CallError::Timeout {
            deadline: Duration::from_millis(300)
        }
    );
    assert!(err.retryable());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let ok = hostile(&rt, "ok", limits).await;
    let delivered = ok
        .provision(&user_event("u2"), no_ids())
        .await
        .expect("works");
    assert_eq!(delivered.remote_id, "ok-u2");
}

#[tokio::test]
async fn a_loop_does_not_starve_other_tasks() {
    // One worker thread: the looping plugin must yield for the other task's timer to run.
    let rt = runtime();
    let looping = hostile(
        &rt,
        "loop",
        Limits {
            timeout: Duration::from_millis(500),
            ..Limits::default()
        },
    )
    .await;
    let ticks = Arc::new(Mutex::new(0u32));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            *counter.lock().expect("lock") += 1;
        }
    });
    let err = looping
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("times out");
    assert_eq!(err.kind().as_str(), "timeout");
    ticker.await.expect("ticker ends");
    assert_eq!(*ticks.lock().expect("lock"), 10);
}

#[tokio::test]
async fn allocating_a_gibibyte_hits_the_memory_limit() {
    let rt = runtime();
    let alloc = hostile(&rt, "alloc", Limits::default()).await;
    let err = alloc
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("fails");
    assert_eq!(
        err,
        CallError::MemoryLimit {
            limit_bytes: 64 << 20
        }
    );
    assert!(err.to_string().contains("64 MiB"), "{err}");
    assert!(!err.retryable());

    let ok = hostile(&rt, "ok", Limits::default()).await;
    ok.provision(&user_event("u2"), no_ids())
        .await
        .expect("works after");
}

#[tokio::test]
async fn a_panic_is_a_trap_with_its_message() {
    let rt = runtime();
    let panicking = hostile(&rt, "panic", Limits::default()).await;
    let err = panicking
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("traps");
    let CallError::Trap(message) = &err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(
        message.contains("hostile plugin panics on purpose"),
        "{message}"
    );
    assert!(!err.retryable());
    let again = panicking
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("traps");
    assert_eq!(again.kind().as_str(), "trap");
}

#[tokio::test]
async fn unreachable_is_a_trap() {
    let rt = runtime();
    let plugin = hostile(&rt, "unreachable", Limits::default()).await;
    let err = plugin
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("traps");
    let CallError::Trap(message) = &err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(message.contains("unreachable"), "{message}");
}

#[tokio::test]
async fn an_enormous_remote_id_is_refused() {
    let rt = runtime();
    let plugin = hostile(&rt, "huge-id", Limits::default()).await;
    let err = plugin
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("refused");
    let CallError::BadOutput(message) = &err else {
        panic!("expected a refused answer, got {err:?}");
    };
    assert!(message.contains("33554432 bytes"), "{message}");

    // 100 MiB does not even fit in the plugin's memory.
    let plugin = hostile(&rt, "huge-id-100m", Limits::default()).await;
    let err = plugin
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("refused");
    assert_eq!(err.kind().as_str(), "memory");
}

#[tokio::test]
async fn a_log_flood_is_capped_and_the_call_succeeds() {
    let rt = runtime();
    let plugin = hostile(&rt, "log-flood", Limits::default()).await;
    let started = Instant::now();
    let delivered = plugin
        .provision(&user_event("u1"), no_ids())
        .await
        .expect("works");
    assert_eq!(delivered.remote_id, "flooded");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_sandbox_grants_no_environment_files_or_secrets() {
    let rt = runtime();
    let plugin = rt.load(&wasm("hostile")).await.expect("loads");
    let mut s = settings("snoop", &[("mode", "snoop")]);
    s.secrets
        .insert("api-token".to_owned(), "s3cret-value".to_owned());
    let snoop = rt.instance(plugin, s).expect("instance");
    let err = snoop
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("reports");
    let CallError::Permanent(dump) = err else {
        panic!("expected the dump");
    };
    assert!(!dump.contains("s3cret-value"), "{dump}");
    assert!(dump.contains("env=[]"), "{dump}");
    assert!(dump.contains("args=[]"), "{dump}");
}

#[tokio::test]
async fn a_plugin_wanting_the_filesystem_is_refused_at_load() {
    let rt = runtime();
    let err = rt.load(&wasm("fs_snoop")).await.expect_err("refused");
    let RuntimeError::Link(message) = &err else {
        panic!("expected a link refusal, got {err:?}");
    };
    assert!(message.contains("wasi:filesystem"), "{message}");
}

#[tokio::test]
async fn a_readable_connector_is_detected_and_reads() {
    let rt = runtime();
    let plugin = rt.load(&wasm("hostile")).await.expect("loads");
    assert_eq!(plugin.world(), World::ReadableConnector);
    let reader = rt
        .instance(plugin, settings("reader", &[("mode", "ok")]))
        .expect("instance");
    let found = reader.get("User", "r-1").await.expect("reads");
    assert_eq!(
        found.map(|v| v.to_string()).as_deref(),
        Some(r#"{"id":"r-1","meta":{"resourceType":"User"}}"#)
    );
    assert_eq!(reader.get("User", "missing").await.expect("reads"), None);
    let page = reader.list("Group", None, 1, 3).await.expect("lists");
    assert_eq!(page.total, 100);
    assert_eq!(page.resources.len(), 3);

    let echo = rt.load(&wasm("echo")).await.expect("loads");
    let echo = rt.instance(echo, settings("echo", &[])).expect("instance");
    let err = echo.get("User", "r-1").await.expect_err("cannot read");
    assert_eq!(err.kind().as_str(), "incompatible");
    assert!(err.to_string().contains("readable-connector"), "{err}");
}

#[tokio::test]
async fn another_major_contract_version_is_refused_by_name() {
    let rt = runtime();
    let err = rt.load(&wasm("future_major")).await.expect_err("refused");
    let RuntimeError::Incompatible(message) = &err else {
        panic!("expected incompatible, got {err:?}");
    };
    assert!(
        message.contains("scim-gateway:connector@1.0.0")
            && message.contains("scim-gateway:connector@0.1.0"),
        "{message}"
    );
}

#[tokio::test]
async fn garbage_is_not_a_plugin() {
    let rt = runtime();
    let err = rt.load(b"not wasm at all").await.expect_err("refused");
    assert!(matches!(err, RuntimeError::InvalidComponent(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// HTTP, against a tiny server on 127.0.0.1.

/// One request the test server received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A tiny HTTP/1.1 server: `/hook` answers `201 {"id":"srv-1"}`, `/big` 8 KiB, anything else 404.
/// It stops when dropped.
struct TestServer {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve() -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().expect("address").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let mut lines = head.lines();
                let request_line = lines.next().unwrap_or_default().to_owned();
                let mut parts = request_line.split(' ');
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = buf[head_end..].to_vec();
                while body.len() < length {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                let (status, answer) = match path.as_str() {
                    "/hook" => ("201 Created", br#"{"id":"srv-1"}"#.to_vec()),
                    "/big" => ("200 OK", vec![b'z'; 8192]),
                    _ => ("404 Not Found", b"{}".to_vec()),
                };
                log.lock().expect("lock").push(Received {
                    method,
                    path,
                    headers,
                    body,
                });
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\netag: \"v7\"\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    TestServer {
        port,
        received,
        task,
    }
}

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(data)
        .finalize();
    let outer = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

fn loopback() -> Vec<Cidr> {
    vec!["127.0.0.0/8".parse().expect("range")]
}

#[tokio::test]
async fn http_to_an_allowed_host_carries_secrets_the_plugin_never_sees() {
    let server = serve().await;
    let rt = runtime();
    let plugin = rt.load(&wasm("echo")).await.expect("loads");
    let url = format!("http://127.0.0.1:{}/hook", server.port);
    let mut s = settings(
        "echo-http",
        &[("url", &url), ("auth", "bearer"), ("sign", "true")],
    );
    s.secrets
        .insert("api-token".to_owned(), "s3cret".to_owned());
    s.allowed_hosts = vec![url.parse::<AllowedHost>().expect("origin")];
    s.allowed_ranges = loopback();
    let echo = rt.instance(plugin, s).expect("instance");

    let members: RemoteIdLookup =
        Arc::new(|rt: &str, id: &str| (rt == "User" && id == "u1").then(|| "remote-u1".to_owned()));
    let group = PluginEvent {
        operation: Operation::Replace,
        resource_type: "Group".to_owned(),
        id: "g1".to_owned(),
        remote_id: Some("old-g1".to_owned()),
        resource: r#"{"displayName":"Admins","members":[{"value":"u1"},{"value":"u9"}]}"#
            .to_owned(),
        changed_paths: vec!["members".to_owned()],
    };
    let delivered = echo.provision(&group, members).await.expect("delivers");
    assert_eq!(delivered.remote_id, "srv-1");
    assert_eq!(delivered.remote_version.as_deref(), Some("\"v7\""));

    let received = server.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    assert_eq!(
        r.headers.get("authorization").map(String::as_str),
        Some("Bearer s3cret")
    );
    let expected = format!("sha256={}", hmac_hex(b"s3cret", &r.body));
    assert_eq!(r.headers.get("x-signature"), Some(&expected));
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(body["members"], serde_json::json!(["remote-u1", null]));
    assert_eq!(body["remoteId"], "old-g1");
    assert!(!String::from_utf8_lossy(&r.body).contains("s3cret"));
}

#[tokio::test]
async fn a_host_not_allowed_is_denied() {
    let server = serve().await;
    let rt = runtime();
    let plugin = rt.load(&wasm("hostile")).await.expect("loads");
    let url = format!("http://127.0.0.1:{}/hook", server.port);
    let mut s = settings("egress", &[("mode", "fetch"), ("url", &url)]);
    s.allowed_hosts = vec!["https://api.example.com".parse().expect("origin")];
    s.allowed_ranges = loopback();
    let instance = rt.instance(plugin, s).expect("instance");
    let err = instance
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("denied");
    let CallError::Permanent(message) = &err else {
        panic!("expected a permanent failure, got {err:?}");
    };
    assert!(message.contains("denied by the sandbox"), "{message}");
    assert!(
        message.contains("not on connector `egress`'s allowed hosts"),
        "{message}"
    );
    assert!(server.received.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn loopback_is_refused_unless_its_range_is_allowed() {
    let server = serve().await;
    let rt = runtime();
    let plugin = rt.load(&wasm("hostile")).await.expect("loads");
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("http://{host}:{}/hook", server.port);
        let mut s = settings("no-loopback", &[("mode", "fetch"), ("url", &url)]);
        s.allowed_hosts = vec![url.parse().expect("origin")];
        let refused = rt.instance(plugin.clone(), s.clone()).expect("instance");
        let err = refused
            .provision(&user_event("u1"), no_ids())
            .await
            .expect_err("denied");
        let CallError::Permanent(message) = &err else {
            panic!("expected a permanent failure, got {err:?}");
        };
        assert!(
            message.contains("denied by the sandbox"),
            "{host}: {message}"
        );
        assert!(message.contains("may not reach"), "{host}: {message}");

        s.allowed_ranges = vec![
            "127.0.0.0/8".parse().expect("range"),
            "::1".parse().expect("range"),
        ];
        let allowed = rt.instance(plugin.clone(), s).expect("instance");
        let delivered = allowed
            .provision(&user_event("u1"), no_ids())
            .await
            .expect("fetches");
        assert_eq!(delivered.remote_id, "status-201-len-14");
    }
    assert_eq!(server.received.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn an_oversized_response_and_a_host_header_are_refused() {
    let server = serve().await;
    let rt = runtime();
    let plugin = rt.load(&wasm("hostile")).await.expect("loads");
    let base = format!("http://127.0.0.1:{}", server.port);

    let url = format!("{base}/big");
    let mut s = settings("big", &[("mode", "fetch"), ("url", &url)]);
    s.allowed_hosts = vec![base.parse().expect("origin")];
    s.allowed_ranges = loopback();
    s.limits.max_response_bytes = 1024;
    let big = rt.instance(plugin.clone(), s.clone()).expect("instance");
    let err = big
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");

    s.config = vec![
        ("mode".to_owned(), "host-header".to_owned()),
        ("url".to_owned(), url),
    ];
    let spoof = rt.instance(plugin, s).expect("instance");
    let err = spoof
        .provision(&user_event("u1"), no_ids())
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("header `host` is set by the host"),
        "{err}"
    );
}

#[test]
fn instances_and_their_calls_can_move_between_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let rt = runtime();
        send_sync(&rt);
        let plugin = rt.load(&wasm("echo")).await.expect("loads");
        let echo = rt
            .instance(plugin, settings("echo", &[]))
            .expect("instance");
        send_sync(&echo);
        let event = user_event("u1");
        let call = echo.provision(&event, no_ids());
        send(&call);
        call.await.expect("delivers");
    });
}

#[tokio::test]
async fn more_calls_than_instance_slots_is_a_transient_failure() {
    let rt = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir()),
        max_instances: 2,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let limits = Limits {
        timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let looping = hostile(&rt, "loop", limits).await;
    let (e1, e2, e3) = (user_event("u1"), user_event("u2"), user_event("u3"));
    let (a, b, c) = tokio::join!(
        looping.provision(&e1, no_ids()),
        looping.provision(&e2, no_ids()),
        looping.provision(&e3, no_ids()),
    );
    let mut kinds: Vec<&str> = [&a, &b, &c]
        .iter()
        .map(|r| r.as_ref().expect_err("fails").kind().as_str())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["timeout", "timeout", "transient"],
        "{a:?} {b:?} {c:?}"
    );
    let busy = [a, b, c].into_iter().find_map(|r| match r {
        Err(CallError::Transient(m)) => Some(m),
        _ => None,
    });
    assert!(busy.is_some_and(|m| m.contains("slot is busy")));
}

#[test]
fn settings_debug_output_hides_secret_values() {
    let mut s = settings("x", &[]);
    s.secrets
        .insert("api-token".to_owned(), "s3cret-value".to_owned());
    let shown = format!("{s:?}");
    assert!(
        shown.contains("api-token") && !shown.contains("s3cret-value"),
        "{shown}"
    );
}
