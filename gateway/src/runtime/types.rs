//! The runtime's own view of the contract's values, independent of the contract version: the
//! gateway speaks these, and each bindings module converts.

use std::fmt;
use std::sync::Arc;

use crate::model::{MemberDelta, Operation};

/// Which contract world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// `connector`: describe, validate, provision.
    Connector,
    /// `readable-connector`: also get and list.
    ReadableConnector,
}

impl World {
    /// The world's name in the WIT.
    pub fn name(self) -> &'static str {
        match self {
            World::Connector => "connector",
            World::ReadableConnector => "readable-connector",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One change as it crosses into the sandbox: the resource as JSON text, the operation as the
/// model names it (a `Deactivate` reaches the plugin as the contract's `replace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEvent {
    /// What happened.
    pub operation: Operation,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The gateway's id.
    pub id: String,
    /// The id the connector answered last time, if the resource was delivered before.
    pub remote_id: Option<String>,
    /// The resource as committed, SCIM JSON (`{}` for a delete).
    pub resource: String,
    /// For a PATCH, the attribute paths it changed; empty otherwise.
    pub changed_paths: Vec<String>,
    /// For a group replace, the members it added and removed; `resource` then has no
    /// `members`. A plugin that exports `membership` gets it as a delta (`update-group`) once
    /// it has a remote id for the group; any other call carries `resource` as it is.
    pub members: Option<MemberDelta>,
}

/// One configuration key a plugin reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    /// The key.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Whether a configuration must set it.
    pub required: bool,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// The resource types it delivers.
    pub resource_types: Vec<String>,
    /// The configuration keys it reads.
    pub config_keys: Vec<ConfigKey>,
    /// The secrets it uses through the host.
    pub secret_names: Vec<String>,
}

/// The ways a secret may be used (the contract's `secrets.secret-use`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecretUses {
    /// In a header's value (`request.secret-headers`).
    pub header: bool,
    /// As the key of `hmac-sha256`.
    pub hmac: bool,
}

impl SecretUses {
    /// Both ways: a plugin built before `0.1.2`, which declares no uses.
    pub const BOTH: SecretUses = SecretUses {
        header: true,
        hmac: true,
    };
}

impl std::fmt::Display for SecretUses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.header, self.hmac) {
            (true, true) => "header and HMAC key",
            (true, false) => "header",
            (false, true) => "HMAC key",
            (false, false) => "nothing",
        })
    }
}

/// Translates the gateway id of another resource (resource type, gateway id) into the id this
/// connector instance delivered it as.
pub type RemoteIdLookup = Arc<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;
