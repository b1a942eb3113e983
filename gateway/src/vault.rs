//! The operator's key, and the values it seals: what the gateway must keep for a while but must
//! not keep in clear text.
//!
//! Two kinds of value are sealed. A connector's secrets (an API token, a signing key) are kept
//! for as long as the connector is defined. A user's password is kept only until every
//! connector that has to deliver it did (it rides on their delivery jobs, never in the
//! resource). Both sit in `gateway.redb`. Anyone who can read that file (a backup, a copied
//! volume) must not learn them from it, so each one is sealed with a key the operator controls:
//!
//! 1. `SCIM_GATEWAY_KEY`: 64 hex digits (32 bytes), from the environment (a secret manager);
//! 2. else `[security] key_file`: a file holding such a key, wherever the operator keeps it;
//! 3. else `<data dir>/gateway.key`, made on the first start with 32 random bytes, `0600`.
//!
//! The third keeps a fresh install working with nothing set, but it protects only what leaves
//! the machine without the data directory. A deployment that backs up or replicates its store
//! gives the key from outside it (1 or 2).
//!
//! # The sealed form
//!
//! `v1.<key id>.<nonce and ciphertext>`, both parts in hex: ChaCha20-Poly1305 (`ring`, already
//! linked for TLS) with a random 96-bit nonce per value. The key id is the first four bytes
//! of the key's SHA-256 under a label. It names the key a value was sealed with, so a gateway
//! started with another key says so, rather than calling the data damaged. Each value is
//! sealed for a *purpose* (`password:User/<id>`, `secret:<connector>/<name>`) passed as the
//! AEAD's associated data: a sealed value copied under another name does not open.

use std::path::{Path, PathBuf};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

use crate::model::private;

/// The environment variable holding the operator's key.
pub const KEY_ENV: &str = "SCIM_GATEWAY_KEY";

/// The name of the key file made in the data directory when no key is given.
pub const GENERATED_KEY_FILE: &str = "gateway.key";

/// The version tag of the sealed form.
const FORM: &str = "v1";

/// The operator's key, able to seal and open values.
pub struct Vault {
    /// The AEAD key.
    key: LessSafeKey,
    /// The key's id (see the module's documentation).
    id: [u8; 4],
    /// Where the key came from, for the log.
    source: KeySource,
}

/// Where the operator's key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `SCIM_GATEWAY_KEY`.
    Environment,
    /// A key file the operator named.
    File(PathBuf),
    /// The key file in the data directory, made by this start (`true`) or an earlier one.
    DataDir(PathBuf, bool),
    /// A key made for this process only (tests).
    Ephemeral,
}

/// A value sealed with the operator's key. Its text is safe to store and to show: it reveals
/// the value's length, nothing else.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// Why a key could not be loaded or a value not opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key file could not be read or made.
    #[error("the key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A key is not 64 hex digits.
    #[error("{origin} must hold 64 hex digits (a 32-byte key)")]
    BadKey {
        /// Where it came from.
        origin: String,
    },
    /// The value was sealed with another key.
    #[error(
        "a value in the store was sealed with key {sealed_with}, and this gateway has key {have}; start it with the key the store was written with"
    )]
    WrongKey {
        /// The id of the key it was sealed with.
        sealed_with: String,
        /// The id of this gateway's key.
        have: String,
    },
    /// The sealed text is damaged, or was sealed for another purpose.
    #[error("a sealed value for {purpose} is damaged or belongs elsewhere")]
    Damaged {
        /// What it was opened for.
        purpose: String,
    },
}

