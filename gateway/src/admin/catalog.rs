//! The durable catalogue behind the admin API: uploaded plugins and the connector instances that
//! admins define at runtime, kept in the store and applied to the live [`Registry`].
//!
//! # Where a connector comes from
//! Connectors named in the config file are loaded at start and are read-only here (change the
//! file). Connectors made through the API are stored (`connector/<name>`), loaded again at every
//! start, and can be changed, disabled and removed live. An uploaded plugin is stored by its
//! SHA-256 (`plugin/<id>` for what it declared, `wasm/<id>` for the component) after the runtime
//! compiled it and it described itself, so a stored plugin is one that loads.
//!
//! # Applying a change
//! A connector definition is checked completely before anything changes: the plugin resolves and
//! loads, the instance is built, and the plugin accepts its configuration. Only then is the
//! definition stored and the new instance put into the registry, which is the hot swap (see
//! [`registry`](crate::delivery::registry)). Admin changes are serialised, so two of them never
//! interleave.
//!
//! API-made connectors never reference files on the gateway's disk (only bundled or uploaded
//! plugins), and their values are taken literally: `${NAME}` is not expanded, so an admin API
//! token cannot read the gateway's environment through a plugin's configuration.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use crate::auth::sha256_hex;
use crate::config::{ConnectorConfig, MappingConfig, PASS_THROUGH_ROLES, Pattern};
use crate::delivery::Connector;
use crate::delivery::connector::{self, SetupError};
use crate::delivery::mapping::Mapping;
use crate::delivery::registry::{Entry, Registry};
use crate::delivery::scope::{Scope, ScopeConfig};
use crate::model::KINDS;
use crate::model::now_ms;
use crate::runtime::{Plugin, Runtime, bundled};
use crate::store::{Store, StoreError};
use crate::vault::{Sealed, Vault, secret_purpose};

/// Why an admin change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No such plugin or connector.
    #[error("{0}")]
    NotFound(String),
    /// The change contradicts the current state (in use, defined in the config file, …).
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed, but it cannot be applied: the plugin does not load, the plugin refuses the
    /// configuration, …
    #[error("{0}")]
    Unprocessable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the gateway knows of an uploaded plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The SHA-256 of the component, in hex: the plugin's id.
    pub id: String,
    /// The name it gives itself.
    pub name: String,
    /// The version it gives itself.
    pub version: String,
    /// The world it implements (`connector`, `readable-connector`).
    pub world: String,
    /// The contract version it was built against.
    pub contract_version: String,
    /// The resource types it handles.
    pub resource_types: Vec<String>,
    /// The configuration keys it expects.
    pub config_keys: Vec<String>,
    /// The secret names it expects.
    pub secret_names: Vec<String>,
    /// How it may use each of them (`header`, `HMAC key`, or both), as it declared: the
    /// host refuses any other use. Empty for a plugin uploaded before this was recorded.
    #[serde(default)]
    pub secret_uses: BTreeMap<String, String>,
    /// The component's size in bytes.
    pub size_bytes: usize,
    /// When it was uploaded (ms since the Unix epoch).
    pub uploaded_ms: u64,
}

/// A plugin as listed: what it is and which connectors use it.
#[derive(Debug, Serialize)]
pub struct PluginView {
    /// The plugin.
    #[serde(flatten)]
    pub info: PluginInfo,
    /// The connectors that run it.
    pub used_by: Vec<String>,
}

