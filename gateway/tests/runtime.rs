//! The connector runtime against real plugins: the `echo` connector and the `hostile`,
//! `future-major`, `fs-snoop`, `net-snoop` and `contract-0-1-0` test plugins, built for
//! `wasm32-wasip2` once per run.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use scim_gateway::model::Operation;
use scim_gateway::runtime::{
    AllowedHost, CallError, Cidr, ConnectorInstance, InstanceConfig, Limits, PluginEvent,
    RemoteIdLookup, Runtime, RuntimeConfig, RuntimeError, Secret, SecretUses, World,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Builds the plugins once (with the shared guest builder, into the same `target/plugins` as
/// the bundled ones: the wasm dependencies build once); answers the directory holding the
/// `.wasm` files.
fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        scim_gateway_guest_build::build(
            &[
                "echo",
                "hostile",
                "future-major",
                "fs-snoop",
                "net-snoop",
                "contract-0-1-0",
            ],
            &[],
        )
    })
}

fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// How long one test may take once the plugins are built: a bound, not a timing claim (the
/// machine may be busy).
const BOUND: Duration = Duration::from_secs(120);

/// Runs a test's body on a current-thread runtime of its own thread, and fails the test if the
/// body has not finished within [`BOUND`]. The bound is kept by the test's thread, not by a timer
/// of the body's runtime: a guest that stopped yielding would hold that runtime's only thread,
/// timers included.
fn within<F: Future<Output = ()> + 'static>(body: impl FnOnce() -> F + Send + 'static) {
    wasm_dir(); // Building the plugins is not part of the bound.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| tokio.block_on(body())));
        let _ = done.send(outcome);
    });
    match finished.recv_timeout(BOUND) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish in {BOUND:?}: something holds its thread")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test's thread ended without an outcome")
        }
    }
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
        members: None,
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

#[test]
fn echo_loads_describes_and_delivers() {
    within(|| async {
        let rt = runtime();
        let plugin = rt.load(&wasm("echo")).await.expect("echo loads");
        assert_eq!(plugin.world(), World::Connector);
        assert_eq!(plugin.contract_version(), "0.1.2");
        assert!(!plugin.takes_member_deltas(), "the SDK's default");
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
    });
}

/// What tells one write of a file from another: its inode (a rewrite is a new file renamed over
/// the old one) and its modification time.
fn write_of(path: &Path) -> (u64, std::time::SystemTime) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    (inode, meta.modified().expect("modification time"))
}

#[test]
fn the_compiled_plugin_is_cached_by_hash_and_loaded_from_the_cache_unchanged() {
    within(|| async {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cache-test-{}", std::process::id()));
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
        let artefact = dir.join(&cached[0]);
        let first = write_of(&artefact);

        // Another runtime with the same settings loads the artefact as it is (a compilation
        // would write it again); other settings compile anew, into a file of their own.
        let again = Runtime::new(config.clone()).expect("runtime");
        again
            .load(&wasm("echo"))
            .await
            .expect("loads from the cache");
        assert_eq!(files(), cached);
        assert_eq!(
            write_of(&artefact),
            first,
            "the cached artefact was written again: the load compiled instead of reading it"
        );
        let other = Runtime::new(RuntimeConfig {
            pooling: false,
            ..config
        })
        .expect("runtime");
        other.load(&wasm("echo")).await.expect("loads");
        assert_eq!(files().len(), 2, "{:?}", files());
        assert_eq!(write_of(&artefact), first);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A cached artefact runs as native code, so one the gateway did not write is never loaded:
/// another plugin's artefact moved to this one's name, or a flipped byte, is compiled again
/// and rewritten. The cache and its key are the owner's only.
#[test]
fn a_tampered_cached_plugin_is_compiled_again_not_loaded() {
    within(|| async {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cache-tamper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = RuntimeConfig {
            cache_dir: Some(dir.clone()),
            max_instances: 8,
            ..RuntimeConfig::default()
        };
        let rt = Runtime::new(config.clone()).expect("runtime");
        let echo = rt.load(&wasm("echo")).await.expect("loads");
        let hostile = rt.load(&wasm("hostile")).await.expect("loads");
        let file_of = |sha: &str| {
            std::fs::read_dir(&dir)
                .expect("the cache")
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(sha))
                })
                .expect("a cached artefact")
        };
        let (echo_file, hostile_file) = (file_of(echo.sha256()), file_of(hostile.sha256()));

        // Another plugin's valid artefact under echo's name.
        std::fs::copy(&hostile_file, &echo_file).expect("swap");
        let again = Runtime::new(config.clone()).expect("runtime");
        let loaded = again.load(&wasm("echo")).await.expect("loads");
        assert_eq!(
            loaded.descriptor().name,
            "echo",
            "the swapped-in artefact was run"
        );
        assert_ne!(
            std::fs::read(&echo_file).unwrap(),
            std::fs::read(&hostile_file).unwrap(),
            "compiled again and rewritten"
        );

        // A flipped byte.
        let mut bytes = std::fs::read(&echo_file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&echo_file, &bytes).unwrap();
        let third = Runtime::new(config.clone()).expect("runtime");
        let loaded = third.load(&wasm("echo")).await.expect("loads");
        assert_eq!(loaded.descriptor().name, "echo");
        assert_ne!(std::fs::read(&echo_file).unwrap(), bytes, "rewritten");

        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&echo_file), 0o600);
        let key = dir.with_file_name(format!("cache-tamper-{}.key", std::process::id()));
        assert_eq!(mode(&key), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&key);
    });
}

