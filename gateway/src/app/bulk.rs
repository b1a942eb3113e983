//! `/Bulk` (RFC 7644 section 3.7): many operations in one request, each through the ordinary
//! [`Provisioning`] path, with `bulkId` references resolved across operations.
//!
//! Operations run in request order, except that an operation referring to `bulkId:X` waits until
//! the operation creating `X` has run (so a group can list members created later in the same
//! request). Operations that can never run because their references form a cycle fail with
//! `409`. A reference to a `bulkId` that no operation creates, or whose creation failed, fails
//! the referring operation with `400 invalidValue`.

use std::collections::{HashMap, HashSet, VecDeque};

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::Provisioning;
use crate::model::KINDS;
use crate::scim::ScimError;
use crate::scim::message::{field, message_object};
use crate::scim::resource::version;

/// The `schemas` URN of a bulk request.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The `schemas` URN of a bulk response.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// One parsed operation.
struct Op {
    /// Position in the request.
    index: usize,
    /// `POST`, `PUT`, `PATCH` or `DELETE` (upper-cased).
    method: String,
    /// The client's `bulkId`, if any.
    bulk_id: Option<String>,
    /// `/Users`, `/Groups/{id}`, …
    path: String,
    /// The body, for POST/PUT/PATCH.
    data: Value,
    /// `If-Match` for this operation.
    version: Option<String>,
}