/// A connector as listed. Secrets are write-only: only their names are shown.
#[derive(Debug, Serialize)]
pub struct ConnectorView {
    /// The instance's name.
    pub name: String,
    /// Where it came from: `config` (the config file; read-only here) or `api`.
    pub source: &'static str,
    /// The plugin reference as given.
    pub plugin: String,
    /// The id (SHA-256) of the plugin it runs, with its name and version, once loaded.
    pub plugin_id: Option<String>,
    /// The plugin's own name.
    pub plugin_name: Option<String>,
    /// The plugin's own version.
    pub plugin_version: Option<String>,
    /// The resource types it receives.
    pub resource_types: Vec<String>,
    /// Its configuration.
    pub config: BTreeMap<String, String>,
    /// The names of its secrets.
    pub secrets: Vec<String>,
    /// Origins it may send HTTP to.
    pub allowed_hosts: Vec<String>,
    /// Address ranges its hosts may resolve to although not public.
    pub allowed_ranges: Vec<String>,
    /// Deadline of one call, in ms.
    pub timeout_ms: u64,
    /// Memory limit of one call, in MiB.
    pub memory_mib: u64,
    /// HTTP requests a second it may send, if capped.
    pub max_requests_per_second: Option<u32>,
    /// Deliveries in flight at once, if capped.
    pub max_concurrency: Option<usize>,
    /// Which users and groups it receives.
    pub scope: ScopeConfig,
    /// `async` or `blocking`.
    pub pattern: Pattern,
    /// Whether it receives and delivers changes.
    pub enabled: bool,
    /// The rules applied to each user and group before the plugin sees it.
    #[serde(skip_serializing_if = "MappingConfig::is_empty")]
    pub mapping: MappingConfig,
    /// Why it is not running, when a stored definition failed to load at start.
    pub error: Option<String>,
}

/// A connector definition and what became of it.
struct Defined {
    /// The definition.
    config: ConnectorConfig,
    /// From the config file (`true`) or the API.
    from_file: bool,
    /// The plugin it runs, when it loaded.
    plugin: Option<Arc<Plugin>>,
    /// Why it did not load.
    error: Option<String>,
}

/// See the module docs.
pub struct Catalog {
    /// Where plugins and connector definitions are kept.
    store: Arc<dyn Store>,
    /// Compiles and instantiates plugins.
    runtime: Runtime,
    /// The live connector instances.
    registry: Arc<Registry>,
    /// Every connector definition, by name.
    defined: Mutex<BTreeMap<String, Defined>>,
    /// Plugins already loaded, by id, so that reusing one does not compile it again.
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
    /// Serialises admin changes.
    changes: tokio::sync::Mutex<()>,
    /// Wakes the dispatcher after a change (held jobs may run now).
    committed: Arc<Notify>,
    /// Whether the gateway runs in pass-through mode, where role-based scopes are refused.
    pass_through: bool,
    /// The operator's key: a stored definition holds its secrets sealed with it.
    vault: Arc<Vault>,
}

/// Most bytes an uploaded plugin may have.
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

