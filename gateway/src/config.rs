//! The gateway's configuration: a TOML file, overridden by command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scim::schema::{ExtensionDef, UnknownAttributes};

/// Everything `scim-gateway serve` needs to run. Every field has a default, so an empty file (or
/// no file) is a valid configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Directory holding the store (`gateway.redb`) and the generated token's hash.
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes (larger ones get `413`). `/Bulk` has its own limit.
    pub max_body_bytes: usize,
    /// Bearer tokens accepted from SCIM clients.
    pub tokens: Vec<TokenConfig>,
    /// Bearer tokens accepted by the admin API (never by the SCIM endpoints).
    pub admin_tokens: Vec<TokenConfig>,
    /// Listing and filtering limits.
    pub scim: ScimConfig,
    /// `/Bulk` limits.
    pub bulk: BulkConfig,
    /// Outbound delivery: retries and parallelism.
    pub delivery: DeliveryConfig,
    /// Connector instances: where changes are provisioned to.
    pub connectors: Vec<ConnectorConfig>,
    /// How log lines are written (`--log-format` overrides it).
    pub log_format: LogFormat,
    /// Who may read `/metrics`.
    pub metrics: MetricsConfig,
    /// How long the audit trail is kept.
    pub audit: AuditConfig,
    /// The embedded store's memory.
    pub store: StoreConfig,
    /// Connection limits and timeouts of the HTTP listener.
    pub http: HttpConfig,
    /// Present for the pass-through mode (provision without persisting): a connector is the
    /// system of record and the gateway keeps no identities. Absent: persist and provision.
    pub pass_through: Option<PassThroughConfig>,
    /// Extension schemas beyond the core and enterprise ones (`[[schemas]]`, RFC 7643 §7
    /// names; see docs/schemas-and-mapping.md).
    pub schemas: Vec<ExtensionDef>,
}

/// The `[pass_through]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassThroughConfig {
    /// The `[[connectors]]` entry that holds the identities. Its plugin must be a
    /// `readable-connector`: reads, filters and paging are answered by asking it, and writes
    /// go to it while the client waits, before they fan out to the other connectors.
    pub system_of_record: String,
}

/// The `[audit]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days an audit entry is kept; older ones are pruned at start and every hour. `0` keeps
    /// them forever.
    pub retention_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

/// The `[store]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The embedded store's page cache, in MiB: a bound on the memory it holds for reads (the
    /// operating system's file cache serves beyond it). 128 unless set: redb's own default,
    /// 1024, let a gateway that provisions 100,000 users and a 100,000-member group hold ~300
    /// MiB of cache alone (docs/benchmarks.md). A bigger one keeps more of a large store's
    /// reads in memory.
    pub cache_mib: usize,
    /// A file holding the operator's key (64 hex digits), which seals connector secrets and
    /// passwords awaiting delivery in the store (`vault.rs`). `SCIM_GATEWAY_KEY` overrides it;
    /// with neither, a key is made in the data directory (`gateway.key`) on the first start.
    pub key_file: Option<PathBuf>,
}

/// See [`StoreConfig::cache_mib`].
pub const DEFAULT_CACHE_MIB: usize = 128;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_mib: DEFAULT_CACHE_MIB,
            key_file: None,
        }
    }
}

/// The `[http]` section: what one peer may hold of the listener (see `listen.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Connections served at once; more wait to be accepted until one closes.
    pub max_connections: usize,
    /// How long a request's head (line and headers) may take to arrive, from when the
    /// connection waits for it: also how long a kept-alive connection may stay idle (ms).
    pub header_timeout_ms: u64,
    /// How long a request's body may take to arrive once its head has (ms); a late one is
    /// answered `408`.
    pub body_timeout_ms: u64,
    /// How long the gateway works on one SCIM request, from its head on, before it stops and
    /// answers `503` (ms; see `app/budget.rs`: a change is given up only before it is made).
    pub request_budget_ms: u64,
}

impl HttpConfig {
    /// Refuses a zero limit.
    fn check(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("max_connections", self.max_connections as u64),
            ("header_timeout_ms", self.header_timeout_ms),
            ("body_timeout_ms", self.body_timeout_ms),
            ("request_budget_ms", self.request_budget_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Http(name));
            }
        }
        Ok(())
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            request_budget_ms: 60_000,
        }
    }
}

