//! Connector instances as the delivery dispatcher sees them: loaded from the config's
//! `[[connectors]]`, checked at start, and adapted to [`delivery::Connector`]. This is the one
//! place where delivery meets the runtime: the runtime knows nothing of delivery.
//!
//! Everything that can be wrong with a connector's configuration (an unreadable or incompatible
//! plugin, a malformed host or range, a resource type the plugin does not handle, a mapping rule
//! that cannot work, a configuration the plugin refuses) stops the gateway at start with the connector's name, rather than turning
//! every later delivery into a dead letter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::ConnectorConfig;
use crate::delivery::mapping::Mapping;
use crate::delivery::{
    self, Attempted, ConnectorEvent, DeliverFuture, IdLookup, Paced, ReadFuture,
};
use crate::model::{Failure, Page, ResourceKind};
use crate::runtime::{
    AllowedHost, CallError, CallPacing, Cidr, ConnectorInstance, InstanceConfig, Limits, Plugin,
    PluginEvent, Runtime, Secret, World, bundled,
};

/// A connector that could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("connector '{name}': {reason}")]
pub struct SetupError {
    /// The connector instance's name.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

/// A running connector instance: the plugin's instance, its cap on deliveries in flight, and
/// the mapping applied to every event before the plugin sees it.
pub struct Instance {
    /// The configured plugin instance.
    instance: Arc<ConnectorInstance>,
    /// The most deliveries in flight at once, if capped.
    max_concurrency: Option<usize>,
    /// The connector's attribute mapping (empty: none).
    mapping: Mapping,
}

impl Instance {
    /// The plugin it runs.
    pub fn plugin(&self) -> Arc<Plugin> {
        self.instance.plugin().clone()
    }
}

/// The event a plugin gets for `event` under `mapping`: the resource mapped and serialized, the
/// changed paths rewritten. A rule that fails on this resource fails the delivery permanently,
/// naming the rule. The admin API's preview shows the same event.
pub fn plugin_event(mapping: &Mapping, event: ConnectorEvent) -> Result<PluginEvent, Failure> {
    let resource = mapping
        .apply(event.kind, event.resource)
        .map_err(|e| Failure::permanent(format!("mapping failed: {e}")))?;
    Ok(PluginEvent {
        operation: event.operation,
        resource_type: event.kind.name().to_owned(),
        id: event.id,
        remote_id: event.remote_id,
        resource: match resource {
            Value::Null => "{}".to_owned(),
            resource => resource.to_string(),
        },
        changed_paths: mapping.changed_paths(event.kind, event.changed_paths),
        members: event.members,
    })
}

impl delivery::Connector for Instance {
    fn deliver(&self, event: ConnectorEvent, ids: IdLookup) -> DeliverFuture {
        let instance = self.instance.clone();
        let event = match plugin_event(&self.mapping, event) {
            Ok(event) => event,
            Err(failure) => return Box::pin(std::future::ready(Attempted::from(Err(failure)))),
        };
        Box::pin(async move {
            let done = instance.provision_logged(&event, ids).await;
            Attempted {
                result: done.result.map_err(failure),
                logs: done.logs,
                paced: paced(done.pacing),
            }
        })
    }

    fn takes_member_deltas(&self) -> bool {
        self.instance.plugin().takes_member_deltas()
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.max_concurrency
    }

    fn can_read(&self) -> bool {
        self.instance.plugin().world() == World::ReadableConnector
    }

    fn get(&self, kind: ResourceKind, remote_id: &str) -> ReadFuture<Option<Value>> {
        let instance = self.instance.clone();
        let remote_id = remote_id.to_owned();
        Box::pin(async move { instance.get(kind.name(), &remote_id).await.map_err(failure) })
    }

