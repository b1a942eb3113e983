//! The on-disk cache of compiled plugins.
//!
//! Compiling a component takes ~100 ms (over a second in a debug build); loading its compiled
//! artefact takes a fraction of a millisecond. An artefact only loads into an engine of the same
//! wasmtime version and compatible configuration, so the file name is keyed by the component's
//! SHA-256 and a fingerprint of the wasmtime version, the runtime's engine settings and the
//! engine's own compatibility hash. A stale or damaged file is simply compiled again.
//!
//! Files are written to a temporary name and renamed, so a reader never sees half a file. The
//! directory must be writable by the gateway only: loading an artefact trusts it as native code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::runtime::error::RuntimeError;
use crate::runtime::hmac::hex;

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
    let fingerprint = hex(&h.finalize()[..8]);
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
    if path.is_file() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // version and settings (its name says so, and wasmtime checks both again), into a
        // directory only the gateway may write (see the module docs).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cached plugin unusable; compiling again")
            }
        }
    }
    let cache_err = |e: std::io::Error, p: &Path| RuntimeError::Cache {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let artefact = engine
        .precompile_component(wasm)
        .map_err(|e| RuntimeError::InvalidComponent(format!("{e:#}")))?;
    std::fs::create_dir_all(dir).map_err(|e| cache_err(e, dir))?;
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let unique = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{unique}", std::process::id()));
    std::fs::write(&tmp, &artefact).map_err(|e| cache_err(e, &tmp))?;
    std::fs::rename(&tmp, &path).map_err(|e| cache_err(e, &path))?;
    // SAFETY: written just above by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &artefact) }
        .map_err(|e| RuntimeError::InvalidComponent(format!("{e:#}")))
}

/// Compiles without caching.
fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, RuntimeError> {
    Component::new(engine, wasm).map_err(|e| RuntimeError::InvalidComponent(format!("{e:#}")))
}
