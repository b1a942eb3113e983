//! The connector runtime: runs connector plugins (WebAssembly components implementing
//! `wit/connector.wit`) in a sandbox.
//!
//! ```text
//! Runtime::new(config)            one engine, one epoch ticker, one linker, HTTP clients
//!   └─ runtime.load(wasm)         compile (or load from the disk cache), check, link, describe
//!        └─ Arc<Plugin>           descriptor(), world(), sha256()
//!   └─ runtime.instance(plugin, InstanceConfig { name, config, secrets, hosts, ranges, limits })
//!        └─ ConnectorInstance     provision(event, remote_ids) → Result<RemoteRef, CallError>
//!                                 (a group's delta goes to membership.update-group when the
//!                                 plugin takes deltas, else to provisioner.provision)
//!                                 get(type, id), list(type, filter, start, count)  (readers)
//! ```
//!
//! The runtime depends on the model (`Operation`, `Page`, `FailureKind`) and on nothing else of
//! the gateway: delivery adapts it to its `Connector` trait (`delivery::connector`), so the
//! sandbox could become a crate of its own.
//!
//! Design, in short (each module argues its part):
//!
//! * **One engine** with the component model, epoch interruption and the pooling allocator:
//!   instantiation from a pre-linked plugin then costs microseconds, which is what makes a
//!   **fresh instance per call** affordable (no state, no leaked secret, no poisoned instance
//!   between events). See `instance.rs`.
//! * **Compiled once**, cached on disk by the component's hash and the engine's fingerprint
//!   (`cache.rs`).
//! * **Checked at load**: the world a component implements and its contract version are read
//!   from its interface names; another major version is refused with both versions named
//!   (`plugin.rs`).
//! * **A sandbox that grants nothing** but the contract's host functions and the WASI the Rust
//!   standard library needs, with a memory limit, a deadline, and caps on logs and output
//!   (`sandbox/`). HTTP goes only to allowed origins, never to non-public addresses unless
//!   allowed, with secrets the plugin never sees (`egress.rs`).
//! * **A typed outcome** per call: [`CallError`] tells a connector's own transient or permanent
//!   failure from a trap, a timeout, a memory overrun or a refused answer.

mod bindings;
pub mod bundled;
mod cache;
mod egress;
mod error;
mod hmac;
mod instance;
mod plugin;
mod sandbox;
mod types;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of a released instance's linear memory that are reset in place and kept resident.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Released memories whose remaining pages are returned to the system together.
const DECOMMIT_BATCH: usize = 16;

pub use crate::runtime::egress::{AllowedHost, Cidr, address_permitted};
pub use crate::runtime::error::{CallError, RuntimeError};
pub use crate::runtime::instance::{ConnectorInstance, Provisioned};
pub use crate::runtime::plugin::Plugin;
pub use crate::runtime::types::{
    ConfigKey, Descriptor, PluginEvent, RemoteIdLookup, SecretUses, World,
};

pub use crate::runtime::sandbox::CallPacing;
use crate::runtime::sandbox::{HostState, LogBudget, Pacer, Sandbox};

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling allocator (preallocated instance slots: fast instantiation). Off, instances
    /// are allocated on demand (slower; no virtual memory reserved up front).
    pub pooling: bool,
    /// How many plugin instances may exist at once (calls in flight, all connectors together).
    pub max_instances: u32,
    /// The largest memory limit an instance may be given, in bytes (each pool slot's size).
    pub max_memory_bytes: usize,
    /// How often guest code yields to the executor and the deadline is checked.
    pub epoch_tick: Duration,
}

impl Default for RuntimeConfig {
    /// No cache, pooling with 256 slots of up to 256 MiB, a 10 ms tick: on 2 cores, 256
    /// concurrent calls is far more than the CPU can run, so the pool is never the bottleneck,
    /// and its virtual reservation stays small.
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            pooling: true,
            max_instances: 256,
            max_memory_bytes: 256 << 20,
            epoch_tick: Duration::from_millis(10),
        }
    }
}

/// The limits of one connector instance's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A call's deadline (instantiation, guest code and the host calls it waits on).
    pub timeout: Duration,
    /// A call's memory limit, in bytes (at most [`RuntimeConfig::max_memory_bytes`]).
    pub memory_bytes: usize,
    /// One HTTP request's timeout (also capped by what remains of the call's deadline).
    pub http_timeout: Duration,
    /// The largest HTTP response body handed to the plugin, in bytes.
    pub max_response_bytes: usize,
    /// HTTP requests allowed in one call.
    pub max_http_requests: usize,
    /// Log lines kept per call (the rest are counted and dropped).
    pub max_log_lines: usize,
    /// Plugin lines written to the gateway's log per minute, across the instance's calls (the
    /// rest are counted, and the count logged once the minute is over); the lines each call
    /// keeps for its job record are capped per call only.
    pub max_log_lines_per_minute: usize,
    /// A log line's length cap, in bytes (longer ones are truncated); also caps error messages.
    pub max_log_line_bytes: usize,
    /// Bytes of stdout and stderr kept per call.
    pub max_output_capture_bytes: usize,
    /// The longest remote id or version accepted, in bytes.
    pub max_id_bytes: usize,
    /// HTTP requests a second across the instance's calls (the host holds a request back
    /// until its turn); `None`: as fast as the target answers.
    pub max_requests_per_second: Option<u32>,
}