const PLUGIN: &str = "plugin/";
const WASM: &str = "wasm/";
const CONNECTOR: &str = "connector/";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single map operation; a poisoned map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Catalog {
    /// An empty catalogue; [`Catalog::start`] fills it.
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Runtime,
        registry: Arc<Registry>,
        committed: Arc<Notify>,
        vault: Arc<Vault>,
    ) -> Self {
        Self {
            store,
            runtime,
            registry,
            defined: Mutex::default(),
            loaded: Mutex::default(),
            changes: tokio::sync::Mutex::new(()),
            committed,
            pass_through: false,
            vault,
        }
    }

    /// The same catalogue for a gateway in pass-through mode: a connector with a role-based
    /// scope is refused, as the memberships it depends on are not stored.
    pub fn in_pass_through_mode(self) -> Self {
        Self {
            pass_through: true,
            ..self
        }
    }

    /// Loads the config file's connectors (any failure stops the start) and the stored ones
    /// (a failure is logged and shown on the connector; its jobs wait for a fix).
    pub async fn start(&self, from_file: &[ConnectorConfig]) -> Result<(), SetupError> {
        for c in from_file {
            let scope = Scope::compile(&c.scope).map_err(|reason| SetupError {
                name: c.name.clone(),
                reason,
            })?;
            let instance = connector::load(&self.runtime, c).await?;
            tracing::info!(connector = %c.name, plugin = %c.plugin, "connector ready");
            let plugin = Some(instance.plugin());
            self.register(c, Arc::new(instance), scope);
            self.define(c.clone(), true, plugin, None);
        }
        let stored = self.store.settings(CONNECTOR).map_err(|e| SetupError {
            name: "(stored connectors)".into(),
            reason: e.to_string(),
        })?;
        for (key, bytes) in stored {
            let (c, in_clear) = match opened(&self.vault, &bytes) {
                Ok(c) => c,
                // Started with another key than the store was written with: every sealed
                // value is out of reach, so the gateway does not start half blind.
                Err(e @ Unopened::Key(crate::vault::VaultError::WrongKey { .. })) => {
                    return Err(SetupError {
                        name: key.trim_start_matches(CONNECTOR).to_owned(),
                        reason: e.to_string(),
                    });
                }
                Err(e) => {
                    tracing::error!(%key, error = %e, "a stored connector cannot be read");
                    continue;
                }
            };
            if in_clear {
                // Written by an older gateway, with its secrets in clear text: seal them now.
                let resealed = match sealed(&self.vault, &c) {
                    Ok(doc) => {
                        self.store
                            .put_settings(vec![(key.clone(), Some(doc))])
                            .await
                    }
                    Err(e) => Err(e),
                };
                resealed.map_err(|e| SetupError {
                    name: c.name.clone(),
                    reason: e.to_string(),
                })?;
                tracing::info!(connector = %c.name, "sealed the secrets an older gateway stored in clear text");
            }
            if lock(&self.defined).contains_key(&c.name) {
                tracing::warn!(connector = %c.name, "the config file defines this connector too; the stored definition is ignored");
                continue;
            }
            match self.build(&c).await {
                Ok((plugin, instance, scope)) => {
                    tracing::info!(connector = %c.name, plugin = %c.plugin, "connector ready");
                    self.register(&c, instance, scope);
                    self.define(c, false, Some(plugin), None);
                }
                Err(e) => {
                    tracing::error!(connector = %c.name, error = %e, "a stored connector failed to load");
                    self.define(c, false, None, Some(e.to_string()));
                }
            }
        }
        Ok(())
    }

    fn define(
        &self,
        config: ConnectorConfig,
        from_file: bool,
        plugin: Option<Arc<Plugin>>,
        error: Option<String>,
    ) {
        lock(&self.defined).insert(
            config.name.clone(),
            Defined {
                config,
                from_file,
                plugin,
                error,
            },
        );
    }

    fn register(&self, c: &ConnectorConfig, instance: Arc<dyn Connector>, scope: Scope) {
        let kinds = KINDS
            .into_iter()
            .filter(|k| c.resource_types.iter().any(|t| t == k.name()))
            .collect();
        self.registry.insert(
            c.name.clone(),
            Entry {
                connector: instance,
                kinds,
                scope: Arc::new(scope),
                blocking: c.pattern == Pattern::Blocking,
                enabled: c.enabled,
            },
        );
    }

    // --- plugins ---------------------------------------------------------------------------

    /// Stores an uploaded component once it loaded and described itself. Answers the plugin
    /// and whether it is new (uploading the same bytes again changes nothing).
    pub async fn upload(
        &self,
        wasm: &[u8],
        expected_sha256: Option<&str>,
    ) -> Result<(PluginView, bool), CatalogError> {
        let id = sha256_hex(wasm);
        if let Some(expected) = expected_sha256 {
            let expected = expected.trim().trim_start_matches("sha256:").to_lowercase();
            if expected != id {
                return Err(CatalogError::BadRequest(format!(
                    "the upload's sha256 is {id}, not the expected {expected}"
                )));
            }
        }
        let _change = self.changes.lock().await;
        if let Some(info) = self.plugin_info(&id)? {
            return Ok((self.view_plugin(info), false));
        }
        let plugin = self.runtime.load(wasm).await.map_err(|e| {
            CatalogError::Unprocessable(format!("not a usable connector plugin: {e}"))
        })?;
        let d = plugin.descriptor();
        let info = PluginInfo {
            id: id.clone(),
            name: d.name.clone(),
            version: d.version.clone(),
            world: plugin.world().name().to_owned(),
            contract_version: plugin.contract_version().to_owned(),
            resource_types: d.resource_types.clone(),
            config_keys: d.config_keys.iter().map(|k| k.name.clone()).collect(),
            secret_names: d.secret_names.clone(),
            secret_uses: (d.secret_names.iter())
                .map(|n| (n.clone(), plugin.secret_uses(n).to_string()))
                .collect(),
            size_bytes: wasm.len(),
            uploaded_ms: now_ms(),
        };
        let meta = serde_json::to_vec(&info).map_err(StoreError::io)?;
        self.store
            .put_settings(vec![
                (format!("{PLUGIN}{id}"), Some(meta)),
                (format!("{WASM}{id}"), Some(wasm.to_vec())),
            ])
            .await?;
        lock(&self.loaded).insert(id, plugin);
        Ok((self.view_plugin(info), true))
    }

    fn plugin_info(&self, id: &str) -> Result<Option<PluginInfo>, CatalogError> {
        match self.store.setting(&format!("{PLUGIN}{id}"))? {
            Some(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).map_err(StoreError::io)?,
            )),
            None => Ok(None),
        }
    }

    fn view_plugin(&self, info: PluginInfo) -> PluginView {
        let used_by = lock(&self.defined)
            .values()
            .filter(|d| d.plugin.as_ref().is_some_and(|p| p.sha256() == info.id))
            .map(|d| d.config.name.clone())
            .collect();
        PluginView { info, used_by }
    }

    /// Every uploaded plugin.
    pub fn plugins(&self) -> Result<Vec<PluginView>, CatalogError> {
        let mut out = Vec::new();
        for (_, bytes) in self.store.settings(PLUGIN)? {
            let info: PluginInfo = serde_json::from_slice(&bytes).map_err(StoreError::io)?;
            out.push(self.view_plugin(info));
        }
        Ok(out)
    }

    /// One uploaded plugin by id (`sha256:` prefix optional).
    pub fn plugin(&self, id: &str) -> Result<PluginView, CatalogError> {
        let id = id.trim_start_matches("sha256:");
        self.plugin_info(id)?
            .map(|info| self.view_plugin(info))
            .ok_or_else(|| CatalogError::NotFound(format!("no uploaded plugin {id}")))
    }

    /// Removes an uploaded plugin that no connector uses.
    pub async fn delete_plugin(&self, id: &str) -> Result<(), CatalogError> {
        let _change = self.changes.lock().await;
        let view = self.plugin(id)?;
        if !view.used_by.is_empty() {
            return Err(CatalogError::Conflict(format!(
                "plugin {} is used by {}; change or remove those connectors first",
                view.info.id,
                view.used_by.join(", ")
            )));
        }
        let id = view.info.id;
        self.store
            .put_settings(vec![
                (format!("{PLUGIN}{id}"), None),
                (format!("{WASM}{id}"), None),
            ])
            .await?;
        lock(&self.loaded).remove(&id);
        Ok(())
    }

    /// The plugin a connector names: a bundled plugin's name, an uploaded plugin's id
    /// (`sha256:<hex>` or the bare hex), or `<name>@<version>` of an uploaded plugin.
    async fn resolve(&self, reference: &str) -> Result<Arc<Plugin>, CatalogError> {
        if let Some(wasm) = bundled::wasm(reference) {
            let key = format!("bundled:{reference}");
            if let Some(p) = lock(&self.loaded).get(&key) {
                return Ok(p.clone());
            }
            let plugin = self.runtime.load(wasm).await.map_err(|e| {
                CatalogError::Unprocessable(format!("bundled plugin {reference}: {e}"))
            })?;
            lock(&self.loaded).insert(key, plugin.clone());
            return Ok(plugin);
        }
        let id = match reference.split_once('@') {
            Some((name, version)) => self
                .plugins()?
                .into_iter()
                .find(|p| p.info.name == name && p.info.version == version)
                .map(|p| p.info.id)
                .ok_or_else(|| {
                    CatalogError::Unprocessable(format!("no uploaded plugin is {reference}"))
                })?,
            None => reference.trim_start_matches("sha256:").to_lowercase(),
        };
        if let Some(p) = lock(&self.loaded).get(&id) {
            return Ok(p.clone());
        }
        let wasm = self.store.setting(&format!("{WASM}{id}"))?.ok_or_else(|| {
            CatalogError::Unprocessable(format!(
                "plugin '{reference}' is neither bundled ({}) nor uploaded",
                bundled::NAMES.join(", ")
            ))
        })?;
        let plugin = self
            .runtime
            .load(&wasm)
            .await
            .map_err(|e| CatalogError::Unprocessable(format!("plugin {id}: {e}")))?;
        lock(&self.loaded).insert(id, plugin.clone());
        Ok(plugin)
    }

    // --- connectors ------------------------------------------------------------------------

    /// Resolves the plugin and builds a checked instance and scope, changing nothing.
    async fn build(
        &self,
        c: &ConnectorConfig,
    ) -> Result<(Arc<Plugin>, Arc<dyn Connector>, Scope), CatalogError> {
        if self.pass_through && !c.scope.groups.is_empty() {
            return Err(CatalogError::Unprocessable(PASS_THROUGH_ROLES.into()));
        }
        let scope = Scope::compile(&c.scope).map_err(CatalogError::Unprocessable)?;
        let plugin = self.resolve(&c.plugin).await?;
        let instance = connector::configure(&self.runtime, plugin.clone(), c)
            .await
            .map_err(|e| CatalogError::Unprocessable(e.to_string()))?;
        Ok((plugin, Arc::new(instance), scope))
    }

    /// Every connector.
    pub fn connectors(&self) -> Vec<ConnectorView> {
        lock(&self.defined).values().map(view_connector).collect()
    }

    /// One connector.
    pub fn connector(&self, name: &str) -> Result<ConnectorView, CatalogError> {
        lock(&self.defined)
            .get(name)
            .map(view_connector)
            .ok_or_else(|| CatalogError::NotFound(format!("no connector named '{name}'")))
    }

    /// Creates or replaces an API connector from a JSON definition (`PUT`). Omitted `secrets`
    /// keep the current ones. Answers whether it was created.
    pub async fn put_connector(&self, name: &str, body: Value) -> Result<bool, CatalogError> {
        let _change = self.changes.lock().await;
        let current = self.editable(name)?;
        let body = put_body(current.as_ref(), body)?;
        self.apply(name, body).await?;
        Ok(current.is_none())
    }

    /// Changes some fields of an API connector (`PATCH`, a JSON merge patch: RFC 7386), e.g.
    /// `{"enabled": false}` or `{"plugin": "sha256:…"}` (a hot swap).
    pub async fn patch_connector(&self, name: &str, patch: Value) -> Result<(), CatalogError> {
        let _change = self.changes.lock().await;
        let current = self
            .editable(name)?
            .ok_or_else(|| CatalogError::NotFound(format!("no connector named '{name}'")))?;
        let merged = patch_body(&current, &patch)?;
        self.apply(name, merged).await
    }

    /// Removes an API connector. Jobs it still had are dead-lettered by the dispatcher, with
    /// that reason, and can be retried if it is defined again.
    pub async fn delete_connector(&self, name: &str) -> Result<(), CatalogError> {
        let _change = self.changes.lock().await;
        if self.editable(name)?.is_none() {
            return Err(CatalogError::NotFound(format!(
                "no connector named '{name}'"
            )));
        }
        self.store
            .put_settings(vec![(format!("{CONNECTOR}{name}"), None)])
            .await?;
        self.registry.remove(name);
        lock(&self.defined).remove(name);
        self.committed.notify_one();
        Ok(())
    }

    /// The current API definition of `name`, if any; `409` for a config-file connector.
    fn editable(&self, name: &str) -> Result<Option<ConnectorConfig>, CatalogError> {
        match lock(&self.defined).get(name) {
            Some(d) if d.from_file => Err(CatalogError::Conflict(format!(
                "connector '{name}' is defined in the config file; change it there"
            ))),
            Some(d) => Ok(Some(d.config.clone())),
            None => Ok(None),
        }
    }

    /// Checks a full definition, then stores it and swaps it in.
    async fn apply(&self, name: &str, body: Value) -> Result<(), CatalogError> {
        let c = definition(name, body)?;
        let (plugin, instance, scope) = self.build(&c).await?;
        let stored = sealed(&self.vault, &c)?;
        self.store
            .put_settings(vec![(format!("{CONNECTOR}{name}"), Some(stored))])
            .await?;
        self.register(&c, instance, scope);
        tracing::info!(connector = %name, plugin = %plugin.descriptor().name,
            version = %plugin.descriptor().version, enabled = c.enabled, "connector applied");
        self.define(c, false, Some(plugin), None);
        self.committed.notify_one();
        Ok(())
    }
}