/// Runs a bulk request; answers the `BulkResponse` body.
///
/// The request is taken, not borrowed: each operation's `data` moves into its [`Op`] (no
/// copy), and is dropped once the operation has run, so the memory a request holds falls as it
/// runs instead of staying at twice the parsed body to the end.
pub async fn execute(
    service: &Provisioning,
    body: Value,
    max_operations: usize,
    base_url: &str,
) -> Result<Value, ScimError> {
    let obj = message_object(&body, BULK_REQUEST, "BulkRequest", "a bulk body")?;
    let count = field(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::bad_request("invalidSyntax", "'Operations' must be an array"))?
        .len();
    if count > max_operations {
        return Err(ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{count} operations exceed maxOperations {max_operations}"),
        ));
    }
    let fail_on_errors = match field(obj, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            ScimError::bad_request("invalidValue", "failOnErrors must be a positive integer")
        })?),
    };
    let Value::Object(obj) = body else {
        unreachable!("message_object answered an object");
    };
    let raw_ops = obj
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v);
    let Some(Value::Array(raw_ops)) = raw_ops else {
        unreachable!("'Operations' was checked to be an array");
    };
    let pending = raw_ops
        .into_iter()
        .enumerate()
        .map(|(i, op)| parse_op(i, op))
        .collect::<Result<Vec<_>, _>>()?;
    let creators: HashMap<String, usize> = pending
        .iter()
        .filter(|op| op.method == "POST")
        .filter_map(|op| op.bulk_id.clone().map(|b| (b, op.index)))
        .collect();

    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut errors = 0u64;
    // A work list in request order. An operation whose reference's creator has not run yet is
    // parked under that bulkId and goes back to the front of the list once the creator ran, so
    // each operation is looked at once per reference it has: linear in the request, whatever
    // order its references come in.
    let mut ready: VecDeque<Op> = pending.into_iter().collect();
    let mut parked: HashMap<String, Vec<Op>> = HashMap::new();
    let mut done: HashSet<usize> = HashSet::new();
    while let Some(mut op) = ready.pop_front() {
        let refs = references(&op);
        let blocker = refs.iter().find(|r| {
            !resolved.contains_key(*r)
                && creators
                    .get(*r)
                    .is_some_and(|&i| i != op.index && !done.contains(&i))
        });
        if let Some(b) = blocker {
            parked.entry(b.clone()).or_default().push(op);
            continue;
        }
        let data = std::mem::take(&mut op.data);
        let outcome = run(service, &op, data, &resolved, &refs).await;
        if let (Ok((id, _)), Some(b)) = (&outcome, &op.bulk_id)
            && op.method == "POST"
        {
            resolved.insert(b.clone(), id.clone());
        }
        // RFC 7644 section 3.7: every entry has a location, except a failed POST's.
        let location = match (&outcome, op.method.as_str()) {
            (Ok((id, _)), "POST") => Some(format!(
                "{base_url}/{}/{id}",
                resolved_path(&op.path, &resolved)
            )),
            (Err(_), "POST") => None,
            _ => Some(format!("{base_url}/{}", resolved_path(&op.path, &resolved))),
        };
        let entry = response_entry(&op, outcome.map(|(_, version)| version), location);
        if entry.get("response").is_some() {
            errors += 1;
        }
        done.insert(op.index);
        if let Some(b) = op.bulk_id.as_ref().filter(|_| op.method == "POST")
            && let Some(waiting) = parked.remove(b)
        {
            for waiter in waiting.into_iter().rev() {
                ready.push_front(waiter);
            }
        }
        results.push((op.index, entry));
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            parked.clear();
            break;
        }
    }
    // What is still parked waits on a creator that waits on it: a cycle.
    let mut circular: Vec<Op> = parked.into_values().flatten().collect();
    circular.sort_by_key(|op| op.index);
    for op in circular {
        let e = ScimError::new(StatusCode::CONFLICT, "circular bulkId references");
        let location =
            (op.method != "POST").then(|| format!("{base_url}/{}", op.path.trim_matches('/')));
        results.push((op.index, response_entry(&op, Err(e), location)));
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(json!({
        "schemas": [BULK_RESPONSE],
        "Operations": results.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
}

fn parse_op(index: usize, raw: Value) -> Result<Op, ScimError> {
    let bad =
        |why: &str| ScimError::bad_request("invalidSyntax", format!("operation {index}: {why}"));
    let Value::Object(mut obj) = raw else {
        return Err(bad("must be an object"));
    };
    let text = |name: &str| field(&obj, name).and_then(Value::as_str).map(str::to_owned);
    let method = text("method")
        .ok_or_else(|| bad("'method' is required"))?
        .to_ascii_uppercase();
    if !["POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
        return Err(bad("'method' must be POST, PUT, PATCH or DELETE"));
    }
    let bulk_id = text("bulkId");
    if method == "POST" && bulk_id.is_none() {
        return Err(bad("a POST needs a 'bulkId'"));
    }
    let path = text("path").ok_or_else(|| bad("'path' is required"))?;
    let version = text("version");
    let data = obj
        .keys()
        .find(|k| k.eq_ignore_ascii_case("data"))
        .cloned()
        .and_then(|k| obj.swap_remove(&k))
        .unwrap_or(Value::Null);
    Ok(Op {
        index,
        method,
        bulk_id,
        path,
        data,
        version,
    })
}

/// The `bulkId`s an operation refers to (`bulkId:X` in its path or anywhere in its data).
fn references(op: &Op) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix("bulkId:") {
                    out.push(id.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for segment in op.path.split('/') {
        walk(&Value::String(segment.to_owned()), &mut out);
    }
    walk(&op.data, &mut out);
    out
}

/// Replaces every `bulkId:X` with the id created for `X`.
fn substitute(v: &mut Value, resolved: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:").and_then(|b| resolved.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, resolved)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, resolved)),
        _ => {}
    }
}

/// Runs one operation (its `data` taken out of it); answers the resource's id and new version
/// on success.
async fn run(
    service: &Provisioning,
    op: &Op,
    mut data: Value,
    resolved: &HashMap<String, String>,
    refs: &[String],
) -> Result<(String, Option<String>), ScimError> {
    if let Some(missing) = refs.iter().find(|r| !resolved.contains_key(*r)) {
        return Err(ScimError::bad_request(
            "invalidValue",
            format!("bulkId '{missing}' was not created by this request"),
        ));
    }
    let path = resolved_path(&op.path, resolved);
    if !refs.is_empty() {
        substitute(&mut data, resolved);
    }
    let mut parts = path.splitn(2, '/');
    let endpoint = parts.next().unwrap_or_default();
    let id = parts.next();
    let kind = KINDS
        .into_iter()
        .find(|k| k.endpoint().eq_ignore_ascii_case(endpoint))
        .ok_or_else(|| {
            ScimError::bad_request("invalidPath", format!("unknown endpoint '/{endpoint}'"))
        })?;
    let if_match = op.version.as_deref();
    let stored = match (op.method.as_str(), id) {
        ("POST", None) => service.create(kind, &data).await?,
        ("PUT", Some(id)) => service.replace(kind, id, &data, if_match).await?,
        ("PATCH", Some(id)) => service.patch(kind, id, &data, if_match).await?,
        ("DELETE", Some(id)) => {
            service.delete(kind, id, if_match).await?;
            return Ok((id.to_owned(), None));
        }
        _ => {
            return Err(ScimError::bad_request(
                "invalidPath",
                format!("{} cannot be used on '{}'", op.method, op.path),
            ));
        }
    };
    let id = stored
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok((id, version(&stored).map(str::to_owned)))
}

/// The operation's path with `bulkId:X` segments replaced, without surrounding slashes.
fn resolved_path(path: &str, resolved: &HashMap<String, String>) -> String {
    path.trim_matches('/')
        .split('/')
        .map(|segment| {
            segment
                .strip_prefix("bulkId:")
                .and_then(|b| resolved.get(b))
                .map_or(segment, String::as_str)
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The `Operations[]` entry of the response for one operation.
fn response_entry(
    op: &Op,
    outcome: Result<Option<String>, ScimError>,
    location: Option<String>,
) -> Value {
    let mut entry = Map::new();
    entry.insert("method".into(), json!(op.method));
    if let Some(b) = &op.bulk_id {
        entry.insert("bulkId".into(), json!(b));
    }
    if let Some(location) = location {
        entry.insert("location".into(), json!(location));
    }
    match outcome {
        Ok(version) => {
            let status = match op.method.as_str() {
                "POST" => "201",
                "DELETE" => "204",
                _ => "200",
            };
            if let Some(version) = version {
                entry.insert("version".into(), json!(version));
            }
            entry.insert("status".into(), json!(status));
        }
        Err(e) => {
            entry.insert("status".into(), json!(e.status.as_u16().to_string()));
            entry.insert("response".into(), e.body());
        }
    }
    Value::Object(entry)
}
