//! Builds the bundled connector plugins (`plugins/scim2`, `plugins/webhook`) as WebAssembly
//! components and leaves them in `OUT_DIR`, where `runtime::bundled` embeds them in the binary:
//! a gateway built by the README's commands has its connectors with nothing else to install.
//!
//! The plugins are built by a nested `cargo build --target wasm32-wasip2 --release` with a
//! target directory of their own (`target/plugins`): the outer cargo holds the lock on the main
//! target directory while build scripts run, so sharing it would deadlock. On a machine without
//! the `wasm32-wasip2` standard library (a fresh one: rustup does not add targets by itself
//! there), the target is added with rustup first.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bundled plugins: (package, file name of the component).
const PLUGINS: &[&str] = &["scim2", "webhook"];
const TARGET: &str = "wasm32-wasip2";

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
    ensure_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = root.join("target").join("plugins");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for p in PLUGINS {
        cmd.args(["-p", p]);
    }
    // Flags meant for the host build must not leak into the wasm one.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("run cargo to build the bundled plugins");
    assert!(
        status.success(),
        "building the bundled plugins for {TARGET} failed (see above)"
    );
    for p in PLUGINS {
        let built = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{p}.wasm"));
        copy(&built, &out.join(format!("{p}.wasm")));
    }
}

fn copy(from: &Path, to: &Path) {
    if let Err(e) = std::fs::copy(from, to) {
        panic!("copying {} to {}: {e}", from.display(), to.display());
    }
}

/// Adds the wasm32-wasip2 standard library with rustup when this toolchain lacks it.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.is_some_and(|d| d.exists()) {
        return;
    }
    println!(
        "cargo:warning=adding the {TARGET} target with rustup (needed for the bundled plugins)"
    );
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    assert!(
        added.is_ok_and(|s| s.success()),
        "the {TARGET} target is missing and `rustup target add {TARGET}` failed; run it by hand"
    );
}