/// A connector's definition as the store keeps it: its secrets sealed with the operator's key
/// (`sealed_secrets`, each with its origins), never in clear text (`secrets`).
fn sealed(vault: &Vault, c: &ConnectorConfig) -> Result<Vec<u8>, StoreError> {
    let mut doc = serde_json::to_value(c).map_err(StoreError::io)?;
    let sealed: serde_json::Map<String, Value> = c
        .secrets
        .iter()
        .map(|(name, secret)| {
            let value = vault.seal_str(&secret_purpose(&c.name, name), &secret.value);
            let entry = serde_json::json!({"value": value, "origins": secret.origins});
            (name.clone(), entry)
        })
        .collect();
    if let Some(obj) = doc.as_object_mut() {
        obj.remove("secrets");
        obj.insert("sealed_secrets".into(), Value::Object(sealed));
    }
    serde_json::to_vec(&doc).map_err(StoreError::io)
}

/// A stored definition with its secrets opened, and whether they were stored in clear text (by
/// an older gateway).
fn opened(vault: &Vault, bytes: &[u8]) -> Result<(ConnectorConfig, bool), Unopened> {
    let unreadable = |e: serde_json::Error| Unopened::Unreadable(e.to_string());
    let mut doc: Value = serde_json::from_slice(bytes).map_err(unreadable)?;
    let Some(obj) = doc.as_object_mut() else {
        return Err(Unopened::Unreadable("not a JSON object".into()));
    };
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let in_clear = match obj.remove("sealed_secrets") {
        Some(Value::Object(mut secrets)) => {
            // Each entry is a secret's bound form with its value sealed: open the value in place.
            for (secret, entry) in &mut secrets {
                let field = entry
                    .as_object_mut()
                    .and_then(|e| e.get_mut("value"))
                    .ok_or_else(|| {
                        Unopened::Unreadable(format!("secret '{secret}' has no value"))
                    })?;
                let value: Sealed = serde_json::from_value(field.take()).map_err(unreadable)?;
                let value = vault
                    .open_str(&secret_purpose(&name, secret), &value)
                    .map_err(Unopened::Key)?;
                *field = Value::String(value);
            }
            obj.insert("secrets".into(), Value::Object(secrets));
            false
        }
        _ => obj
            .get("secrets")
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty()),
    };
    let c = serde_json::from_value(doc).map_err(unreadable)?;
    Ok((c, in_clear))
}

