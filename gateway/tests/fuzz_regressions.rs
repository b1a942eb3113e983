//! The fuzz targets' inputs in the normal suite: every file under `gateway/fuzz/regressions/<target>/`
//! (inputs that once crashed, hung or broke an invariant) and `gateway/fuzz/corpus-seed/<target>/`
//! (realistic inputs the fuzzing starts from) goes through the target's harness, the same code
//! the fuzz target runs (`gateway/fuzz/harness.rs`, `gateway/fuzz/run.sh`).

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

/// Runs every file of `fuzz/<dir>/<target>/` through `run`, naming the file that fails.
fn each(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut ran = 0;
    for dir in ["regressions", "corpus-seed"] {
        let dir = root.join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.into_iter().filter(|f| f.is_file()) {
            if file.file_name().is_some_and(|n| n == ".gitkeep") {
                continue;
            }
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{} fails its harness", file.display());
            ran += 1;
        }
    }
    assert!(ran > 0, "no inputs for the {target} target");
}

#[test]
fn filter() {
    each("filter", harness::filter);
}

#[test]
fn patch() {
    each("patch", harness::patch);
}

#[test]
fn validate() {
    each("validate", harness::validate);
}

#[test]
fn bulk() {
    each("bulk", harness::bulk);
}

#[test]
fn admin() {
    each("admin", harness::admin);
}