#[test]
fn validate_config_reports_the_plugins_refusal() {
    within(|| async {
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
    });
}

#[test]
fn an_endless_loop_times_out_and_the_next_call_works() {
    within(|| async {
        let rt = runtime();
        let limits = Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let looping = hostile(&rt, "loop", limits.clone()).await;
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

        let ok = hostile(&rt, "ok", limits).await;
        let delivered = ok
            .provision(&user_event("u2"), no_ids())
            .await
            .expect("works");
        assert_eq!(delivered.remote_id, "ok-u2");
    });
}

#[test]
fn a_loop_does_not_starve_other_tasks() {
    within(|| async {
        // One thread: while the plugin loops, another task's timers fire only if it yields.
        let rt = runtime();
        let deadline = Duration::from_secs(60);
        let looping = hostile(
            &rt,
            "loop",
            Limits {
                timeout: deadline,
                ..Limits::default()
            },
        )
        .await;
        let ticks = Arc::new(AtomicU32::new(0));
        let counter = ticks.clone();
        let mut ticker = tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let event = user_event("u1");
        let call = looping.provision(&event, no_ids());
        tokio::pin!(call);
        // The ticker must finish while the call is still looping; the call returning first
        // (a plugin stopped instead of yielding) fails with the ticks counted at that moment.
        tokio::select! {
            biased;
            ended = &mut ticker => ended.expect("the ticker ends"),
            returned = &mut call => {
                let ticked = ticks.load(Ordering::SeqCst);
                panic!(
                    "the looping call returned ({returned:?}) before the other task's 10 ticks \
                     of 20 ms: {ticked} when it returned"
                );
            }
        }
        assert_eq!(ticks.load(Ordering::SeqCst), 10);
        // Dropping the call abandons the looping instance, as its deadline would.
    });
}

#[test]
fn allocating_a_gibibyte_hits_the_memory_limit() {
    within(|| async {
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
    });
}

#[test]
fn a_panic_is_a_trap_with_its_message() {
    within(|| async {
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
    });
}

#[test]
fn unreachable_is_a_trap() {
    within(|| async {
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
    });
}

#[test]
fn an_enormous_remote_id_is_refused() {
    within(|| async {
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
    });
}

