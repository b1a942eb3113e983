//! What each fuzz target does with one input, shared by the fuzz targets (`fuzz_targets/*.rs`,
//! run by `run.sh`) and the regression test `gateway/tests/fuzz_regressions.rs`, which runs every
//! file under `regressions/<target>/` and `corpus-seed/<target>/` through the same function.
//!
//! Each function takes raw bytes, feeds them to the gateway's own parsers and checks, and panics
//! (a finding) when an invariant breaks: the gateway itself panicked; an input was refused with
//! something other than the typed error a client gets (a SCIM `4xx`, or the admin API's `400` /
//! `422`); or a cheap property failed (the filter printer's round trip, a valid PATCH result
//! that does not validate again, a `/Bulk` answer that lacks an operation).

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use http::StatusCode;
use serde_json::{Map, Value, json};

use scim_gateway::admin::catalog::{self, CatalogError};
use scim_gateway::app::resources::BoxFuture;
use scim_gateway::app::{Answer, Body, Offers, Provisioning, Resources, Write, WriteError};
use scim_gateway::config::ConnectorConfig;
use scim_gateway::delivery::connector;
use scim_gateway::model::{Operation, ResourceKind};
use scim_gateway::scim::ScimError;
use scim_gateway::scim::filter::{self, Filter};
use scim_gateway::scim::list::ListQuery;
use scim_gateway::scim::patch::{self, PatchOp};
use scim_gateway::scim::schema::{self, UnknownAttributes};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Inputs that are not UTF-8 are not filters; `serde_json` refuses them as bodies.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A body as the gateway's extractors read it (`serde_json::from_slice`), or `None` when it is
/// not JSON (a `400` before any of the code fuzzed here runs).
fn json_body(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok()
}

/// A client's error: a `4xx` (never a `500`, which would be the gateway's own failure).
fn client_error(e: &ScimError, what: &str) {
    assert!(
        e.status.is_client_error(),
        "{what}: a client's input answered {} ({e})",
        e.status
    );
}

// --- fixtures ----------------------------------------------------------------------------------

/// A resource in the stored form: `prepare_input` of `raw` with an id and `meta`, as the
/// application layer assembles it.
fn stored(kind: ResourceKind, id: &str, raw: Value) -> Value {
    let attrs = schema::prepare_input(kind, &raw, None, UnknownAttributes::Reject)
        .unwrap_or_else(|e| panic!("fixture {id} is invalid: {e}"));
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.extend(attrs);
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": "2024-01-01T00:00:00Z",
            "lastModified": "2024-01-02T00:00:00Z",
            "version": "W/\"1\"",
        }),
    );
    Value::Object(out)
}

/// The fixed User (with the Enterprise extension) every target works on.
pub fn user() -> &'static Value {
    static USER: OnceLock<Value> = OnceLock::new();
    USER.get_or_init(|| {
        stored(
            ResourceKind::User,
            "u1",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "externalId": "ext-701984",
                "userName": "bjensen@example.com",
                "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen",
                         "givenName": "Barbara", "middleName": "Jane"},
                "displayName": "Babs Jensen",
                "nickName": "Babs",
                "title": "Tour Guide",
                "userType": "Employee",
                "preferredLanguage": "en-US",
                "locale": "en-US",
                "timezone": "America/Los_Angeles",
                "active": true,
                "password": "t1meMa$heen",
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@jensen.org", "type": "home"}
                ],
                "phoneNumbers": [
                    {"value": "555-555-5555", "type": "work"},
                    {"value": "555-555-4444", "type": "mobile"}
                ],
                "addresses": [{
                    "type": "work", "streetAddress": "100 Universal City Plaza",
                    "locality": "Hollywood", "region": "CA", "postalCode": "91608",
                    "country": "USA", "primary": true
                }],
                "roles": [{"value": "tour-guide", "primary": true}],
                "entitlements": [{"value": "vpn"}],
                ENTERPRISE: {
                    "employeeNumber": "701984",
                    "costCenter": "4130",
                    "organization": "Universal Studios",
                    "division": "Theme Park",
                    "department": "Tour Operations",
                    "manager": {"value": "u2"}
                }
            }),
        )
    })
}