/// What a user leaving a connector's scope gets there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deprovision {
    /// Deleted at the connector.
    #[default]
    Delete,
    /// Sent once more, with `active: false`.
    Deactivate,
}

/// A scope as configured (`scope = { groups = [...], filter = "...", deprovision = "..." }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// Only users that are direct members of one of these groups (ids or `displayName`s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Only users this SCIM filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// What a user leaving scope gets.
    #[serde(default)]
    pub deprovision: Deprovision,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `[metrics]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` without a token (by default it needs an admin token).
    pub public: bool,
}

/// The `[delivery]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before a transiently failing job is dead-lettered.
    pub max_attempts: u32,
    /// Backoff before the second attempt, in ms (doubles per attempt, with jitter).
    pub base_delay_ms: u64,
    /// The longest backoff, in ms.
    pub max_delay_ms: u64,
    /// Most deliveries in flight at once, across connectors.
    pub workers: usize,
    /// How many delivered jobs the delivery history keeps for the admin API (the oldest are
    /// pruned as new ones arrive); `0` keeps none.
    pub keep_delivered: u64,
    /// How long a change to a group's members waits before its first attempt, in ms, so that
    /// the changes right behind it go in the same delivery (a burst of single-member PATCHes
    /// reaches a target in a few requests); `0` sends each at once.
    pub member_linger_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base_delay_ms: 500,
            max_delay_ms: 5 * 60 * 1000,
            workers: 32,
            keep_delivered: 10_000,
            member_linger_ms: 200,
        }
    }
}

/// One `[[connectors]]` entry: a plugin, its configuration and what it may reach. String values
/// may reference environment variables as `${NAME}`. Its `Debug` names the secrets, never their
/// values.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// The instance's name (in job records and logs).
    pub name: String,
    /// A bundled plugin's name (`scim2`, `webhook`) or the path of a `.wasm` component.
    pub plugin: String,
    /// The resource types it receives: `User`, `Group`.
    #[serde(default = "all_resource_types")]
    pub resource_types: Vec<String>,
    /// Configuration handed to the plugin on every call.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Secrets the host uses on the plugin's behalf; the plugin never sees them.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretConfig>,
    /// Origins (`https://host[:port]`; a URL's path is ignored) the plugin may send HTTP to.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Address ranges (CIDR) that an allowed host name may resolve to although they are
    /// loopback or private (for a target on the same machine or network).
    #[serde(default)]
    pub allowed_ranges: Vec<String>,
    /// Lets `allowed_ranges` and `allowed_hosts` name link-local and cloud metadata addresses
    /// (`169.254.0.0/16`, `fe80::/10`, `fd00:ec2::254`, …). Only the config file may set it:
    /// the admin API refuses it, so an admin token cannot point a connector at the machine's
    /// cloud credentials.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_link_local: bool,
    /// Deadline of one plugin call, in ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Memory limit of one plugin call, in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    /// The most HTTP requests a second the plugin may send, across its calls (the host holds
    /// the others back); none: as fast as the target answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_second: Option<u32>,
    /// The most deliveries to this connector in flight at once; none: up to the dispatcher's
    /// `workers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// Which users (and groups) it receives, beyond `resource_types`.
    #[serde(default)]
    pub scope: ScopeConfig,
    /// `async` (the client is answered once the change is committed) or `blocking` (the
    /// client's request waits for this connector, and fails if it does).
    #[serde(default)]
    pub pattern: Pattern,
    /// Whether it receives and delivers changes now. A disabled connector records no new jobs,
    /// and the jobs it has wait until it is enabled.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The rules the host applies to each user and group before the plugin sees it
    /// (`delivery::mapping`).
    #[serde(default, skip_serializing_if = "MappingConfig::is_empty")]
    pub mapping: MappingConfig,
}

/// A connector's attribute mapping as configured: `[[connectors.mapping.users]]` and
/// `[[connectors.mapping.groups]]` rules, applied in order. `docs/schemas-and-mapping.md`
/// describes the language; `delivery::mapping` checks and applies it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// The rules for users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<RuleConfig>,
    /// The rules for groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<RuleConfig>,
}

