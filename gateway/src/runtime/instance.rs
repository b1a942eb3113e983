//! A connector instance (a plugin with its configuration, secrets and egress policy) and the
//! calls into it.
//!
//! Every call gets a fresh store and a fresh instance: a trapped instance cannot be entered again,
//! and a plugin must not carry state (or a secret it got hold of) from one event to the next. With
//! the pooling allocator and the pre-linked plugin, that costs a few microseconds.
//!
//! The call's deadline is a timer around the whole call (instantiation, guest code and the host
//! calls it waits on). Epoch interruption makes guest code yield to the executor once per tick, so
//! the timer fires even in a guest's endless loop, and a busy plugin never holds a worker thread
//! for longer than a tick at a time. Dropping the call's future on timeout abandons the instance.
//! An HTTP request's timeout is capped by what remains of the call; when that cap is what fires,
//! the host ends the call as the same timeout, so which timer fires first does not matter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use wasmtime::{Store, Trap};

use crate::model::{Operation, Page, RemoteRef};

use crate::runtime::bindings::v0_1;
use crate::runtime::error::CallError;
use crate::runtime::plugin::{Plugin, PluginCode};
use crate::runtime::sandbox::{self, CallPacing, HostState, Sandbox};
use crate::runtime::types::{
    ConfigKey, Descriptor, PluginEvent, RemoteIdLookup, SecretUses, World,
};
use crate::runtime::{Limits, RuntimeInner};

/// What a provision call answers.
#[derive(Debug)]
pub struct Provisioned {
    /// The target's reference to the resource, or why the call failed.
    pub result: Result<RemoteRef, CallError>,
    /// The lines the plugin logged (capped).
    pub logs: Vec<String>,
    /// What the call learnt about pacing the target: a pause it asked for, and the time its
    /// requests waited for the instance's rate.
    pub pacing: CallPacing,
}

/// A plugin configured as one of the gateway's connectors.
pub struct ConnectorInstance {
    /// The runtime (engine, ticker) it runs on.
    runtime: Arc<RuntimeInner>,
    /// The plugin.
    plugin: Arc<Plugin>,
    /// Its configuration, handed to every call.
    config: Vec<(String, String)>,
    /// Name, secrets, egress policy and limits, shared by its calls.
    sandbox: Arc<Sandbox>,
}

impl std::fmt::Debug for ConnectorInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorInstance")
            .field("name", &self.sandbox.name)
            .field("plugin", &self.plugin.descriptor.name)
            .finish_non_exhaustive()
    }
}

impl ConnectorInstance {
    /// Assembles an instance (see [`crate::runtime::Runtime::instance`]).
    pub(crate) fn new(
        runtime: Arc<RuntimeInner>,
        plugin: Arc<Plugin>,
        config: Vec<(String, String)>,
        sandbox: Sandbox,
    ) -> Self {
        ConnectorInstance {
            runtime,
            plugin,
            config,
            sandbox: Arc::new(sandbox),
        }
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.sandbox.name
    }