/// The fixed Group every target works on.
pub fn group() -> &'static Value {
    static GROUP: OnceLock<Value> = OnceLock::new();
    GROUP.get_or_init(|| {
        stored(
            ResourceKind::Group,
            "g1",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "externalId": "grp-tour",
                "displayName": "Tour Guides",
                "members": [
                    {"value": "u1", "type": "User", "display": "Babs Jensen"},
                    {"value": "u2", "type": "User"},
                    {"value": "g2", "type": "Group", "display": "Guides (night)"}
                ]
            }),
        )
    })
}

fn fixtures() -> [(ResourceKind, &'static Value); 2] {
    [(ResourceKind::User, user()), (ResourceKind::Group, group())]
}

// --- filter ------------------------------------------------------------------------------------

/// A filter (`?filter=`, a `SearchRequest`'s, a connector scope's) and a PATCH path: parsed,
/// printed and parsed again to an equal tree, checked against both schemas, planned for the
/// store and evaluated against the fixed User and Group.
pub fn filter(data: &[u8]) {
    let Some(text) = text(data) else { return };
    match filter::parse(text) {
        Ok(f) => filter_parsed(&f),
        Err(e) => client_error(&ScimError::from(e), "filter"),
    }
    match filter::parse_patch_path(text) {
        Ok(path) => {
            let printed = path.to_string();
            let again = filter::parse_patch_path(&printed)
                .unwrap_or_else(|e| panic!("the printed path {printed:?} does not parse: {e}"));
            assert_eq!(again, path, "the path does not print back: {printed:?}");
        }
        Err(e) => client_error(&ScimError::from(e), "PATCH path"),
    }
    match filter::parse_attr_path(text) {
        Ok(path) => {
            let printed = path.to_string();
            let again = filter::parse_attr_path(&printed)
                .unwrap_or_else(|e| panic!("the printed path {printed:?} does not parse: {e}"));
            assert_eq!(again, path, "the path does not print back: {printed:?}");
        }
        Err(e) => client_error(&ScimError::from(e), "attribute path"),
    }
    let params = [("filter".to_owned(), text.to_owned())];
    if let Err(e) = ListQuery::from_params(&params) {
        client_error(&e, "?filter=");
    }
}

fn filter_parsed(f: &Filter) {
    let printed = f.to_string();
    let again = filter::parse(&printed)
        .unwrap_or_else(|e| panic!("the printed filter {printed:?} does not parse: {e}"));
    assert_eq!(&again, f, "the filter does not print back: {printed:?}");
    for (kind, resource) in fixtures() {
        if let Err(e) = f.validate(&kind) {
            client_error(&ScimError::from(e), "filter validation");
        }
        let _ = scim_gateway::store::plan::plan(kind, f);
        let _ = scim_gateway::store::plan::is_exact(kind, f);
        let matched = f.matches(resource, &kind);
        let negated = Filter::Not(Box::new(f.clone()));
        assert_eq!(
            negated.matches(resource, &kind),
            !matched,
            "not ({printed})"
        );
    }
}

// --- patch -------------------------------------------------------------------------------------

/// A PATCH body: parsed, applied to the fixed User and to the fixed Group, and the result
/// validated as the application layer does; a result that validates validates again to the same
/// resource. For the Group, the membership split (`split_members`) must agree with applying the
/// whole PATCH on which members remain.
pub fn patch(data: &[u8]) {
    let Some(body) = json_body(data) else { return };
    let ops = match patch::parse_request(&body) {
        Ok(ops) => ops,
        Err(e) => return client_error(&ScimError::from(e), "PATCH parse"),
    };
    for (kind, existing) in fixtures() {
        let whole = patched(kind, existing, &ops);
        if kind == ResourceKind::Group {
            split_agrees(existing, &ops, whole.as_ref());
        }
    }
}

/// The validated result of applying `ops` to `existing`, as `app::edit` computes it.
fn patched(kind: ResourceKind, existing: &Value, ops: &[PatchOp]) -> Option<Map<String, Value>> {
    let mut working = existing.clone();
    if let Err(e) = patch::apply(&mut working, ops, &kind) {
        client_error(&ScimError::from(e), "PATCH apply");
        return None;
    }
    match schema::prepare_input(kind, &working, Some(existing), UnknownAttributes::Reject) {
        Ok(attrs) => {
            revalidates(kind, &attrs, existing);
            Some(attrs)
        }
        Err(e) => {
            client_error(&ScimError::from(e), "PATCH result");
            None
        }
    }
}

/// Validated input, validated again over the same resource, is accepted unchanged.
fn revalidates(kind: ResourceKind, attrs: &Map<String, Value>, existing: &Value) {
    let body = Value::Object(attrs.clone());
    let again = schema::prepare_input(kind, &body, Some(existing), UnknownAttributes::Reject)
        .unwrap_or_else(|e| panic!("validated input {body} is refused when sent again: {e}"));
    assert_eq!(&again, attrs, "validating {body} again changes it");
}

fn member_ids(members: Option<&Value>) -> BTreeSet<String> {
    members
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Where the store keeps members apart, a group's PATCH is split; the members it leaves must be
/// the ones the whole PATCH leaves, when both are accepted.
fn split_agrees(existing: &Value, ops: &[PatchOp], whole: Option<&Map<String, Value>>) {
    let (others, edit) = match patch::split_members(ops) {
        Ok(Some(split)) => split,
        Ok(None) => return,
        Err(e) => return client_error(&e, "members split"),
    };
    let kind = ResourceKind::Group;
    let mut row = existing.clone();
    let members = row.as_object_mut().and_then(|o| o.remove("members"));
    if let Err(e) = patch::apply(&mut row, &others, &kind) {
        return client_error(&ScimError::from(e), "PATCH apply (split)");
    }
    let probe = json!({"schemas": [kind.core_schema()], "displayName": "-", "members": edit.add});
    if let Err(e) = schema::prepare_input(kind, &probe, None, UnknownAttributes::Reject) {
        return client_error(&ScimError::from(e), "members added (split)");
    }
    let Some(whole) = whole else { return };
    let mut ids = if edit.clear {
        BTreeSet::new()
    } else {
        member_ids(members.as_ref())
    };
    for id in &edit.remove {
        ids.remove(id);
    }
    ids.extend(member_ids(Some(&Value::Array(edit.add.clone()))));
    assert_eq!(
        ids,
        member_ids(whole.get("members")),
        "the split PATCH ({edit:?}) leaves other members than the whole one"
    );
}

// --- validate ----------------------------------------------------------------------------------

/// A POST or PUT body validated as a User and as a Group (new, and over the fixture), with
/// unknown attributes refused and ignored; what validates validates again unchanged and
/// projects. The same body is also read as a `SearchRequest`.
pub fn validate(data: &[u8]) {
    let Some(body) = json_body(data) else { return };
    for (kind, fixture) in fixtures() {
        for existing in [None, Some(fixture)] {
            for unknown in [UnknownAttributes::Reject, UnknownAttributes::Ignore] {
                match schema::prepare_input(kind, &body, existing, unknown) {
                    Ok(attrs) => {
                        let again = schema::prepare_input(
                            kind,
                            &Value::Object(attrs.clone()),
                            existing,
                            UnknownAttributes::Reject,
                        )
                        .unwrap_or_else(|e| {
                            panic!("validated input {attrs:?} is refused when sent again: {e}")
                        });
                        assert_eq!(again, attrs, "validating the input again changes it");
                        let mut resource = Value::Object(attrs);
                        schema::strip_never_returned(kind, &mut resource);
                        let _ = schema::project(kind, &resource, &[], &[]);
                    }
                    Err(e) => client_error(&ScimError::from(e), "resource validation"),
                }
            }
        }
    }
    if let Err(e) = ListQuery::from_search_request(&body) {
        client_error(&e, "SearchRequest");
    }
}

// --- bulk --------------------------------------------------------------------------------------

/// Resources in memory, for `/Bulk` without a store: reads and writes of single resources, as
/// `Provisioning` asks for them (the store's own code is not fuzzed here). A `userName` is
/// unique, as in the store (`409`).
struct Memory {
    rows: Mutex<HashMap<(ResourceKind, String), Value>>,
    next: AtomicU64,
}

impl Memory {
    fn with_fixtures() -> Self {
        let rows = fixtures()
            .into_iter()
            .map(|(kind, r)| ((kind, r["id"].as_str().unwrap().to_owned()), r.clone()))
            .collect();
        Memory {
            rows: Mutex::new(rows),
            next: AtomicU64::new(2),
        }
    }

    fn commit(&self, change: Write<'_>) -> Result<Value, WriteError> {
        let mut rows = self.rows.lock().unwrap();
        let id_of = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
        match (change.operation, change.after) {
            (Operation::Delete, _) | (_, None) => {
                let id = change.before.map(id_of).unwrap_or_default();
                rows.remove(&(change.kind, id));
                Ok(Value::Null)
            }
            (operation, Some(mut after)) => {
                let id = id_of(&after);
                assert!(!id.is_empty(), "a write without an id: {after}");
                if operation == Operation::Create {
                    assert!(
                        !rows.contains_key(&(change.kind, id.clone())),
                        "create of an existing id {id}"
                    );
                }
                if change.kind == ResourceKind::User {
                    let name =
                        |v: &Value| v["userName"].as_str().unwrap_or_default().to_lowercase();
                    let taken = rows.iter().any(|((k, other), v)| {
                        *k == ResourceKind::User && *other != id && name(v) == name(&after)
                    });
                    if taken {
                        return Err(WriteError::Refused(ScimError {
                            status: StatusCode::CONFLICT,
                            scim_type: Some("uniqueness"),
                            detail: "userName is taken".into(),
                        }));
                    }
                }
                let version = self.next.fetch_add(1, Ordering::Relaxed);
                after["meta"]["version"] = json!(format!("W/\"{version}\""));
                rows.insert((change.kind, id), after.clone());
                Ok(after)
            }
        }
    }
}

impl Resources for Memory {
    fn offers(&self) -> Offers {
        Offers {
            bulk: true,
            sort: true,
            member_records: false,
        }
    }

    fn assign_id(&self) -> Option<String> {
        Some(format!("n{}", self.next.fetch_add(1, Ordering::Relaxed)))
    }

    fn read<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ScimError>> {
        let found = self
            .rows
            .lock()
            .unwrap()
            .get(&(kind, id.to_owned()))
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn fetch<'a>(
        &'a self,
        _: ResourceKind,
        _: &'a str,
        _: &'a str,
        _: &'a ListQuery,
    ) -> BoxFuture<'a, Result<Answer, ScimError>> {
        unreachable!("/Bulk does not fetch")
    }

    fn list<'a>(
        &'a self,
        _: &'a [ResourceKind],
        _: &'a ListQuery,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Body, ScimError>> {
        unreachable!("/Bulk does not list")
    }

    fn write<'a>(
        &'a self,
        _actor: Option<&'a str>,
        change: Write<'a>,
    ) -> BoxFuture<'a, Result<Value, WriteError>> {
        let written = self.commit(change);
        Box::pin(async move { written })
    }

    fn render(
        &self,
        _: ResourceKind,
        _: Value,
        _: bool,
        _: &str,
        _: &ListQuery,
    ) -> Result<Value, ScimError> {
        unreachable!("/Bulk does not render")
    }
}