    fn list(
        &self,
        kind: ResourceKind,
        filter: Option<String>,
        start_index: u32,
        count: u32,
    ) -> ReadFuture<Page> {
        let instance = self.instance.clone();
        Box::pin(async move {
            instance
                .list(kind.name(), filter.as_deref(), start_index, count)
                .await
                .map_err(failure)
        })
    }
}

/// The runtime's pacing news as delivery takes it.
fn paced(p: CallPacing) -> Paced {
    Paced {
        retry_after: p.retry_after,
        throttled: p.throttled,
    }
}

/// The runtime's verdict as the job record keeps it.
fn failure(e: CallError) -> Failure {
    Failure {
        kind: e.kind(),
        retryable: e.retryable(),
        message: e.to_string(),
    }
}

/// Loads the plugin of a `[[connectors]]` entry (a bundled plugin or a `.wasm` file) and
/// configures it.
pub async fn load(runtime: &Runtime, c: &ConnectorConfig) -> Result<Instance, SetupError> {
    let fail = |reason: String| SetupError {
        name: c.name.clone(),
        reason,
    };
    let wasm = match bundled::wasm(&c.plugin) {
        Some(bytes) => bytes.to_vec(),
        None => std::fs::read(&c.plugin).map_err(|e| {
            fail(format!(
                "plugin '{}' is neither a bundled plugin ({}) nor a readable .wasm file: {e}",
                c.plugin,
                bundled::NAMES.join(", ")
            ))
        })?,
    };
    let plugin = runtime.load(&wasm).await.map_err(|e| fail(e.to_string()))?;
    configure(runtime, plugin, c).await
}

/// A connector definition's egress, secrets and limits, as its instance gets them.
pub struct Settings {
    /// The origins it may reach.
    pub allowed_hosts: Vec<AllowedHost>,
    /// The non-public ranges it may reach (its allowed IP literals included).
    pub allowed_ranges: Vec<Cidr>,
    /// Its secrets, with the origins each is bound to.
    pub secrets: HashMap<String, Secret>,
    /// The limits of each call.
    pub limits: Limits,
}

/// The egress, secrets and limits of a connector definition, checked: its allowed hosts and
/// ranges parse, none is a link-local or metadata address (unless `open_link_local`), each
/// secret's origins are among its allowed hosts, its rate and concurrency caps are at least 1.
/// Pure: [`configure`] runs it before it builds the instance, and the admin fuzz target
/// (`gateway/fuzz/`) runs it directly.
pub fn settings(c: &ConnectorConfig) -> Result<Settings, SetupError> {
    let fail = |reason: String| SetupError {
        name: c.name.clone(),
        reason,
    };
    let parse = |what: &str, text: &str| fail(format!("{what} '{text}' is not valid"));
    let allowed_hosts: Vec<AllowedHost> = c
        .allowed_hosts
        .iter()
        .map(|h| h.parse().map_err(|_| parse("allowed host", h)))
        .collect::<Result<_, _>>()?;
    let mut allowed_ranges: Vec<Cidr> = c
        .allowed_ranges
        .iter()
        .map(|r| r.parse().map_err(|_| parse("allowed range", r)))
        .collect::<Result<_, _>>()?;
    // An allowed IP literal names its address explicitly: that one address is allowed even when
    // it is not public. Names still need `allowed_ranges` (what they resolve to can change).
    allowed_ranges.extend(allowed_hosts.iter().filter_map(|h| {
        let ip: std::net::IpAddr = h.host.parse().ok()?;
        Cidr::new(ip, if ip.is_ipv4() { 32 } else { 128 })
    }));
    let mut secrets = HashMap::new();
    for (name, secret) in &c.secrets {
        let origins: Vec<AllowedHost> = secret
            .origins
            .iter()
            .map(|o| o.parse().map_err(|_| parse("origin", o)))
            .collect::<Result<_, _>>()?;
        if let Some(o) = origins.iter().find(|o| !allowed_hosts.contains(o)) {
            return Err(fail(format!(
                "secret '{name}' is bound to {o}, which is not one of the connector's allowed_hosts"
            )));
        }
        let mut held = Secret::new(secret.value.clone());
        held.origins = origins;
        secrets.insert(name.clone(), held);
    }
    if !c.open_link_local
        && let Some(r) = allowed_ranges.iter().find(|r| r.is_metadata())
    {
        return Err(fail(format!(
            "{r} is a link-local or cloud metadata address: only `open_link_local = true` on \
             the connector in the config file lets it be reached"
        )));
    }
    if c.max_requests_per_second == Some(0) || c.max_concurrency == Some(0) {
        return Err(fail(
            "max_requests_per_second and max_concurrency must be at least 1 when set".to_owned(),
        ));
    }
    let limits = Limits {
        timeout: Duration::from_millis(c.timeout_ms),
        max_requests_per_second: c.max_requests_per_second,
        http_timeout: Duration::from_millis(c.timeout_ms),
        // Saturating: a shift would wrap a huge `memory_mib` to a small limit.
        memory_bytes: usize::try_from(c.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        ..Limits::default()
    };
    Ok(Settings {
        allowed_hosts,
        allowed_ranges,
        secrets,
        limits,
    })
}

/// Makes a connector instance of a loaded plugin with the settings of `c`, and has the plugin
/// check its configuration.
pub async fn configure(
    runtime: &Runtime,
    plugin: Arc<Plugin>,
    c: &ConnectorConfig,
) -> Result<Instance, SetupError> {
    let fail = |reason: String| SetupError {
        name: c.name.clone(),
        reason,
    };
    let handled = &plugin.descriptor().resource_types;
    if let Some(t) = c.resource_types.iter().find(|t| !handled.contains(t)) {
        return Err(fail(format!(
            "plugin {} does not handle {t} (it handles {})",
            plugin.descriptor().name,
            handled.join(", ")
        )));
    }
    let Settings {
        allowed_hosts,
        allowed_ranges,
        secrets,
        limits,
    } = settings(c)?;
    let mapping = Mapping::compile(&c.mapping).map_err(|e| fail(e.to_string()))?;
    let instance = runtime
        .instance(
            plugin,
            InstanceConfig {
                name: c.name.clone(),
                config: c.config.clone().into_iter().collect(),
                secrets,
                allowed_hosts,
                allowed_ranges,
                limits,
            },
        )
        .map_err(|e| fail(e.to_string()))?;
    match instance.validate_config().await {
        Ok(Ok(())) => Ok(Instance {
            instance: Arc::new(instance),
            max_concurrency: c.max_concurrency,
            mapping,
        }),
        Ok(Err(refused)) => Err(fail(format!(
            "the plugin refuses its configuration: {refused}"
        ))),
        Err(e) => Err(fail(format!("validating the configuration failed: {e}"))),
    }
}
