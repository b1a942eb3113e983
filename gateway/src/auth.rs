//! Bearer-token authentication of SCIM clients.
//!
//! Only SHA-256 hashes of tokens are kept in memory and on disk. A presented token is hashed and
//! compared with every known hash in constant time, so neither the comparison nor the position of
//! the match leaks through timing.

use std::io::Write;
use std::path::Path;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::TokenConfig;

/// Name of the file, in the data directory, holding the hash of the generated first token.
const GENERATED_TOKEN_FILE: &str = "generated-token.sha256";

/// The tokens a gateway accepts.
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    /// (name, SHA-256 of the token) pairs.
    entries: Vec<(String, [u8; 32])>,
}

/// What [`TokenSet::load`] did, for the caller to report.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// Tokens came from the config, the environment or an earlier generated one.
    Configured,
    /// No token was configured: this one was generated, and must be shown to the operator once.
    Generated(String),
}

/// Hex SHA-256 of a token, as the config file's `sha256` field wants it.
pub fn hash_hex(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The SHA-256 of `bytes` in lowercase hex (also how uploaded plugins are identified).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl TokenSet {
    /// The tokens of config entries plus `env_token` (named `env`), if any; nothing generated.
    pub fn configured(configured: &[TokenConfig], env_token: Option<&str>) -> Self {
        let mut set = TokenSet::default();
        for t in configured {
            let hash = match (&t.sha256, &t.token) {
                (Some(h), _) => parse_hex(h),
                (None, Some(token)) => Some(Sha256::digest(token.as_bytes()).into()),
                (None, None) => None,
            };
            if let Some(hash) = hash {
                set.entries.push((t.name.clone(), hash));
            }
        }
        if let Some(token) = env_token.filter(|t| !t.is_empty()) {
            set.entries
                .push(("env".into(), Sha256::digest(token.as_bytes()).into()));
        }
        set
    }

    /// Builds the token set from the config entries and `env_token` (named `env`). With neither,
    /// reuses the token generated on an earlier start, or generates one and keeps its hash in
    /// `data_dir`.
    pub fn load(
        configured: &[TokenConfig],
        env_token: Option<&str>,
        data_dir: &Path,
    ) -> std::io::Result<(Self, Bootstrap)> {
        let mut set = Self::configured(configured, env_token);
        if !set.entries.is_empty() {
            return Ok((set, Bootstrap::Configured));
        }
        let path = data_dir.join(GENERATED_TOKEN_FILE);
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Some(hash) = parse_hex(text.trim())
        {
            set.entries.push(("generated".into(), hash));
            return Ok((set, Bootstrap::Configured));
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let mut file = std::fs::File::create(&path)?;
        crate::model::private::private_file(&path)?;
        writeln!(file, "{}", hash_hex(&token))?;
        file.sync_all()?;
        set.entries
            .push(("generated".into(), Sha256::digest(token.as_bytes()).into()));
        Ok((set, Bootstrap::Generated(token)))
    }

    /// The name of the token that `presented` is, if any.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, known) in &self.entries {
            if bool::from(known.ct_eq(&hash)) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_hash_and_plain_token_verify() {
        let dir = std::env::temp_dir().join(format!("auth-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tokens = vec![
            TokenConfig {
                name: "entra".into(),
                sha256: Some(hash_hex("s3cret")),
                token: None,
            },
            TokenConfig {
                name: "okta".into(),
                sha256: None,
                token: Some("other".into()),
            },
        ];
        let (set, boot) = TokenSet::load(&tokens, Some("from-env"), &dir).unwrap();
        assert_eq!(boot, Bootstrap::Configured);
        assert_eq!(set.verify("s3cret"), Some("entra"));
        assert_eq!(set.verify("other"), Some("okta"));
        assert_eq!(set.verify("from-env"), Some("env"));
        assert_eq!(set.verify("s3cret "), None);
        assert!(!dir.join(GENERATED_TOKEN_FILE).exists());
    }

    #[test]
    fn generated_once_then_reused() {
        let dir = std::env::temp_dir().join(format!("auth-gen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (set, boot) = TokenSet::load(&[], None, &dir).unwrap();
        let Bootstrap::Generated(token) = boot else {
            panic!("expected a generated token")
        };
        assert_eq!(set.verify(&token), Some("generated"));
        let (again, boot) = TokenSet::load(&[], None, &dir).unwrap();
        assert_eq!(boot, Bootstrap::Configured);
        assert_eq!(again.verify(&token), Some("generated"));
        let on_disk = std::fs::read_to_string(dir.join(GENERATED_TOKEN_FILE)).unwrap();
        assert!(!on_disk.contains(&token), "only the hash is kept");
    }
}