/// A `/Bulk` body run through `Provisioning::bulk` over [`Memory`] holding the fixtures (so
/// `/Users/u1` and `/Groups/g1` exist): every operation of an accepted request has exactly one
/// entry in the answer, with a status that is not a `5xx`.
pub fn bulk(data: &[u8]) {
    let Some(body) = json_body(data) else { return };
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime");
    }
    let service = Provisioning::new(
        std::sync::Arc::new(Memory::with_fixtures()),
        UnknownAttributes::Reject,
        1000,
    );
    let answer =
        RUNTIME.with(|rt| rt.block_on(service.bulk(body.clone(), "https://scim.example/scim/v2")));
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => return client_error(&e, "/Bulk"),
    };
    // Member names match in any case, as `scim::message::field` reads them.
    let field = |name: &str| {
        body.as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v)
    };
    let asked = field("Operations")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let entries = answer["Operations"]
        .as_array()
        .unwrap_or_else(|| panic!("a BulkResponse without Operations: {answer}"));
    let stopped = entries.len() < asked;
    assert!(
        entries.len() <= asked,
        "{} entries for {asked} operations",
        entries.len()
    );
    if stopped {
        // Only failOnErrors stops a request early.
        assert!(
            field("failOnErrors").is_some(),
            "{} entries for {asked} operations without failOnErrors",
            entries.len()
        );
    }
    for entry in entries {
        let status: u16 = entry["status"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("an entry without a status: {entry}"));
        assert!(
            (200..500).contains(&status),
            "an operation answered {status}: {entry}"
        );
    }
}