    /// The plugin it runs.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.sandbox.limits
    }

    /// Asks the plugin whether the instance's configuration is acceptable: `Ok(Err(why))` if the
    /// plugin refuses it.
    pub async fn validate_config(&self) -> Result<Result<(), String>, CallError> {
        let answer = self.run(Call::Validate(self.config.clone()), None).await?;
        match answer {
            Answer::Validate(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    /// Delivers one event. `remote_ids` answers the plugin's questions about other resources'
    /// remote ids (a group's members).
    pub async fn provision(
        &self,
        event: &PluginEvent,
        remote_ids: RemoteIdLookup,
    ) -> Result<RemoteRef, CallError> {
        self.provision_logged(event, remote_ids).await.result
    }

    /// [`provision`](Self::provision), also answering the lines the plugin logged during the
    /// call (capped: see [`sandbox::CALL_LOG_LINES`]) and what it learnt about pacing the
    /// target, whatever its outcome.
    pub async fn provision_logged(
        &self,
        event: &PluginEvent,
        remote_ids: RemoteIdLookup,
    ) -> Provisioned {
        let call = match self.group_change(event) {
            Some(change) => Call::UpdateGroup(change),
            None => Call::Provision(self.wire_event(event)),
        };
        let (answer, logs, pacing) = run_logged(
            &self.runtime.engine,
            &self.plugin.code,
            self.sandbox.clone(),
            Some(remote_ids),
            call,
        )
        .await;
        Provisioned {
            result: answer.and_then(|a| self.delivered(event, a)),
            logs,
            pacing,
        }
    }

    /// The event as the contract carries it.
    fn wire_event(&self, event: &PluginEvent) -> v0_1::types::Event {
        v0_1::types::Event {
            operation: match event.operation {
                Operation::Create => v0_1::types::Operation::Create,
                Operation::Replace | Operation::Deactivate => v0_1::types::Operation::Replace,
                Operation::Delete => v0_1::types::Operation::Delete,
            },
            resource_type: event.resource_type.clone(),
            id: event.id.clone(),
            remote_id: event.remote_id.clone(),
            resource: event.resource.clone(),
            changed_paths: event.changed_paths.clone(),
            config: self.config.clone(),
        }
    }

    /// The event as `membership.update-group` takes it, when it is a group's delta for a plugin
    /// that exports `membership` and has delivered the group.
    fn group_change(&self, event: &PluginEvent) -> Option<v0_1::membership::GroupChange> {
        let members = event.members.as_ref()?;
        let remote_id = event.remote_id.clone()?;
        if !self.plugin.takes_member_deltas
            || !matches!(event.operation, Operation::Replace | Operation::Deactivate)
        {
            return None;
        }
        let wire = |m: &crate::model::MemberRef| v0_1::membership::Member {
            resource_type: m.kind.name().to_owned(),
            id: m.id.clone(),
        };
        Some(v0_1::membership::GroupChange {
            id: event.id.clone(),
            remote_id,
            group: event.resource.clone(),
            changed_paths: event
                .changed_paths
                .iter()
                .filter(|p| !p.eq_ignore_ascii_case("members"))
                .cloned()
                .collect(),
            added: members.added.iter().map(wire).collect(),
            removed: members.removed.iter().map(wire).collect(),
            config: self.config.clone(),
        })
    }

    /// Checks a provision call's answer.
    fn delivered(&self, event: &PluginEvent, answer: Answer) -> Result<RemoteRef, CallError> {
        let Answer::Provision(result) = answer else {
            return Err(unexpected());
        };
        let delivered = result.map_err(|e| delivery_error(e, &self.sandbox.limits))?;
        let max = self.sandbox.limits.max_id_bytes;
        if delivered.remote_id.len() > max {
            return Err(CallError::BadOutput(format!(
                "the remote id is {} bytes long, more than the {max} allowed",
                delivered.remote_id.len()
            )));
        }
        if delivered.remote_id.is_empty() && event.operation != Operation::Delete {
            return Err(CallError::BadOutput("the remote id is empty".to_owned()));
        }
        if let Some(v) = &delivered.remote_version
            && v.len() > max
        {
            return Err(CallError::BadOutput(format!(
                "the remote version is {} bytes long, more than the {max} allowed",
                v.len()
            )));
        }
        Ok(RemoteRef {
            remote_id: delivered.remote_id,
            remote_version: delivered.remote_version,
        })
    }

    /// Reads one resource from the target (`readable-connector` plugins only).
    pub async fn get(
        &self,
        resource_type: &str,
        remote_id: &str,
    ) -> Result<Option<Value>, CallError> {
        self.require_reader()?;
        let call = Call::Get {
            resource_type: resource_type.to_owned(),
            remote_id: remote_id.to_owned(),
            config: self.config.clone(),
        };
        match self.run(call, None).await? {
            Answer::Get(r) => r
                .map_err(|e| delivery_error(e, &self.sandbox.limits))?
                .map(|text| object(&text))
                .transpose(),
            _ => Err(unexpected()),
        }
    }

    /// Reads a page of resources from the target (`readable-connector` plugins only).
    pub async fn list(
        &self,
        resource_type: &str,
        filter: Option<&str>,
        start_index: u32,
        count: u32,
    ) -> Result<Page, CallError> {
        self.require_reader()?;
        let call = Call::List {
            resource_type: resource_type.to_owned(),
            filter: filter.map(str::to_owned),
            start_index,
            count,
            config: self.config.clone(),
        };
        match self.run(call, None).await? {
            Answer::List(r) => {
                let page = r.map_err(|e| delivery_error(e, &self.sandbox.limits))?;
                Ok(Page {
                    total: u64::from(page.total),
                    resources: page
                        .resources
                        .iter()
                        .map(|text| object(text))
                        .collect::<Result<_, _>>()?,
                })
            }
            _ => Err(unexpected()),
        }
    }

    /// Refuses a read on a plugin that cannot read.
    fn require_reader(&self) -> Result<(), CallError> {
        match self.plugin.world {
            World::ReadableConnector => Ok(()),
            World::Connector => Err(CallError::Incompatible(format!(
                "plugin `{}` implements `connector`, not `readable-connector`: it cannot read",
                self.plugin.descriptor.name
            ))),
        }
    }

    /// Runs one call in a fresh instance.
    async fn run(&self, call: Call, lookup: Option<RemoteIdLookup>) -> Result<Answer, CallError> {
        run(
            &self.runtime.engine,
            &self.plugin.code,
            self.sandbox.clone(),
            lookup,
            call,
        )
        .await
    }
}

/// A call into a plugin.
pub(crate) enum Call {
    /// `describe`.
    Describe,
    /// `validate-config`.
    Validate(Vec<(String, String)>),
    /// `provision`.
    Provision(v0_1::types::Event),
    /// `membership.takes-deltas`.
    TakesDeltas,
    /// `secrets.secret-uses`.
    SecretUses,
    /// `membership.update-group`.
    UpdateGroup(v0_1::membership::GroupChange),
    /// `get`.
    Get {
        /// The resource type.
        resource_type: String,
        /// The target's id.
        remote_id: String,
        /// The instance's configuration.
        config: Vec<(String, String)>,
    },
    /// `list`.
    List {
        /// The resource type.
        resource_type: String,
        /// A SCIM filter.
        filter: Option<String>,
        /// 1-based.
        start_index: u32,
        /// Page size.
        count: u32,
        /// The instance's configuration.
        config: Vec<(String, String)>,
    },
}

/// A call's answer, as the bindings give it.
pub(crate) enum Answer {
    /// From `describe`.
    Describe(v0_1::types::Descriptor),
    /// From `validate-config`.
    Validate(Result<(), String>),
    /// From `takes-deltas`.
    TakesDeltas(bool),
    /// From `secret-uses`.
    SecretUses(Vec<v0_1::secrets::SecretDecl>),
    /// From `provision` or `update-group`.
    Provision(Result<v0_1::types::Delivered, v0_1::types::DeliveryError>),
    /// From `get`.
    Get(Result<Option<String>, v0_1::types::DeliveryError>),
    /// From `list`.
    List(Result<v0_1::types::Page, v0_1::types::DeliveryError>),
}

/// The error for an answer of the wrong kind (cannot happen: each call maps to its answer).
fn unexpected() -> CallError {
    CallError::Incompatible("the plugin answered a different call".to_owned())
}

/// A resource a plugin read: it must be a JSON object.
fn object(text: &str) -> Result<Value, CallError> {
    match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(CallError::BadOutput(
            "the plugin read a resource that is not a JSON object".into(),
        )),
    }
}

/// The plugin's own delivery error, its message capped.
fn delivery_error(e: v0_1::types::DeliveryError, limits: &Limits) -> CallError {
    let mut message = e.message;
    if message.len() > limits.max_log_line_bytes {
        let mut end = limits.max_log_line_bytes;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("… (truncated)");
    }
    match e.kind {
        v0_1::types::ErrorKind::Transient => CallError::Transient(message),
        v0_1::types::ErrorKind::Permanent => CallError::Permanent(message),
    }
}

/// Asks a plugin to describe itself.
pub(crate) async fn describe(
    engine: &wasmtime::Engine,
    code: &PluginCode,
    sandbox: Arc<Sandbox>,
) -> Result<Descriptor, CallError> {
    match run(engine, code, sandbox, None, Call::Describe).await? {
        Answer::Describe(d) => Ok(Descriptor {
            name: d.name,
            version: d.version,
            resource_types: d.resource_types,
            config_keys: d
                .config_keys
                .into_iter()
                .map(|k| ConfigKey {
                    name: k.name,
                    description: k.description,
                    required: k.required,
                })
                .collect(),
            secret_names: d.secret_names,
        }),
        _ => Err(unexpected()),
    }
}

/// How a plugin may use each of its secrets: what it declares through `secrets`, or both ways
/// for every name of `declared` when it does not export that interface (built before `0.1.2`).
/// A declared use of a name `declared` lacks is dropped: the name is not the plugin's secret.
pub(crate) async fn secret_uses(
    engine: &wasmtime::Engine,
    code: &PluginCode,
    sandbox: Arc<Sandbox>,
    declared: &[String],
) -> Result<HashMap<String, SecretUses>, CallError> {
    if code.secrets.is_none() {
        return Ok(declared
            .iter()
            .map(|n| (n.clone(), SecretUses::BOTH))
            .collect());
    }
    match run(engine, code, sandbox, None, Call::SecretUses).await? {
        Answer::SecretUses(decls) => Ok(decls
            .into_iter()
            .filter(|d| declared.contains(&d.name))
            .map(|d| {
                let uses = SecretUses {
                    header: d.uses.contains(v0_1::secrets::SecretUse::HEADER),
                    hmac: d.uses.contains(v0_1::secrets::SecretUse::HMAC_KEY),
                };
                (d.name, uses)
            })
            .collect()),
        _ => Err(unexpected()),
    }
}

/// Asks a plugin that exports `membership` whether it takes deltas (`false` for one that does
/// not export it).
pub(crate) async fn takes_deltas(
    engine: &wasmtime::Engine,
    code: &PluginCode,
    sandbox: Arc<Sandbox>,
) -> Result<bool, CallError> {
    if code.membership.is_none() {
        return Ok(false);
    }
    match run(engine, code, sandbox, None, Call::TakesDeltas).await? {
        Answer::TakesDeltas(yes) => Ok(yes),
        _ => Err(unexpected()),
    }
}

/// Runs one call in a fresh store and instance, within the sandbox's limits.
pub(crate) async fn run(
    engine: &wasmtime::Engine,
    code: &PluginCode,
    sandbox: Arc<Sandbox>,
    lookup: Option<RemoteIdLookup>,
    call: Call,
) -> Result<Answer, CallError> {
    run_logged(engine, code, sandbox, lookup, call).await.0
}

/// One call's outcome, log lines and pacing.
type Logged = (Result<Answer, CallError>, Vec<String>, CallPacing);

/// [`run`], also answering the lines the plugin logged during the call.
pub(crate) async fn run_logged(
    engine: &wasmtime::Engine,
    code: &PluginCode,
    sandbox: Arc<Sandbox>,
    lookup: Option<RemoteIdLookup>,
    call: Call,
) -> Logged {
    let timeout = sandbox.limits.timeout;
    let memory_bytes = sandbox.limits.memory_bytes;
    let deadline = Instant::now() + timeout;
    let mut store = sandbox::store(engine, HostState::new(sandbox, lookup, deadline));
    let outcome = tokio::time::timeout(timeout, invoke(&mut store, code, call)).await;
    let state = store.data_mut();
    let result = match outcome {
        Err(_elapsed) => Err(CallError::Timeout { deadline: timeout }),
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) if state.limiter.memory_refused => Err(CallError::MemoryLimit {
            limit_bytes: memory_bytes,
        }),
        Ok(Err(e)) if deadline_passed(&e) => Err(CallError::Timeout { deadline: timeout }),
        Ok(Err(e)) if busy(&e) => Err(CallError::Transient(format!(
            "every plugin instance slot is busy, try again: {e}"
        ))),
        Ok(Err(e)) => Err(match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::Timeout { deadline: timeout },
            Some(trap) => match state.output_tail() {
                Some(tail) => CallError::Trap(format!("{trap} (plugin output: {tail})")),
                None => CallError::Trap(trap.to_string()),
            },
            None => CallError::Trap(format!("{e:#}")),
        }),
    };
    state.flush_output();
    (result, state.take_call_log(), state.pacing)
}

