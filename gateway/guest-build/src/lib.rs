//! Builds guest plugins — workspace packages compiled to WebAssembly components for
//! `wasm32-wasip2` — in one place, with the same flags, for everything that needs them: the
//! gateway's build script (the bundled `scim2` and `webhook`, embedded in the binary), the
//! runtime's integration tests and bench, and the end-to-end tests.
//!
//! Every build is `cargo build --release --target wasm32-wasip2` with the target directory
//! `target/plugins` under the workspace root, never the caller's:
//!
//! * a build script runs while the outer cargo holds the lock on the main target directory, so
//!   a nested build there would wait for itself forever;
//! * one directory for every caller builds the wasm dependencies (wit-bindgen, serde) once.
//!
//! Variables meant for the caller's host build (`RUSTFLAGS`, `CARGO_ENCODED_RUSTFLAGS`,
//! `CARGO_TARGET_DIR`, `CARGO_BUILD_TARGET`) are removed from the nested build: they would
//! change its flags or its target (and, differing between callers, rebuild everything each
//! time). On a toolchain without the `wasm32-wasip2` standard library (a fresh machine: rustup
//! does not add targets by itself there), the target is added with rustup first.
//!
//! No dependencies: it is a build-dependency of the gateway, compiled before its build script.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Variables of the caller's build that must not reach the nested one.
const CLEARED: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
];

/// The workspace root (this crate is `gateway/guest-build/`).
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("guest-build is gateway/guest-build/ in the workspace")
}

/// Builds the workspace `packages` for `wasm32-wasip2` in release mode, with `env` added to the
/// build's environment (e.g. `ECHO_VERSION` for a distinct echo), and answers the directory
/// holding the `.wasm` files (named after the packages, `-` turned to `_`). Later builds write
/// to the same directory: a caller that keeps a build copies it out.
///
/// Panics when the build fails (cargo's output says why).
pub fn build(packages: &[&str], env: &[(&str, &str)]) -> PathBuf {
    ensure_target();
    let root = workspace_root();
    let target_dir = root.join("target").join("plugins");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    for var in CLEARED {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build {packages:?} for {TARGET}: {e}"));
    assert!(
        status.success(),
        "building {packages:?} for {TARGET} failed (see above)"
    );
    target_dir.join(TARGET).join("release")
}

/// Adds the wasm32-wasip2 standard library with rustup when this toolchain lacks it.
fn ensure_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.is_some_and(|d| d.exists()) {
        return;
    }
    let note = format!("adding the {TARGET} target with rustup (needed for the guest plugins)");
    if in_build_script() {
        println!("cargo:warning={note}");
    } else {
        eprintln!("{note}");
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    assert!(
        added.is_ok_and(|s| s.success()),
        "the {TARGET} target is missing and `rustup target add {TARGET}` failed; run it by hand"
    );
}

/// Whether this runs in a build script, where only `cargo:warning=` lines reach the user
/// (cargo sets `TARGET` and `HOST` for build scripts only).
fn in_build_script() -> bool {
    std::env::var_os("TARGET").is_some() && std::env::var_os("HOST").is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_root_is_the_workspace() {
        let manifest = super::workspace_root().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("read the root Cargo.toml");
        assert!(text.contains("[workspace]"), "{}", manifest.display());
    }
}