impl Default for Limits {
    /// 10 s, 64 MiB, 10 s per request, 4 MiB responses, 32 requests, 100 log lines of 4 KiB
    /// (600 a minute to the gateway's log), 64 KiB of output, ids of 1 KiB, no request rate.
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            http_timeout: Duration::from_secs(10),
            max_response_bytes: 4 << 20,
            max_http_requests: 32,
            max_log_lines: 100,
            max_log_lines_per_minute: 600,
            max_log_line_bytes: 4096,
            max_output_capture_bytes: 64 << 10,
            max_id_bytes: 1024,
            max_requests_per_second: None,
        }
    }
}

/// A secret of a connector instance: the host puts it in a header or keys an HMAC with it, and
/// the plugin only ever names it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its value.
    pub value: String,
    /// The origins a header may carry it to (each one of the instance's allowed hosts); empty:
    /// any allowed host. A request elsewhere that names it is denied.
    pub origins: Vec<AllowedHost>,
    /// How the plugin may use it: set from the plugin's declaration when the instance is made
    /// (so not the caller's to set).
    pub(crate) uses: SecretUses,
}

impl Secret {
    /// A secret that may go to any allowed host.
    pub fn new(value: impl Into<String>) -> Self {
        Secret {
            value: value.into(),
            origins: Vec::new(),
            uses: SecretUses::default(),
        }
    }
}

/// A connector instance's settings (see [`Runtime::instance`]). Its `Debug` names the secrets
/// without their values.
#[derive(Clone, Default)]
pub struct InstanceConfig {
    /// The instance's name (log tag, messages).
    pub name: String,
    /// Configuration handed to every call.
    pub config: Vec<(String, String)>,
    /// Secrets the host uses on the plugin's behalf.
    pub secrets: HashMap<String, Secret>,
    /// Origins the plugin may send HTTP requests to.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Non-public address ranges an allowed host may resolve to.
    pub allowed_ranges: Vec<Cidr>,
    /// Limits of each call.
    pub limits: Limits,
}

impl std::fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut secrets: Vec<&String> = self.secrets.keys().collect();
        secrets.sort();
        f.debug_struct("InstanceConfig")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("secrets", &secrets)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_ranges", &self.allowed_ranges)
            .field("limits", &self.limits)
            .finish()
    }
}

/// What the runtime and its instances share.
pub(crate) struct RuntimeInner {
    /// The engine.
    pub(crate) engine: Engine,
    /// The host functions and WASI.
    linker: Linker<HostState>,
    /// The engine settings, for the cache key.
    settings: String,
    /// The runtime's configuration.
    config: RuntimeConfig,
    /// HTTP clients by policy.
    clients: egress::Clients,
    /// Dropping it stops the epoch ticker.
    _ticker: mpsc::Sender<()>,
}