impl MappingConfig {
    /// No rules at all: the plugin gets resources as the gateway holds them.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// One mapping rule: where its value goes (`to`) and where it comes from (exactly one of
/// `from`, `move`, `value`, `template`; or only a `default` for `to` itself), or an attribute
/// to `drop`. Sources and `when` read the resource as the gateway holds it, never another
/// rule's output.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The attribute written: `userName`, `name.givenName`, `urn:…:User:department`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Copies the value at this path (`emails[type eq "work"].value` chooses one element).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Like `from`, and removes the source from what the plugin gets (a rename).
    #[serde(default, rename = "move", skip_serializing_if = "Option::is_none")]
    pub move_from: Option<String>,
    /// A constant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// A string built from other attributes: `{name.givenName}.{name.familyName}@corp.example`
    /// (`{{` and `}}` are literal braces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The value when the source has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Applied in order to the (string) result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transform: Vec<Transform>,
    /// A SCIM filter: the rule applies only to resources it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Removes this attribute (or the elements its filter matches) from what the plugin gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<String>,
    /// A source without a value (and no `default`) fails the delivery, permanently, instead of
    /// leaving `to` unset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// A string transform of a mapping rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
    /// Leading and trailing whitespace removed.
    Trim,
    /// Trimmed, and every run of inner whitespace made one space.
    CollapseWhitespace,
    /// Every whitespace character removed.
    RemoveWhitespace,
}

/// One secret of a connector: its value, and the origins it may be sent to. Written as the
/// value alone (`token = "…"`: it may go to any of the connector's `allowed_hosts`), or as
/// `{ value = "…", origins = ["https://api.example.com"] }`, bound to some of them. Its
/// `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "SecretForm", into = "SecretForm")]
pub struct SecretConfig {
    /// The value the host puts in a header or keys an HMAC with.
    pub value: String,
    /// The origins (`https://host[:port]`) a header may carry it to, each one of the
    /// connector's `allowed_hosts`; empty: any of them.
    pub origins: Vec<String>,
}

impl SecretConfig {
    /// A secret that may go to any of the connector's allowed hosts.
    pub fn new(value: impl Into<String>) -> Self {
        SecretConfig {
            value: value.into(),
            origins: Vec::new(),
        }
    }
}

impl std::fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretConfig")
            .field("value", &"<redacted>")
            .field("origins", &self.origins)
            .finish()
    }
}

/// How a secret is written: its value alone, or its value with the origins it is bound to.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum SecretForm {
    /// `"…"`.
    Value(String),
    /// `{ value = "…", origins = […] }`.
    Bound(BoundSecret),
}

/// A secret with its origins, as written.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BoundSecret {
    /// The value.
    value: String,
    /// The origins.
    #[serde(default)]
    origins: Vec<String>,
}

impl From<SecretForm> for SecretConfig {
    fn from(form: SecretForm) -> Self {
        match form {
            SecretForm::Value(value) => SecretConfig::new(value),
            SecretForm::Bound(BoundSecret { value, origins }) => SecretConfig { value, origins },
        }
    }
}

impl From<SecretConfig> for SecretForm {
    fn from(s: SecretConfig) -> Self {
        if s.origins.is_empty() {
            SecretForm::Value(s.value)
        } else {
            SecretForm::Bound(BoundSecret {
                value: s.value,
                origins: s.origins,
            })
        }
    }
}

/// When a connector delivers, relative to the client's request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// After the change is committed, from the outbox, with retries.
    #[default]
    Async,
    /// Before the change is committed, while the client waits: if the connector fails, the
    /// client gets a SCIM error with its reason and nothing is committed.
    Blocking,
}

fn enabled_by_default() -> bool {
    true
}

