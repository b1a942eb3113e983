//! Cost of one connector call: a fresh store and instance of the `echo` plugin plus its
//! `provision` (JSON parsing, one host log call), as a delivery worker pays it.
//!
//! `cargo bench -p scim-gateway --bench instantiate` builds the plugin, then times sequential calls with the
//! pooling allocator and with on-demand allocation, and the throughput of calls in parallel.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scim_gateway::model::Operation;
use scim_gateway::runtime::{
    ConnectorInstance, InstanceConfig, PluginEvent, RemoteIdLookup, Runtime, RuntimeConfig,
};

/// Calls timed per configuration (after the warm-up).
const CALLS: usize = 20_000;
/// Calls made before timing.
const WARM_UP: usize = 2_000;

/// The `echo` plugin, built by the shared guest builder.
fn echo_wasm() -> Vec<u8> {
    let dir = scim_gateway_guest_build::build(&["echo"], &[]);
    std::fs::read(dir.join("echo.wasm")).expect("echo.wasm")
}

fn event() -> PluginEvent {
    PluginEvent {
        operation: Operation::Replace,
        resource_type: "User".to_owned(),
        id: "2819c223-7f76-453a-919d-413861904646".to_owned(),
        remote_id: Some("r-42".to_owned()),
        resource: r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","name":{"givenName":"Barbara","familyName":"Jensen"},"emails":[{"value":"bjensen@example.com","primary":true}],"active":true}"#.to_owned(),
        changed_paths: vec!["emails".to_owned()],
        members: None,
    }
}

async fn instance(pooling: bool, wasm: &[u8]) -> ConnectorInstance {
    let rt = Runtime::new(RuntimeConfig {
        pooling,
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let plugin = rt.load(wasm).await.expect("echo loads");
    rt.instance(
        plugin,
        InstanceConfig {
            name: "bench".to_owned(),
            ..InstanceConfig::default()
        },
    )
    .expect("instance")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn sequential(label: &str, echo: &ConnectorInstance) {
    let ids: RemoteIdLookup = Arc::new(|_: &str, _: &str| None);
    let ev = event();
    for _ in 0..WARM_UP {
        echo.provision(&ev, ids.clone()).await.expect("delivers");
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        echo.provision(&ev, ids.clone()).await.expect("delivers");
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "{label:<28} median {:>7.1} µs   p90 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.9).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6,
    );
}

async fn parallel(echo: Arc<ConnectorInstance>, tasks: usize) {
    let ids: RemoteIdLookup = Arc::new(|_: &str, _: &str| None);
    let start = Instant::now();
    let per_task = CALLS / tasks;
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let echo = echo.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                let ev = event();
                for _ in 0..per_task {
                    echo.provision(&ev, ids.clone()).await.expect("delivers");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    let rate = (per_task * tasks) as f64 / start.elapsed().as_secs_f64();
    println!("{tasks} tasks on 2 worker threads: {rate:>8.0} calls/s (pooling)");
}

fn main() {
    // `cargo test --benches` runs benches with `--test`-like flags: keep that quick.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let wasm = echo_wasm();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let pooled = instance(true, &wasm).await;
        sequential("fresh instance, pooling", &pooled).await;
        let on_demand = instance(false, &wasm).await;
        sequential("fresh instance, on demand", &on_demand).await;
        parallel(Arc::new(pooled), 8).await;
    });
}