/// Why a stored definition could not be opened.
#[derive(Debug, thiserror::Error)]
enum Unopened {
    /// It is not a definition.
    #[error("{0}")]
    Unreadable(String),
    /// A secret in it does not open with the operator's key.
    #[error(transparent)]
    Key(crate::vault::VaultError),
}

/// The full definition a `PUT` of `body` asks for, over the connector's current API definition
/// (`None`: a new connector): omitted `secrets` keep the current ones, unless the change sends
/// them somewhere new ([`secrets_stay`]).
fn put_body(current: Option<&ConnectorConfig>, mut body: Value) -> Result<Value, CatalogError> {
    if let (Some(obj), Some(current)) = (body.as_object_mut(), current)
        && !obj.contains_key("secrets")
    {
        obj.insert("secrets".into(), serde_json::json!(current.secrets));
        secrets_stay(current, &body)?;
    }
    Ok(body)
}

/// The full definition a `PATCH` (a JSON merge patch) makes of the current one.
fn patch_body(current: &ConnectorConfig, patch: &Value) -> Result<Value, CatalogError> {
    let mut merged = serde_json::to_value(current).map_err(StoreError::io)?;
    merge_patch(&mut merged, patch);
    if patch.get("secrets").is_none() {
        secrets_stay(current, &merged)?;
    }
    Ok(merged)
}

