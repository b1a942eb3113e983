//! The document against the router: the same paths, the same methods, and nothing dangling.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tokio::sync::Notify;
use tower::ServiceExt;

use super::DOCUMENT;
use crate::admin::catalog::Catalog;
use crate::admin::reconcile::Reconciler;
use crate::admin::{AdminState, router};
use crate::auth::TokenSet;
use crate::delivery::registry::Registry;
use crate::metrics::DeliveryMetrics;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::Store;
use crate::store::redb::RedbStore;

/// Every admin source file that may declare routes, by module name.
const SOURCES: &[(&str, &str)] = &[
    ("mod", include_str!("../mod.rs")),
    ("jobs", include_str!("../jobs.rs")),
    ("audit", include_str!("../audit.rs")),
    ("plugins", include_str!("../plugins.rs")),
    ("connectors", include_str!("../connectors.rs")),
    ("reconcile", include_str!("../reconcile.rs")),
    ("catalog", include_str!("../catalog.rs")),
    ("openapi", include_str!("../openapi.rs")),
];

/// The methods probed on every path.
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fn document() -> Value {
    serde_json::from_str(DOCUMENT).unwrap()
}

/// Every (method, path) the document describes.
fn documented() -> BTreeSet<(String, String)> {
    let doc = document();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The string literals that follow `needle` in `source` (skipping whitespace).
fn literals_after<'a>(source: &'a str, needle: &str) -> Vec<&'a str> {
    source
        .match_indices(needle)
        .filter_map(|(at, _)| {
            let rest = source[at + needle.len()..].trim_start();
            let rest = rest.strip_prefix('"')?;
            rest.split_once('"').map(|(literal, _)| literal)
        })
        .collect()
}

#[test]
fn the_document_is_openapi_3_1_with_bearer_auth_and_the_error_shape() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], crate::admin::BASE_PATH);
    let scheme = &doc["components"]["securitySchemes"]["adminToken"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&"http".into(), &"bearer".into())
    );
    assert_eq!(doc["security"][0]["adminToken"], serde_json::json!([]));
    let error = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"];
    assert!(
        error["status"].is_object() && error["message"].is_object(),
        "{error}"
    );
    // Every reference points somewhere.
    for target in literals_after(DOCUMENT, "\"$ref\":") {
        let pointer = target.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
    }
    // Every operation answers 401 in the error shape.
    for (method, path) in documented() {
        let op = &doc["paths"][&path][method.to_lowercase()];
        assert!(op["operationId"].is_string(), "{method} {path}");
        assert!(
            op["responses"]["401"].is_object(),
            "{method} {path}: no 401"
        );
    }
}

#[test]
fn every_routed_path_is_documented_and_every_documented_path_routed() {
    // Every module the admin router merges is scanned.
    let scanned: BTreeSet<&str> = SOURCES.iter().map(|(name, _)| *name).collect();
    for merge in SOURCES[0].1.split(".merge(").skip(1) {
        let module = merge.split("::").next().unwrap_or_default().trim();
        assert!(
            scanned.contains(module),
            "module {module} is merged into the admin router but not scanned here"
        );
    }
    let routed: BTreeSet<String> = SOURCES
        .iter()
        .flat_map(|(_, source)| literals_after(source, ".route("))
        .map(str::to_owned)
        .collect();
    let paths: BTreeSet<String> = documented().into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        routed, paths,
        "routes (left) and documented paths (right) differ"
    );
}

/// The admin token of [`state`].
const ADMIN: &str = "openapi-test-admin";

/// An admin state over a fresh store, accepting [`ADMIN`].
fn state(dir: &std::path::Path) -> AdminState {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir).unwrap());
    let runtime = Runtime::new(RuntimeConfig {
        pooling: false,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let registry = Arc::new(Registry::default());
    let committed = Arc::new(Notify::new());
    let catalog = Catalog::new(
        store.clone(),
        runtime,
        registry.clone(),
        committed.clone(),
        Arc::new(crate::vault::Vault::ephemeral()),
    );
    AdminState {
        store: store.clone(),
        admin_tokens: Arc::new(TokenSet::configured(&[], Some(ADMIN))),
        scim_tokens: Arc::new(TokenSet::configured(&[], None)),
        catalog: Arc::new(catalog),
        reconciler: Arc::new(Reconciler::new(store, registry, committed.clone())),
        delivery: Arc::new(DeliveryMetrics::new([])),
        committed,
    }
}

/// What the router answers to `method path` with the admin token and no body: the status and
/// the error message, if any.
async fn probe(app: &axum::Router, method: Method, path: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    (status, message.to_owned())
}

/// Every documented operation reaches a handler (whatever it then answers to an empty request,
/// it is neither the router's `404` nor its `405`), and every other method on a documented path
/// is the router's `405`.
#[tokio::test]
async fn the_router_serves_exactly_the_documented_operations() {
    let dir = std::env::temp_dir().join(format!("openapi-routes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let app = router(state(&dir));
    let (status, no_route) = probe(&app, Method::GET, "/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, no_method) = probe(&app, Method::PUT, "/jobs").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let documented = documented();
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path
            .replace("{seq}", "1")
            .replace("{id}", "abc")
            .replace("{name}", "x");
        for method in METHODS {
            let (status, message) = probe(&app, method.clone(), &concrete).await;
            if documented.contains(&(method.to_string(), path.clone())) {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert_ne!(message, no_route, "{method} {path}");
                assert_ne!(message, no_method, "{method} {path}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert_eq!(message, no_method, "{method} {path}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
