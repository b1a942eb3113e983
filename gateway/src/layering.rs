//! The layering rule, checked: which top-level module may import which.
//!
//! Every arrow points down this list, so no two modules depend on each other:
//!
//! ```text
//! model                         ResourceKind, Operation, RemoteRef, Failure, Page, the clock
//! listen                        the accept loop (connection cap, timeouts): imports none of ours
//!   ▲
//! scim                          the protocol: schema, filter, patch, list, discovery, ScimError
//!   ▲
//! config ◀── auth               the TOML file; hashed tokens
//!   ▲
//! vault                         the operator's key; sealed secrets and passwords
//!   ▲
//! store                         the Store trait and redb; index plans
//!   ▲
//! metrics                       Prometheus text
//!   ▲
//! runtime (model only)          the sandbox, adaptable to anything
//!   ▲
//! delivery                      outbox dispatcher, registry, scope, the runtime adapter
//!   ▲
//! app                           Provisioning over Persisted or PassThrough
//!   ▲
//! admin ◀── http ◀── cli        the admin API; the SCIM edge; the admin CLI
//!   ▲
//! server                        wires it all
//! ```
//!
//! The test reads each module's source for `crate::` paths (in `use` lists and inline) and
//! fails naming the file and the import when one is not in [`ALLOWED`]. It is deliberately
//! textual: it needs no compiler plugin and catches an import the moment it is written.

/// Each top-level module and the modules it may import (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("listen", &[]),
    ("scim", &["model"]),
    ("config", &["model", "scim"]),
    ("auth", &["model", "config"]),
    ("vault", &["model"]),
    ("store", &["model", "scim", "vault"]),
    ("metrics", &["model", "store"]),
    ("runtime", &["model"]),
    (
        "delivery",
        &[
            "model", "scim", "config", "store", "metrics", "runtime", "vault",
        ],
    ),
    (
        "app",
        &[
            "model", "scim", "config", "store", "metrics", "delivery", "vault",
        ],
    ),
    (
        "admin",
        &[
            "model", "scim", "config", "auth", "store", "metrics", "runtime", "delivery", "listen",
            "vault",
        ],
    ),
    (
        "http",
        &[
            "model", "scim", "config", "auth", "store", "metrics", "app", "admin", "listen",
        ],
    ),
    ("cli", &["admin"]),
    (
        "server",
        &[
            "model", "scim", "config", "auth", "store", "metrics", "runtime", "delivery", "app",
            "admin", "http", "listen", "vault",
        ],
    ),
];

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules `text` names through `crate::`.
fn imported_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(list) = rest.strip_prefix('{') {
                // `crate::{a::X, b}` (one line; rustfmt splits long lists into such lines too).
                let mut depth = 0;
                let mut item = String::new();
                for c in list.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            push_head(&item, &mut found);
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                push_head(&item, &mut found);
            } else {
                push_head(rest, &mut found);
            }
        }
    }
    found
}

/// Adds the first path segment of `path` (`a` of `a::b::C`), if it is one.
fn push_head(path: &str, found: &mut BTreeSet<String>) {
    let head: String = path
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !head.is_empty() && head != "self" {
        found.insert(head);
    }
}

/// Every `.rs` file of a module: `src/NAME.rs` or everything under `src/NAME/`.
fn files_of(src: &Path, module: &str) -> Vec<PathBuf> {
    let single = src.join(format!("{module}.rs"));
    if single.exists() {
        return vec![single];
    }
    let mut out = Vec::new();
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a module directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn every_import_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    let mut wrong = Vec::new();
    for (module, allowed) in ALLOWED {
        for file in files_of(&src, module) {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for used in imported_modules(&text) {
                let fine = used == *module || allowed.contains(&used.as_str());
                if !fine && known.contains(used.as_str()) {
                    wrong.push(format!("{} imports crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering (see gateway/src/layering.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_place() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|l| l.strip_suffix(';'))
        {
            assert!(
                ALLOWED.iter().any(|(m, _)| *m == name),
                "module `{name}` is not in the layering table"
            );
        }
    }
}

#[test]
fn the_table_itself_has_no_cycle() {
    // Each module may only name modules listed before it.
    for (i, (module, allowed)) in ALLOWED.iter().enumerate() {
        for a in *allowed {
            let before = ALLOWED[..i].iter().any(|(m, _)| m == a);
            assert!(before, "{module} may import {a}, which is not below it");
        }
    }
}

#[test]
fn the_reader_finds_grouped_and_inline_paths() {
    let text =
        "use crate::{app::X, store::{Y, Z}};\nlet a = crate::model::now_ms(); // crate::http\n";
    let found: Vec<String> = imported_modules(text).into_iter().collect();
    assert_eq!(found, ["app", "model", "store"]);
}