/// A full definition of connector `name`, parsed and checked as far as it can be without its
/// plugin.
fn definition(name: &str, mut body: Value) -> Result<ConnectorConfig, CatalogError> {
    check_name(name)?;
    match body.as_object_mut() {
        Some(obj) => {
            obj.entry("name")
                .or_insert_with(|| Value::String(name.into()));
        }
        None => {
            return Err(CatalogError::BadRequest(
                "a connector definition is a JSON object".into(),
            ));
        }
    }
    let c: ConnectorConfig = serde_json::from_value(body)
        .map_err(|e| CatalogError::BadRequest(format!("invalid connector definition: {e}")))?;
    if c.name != name {
        return Err(CatalogError::BadRequest(format!(
            "the definition names '{}', the path '{name}'",
            c.name
        )));
    }
    if c.open_link_local {
        return Err(CatalogError::Unprocessable(
            "`open_link_local` can only be set in the config file, never through the admin API"
                .into(),
        ));
    }
    if bundled::wasm(&c.plugin).is_none() && c.plugin.contains(['/', '\\']) {
        return Err(CatalogError::Unprocessable(
            "a connector made through the admin API runs a bundled or uploaded plugin, not a file"
                .into(),
        ));
    }
    Ok(c)
}

/// Everything a `PUT` (`patch` false) or `PATCH` of connector `name` checks before it loads a
/// plugin: the body over the `current` API definition, the definition itself, its scope and its
/// egress settings. The admin API runs the same steps ([`Catalog::put_connector`],
/// [`Catalog::patch_connector`]); this entry point is for the admin fuzz target and its
/// regression tests (`gateway/fuzz/`).
#[doc(hidden)]
pub fn check_change(
    name: &str,
    current: Option<&ConnectorConfig>,
    body: Value,
    patch: bool,
) -> Result<ConnectorConfig, CatalogError> {
    let body = match (patch, current) {
        (false, _) => put_body(current, body)?,
        (true, Some(current)) => patch_body(current, &body)?,
        (true, None) => {
            return Err(CatalogError::NotFound(format!(
                "no connector named '{name}'"
            )));
        }
    };
    let c = definition(name, body)?;
    Scope::compile(&c.scope).map_err(CatalogError::Unprocessable)?;
    connector::settings(&c).map_err(|e| CatalogError::Unprocessable(e.to_string()))?;
    Mapping::compile(&c.mapping).map_err(|e| CatalogError::Unprocessable(e.to_string()))?;
    Ok(c)
}