fn all_resource_types() -> Vec<String> {
    vec!["User".into(), "Group".into()]
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_memory_mib() -> u64 {
    64
}

/// One SCIM client token. Give either `sha256` (preferred: the file then holds no secret) or
/// `token`; `scim-gateway hash-token` prints the hash of a token. Its `Debug` never shows the
/// token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who uses the token (shown in logs).
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: Option<String>,
    /// The token itself; hashed at load and not kept.
    pub token: Option<String>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Debug for ConnectorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorConfig")
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .field("resource_types", &self.resource_types)
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_ranges", &self.allowed_ranges)
            .field("open_link_local", &self.open_link_local)
            .field("timeout_ms", &self.timeout_ms)
            .field("memory_mib", &self.memory_mib)
            .field("max_requests_per_second", &self.max_requests_per_second)
            .field("max_concurrency", &self.max_concurrency)
            .field("scope", &self.scope)
            .field("pattern", &self.pattern)
            .field("enabled", &self.enabled)
            .field("mapping", &self.mapping)
            .finish()
    }
}

/// Limits on list responses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimConfig {
    /// Most resources one list or search response returns (`filter.maxResults`).
    pub max_results: usize,
    /// `reject` (default) refuses attributes no schema defines; `ignore` drops them.
    pub unknown_attributes: UnknownAttributes,
}

/// Limits on `/Bulk` requests (advertised in `/ServiceProviderConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkConfig {
    /// Most operations in one bulk request.
    pub max_operations: usize,
    /// Largest bulk request body, in bytes.
    pub max_payload_bytes: usize,
    /// Bulk requests run at once, gateway-wide (RFC 7644 section 3.7 lets a server bound bulk
    /// work). More wait for a turn, queued, not refused: each holds only its unparsed body
    /// while it waits, and parses it once its turn comes.
    pub max_concurrent: usize,
}

impl BulkConfig {
    /// Refuses `max_concurrent = 0`, which would queue every bulk request forever.
    fn check(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::Bulk("max_concurrent"));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            max_body_bytes: 1 << 20,
            tokens: Vec::new(),
            admin_tokens: Vec::new(),
            scim: ScimConfig::default(),
            bulk: BulkConfig::default(),
            delivery: DeliveryConfig::default(),
            connectors: Vec::new(),
            log_format: LogFormat::Text,
            metrics: MetricsConfig::default(),
            audit: AuditConfig::default(),
            store: StoreConfig::default(),
            http: HttpConfig::default(),
            pass_through: None,
            schemas: Vec::new(),
        }
    }
}

impl Default for ScimConfig {
    fn default() -> Self {
        Self {
            max_results: 1000,
            unknown_attributes: UnknownAttributes::Reject,
        }
    }
}

/// See [`BulkConfig::max_concurrent`]. Two keep the writer's group commit busy while a
/// gateway seeding 100,000 users through `/Bulk` stays in bounded memory (docs/benchmarks.md).
pub const DEFAULT_BULK_CONCURRENT: usize = 2;