/// Everything a `tracing` subscriber wrote, for a test that reads the gateway's log.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Captures this thread's log at `info` as plain text while the guard lives.
    fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let log = CapturedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_env_filter("info")
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    /// The lines written so far.
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().expect("lock"))
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn a_log_flood_is_capped_in_lines_and_bytes_with_a_note_and_the_call_succeeds() {
    within(|| async {
        // The gateway's log of this thread, as text.
        let (log, _log) = CapturedLog::install();

        // The plugin logs 20,000 lines of 64 KiB, then writes 1,000 of them to stderr.
        let rt = runtime();
        let limits = Limits {
            max_log_line_bytes: 100,
            ..Limits::default()
        };
        let (max_lines, max_line) = (limits.max_log_lines, limits.max_log_line_bytes);
        let plugin = hostile(&rt, "log-flood", limits).await;
        let done = plugin.provision_logged(&user_event("u1"), no_ids()).await;
        let kept = done.logs;
        assert_eq!(done.result.expect("works").remote_id, "flooded");

        // The gateway's log: the first `max_log_lines` lines, each cut to `max_log_line_bytes`,
        // one line of the 64 KiB of stderr kept, and a note of what was dropped.
        let lines = log.lines();
        let dump = || {
            let head: Vec<&str> = lines
                .iter()
                .take(12)
                .map(|l| &l[..l.len().min(200)])
                .collect();
            format!("{} lines, the first:\n{}", lines.len(), head.join("\n"))
        };
        let flood: Vec<&String> = lines.iter().filter(|l| l.contains(" flood ")).collect();
        assert_eq!(
            flood.len(),
            max_lines,
            "plugin lines in the log:\n{}",
            dump()
        );
        // What the log's format adds to a message: time, level, target, fields.
        let overhead = 300;
        let longest = lines.iter().map(String::len).max().unwrap_or(0);
        assert!(
            longest <= max_line + overhead,
            "a log line of {longest} bytes: the line cap is {max_line} bytes"
        );
        for (i, line) in flood.iter().enumerate() {
            assert!(
                line.contains(&format!(" flood {i} yyy")) && line.contains("y… (truncated)"),
                "line {i} is not the plugin's line {i}, cut to {max_line} bytes and marked: {}",
                &line[..line.len().min(300)]
            );
        }
        let stdio = lines.iter().filter(|l| l.contains("stdio")).count();
        assert_eq!(stdio, 1, "stderr lines in the log:\n{}", dump());
        let note = format!(
            "plugin logged more than {max_lines} lines: {} dropped",
            20_000 - max_lines
        );
        assert!(
            lines.iter().any(|l| l.contains(&note)),
            "no `{note}` in\n{}",
            dump()
        );
        let stderr_bytes = 1000 * ((64 << 10) + 1);
        let note = format!(
            "plugin output over the cap: {} bytes dropped",
            stderr_bytes - (64 << 10)
        );
        assert!(
            lines.iter().any(|l| l.contains(&note)),
            "no `{note}` in\n{}",
            dump()
        );

        // The call's own log, kept with the attempt: whole lines up to 50 lines or 4,096 bytes
        // (`CALL_LOG_LINES`, `CALL_LOG_BYTES`), then a note counting the rest.
        let (note, kept) = kept.split_last().expect("a call log");
        assert!(
            note.ends_with(" more lines not kept)"),
            "the call log ends without a note of the lines not kept: {note}"
        );
        let each = kept.first().map_or(0, String::len);
        assert_eq!(
            kept.len(),
            (4096 / each.max(1)).min(50),
            "as many {each}-byte lines as fit: {kept:?}"
        );
        for (i, line) in kept.iter().enumerate() {
            assert!(
                line.starts_with(&format!("info: flood {i} yyy"))
                    && line.ends_with("y… (truncated)"),
                "kept line {i}: {line}"
            );
        }
        assert!(kept.iter().map(String::len).sum::<usize>() <= 4096);
        // The lines the sandbox passed on (`max_log_lines`, and the one of stderr), less those kept.
        let not_kept = max_lines + 1 - kept.len();
        assert_eq!(note, &format!("({not_kept} more lines not kept)"));
    });
}