/// Whether an error is the host's [`sandbox::DeadlinePassed`]: the call's deadline cut an HTTP
/// request short, which is the call's timeout.
fn deadline_passed(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<sandbox::DeadlinePassed>().is_some())
}

/// Whether an error is the pooling allocator's "no free slot" (more calls in flight than
/// [`crate::runtime::RuntimeConfig::max_instances`]): not the plugin's fault, and it passes.
fn busy(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
    })
}

/// Instantiates the plugin and makes the call.
async fn invoke(
    store: &mut Store<HostState>,
    code: &PluginCode,
    call: Call,
) -> wasmtime::Result<Answer> {
    let instance = code.pre.instantiate_async(&mut *store).await?;
    Ok(match call {
        Call::Describe => {
            let guest = code.provisioner.load(&mut *store, &instance)?;
            Answer::Describe(guest.call_describe(&mut *store).await?)
        }
        Call::Validate(config) => {
            let guest = code.provisioner.load(&mut *store, &instance)?;
            Answer::Validate(guest.call_validate_config(&mut *store, &config).await?)
        }
        Call::Provision(event) => {
            let guest = code.provisioner.load(&mut *store, &instance)?;
            Answer::Provision(guest.call_provision(&mut *store, &event).await?)
        }
        Call::TakesDeltas => {
            let guest = membership(code)?.load(&mut *store, &instance)?;
            Answer::TakesDeltas(guest.call_takes_deltas(&mut *store).await?)
        }
        Call::SecretUses => {
            let guest = code
                .secrets
                .as_ref()
                .ok_or_else(|| wasmtime::Error::msg("the plugin does not export `secrets`"))?
                .load(&mut *store, &instance)?;
            Answer::SecretUses(guest.call_secret_uses(&mut *store).await?)
        }
        Call::UpdateGroup(change) => {
            let guest = membership(code)?.load(&mut *store, &instance)?;
            Answer::Provision(guest.call_update_group(&mut *store, &change).await?)
        }
        Call::Get {
            resource_type,
            remote_id,
            config,
        } => {
            let guest = reader(code)?.load(&mut *store, &instance)?;
            Answer::Get(
                guest
                    .call_get(&mut *store, &resource_type, &remote_id, &config)
                    .await?,
            )
        }
        Call::List {
            resource_type,
            filter,
            start_index,
            count,
            config,
        } => {
            let guest = reader(code)?.load(&mut *store, &instance)?;
            Answer::List(
                guest
                    .call_list(
                        &mut *store,
                        &resource_type,
                        filter.as_deref(),
                        start_index,
                        count,
                        &config,
                    )
                    .await?,
            )
        }
    })
}

/// The membership export's lookups.
fn membership(code: &PluginCode) -> wasmtime::Result<&v0_1::membership::GuestIndices> {
    code.membership
        .as_ref()
        .ok_or_else(|| wasmtime::format_err!("the plugin does not export membership"))
}

/// The reader's export lookups.
fn reader(code: &PluginCode) -> wasmtime::Result<&v0_1::reader::GuestIndices> {
    code.reader
        .as_ref()
        .ok_or_else(|| wasmtime::format_err!("the plugin does not export a reader"))
}