// --- admin -------------------------------------------------------------------------------------

/// The API connector every admin input is also applied over (it has secrets, so a change of
/// where it sends them must give them again).
fn current_connector() -> ConnectorConfig {
    serde_json::from_value(json!({
        "name": "crm",
        "plugin": "scim2",
        "config": {"base_url": "https://crm.example/scim/v2"},
        "secrets": {"token": "s3cret"},
        "allowed_hosts": ["https://crm.example"],
        "scope": {"filter": "active eq true"}
    }))
    .expect("the fixture connector")
}

/// An admin API connector body (`PUT`/`PATCH /admin/v1/connectors/{name}`): checked as the
/// catalogue checks it before it loads a plugin, as a new connector, as a `PUT` over an
/// existing one and as a `PATCH` of it, under the name `crm` and under the name the body gives.
/// A refusal is a `400`, `404` or `422`; an accepted definition gets the memory limit it asks
/// for, and survives being stored and read back (as at every start) and is accepted again.
pub fn admin(data: &[u8]) {
    let Some(body) = json_body(data) else { return };
    let current = current_connector();
    let mut names = vec!["crm".to_owned()];
    if let Some(name) = body.get("name").and_then(Value::as_str)
        && name != "crm"
    {
        names.push(name.to_owned());
    }
    for name in &names {
        for (current, patch) in [
            (None, false),
            (Some(&current), false),
            (Some(&current), true),
        ] {
            match catalog::check_change(name, current, body.clone(), patch) {
                Ok(c) => {
                    assert_eq!(&c.name, name);
                    assert!(!c.open_link_local, "the admin API set open_link_local");
                    let limits = connector::settings(&c).expect("checked settings").limits;
                    let asked = u128::from(c.memory_mib) << 20;
                    assert_eq!(
                        limits.memory_bytes as u128,
                        asked.min(usize::MAX as u128),
                        "memory_mib {} is not the limit applied",
                        c.memory_mib
                    );
                    let stored = serde_json::to_vec(&c).expect("a definition serialises");
                    let read: Value = serde_json::from_slice(&stored)
                        .unwrap_or_else(|e| panic!("a stored definition does not read: {e}"));
                    catalog::check_change(name, None, read, false).unwrap_or_else(|e| {
                        panic!("a stored definition {c:?} is refused when read back: {e}")
                    });
                }
                Err(
                    CatalogError::BadRequest(_)
                    | CatalogError::Unprocessable(_)
                    | CatalogError::NotFound(_),
                ) => {}
                Err(e) => panic!("a connector body was refused with {e:?}"),
            }
        }
    }
}