/// A plugin's line cannot forge one of the gateway's: its newlines, carriage returns, escape
/// sequences and bidirectional overrides are escaped, in the gateway's log and in the call's.
#[test]
fn a_plugin_cannot_forge_a_gateway_log_line() {
    within(|| async {
        let (log, _log) = CapturedLog::install();
        let rt = runtime();
        let plugin = hostile(&rt, "log-forge", Limits::default()).await;
        let done = plugin.provision_logged(&user_event("u1"), no_ids()).await;
        assert_eq!(done.result.expect("works").remote_id, "forged");
        let lines = log.lines();
        let text = lines.join("\n");
        assert!(
            !lines.iter().any(|l| l.starts_with("2026-12-06T00:00:00")),
            "a forged line of its own:\n{text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(
            text.contains("delivered\\n2026-12-06T00:00:00.000000Z"),
            "escaped:\n{text}"
        );
        assert!(
            text.contains("fine\\r\\u{1b}[2K\\u{202e}INFO forged by stderr"),
            "{text}"
        );
        assert_eq!(
            done.logs,
            [
                "warn: delivered\\n2026-12-06T00:00:00.000000Z  INFO scim_gateway::admin: forged line",
                "stdio: fine\\r\\u{1b}[2K\\u{202e}INFO forged by stderr",
            ]
        );
    });
}

/// What one instance writes to the gateway's log is capped per minute across its calls; each
/// call still keeps its own lines for its job record.
#[test]
fn an_instances_log_lines_are_capped_per_minute_across_calls() {
    within(|| async {
        let (log, _log) = CapturedLog::install();
        let rt = runtime();
        let limits = Limits {
            max_log_line_bytes: 100,
            max_log_lines_per_minute: 150,
            ..Limits::default()
        };
        let per_call = limits.max_log_lines;
        let plugin = hostile(&rt, "log-flood", limits).await;
        for _ in 0..3 {
            let done = plugin.provision_logged(&user_event("u1"), no_ids()).await;
            assert!(
                done.logs.iter().any(|l| l.starts_with("info: flood 0 ")),
                "each call keeps its lines"
            );
        }
        // Each call logs `per_call` lines and one of stderr: 303 in all, 150 reach the log.
        let lines = log.lines();
        let plugin = lines
            .iter()
            .filter(|l| l.contains(" flood ") || l.contains("stdio"));
        assert_eq!(
            plugin.count(),
            150,
            "3 calls of {per_call} + 1 lines, 150 a minute"
        );
    });
}

#[test]
fn the_sandbox_grants_no_environment_files_or_secrets() {
    within(|| async {
        let rt = runtime();
        let plugin = rt.load(&wasm("hostile")).await.expect("loads");
        let mut s = settings("snoop", &[("mode", "snoop")]);
        s.secrets
            .insert("api-token".to_owned(), Secret::new("s3cret-value"));
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
    });
}

#[test]
fn a_plugin_wanting_the_filesystem_is_refused_at_load() {
    within(|| async {
        let rt = runtime();
        let err = rt.load(&wasm("fs_snoop")).await.expect_err("refused");
        let RuntimeError::Link(message) = &err else {
            panic!("expected a link refusal, got {err:?}");
        };
        assert!(message.contains("wasi:filesystem"), "{message}");
    });
}

#[test]
fn a_readable_connector_is_detected_and_reads() {
    within(|| async {
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
    });
}

#[test]
fn another_major_contract_version_is_refused_by_name() {
    within(|| async {
        let rt = runtime();
        let err = rt.load(&wasm("future_major")).await.expect_err("refused");
        let RuntimeError::Incompatible(message) = &err else {
            panic!("expected incompatible, got {err:?}");
        };
        assert!(
            message.contains("scim-gateway:connector@1.0.0")
                && message.contains("scim-gateway:connector@0.1.2"),
            "{message}"
        );
    });
}