fn view_connector(d: &Defined) -> ConnectorView {
    let c = &d.config;
    ConnectorView {
        name: c.name.clone(),
        source: if d.from_file { "config" } else { "api" },
        plugin: c.plugin.clone(),
        plugin_id: d.plugin.as_ref().map(|p| p.sha256().to_owned()),
        plugin_name: d.plugin.as_ref().map(|p| p.descriptor().name.clone()),
        plugin_version: d.plugin.as_ref().map(|p| p.descriptor().version.clone()),
        resource_types: c.resource_types.clone(),
        config: c.config.clone(),
        secrets: c.secrets.keys().cloned().collect(),
        allowed_hosts: c.allowed_hosts.clone(),
        allowed_ranges: c.allowed_ranges.clone(),
        timeout_ms: c.timeout_ms,
        memory_mib: c.memory_mib,
        max_requests_per_second: c.max_requests_per_second,
        max_concurrency: c.max_concurrency,
        scope: c.scope.clone(),
        pattern: c.pattern,
        enabled: c.enabled,
        mapping: c.mapping.clone(),
        error: d.error.clone(),
    }
}

/// Connector names appear in URLs, job records and metrics labels: keep them plain.
fn check_name(name: &str) -> Result<(), CatalogError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(CatalogError::BadRequest(format!(
            "connector name '{name}' must be 1-64 characters of letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let (Some(target_obj), Some(patch_obj)) = (target.as_object_mut(), patch.as_object()) else {
        *target = patch.clone();
        return;
    };
    for (key, value) in patch_obj {
        if value.is_null() {
            target_obj.remove(key);
        } else {
            let slot = target_obj.entry(key.clone()).or_insert(Value::Null);
            if value.is_object() && slot.is_object() {
                merge_patch(slot, value);
            } else {
                *slot = value.clone();
            }
        }
    }
}

/// Refuses a change that would send the secrets a connector keeps somewhere new: kept secrets
/// were given for where the connector sent them then, so a change of its `allowed_hosts`,
/// `allowed_ranges` or a URL in its `config` must give them again (`422` naming them).
/// Otherwise an admin token could redirect a secret it cannot read to a host it controls.
fn secrets_stay(current: &ConnectorConfig, changed: &Value) -> Result<(), CatalogError> {
    if current.secrets.is_empty() {
        return Ok(());
    }
    let mut changed = changed.clone();
    if let Some(obj) = changed.as_object_mut() {
        // A `PUT` body may leave the name to the path, as `apply` does.
        obj.entry("name")
            .or_insert_with(|| Value::String(current.name.clone()));
    }
    let Ok(changed) = serde_json::from_value::<ConnectorConfig>(changed) else {
        return Ok(()); // refused by `apply`, with its reason
    };
    let destination = |c: &ConnectorConfig| {
        let mut hosts = c.allowed_hosts.clone();
        hosts.sort();
        let mut ranges = c.allowed_ranges.clone();
        ranges.sort();
        let urls: Vec<(String, String)> = (c.config.iter())
            .filter(|(_, v)| v.contains("://"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (hosts, ranges, urls)
    };
    if destination(current) == destination(&changed) {
        return Ok(());
    }
    let names: Vec<&str> = current.secrets.keys().map(String::as_str).collect();
    Err(CatalogError::Unprocessable(format!(
        "the change sends connector '{}' somewhere new (allowed_hosts, allowed_ranges or a URL in \
         config), and its secrets were given for where it sent them: give `secrets` again ({})",
        current.name,
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": 1, "secrets": {"token": "x", "old": "y"}, "list": [1]});
        merge_patch(
            &mut target,
            &json!({"a": null, "secrets": {"old": null, "new": "z"}, "list": [2], "b": true}),
        );
        assert_eq!(
            target,
            json!({"secrets": {"token": "x", "new": "z"}, "list": [2], "b": true})
        );
    }

    #[test]
    fn connector_names_are_plain() {
        assert!(check_name("crm-prod_2.eu").is_ok());
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(matches!(check_name(bad), Err(CatalogError::BadRequest(_))));
        }
    }
}
