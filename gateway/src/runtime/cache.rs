//! The on-disk cache of compiled plugins.
//!
//! Compiling a component takes ~100 ms (over a second in a debug build); loading its compiled
//! artefact takes a fraction of a millisecond. An artefact only loads into an engine of the same
//! wasmtime version and compatible configuration, so the file name is keyed by the component's
//! SHA-256 and a fingerprint of the wasmtime version, the runtime's engine settings and the
//! engine's own compatibility hash. A stale or damaged file is simply compiled again.
//!
//! Files are written to a temporary name and renamed, so a reader never sees half a file.
//!
//! # Integrity
//! Loading an artefact runs it as native code, so it is loaded only if it is exactly what this
//! gateway compiled. Each file starts with the HMAC-SHA256 of the artefact under a key of 32
//! random bytes. The key lives beside the directory, in `<dir>.key` (mode `0600`), not inside it,
//! so write access to the cache alone cannot forge an artefact. A file whose tag does not
//! verify (tampered, damaged, written under another key, or another plugin's artefact moved to
//! this one's name: the tag covers the file name too) is compiled again and rewritten.
//! The directory is `0700` and its files `0600`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::runtime::error::RuntimeError;
use crate::runtime::hmac;

/// Bytes of the tag that starts every cached file.
const TAG: usize = 32;

/// The wasmtime version the host is pinned to (`Cargo.toml`). The engine's compatibility hash
/// covers the version too; naming it keeps old artefacts apart at a glance.
const WASMTIME_VERSION: &str = "48.0.8";

/// The file an artefact of `wasm_sha256` compiled by `engine` is cached in.
pub(crate) fn artefact_path(
    dir: &Path,
    engine: &Engine,
    settings: &str,
    wasm_sha256: &str,
) -> PathBuf {
    let mut compat = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut h = Sha256::new();
    h.update(b"wasmtime ");
    h.update(WASMTIME_VERSION.as_bytes());
    h.update(b"\nsettings ");
    h.update(settings.as_bytes());
    h.update(b"\nengine ");
    h.update(compat.finish().to_le_bytes());
    let fingerprint = hex::encode(&h.finalize()[..8]);
    dir.join(format!("{wasm_sha256}-{fingerprint}.cwasm"))
}

/// The compiled component: from the cache if there, else compiled (and cached if a directory is
/// given).
pub(crate) fn load_or_compile(
    engine: &Engine,
    dir: Option<&Path>,
    settings: &str,
    wasm: &[u8],
    wasm_sha256: &str,
) -> Result<Component, RuntimeError> {
    let Some(dir) = dir else {
        return compile(engine, wasm);
    };
    let path = artefact_path(dir, engine, settings, wasm_sha256);
    let cache_err = |e: std::io::Error, p: &Path| RuntimeError::Cache {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    crate::model::private::private_dir(dir).map_err(|e| cache_err(e, dir))?;
    let key = cache_key(dir).map_err(|e| cache_err(e, dir))?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .as_encoded_bytes()
        .to_vec();
    if let Ok(file) = std::fs::read(&path) {
        match file.split_at_checked(TAG) {
            Some((tag, artefact)) if hmac::verify(&key, &[&name, b"\0", artefact], tag) => {
                // SAFETY: the tag proves this gateway's `precompile_component` wrote it (see
                // the module docs), for an engine of the same version and settings (its name
                // says so, and wasmtime checks both again).
                match unsafe { Component::deserialize(engine, artefact) } {
                    Ok(component) => return Ok(component),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cached plugin unusable; compiling again")
                    }
                }
            }
            _ => tracing::warn!(path = %path.display(),
                "cached plugin failed its integrity check; compiling again"),
        }
    }
    let artefact = engine
        .precompile_component(wasm)
        .map_err(|e| RuntimeError::InvalidComponent(format!("{e:#}")))?;
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let unique = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{unique}", std::process::id()));
    let mut file = hmac::tag(&key, &[&name, b"\0", &artefact]).to_vec();
    file.extend_from_slice(&artefact);
    std::fs::write(&tmp, &file).map_err(|e| cache_err(e, &tmp))?;
    crate::model::private::private_file(&tmp).map_err(|e| cache_err(e, &tmp))?;
    std::fs::rename(&tmp, &path).map_err(|e| cache_err(e, &path))?;
    // SAFETY: written just above by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &artefact) }
        .map_err(|e| RuntimeError::InvalidComponent(format!("{e:#}")))
}

/// The cache's key, from `<dir>.key`; made (32 random bytes, `0600`) if there is none. A new
/// key is written under a temporary name and linked into place, which fails if another
/// process linked its own first: then that one is read, so all agree on one key.
fn cache_key(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(".key");
    let path = dir.with_file_name(name);
    if let Ok(key) = std::fs::read(&path)
        && key.len() == 32
    {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    static KEYS: AtomicU64 = AtomicU64::new(0);
    let unique = KEYS.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("key-tmp-{}-{unique}", std::process::id()));
    std::fs::write(&tmp, key)?;
    crate::model::private::private_file(&tmp)?;
    let linked = std::fs::hard_link(&tmp, &path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Ok(()) => Ok(key.to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let theirs = std::fs::read(&path)?;
            if theirs.len() == 32 {
                Ok(theirs)
            } else {
                // A key file of the wrong size (damaged): replace it; artefacts under the old
                // one are compiled again.
                std::fs::write(&path, key)?;
                crate::model::private::private_file(&path)?;
                Ok(key.to_vec())
            }
        }
        Err(e) => Err(e),
    }
}

/// Compiles without caching.
fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, RuntimeError> {
    Component::new(engine, wasm).map_err(|e| RuntimeError::InvalidComponent(format!("{e:#}")))
}