impl Vault {
    /// A vault over the 32 bytes of `key`.
    pub fn from_bytes(key: &[u8; 32], source: KeySource) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"scim-gateway key id\0");
        hasher.update(key);
        let digest = hasher.finalize();
        let id = [digest[0], digest[1], digest[2], digest[3]];
        let key = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte ChaCha20 key"),
        );
        Vault { key, id, source }
    }

    /// A vault with a random key that lives as long as the process (for tests and tools that
    /// keep nothing).
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        Vault::from_bytes(&key, KeySource::Ephemeral)
    }

    /// The operator's key: from `env_key` (the value of [`KEY_ENV`]) if set, else from
    /// `key_file`, else from the data directory's key file, made if there is none.
    pub fn load(
        env_key: Option<&str>,
        key_file: Option<&Path>,
        data_dir: &Path,
    ) -> Result<Self, VaultError> {
        if let Some(text) = env_key.filter(|k| !k.trim().is_empty()) {
            let key = parse_key(text, KEY_ENV)?;
            return Ok(Vault::from_bytes(&key, KeySource::Environment));
        }
        if let Some(path) = key_file {
            let key = read_key(path)?;
            return Ok(Vault::from_bytes(&key, KeySource::File(path.to_owned())));
        }
        let path = data_dir.join(GENERATED_KEY_FILE);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => {
                let key = read_key(&path)?;
                Ok(Vault::from_bytes(&key, KeySource::DataDir(path, false)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
                private::write_line(&path, &hex::encode(key), private::Existing::Refuse).map_err(
                    |source| VaultError::Io {
                        path: path.clone(),
                        source,
                    },
                )?;
                Ok(Vault::from_bytes(&key, KeySource::DataDir(path, true)))
            }
            Err(source) => Err(VaultError::Io { path, source }),
        }
    }

    /// Where the key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The key's id, in hex (safe to log: it identifies the key, it does not reveal it).
    pub fn key_id(&self) -> String {
        hex::encode(self.id)
    }

    /// `value` sealed for `purpose`.
    pub fn seal(&self, purpose: &str, value: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let mut data = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .expect("sealing fits in memory");
        let mut body = nonce.to_vec();
        body.extend_from_slice(&data);
        Sealed(format!(
            "{FORM}.{}.{}",
            hex::encode(self.id),
            hex::encode(body)
        ))
    }

    /// `text` sealed for `purpose` (see [`Vault::seal`]).
    pub fn seal_str(&self, purpose: &str, text: &str) -> Sealed {
        self.seal(purpose, text.as_bytes())
    }

    /// The value `sealed` holds, if it was sealed for `purpose` with this key.
    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, VaultError> {
        let damaged = || VaultError::Damaged {
            purpose: purpose.to_owned(),
        };
        let mut parts = sealed.0.splitn(3, '.');
        let (Some(FORM), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(damaged());
        };
        if id != hex::encode(self.id) {
            return Err(VaultError::WrongKey {
                sealed_with: id.to_owned(),
                have: self.key_id(),
            });
        }
        let body = hex::decode(body).map_err(|_| damaged())?;
        if body.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, data) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| damaged())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut data)
            .map_err(|_| damaged())?;
        Ok(plain.to_vec())
    }

    /// The text `sealed` holds (see [`Vault::open`]).
    pub fn open_str(&self, purpose: &str, sealed: &Sealed) -> Result<String, VaultError> {
        String::from_utf8(self.open(purpose, sealed)?).map_err(|_| VaultError::Damaged {
            purpose: purpose.to_owned(),
        })
    }
}

impl std::fmt::Debug for Vault {
    /// Names the key's id and source, never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.key_id())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The purpose a user's password is sealed for.
pub fn password_purpose(user_id: &str) -> String {
    format!("password:User/{user_id}")
}

/// The purpose a connector's secret is sealed for.
pub fn secret_purpose(connector: &str, name: &str) -> String {
    format!("secret:{connector}/{name}")
}

/// A key from 64 hex digits (surrounding white space ignored).
fn parse_key(text: &str, origin: &str) -> Result<[u8; 32], VaultError> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key).map_err(|_| VaultError::BadKey {
        origin: origin.to_owned(),
    })?;
    Ok(key)
}

/// The key in the file at `path`.
fn read_key(path: &Path) -> Result<[u8; 32], VaultError> {
    let text = std::fs::read_to_string(path).map_err(|source| VaultError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_key(&text, &format!("the key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_purpose() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal_str("password:User/1", "Tr0ub4dor&3");
        assert!(!sealed.0.contains("Tr0ub4dor"));
        assert_eq!(
            vault.open_str("password:User/1", &sealed).unwrap(),
            "Tr0ub4dor&3"
        );
        assert!(matches!(
            vault.open_str("password:User/2", &sealed),
            Err(VaultError::Damaged { .. })
        ));
        let other = Vault::ephemeral();
        assert!(matches!(
            other.open_str("password:User/1", &sealed),
            Err(VaultError::WrongKey { .. })
        ));
        // Two seals of one value differ (a fresh nonce each).
        assert_ne!(sealed, vault.seal_str("password:User/1", "Tr0ub4dor&3"));
    }

    #[test]
    fn a_flipped_digit_is_damage() {
        let vault = Vault::ephemeral();
        let Sealed(text) = vault.seal_str("p", "value");
        let last = text.chars().last().unwrap();
        let flipped = format!(
            "{}{}",
            &text[..text.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        assert!(matches!(
            vault.open("p", &Sealed(flipped)),
            Err(VaultError::Damaged { .. })
        ));
        assert!(matches!(
            vault.open("p", &Sealed("v1.zz".into())),
            Err(VaultError::Damaged { .. })
        ));
    }

    #[test]
    fn the_key_comes_from_the_environment_then_a_file_then_the_data_directory() {
        let dir = std::env::temp_dir().join(format!("vault-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let hex_key = "11".repeat(32);
        let env = Vault::load(Some(&hex_key), None, &dir).unwrap();
        assert_eq!(env.source(), &KeySource::Environment);
        assert!(!dir.join(GENERATED_KEY_FILE).exists());
        assert!(matches!(
            Vault::load(Some("not hex"), None, &dir),
            Err(VaultError::BadKey { .. })
        ));

        let file = dir.join("operator.key");
        std::fs::write(&file, format!("{hex_key}\n")).unwrap();
        let from_file = Vault::load(None, Some(&file), &dir).unwrap();
        assert_eq!(from_file.key_id(), env.key_id());

        let made = Vault::load(None, None, &dir).unwrap();
        assert!(matches!(made.source(), KeySource::DataDir(_, true)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(GENERATED_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Vault::load(None, None, &dir).unwrap();
        assert!(matches!(again.source(), KeySource::DataDir(_, false)));
        assert_eq!(again.key_id(), made.key_id());
        let sealed = made.seal_str("s", "x");
        assert_eq!(again.open_str("s", &sealed).unwrap(), "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