/// Runs connector plugins. Cheap to clone; instances keep it alive.
#[derive(Clone)]
pub struct Runtime {
    /// The shared state.
    inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Sets up the engine, the linker, the epoch ticker thread and the TLS provider.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let mut wasm = wasmtime::Config::new();
        wasm.wasm_component_model(true);
        wasm.epoch_interruption(true);
        wasm.cranelift_opt_level(wasmtime::OptLevel::Speed);
        if config.pooling {
            let n = config.max_instances;
            let mut pool = PoolingAllocationConfig::default();
            // A Rust component has one main module plus a few small shims.
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(8))
                .max_core_instances_per_component(16)
                .total_memories(n.saturating_mul(2))
                .max_memories_per_component(2)
                .total_tables(n.saturating_mul(4))
                .max_tables_per_component(4)
                .total_stacks(n)
                .max_memory_size(config.max_memory_bytes)
                // Every call is a fresh instance, so a slot is released as often as a plugin is
                // called. Resetting the low pages of a released memory with `memset` (pages the
                // next call touches again) instead of `madvise`, and returning the rest in
                // batches, saves a system call and a TLB shootdown across cores per call.
                .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
                .table_keep_resident(64 << 10)
                .pagemap_scan(wasmtime::Enabled::Auto)
                .decommit_batch_size(DECOMMIT_BATCH);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let settings = format!(
            "component-model epoch-interruption opt=speed pooling={} max-memory={}",
            config.pooling, config.max_memory_bytes
        );
        let engine = Engine::new(&wasm).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        sandbox::link(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

        // Whoever installs a process-wide TLS provider first wins; ours is only a fallback.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let (stop, stopped) = mpsc::channel::<()>();
        let ticking = engine.clone();
        let tick = config.epoch_tick;
        std::thread::Builder::new()
            .name("wasm-epoch".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?;

        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                settings,
                config,
                clients: egress::Clients::default(),
                _ticker: stop,
            }),
        })
    }

    /// Loads a plugin: compiles it (or loads it from the cache), checks its contract version and
    /// world, links it, and asks it to describe itself.
    pub async fn load(&self, wasm: &[u8]) -> Result<Arc<Plugin>, RuntimeError> {
        let inner = &self.inner;
        let sha256 = hex::encode(Sha256::digest(wasm));
        let component = {
            let engine = inner.engine.clone();
            let dir = inner.config.cache_dir.clone();
            let settings = inner.settings.clone();
            let wasm = wasm.to_vec();
            let sha = sha256.clone();
            tokio::task::spawn_blocking(move || {
                cache::load_or_compile(&engine, dir.as_deref(), &settings, &wasm, &sha)
            })
            .await
            .map_err(|e| RuntimeError::InvalidComponent(format!("compilation aborted: {e}")))??
        };
        let inspected = plugin::inspect(&component, &inner.engine)?;
        let code = plugin::link(&inner.linker, &component, &inspected)?;
        let (world, contract_version) = (inspected.world, inspected.version);
        let describing = Arc::new(Sandbox {
            name: format!("plugin {}", &sha256[..12]),
            secrets: HashMap::new(),
            allowed_hosts: Vec::new(),
            allowed_ranges: Vec::new(),
            client: inner.clients.for_ranges(&[])?,
            limits: Limits::default(),
            pacer: None,
            log_budget: LogBudget::default(),
        });
        let descriptor = instance::describe(&inner.engine, &code, describing.clone())
            .await
            .map_err(RuntimeError::Describe)?;
        let takes_member_deltas = instance::takes_deltas(&inner.engine, &code, describing.clone())
            .await
            .map_err(RuntimeError::Describe)?;
        let secret_uses =
            instance::secret_uses(&inner.engine, &code, describing, &descriptor.secret_names)
                .await
                .map_err(RuntimeError::Describe)?;
        tracing::info!(
            plugin = %descriptor.name,
            version = %descriptor.version,
            %world,
            contract = %contract_version,
            member_deltas = takes_member_deltas,
            sha256 = %sha256,
            "plugin loaded"
        );
        Ok(Arc::new(Plugin {
            sha256,
            world,
            contract_version,
            takes_member_deltas,
            descriptor,
            secret_uses,
            code,
        }))
    }

    /// Configures a loaded plugin as a connector instance.
    pub fn instance(
        &self,
        plugin: Arc<Plugin>,
        config: InstanceConfig,
    ) -> Result<ConnectorInstance, RuntimeError> {
        if config.limits.memory_bytes > self.inner.config.max_memory_bytes {
            return Err(RuntimeError::Settings(format!(
                "connector `{}`: memory limit {} MiB is above the runtime's {} MiB",
                config.name,
                config.limits.memory_bytes >> 20,
                self.inner.config.max_memory_bytes >> 20
            )));
        }
        let client = self.inner.clients.for_ranges(&config.allowed_ranges)?;
        // A plugin uses only the secrets it declares: one given under another name is never
        // handed to its calls (any use of it is an unknown secret), so a plugin cannot probe
        // for secrets meant for another, through a header or as an HMAC key.
        // Each one kept may be used only as the plugin declared.
        let declared = &plugin.descriptor().secret_names;
        let mut secrets = config.secrets;
        secrets.retain(|name, secret| {
            secret.uses = plugin.secret_uses(name);
            let kept = declared.contains(name);
            if !kept {
                tracing::warn!(connector = %config.name, secret = %name, plugin = %plugin.descriptor().name,
                    "the plugin does not declare this secret: its calls cannot use it");
            }
            kept
        });
        let sandbox = Sandbox {
            name: config.name,
            secrets,
            allowed_hosts: config.allowed_hosts,
            allowed_ranges: config.allowed_ranges,
            client,
            pacer: config.limits.max_requests_per_second.map(Pacer::per_second),
            limits: config.limits,
            log_budget: LogBudget::default(),
        };
        Ok(ConnectorInstance::new(
            self.inner.clone(),
            plugin,
            config.config,
            sandbox,
        ))
    }
}
