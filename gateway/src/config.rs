//! The gateway's configuration: a TOML file, overridden by command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scim::schema::UnknownAttributes;

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
    /// Listing and filtering limits.
    pub scim: ScimConfig,
    /// `/Bulk` limits.
    pub bulk: BulkConfig,
}

/// One SCIM client token. Give either `sha256` (preferred: the file then holds no secret) or
/// `token`; `scim-gateway hash-token` prints the hash of a token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who uses the token (shown in logs).
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: Option<String>,
    /// The token itself; hashed at load and not kept.
    pub token: Option<String>,
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            max_body_bytes: 1 << 20,
            tokens: Vec::new(),
            scim: ScimConfig::default(),
            bulk: BulkConfig::default(),
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

impl Default for BulkConfig {
    fn default() -> Self {
        Self {
            max_operations: 1000,
            max_payload_bytes: 1 << 20,
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
        for t in &config.tokens {
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
}
