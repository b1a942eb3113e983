//! Builds the bundled connector plugins (`plugins/scim2`, `plugins/webhook`) as WebAssembly
//! components and leaves them in `OUT_DIR`, where `runtime::bundled` embeds them in the binary:
//! a gateway built by the README's commands has its connectors with nothing else to install.
//!
//! The plugins are built by `scim-gateway-guest-build`, the one builder of guest plugins (the
//! runtime's tests and bench and the end-to-end tests use it too): a nested
//! `cargo build --target wasm32-wasip2 --release` with a target directory of its own
//! (`target/plugins`), because the outer cargo holds the lock on the main target directory while
//! build scripts run, so sharing it would deadlock. It clears the variables meant for the host
//! build (`RUSTFLAGS`, `CARGO_TARGET_DIR`, …) and, on a machine without the `wasm32-wasip2`
//! standard library (a fresh one: rustup does not add targets by itself there), adds the target
//! with rustup first.

use std::path::{Path, PathBuf};

/// The bundled plugins, by package (the component is `<package>.wasm`).
const PLUGINS: &[&str] = &["scim2", "webhook"];

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .expect("gateway/ is inside the workspace")
        .to_owned();
    for dir in ["plugins", "plugin-sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let built = scim_gateway_guest_build::build(PLUGINS, &[]);
    for p in PLUGINS {
        copy(
            &built.join(format!("{p}.wasm")),
            &out.join(format!("{p}.wasm")),
        );
    }
}

fn copy(from: &Path, to: &Path) {
    if let Err(e) = std::fs::copy(from, to) {
        panic!("copying {} to {}: {e}", from.display(), to.display());
    }
}