impl Default for BulkConfig {
    fn default() -> Self {
        Self {
            max_operations: 1000,
            max_payload_bytes: 1 << 20,
            max_concurrent: DEFAULT_BULK_CONCURRENT,
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A token entry is incomplete or malformed.
    #[error("token '{0}': give exactly one of `sha256` (64 hex digits) or `token`")]
    Token(String),
    /// A `${NAME}` reference to an environment variable that is not set.
    #[error("connector '{connector}': environment variable {var} is not set")]
    MissingEnv {
        /// The connector whose entry references it.
        connector: String,
        /// The variable.
        var: String,
    },
    /// A connector entry is invalid.
    #[error("connector '{0}': {1}")]
    Connector(String, String),
    /// An `[http]` limit is zero, which would refuse every connection or request.
    #[error("[http] {0} must be at least 1")]
    Http(&'static str),
    /// A `[bulk]` limit is zero.
    #[error("[bulk] {0} must be at least 1")]
    Bulk(&'static str),
    /// A declared extension schema is not valid.
    #[error("[[schemas]]: {0}")]
    Schema(#[from] crate::scim::schema::DeclareError),
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        let mut config = config;
        config.expand_env(|name| std::env::var(name).ok())?;
        config.check_connectors()?;
        config.http.check()?;
        config.bulk.check()?;
        crate::scim::schema::Registry::build(&config.schemas)?;
        for t in config.tokens.iter().chain(&config.admin_tokens) {
            let hash_ok = t
                .sha256
                .as_deref()
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if hash_ok == t.token.is_some() {
                return Err(ConfigError::Token(t.name.clone()));
            }
        }
        Ok(config)
    }

    /// Replaces `${NAME}` in every connector's string values with the environment's value.
    pub fn expand_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for c in &mut self.connectors {
            let name = c.name.clone();
            let expand = |s: &mut String| -> Result<(), ConfigError> {
                *s = expand(s, &env).map_err(|var| ConfigError::MissingEnv {
                    connector: name.clone(),
                    var,
                })?;
                Ok(())
            };
            expand(&mut c.plugin)?;
            let secrets = c.secrets.values_mut().map(|s| &mut s.value);
            for v in c.config.values_mut().chain(secrets) {
                expand(v)?;
            }
            for v in c
                .allowed_hosts
                .iter_mut()
                .chain(c.allowed_ranges.iter_mut())
            {
                expand(v)?;
            }
        }
        Ok(())
    }

    /// Refuses duplicate names and unknown resource types.
    fn check_connectors(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for c in &self.connectors {
            let bad = |why: &str| Err(ConfigError::Connector(c.name.clone(), why.into()));
            if c.name.is_empty() || c.name.contains(char::is_control) {
                return bad("the name must be non-empty printable text");
            }
            if !names.insert(&c.name) {
                return bad("the name is used twice");
            }
            if let Some(t) = c
                .resource_types
                .iter()
                .find(|t| t.as_str() != "User" && t.as_str() != "Group")
            {
                return bad(&format!("unknown resource type '{t}' (use User, Group)"));
            }
            if self.pass_through.is_some() && !c.scope.groups.is_empty() {
                return bad(PASS_THROUGH_ROLES);
            }
        }
        let Some(pt) = &self.pass_through else {
            return Ok(());
        };
        let name = &pt.system_of_record;
        let Some(sor) = self.connectors.iter().find(|c| &c.name == name) else {
            return Err(ConfigError::Connector(
                name.clone(),
                "is named as [pass_through] system_of_record but no [[connectors]] entry has \
                 that name"
                    .into(),
            ));
        };
        let bad = |why: &str| Err(ConfigError::Connector(name.clone(), why.into()));
        if sor.resource_types.len() != 2 {
            bad("the system of record holds every resource: give it both User and Group")
        } else if sor.scope != ScopeConfig::default() {
            bad("the system of record holds every resource: it takes no scope")
        } else if sor.pattern != Pattern::Async || !sor.enabled {
            bad(
                "the system of record is always written while the client waits and cannot be \
                 disabled: leave out `pattern` and `enabled`",
            )
        } else {
            Ok(())
        }
    }
}

/// Why a role-based scope is refused in pass-through mode.
pub const PASS_THROUGH_ROLES: &str = "role-based scopes (`scope.groups`) need the memberships the \
    gateway stores, and in pass-through mode it stores none: use a rule (`scope.filter`)";

/// Expands `${NAME}` references; answers the name of the first unset variable on failure.
fn expand(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start]);
        out.push_str(&env(name).ok_or_else(|| name.to_owned())?);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_http_limit_is_refused_by_name() {
        let config: Config = toml::from_str("[http]\nheader_timeout_ms = 0\n").expect("parses");
        let e = config.http.check().expect_err("refused");
        assert_eq!(e.to_string(), "[http] header_timeout_ms must be at least 1");
        assert!(Config::default().http.check().is_ok());
    }

    #[test]
    fn zero_concurrent_bulk_requests_are_refused() {
        let config: Config = toml::from_str("[bulk]\nmax_concurrent = 0\n").expect("parses");
        let e = config.bulk.check().expect_err("refused");
        assert_eq!(e.to_string(), "[bulk] max_concurrent must be at least 1");
        assert!(Config::default().bulk.check().is_ok());
    }

    #[test]
    fn debug_output_names_secrets_and_tokens_without_their_values() {
        let config: Config = toml::from_str(
            "[[tokens]]\nname = \"okta\"\ntoken = \"tok-VALUE-1\"\n\n\
             [[connectors]]\nname = \"crm\"\nplugin = \"scim2\"\n\
             [connectors.secrets]\ntoken = \"sec-VALUE-2\"\n",
        )
        .expect("parses");
        let shown = format!("{config:?}");
        assert!(!shown.contains("VALUE"), "{shown}");
        assert!(
            shown.contains("\"okta\"") && shown.contains("secrets: [\"token\"]"),
            "{shown}"
        );
    }

    #[test]
    fn env_references_expand_and_missing_ones_are_named() {
        let env = |n: &str| (n == "URL").then(|| "http://127.0.0.1:9".to_owned());
        assert_eq!(
            expand("${URL}/scim/v2", &env),
            Ok("http://127.0.0.1:9/scim/v2".into())
        );
        assert_eq!(
            expand("a ${URL} b ${URL}", &env),
            Ok("a http://127.0.0.1:9 b http://127.0.0.1:9".into())
        );
        assert_eq!(
            expand("no refs, ${ unterminated", &env),
            Ok("no refs, ${ unterminated".into())
        );
        assert_eq!(expand("${TOKEN}", &env), Err("TOKEN".into()));
    }

    #[test]
    fn log_format_and_metrics_access_parse_with_defaults() {
        let config: Config = toml::from_str("").unwrap();
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(!config.metrics.public);
        let config: Config =
            toml::from_str("log_format = \"json\"\n[metrics]\npublic = true\n").unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.metrics.public);
        assert!(toml::from_str::<Config>("log_format = \"xml\"").is_err());
        assert!(toml::from_str::<Config>("[metrics]\nopen = true").is_err());
    }