#[test]
fn garbage_is_not_a_plugin() {
    within(|| async {
        let rt = runtime();
        let err = rt.load(b"not wasm at all").await.expect_err("refused");
        assert!(matches!(err, RuntimeError::InvalidComponent(_)), "{err:?}");
    });
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

/// A tiny HTTP/1.1 server: `/hook` answers `201 {"id":"srv-1"}`, `/big` 8 KiB,
/// `/redirect?to=URL` a `302` to `URL`, anything else 404. It stops when dropped.
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
                let location = path
                    .strip_prefix("/redirect?to=")
                    .map(|to| format!("location: {to}\r\n"))
                    .unwrap_or_default();
                let echoed = headers.get("authorization").cloned().unwrap_or_default();
                let (status, answer) = match path.as_str() {
                    "/hook" => ("201 Created", br#"{"id":"srv-1"}"#.to_vec()),
                    "/echo" => ("200 OK", format!("you sent: {echoed}").into_bytes()),
                    "/big" => ("200 OK", vec![b'z'; 8192]),
                    _ if !location.is_empty() => ("302 Found", b"{}".to_vec()),
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
                     x-echo: {echoed}\r\n{location}content-length: {}\r\nconnection: close\r\n\r\n",
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

/// One call of the hostile plugin in `mode`, allowed to reach `server`'s `/echo`, given
/// `secret`.
async fn hostile_echo_call(
    server: &TestServer,
    mode: &str,
    secret: (&str, &str),
) -> Result<scim_gateway::model::RemoteRef, CallError> {
    let rt = runtime();
    let url = format!("http://127.0.0.1:{}/echo", server.port);
    let plugin = rt.load(&wasm("hostile")).await.expect("hostile loads");
    let mut s = settings(&format!("hostile-{mode}"), &[("mode", mode), ("url", &url)]);
    s.secrets.insert(secret.0.to_owned(), Secret::new(secret.1));
    s.allowed_hosts = vec![url.parse::<AllowedHost>().expect("origin")];
    s.allowed_ranges = loopback();
    let instance = rt.instance(plugin, s).expect("instance");
    instance.provision(&user_event("u1"), no_ids()).await
}

/// A secret is used only as the plugin declared it (`secrets.secret-uses`): the hostile plugin
/// declares `api-token` for headers (the SDK's default), so it cannot key an HMAC with it.
/// The bundled `webhook` declares its `signing-key` for HMAC only and its `token` for headers.
#[test]
fn a_secret_is_used_only_as_declared() {
    within(|| async {
        let server = serve().await;
        let seen = hostile_echo_call(&server, "secret-oracle", ("api-token", "tok-8e21b4"))
            .await
            .expect("answers")
            .remote_id;
        assert!(seen.contains("not as an HMAC key"), "{seen}");
        let bundled = scim_gateway::runtime::bundled::wasm("webhook").expect("bundled");
        let webhook = runtime().load(bundled).await.expect("loads");
        let uses = |name| webhook.secret_uses(name);
        assert_eq!(
            (uses("signing-key").header, uses("signing-key").hmac),
            (false, true)
        );
        assert_eq!((uses("token").header, uses("token").hmac), (true, false));
        assert_eq!(uses("not-declared"), SecretUses::default());
    });
}

/// A target that echoes the secret header back (in its body and in a header) hands the plugin
/// `[redacted]` in its place, and a `TRACE` (which would echo the whole request) is refused.
#[test]
fn an_echoed_secret_is_redacted_and_trace_is_refused() {
    within(|| async {
        let server = serve().await;
        let seen = hostile_echo_call(&server, "secret-echo", ("api-token", "tok-3f9a1c77"))
            .await
            .expect("delivers")
            .remote_id;
        assert!(
            !seen.contains("tok-3f9a1c77"),
            "the plugin saw the secret: {seen}"
        );
        assert!(
            seen.starts_with("you sent: Bearer [redacted] | Bearer [redacted] | refused:"),
            "{seen}"
        );
        assert!(
            seen.contains("TRACE"),
            "the refusal names the method: {seen}"
        );
        let received = server.received.lock().expect("lock").clone();
        assert_eq!(received.len(), 1, "the TRACE was never sent");
        assert_eq!(
            received[0].headers.get("authorization").map(String::as_str),
            Some("Bearer tok-3f9a1c77"),
            "the target still gets the secret"
        );
    });
}

/// A plugin can use only the secrets it declares: one the admin gave under another name is
/// an unknown secret to it, through a header and as an HMAC key, and nothing is sent.
#[test]
fn a_plugin_cannot_use_a_secret_it_did_not_declare() {
    within(|| async {
        let server = serve().await;
        let seen = hostile_echo_call(
            &server,
            "secret-probe",
            ("db-password", "pw-for-another-91c2"),
        )
        .await
        .expect("answers")
        .remote_id;
        assert_eq!(
            seen.matches("unknown secret `db-password`").count(),
            2,
            "refused as a header and as an HMAC key: {seen}"
        );
        assert!(
            server.received.lock().expect("lock").is_empty(),
            "nothing was sent"
        );
    });
}

#[test]
fn http_to_an_allowed_host_carries_secrets_the_plugin_never_sees() {
    within(|| async {
        let server = serve().await;
        let rt = runtime();
        let plugin = rt.load(&wasm("echo")).await.expect("loads");
        let url = format!("http://127.0.0.1:{}/hook", server.port);
        let mut s = settings(
            "echo-http",
            &[("url", &url), ("auth", "bearer"), ("sign", "true")],
        );
        s.secrets
            .insert("api-token".to_owned(), Secret::new("s3cret"));
        s.allowed_hosts = vec![url.parse::<AllowedHost>().expect("origin")];
        s.allowed_ranges = loopback();
        let echo = rt.instance(plugin, s).expect("instance");

        let members: RemoteIdLookup = Arc::new(|rt: &str, id: &str| {
            (rt == "User" && id == "u1").then(|| "remote-u1".to_owned())
        });
        let group = PluginEvent {
            operation: Operation::Replace,
            resource_type: "Group".to_owned(),
            id: "g1".to_owned(),
            remote_id: Some("old-g1".to_owned()),
            resource: r#"{"displayName":"Admins","members":[{"value":"u1"},{"value":"u9"}]}"#
                .to_owned(),
            changed_paths: vec!["members".to_owned()],
            members: None,
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
    });
}

/// A secret bound to some of the instance's allowed hosts goes only there: the same plugin,
/// sending it to another allowed host, is denied, and nothing reaches that host.
#[test]
fn a_secret_bound_to_an_origin_is_sent_nowhere_else() {
    within(|| async {
        let (bound, other) = (serve().await, serve().await);
        let rt = runtime();
        let plugin = rt.load(&wasm("echo")).await.expect("loads");
        let origin = |server: &TestServer| format!("http://127.0.0.1:{}", server.port);
        let instance = |url: String| {
            let mut s = settings("echo-bound", &[("url", &url), ("auth", "bearer")]);
            let mut secret = Secret::new("s3cret-bound-value");
            secret.origins = vec![origin(&bound).parse().expect("origin")];
            s.secrets.insert("api-token".to_owned(), secret);
            s.allowed_hosts = [&bound, &other]
                .map(|server| origin(server).parse::<AllowedHost>().expect("origin"))
                .to_vec();
            s.allowed_ranges = loopback();
            rt.instance(plugin.clone(), s).expect("instance")
        };
        let event = PluginEvent {
            operation: Operation::Create,
            resource_type: "User".to_owned(),
            id: "u1".to_owned(),
            remote_id: None,
            resource: r#"{"userName":"bjensen"}"#.to_owned(),
            changed_paths: Vec::new(),
            members: None,
        };
        let none: RemoteIdLookup = Arc::new(|_: &str, _: &str| None);
        let to_bound = instance(format!("{}/hook", origin(&bound)));
        to_bound
            .provision(&event, none.clone())
            .await
            .expect("delivers");
        let received = bound.received.lock().expect("lock").clone();
        assert_eq!(
            received[0].headers.get("authorization").map(String::as_str),
            Some("Bearer s3cret-bound-value")
        );

        let to_other = instance(format!("{}/hook", origin(&other)));
        let err = to_other.provision(&event, none).await.expect_err("denied");
        assert!(
            format!("{err}").contains("may not be sent to"),
            "the denial names the binding: {err}"
        );
        assert!(
            other.received.lock().expect("lock").is_empty(),
            "nothing was sent"
        );
    });
}

/// A plugin built against the contract's first release, `0.1.0`, without the SDK, loads on this
/// `0.1.2` host and delivers: a group change reaches it whole through `provision`, even one that
/// carries a delta (it does not export `membership`). The bundled `scim2` says it takes deltas.
#[test]
fn a_plugin_built_against_0_1_0_loads_and_gets_whole_groups() {
    within(|| async {
        let server = serve().await;
        let rt = runtime();
        let plugin = rt.load(&wasm("contract_0_1_0")).await.expect("loads");
        assert_eq!(plugin.contract_version(), "0.1.0");
        assert_eq!(plugin.world(), World::Connector);
        assert!(!plugin.takes_member_deltas());
        let scim2 = rt
            .load(scim_gateway::runtime::bundled::wasm("scim2").expect("bundled"))
            .await
            .expect("scim2 loads");
        assert!(scim2.takes_member_deltas());
        assert_eq!(scim2.contract_version(), "0.1.2");

        let url = format!("http://127.0.0.1:{}/hook", server.port);
        let mut s = settings("old", &[("url", &url)]);
        s.allowed_hosts = vec![url.parse::<AllowedHost>().expect("origin")];
        s.allowed_ranges = loopback();
        let old = rt.instance(plugin, s).expect("instance");
        let whole = r#"{"displayName":"Admins","members":[{"value":"u1"}]}"#;
        let group = PluginEvent {
            operation: Operation::Replace,
            resource_type: "Group".to_owned(),
            id: "g1".to_owned(),
            remote_id: Some("old-g1".to_owned()),
            resource: whole.to_owned(),
            changed_paths: vec!["members".to_owned()],
            members: Some(scim_gateway::model::MemberDelta {
                added: vec![scim_gateway::model::MemberRef {
                    id: "u1".to_owned(),
                    kind: scim_gateway::model::ResourceKind::User,
                }],
                removed: Vec::new(),
            }),
        };
        let delivered = old.provision(&group, no_ids()).await.expect("delivers");
        assert_eq!(delivered.remote_id, "srv-1");
        let received = server.received.lock().expect("lock").clone();
        assert_eq!(received.len(), 1);
        let body: serde_json::Value = serde_json::from_slice(&received[0].body).expect("JSON");
        assert_eq!(body["plugin"], "0.1.0");
        assert_eq!(body["operation"], "replace");
        assert_eq!(body["resource"]["members"][0]["value"], "u1");
    });
}

/// An HTTP request whose timeout is what remains of the call (the target accepts and never
/// answers, the request timeout is longer than the call's) ends the call as its timeout, every
/// time: the request's timer and the call's expire together, and whichever fires first, the
/// outcome is the same (not the plugin's "no response in time", a transient failure).
#[test]
fn a_request_cut_short_by_the_call_deadline_is_the_calls_timeout_whichever_timer_fires_first() {
    within(|| async {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let url = format!("http://{}/hook", silent.local_addr().expect("address"));
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                open.push(socket); // accepted, never answered
            }
        });
        let rt = runtime();
        let plugin = rt.load(&wasm("echo")).await.expect("loads");
        let mut s = settings("echo-silent", &[("url", &url)]);
        s.allowed_hosts = vec![url.parse::<AllowedHost>().expect("origin")];
        s.allowed_ranges = loopback();
        let deadline = Duration::from_millis(100);
        s.limits = Limits {
            timeout: deadline,
            http_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let echo = rt.instance(plugin, s).expect("instance");
        let mut outcomes = Vec::new();
        for n in 0..40 {
            let err = echo
                .provision(&user_event(&format!("u{n}")), no_ids())
                .await
                .expect_err("the target never answers");
            outcomes.push(err);
        }
        assert_eq!(outcomes, vec![CallError::Timeout { deadline }; 40]);
        held.abort();
    });
}

#[test]
fn a_host_not_allowed_is_denied() {
    within(|| async {
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
    });
}

#[test]
fn loopback_is_refused_unless_its_range_is_allowed() {
    within(|| async {
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
    });
}

#[test]
fn an_oversized_response_and_a_host_header_are_refused() {
    within(|| async {
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
    });
}

#[test]
fn a_redirect_goes_back_to_the_plugin_and_is_not_followed() {
    within(|| async {
        // The redirect points at another origin, not on the allowlist, that would answer.
        let server = serve().await;
        let elsewhere = serve().await;
        let rt = runtime();
        let plugin = rt.load(&wasm("hostile")).await.expect("loads");
        let base = format!("http://127.0.0.1:{}", server.port);
        let target = format!("http://127.0.0.1:{}/hook", elsewhere.port);
        let url = format!("{base}/redirect?to={target}");
        let mut s = settings("redirected", &[("mode", "fetch"), ("url", &url)]);
        s.allowed_hosts = vec![base.parse().expect("origin")];
        s.allowed_ranges = loopback();
        let instance = rt.instance(plugin, s).expect("instance");
        let delivered = instance
            .provision(&user_event("u1"), no_ids())
            .await
            .expect("fetches");
        assert_eq!(
            delivered.remote_id, "status-302-len-2",
            "the plugin gets the 302 itself"
        );
        let paths: Vec<String> = server
            .received
            .lock()
            .expect("lock")
            .iter()
            .map(|r| r.path.clone())
            .collect();
        assert_eq!(paths, [format!("/redirect?to={target}")]);
        assert!(
            elsewhere.received.lock().expect("lock").is_empty(),
            "the redirect was followed to {target}"
        );
    });
}

#[test]
fn a_plugin_cannot_set_a_header_the_host_fills_from_a_secret() {
    within(|| async {
        let server = serve().await;
        let rt = runtime();
        let plugin = rt.load(&wasm("hostile")).await.expect("loads");
        let url = format!("http://127.0.0.1:{}/hook", server.port);
        // The plugin sets `authorization` itself and asks for `Authorization` from `api-token`.
        let mut s = settings("override", &[("mode", "secret-override"), ("url", &url)]);
        s.secrets
            .insert("api-token".to_owned(), Secret::new("s3cret"));
        s.allowed_hosts = vec![url.parse().expect("origin")];
        s.allowed_ranges = loopback();
        let instance = rt.instance(plugin, s).expect("instance");
        let err = instance
            .provision(&user_event("u1"), no_ids())
            .await
            .expect_err("a plugin header named like a secret header must be refused");
        let CallError::Permanent(message) = &err else {
            panic!("expected a permanent failure, got {err:?}");
        };
        assert!(
            message.contains("header `authorization` is set by the host"),
            "{message}"
        );
        let received = server.received.lock().expect("lock").clone();
        assert!(received.is_empty(), "sent anyway: {received:?}");
    });
}

#[test]
fn a_call_may_send_at_most_max_http_requests_and_the_next_call_starts_afresh() {
    within(|| async {
        let server = serve().await;
        let rt = runtime();
        let plugin = rt.load(&wasm("hostile")).await.expect("loads");
        let url = format!("http://127.0.0.1:{}/hook", server.port);
        // The plugin requests `url` until the host refuses a request.
        let mut s = settings("chatty", &[("mode", "fetch-many"), ("url", &url)]);
        s.allowed_hosts = vec![url.parse().expect("origin")];
        s.allowed_ranges = loopback();
        s.limits.max_http_requests = 3;
        let instance = rt.instance(plugin, s).expect("instance");
        let sent = || server.received.lock().expect("lock").len();
        for call in 1..=2 {
            let err = instance
                .provision(&user_event("u1"), no_ids())
                .await
                .expect_err("the fourth request is refused");
            let CallError::Permanent(message) = &err else {
                panic!("expected a permanent failure, got {err:?}");
            };
            assert_eq!(
                message,
                "3 sent, then: request denied by the sandbox: \
                 more than 3 HTTP requests in one call"
            );
            assert_eq!(
                sent(),
                3 * call,
                "requests the server received by call {call}"
            );
        }
    });
}

#[test]
fn a_plugin_importing_sockets_is_refused_at_load_by_name() {
    within(|| async {
        let rt = runtime();
        let err = rt
            .load(&wasm("net_snoop"))
            .await
            .expect_err("a plugin importing wasi:sockets must be refused at load");
        let RuntimeError::Link(message) = &err else {
            panic!("expected a link refusal, got {err:?}");
        };
        assert!(message.contains("wasi:sockets/"), "{message}");
    });
}

#[test]
fn instances_and_their_calls_can_move_between_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    within(|| async {
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

#[test]
fn more_calls_than_instance_slots_is_a_transient_failure() {
    within(|| async {
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
    });
}

#[test]
fn settings_debug_output_hides_secret_values() {
    let mut s = settings("x", &[]);
    s.secrets
        .insert("api-token".to_owned(), Secret::new("s3cret-value"));
    let shown = format!("{s:?}");
    assert!(
        shown.contains("api-token") && !shown.contains("s3cret-value"),
        "{shown}"
    );
}