    #[test]
    fn connectors_parse_with_defaults_and_expand() {
        let mut config: Config = toml::from_str(
            r#"
            [[connectors]]
            name = "target"
            plugin = "scim2"
            allowed_hosts = ["${URL}"]
            [connectors.config]
            base_url = "${URL}/scim/v2"
            [connectors.secrets]
            token = "${TOKEN}"
            "#,
        )
        .unwrap();
        let env = |n: &str| Some(format!("<{n}>"));
        config.expand_env(env).unwrap();
        let c = &config.connectors[0];
        assert_eq!(c.resource_types, ["User", "Group"]);
        assert_eq!(c.config["base_url"], "<URL>/scim/v2");
        assert_eq!(c.secrets["token"].value, "<TOKEN>");
        assert_eq!(c.allowed_hosts, ["<URL>"]);
        assert_eq!((c.timeout_ms, c.memory_mib), (10_000, 64));
        config.check_connectors().unwrap();
        config.connectors.push(config.connectors[0].clone());
        assert!(config.check_connectors().is_err());
    }

    #[test]
    fn pass_through_needs_a_plain_system_of_record_and_no_role_scopes() {
        let check = |extra: &str| {
            let text = format!(
                "[pass_through]\nsystem_of_record = \"sor\"\n\
                 [[connectors]]\nname = \"sor\"\nplugin = \"scim2\"\n{extra}"
            );
            let config: Config = toml::from_str(&text).expect("parses");
            config.check_connectors().map_err(|e| e.to_string())
        };
        assert_eq!(check(""), Ok(()));
        let refused = |extra: &str, why: &str| {
            let e = check(extra).expect_err(extra);
            assert!(e.contains(why), "{extra}: {e}");
        };
        refused("resource_types = [\"User\"]\n", "both User and Group");
        refused("scope = { filter = \"active eq true\" }\n", "no scope");
        refused("pattern = \"blocking\"\n", "while the client waits");
        refused("enabled = false\n", "cannot be disabled");
        refused(
            "[[connectors]]\nname = \"other\"\nplugin = \"echo\"\nscope = { groups = [\"x\"] }\n",
            "role-based",
        );
        let config: Config =
            toml::from_str("[pass_through]\nsystem_of_record = \"none\"\n").expect("parses");
        let e = config.check_connectors().expect_err("unknown");
        assert!(e.to_string().contains("no [[connectors]] entry"), "{e}");
    }

    #[test]
    fn the_pass_through_example_is_a_valid_configuration() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pass-through.toml");
        let text = std::fs::read_to_string(path).expect("the example");
        let mut config: Config = toml::from_str(&text).expect("parses");
        config
            .expand_env(|n| Some(format!("https://{n}.example")))
            .expect("expands");
        config.check_connectors().expect("checks");
        assert_eq!(
            config.pass_through.map(|p| p.system_of_record).as_deref(),
            Some("directory")
        );
    }
}
