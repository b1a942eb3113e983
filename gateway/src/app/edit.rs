//! What the operations share whichever way resources are kept: building a stored resource from
//! validated input, applying a PUT or a PATCH to the current state, and `If-Match`.

use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::model::{ResourceKind, timestamp};
use crate::scim::ScimError;
use crate::scim::patch::{self, PatchOp};
use crate::scim::resource::{etag_matches, version};
use crate::scim::schema::{self, UnknownAttributes};

/// What a PUT or a PATCH asks for, applied to the resource as it is when the write is computed
/// (again, when a concurrent write made the operation recompute it).
pub(crate) enum Edit<'a> {
    /// PUT: the client's whole new resource.
    Replace(&'a Value),
    /// PATCH: its operations.
    Patch(Vec<PatchOp>),
}

impl Edit<'_> {
    /// The attribute paths it names: a PATCH's, none for a PUT.
    pub(crate) fn changed_paths(&self) -> Vec<String> {
        match self {
            Edit::Replace(_) => Vec::new(),
            Edit::Patch(ops) => changed_paths(ops),
        }
    }

    /// The full resource it makes of `existing`: validated, keeping `existing`'s creation time,
    /// modified now.
    pub(crate) fn apply(
        &self,
        kind: ResourceKind,
        id: &str,
        existing: &Value,
        unknown: UnknownAttributes,
    ) -> Result<Value, ScimError> {
        let attrs = match self {
            Edit::Replace(body) => schema::prepare_input(kind, body, Some(existing), unknown)?,
            Edit::Patch(ops) => {
                let mut working = existing.clone();
                patch::apply(&mut working, ops, &kind)?;
                schema::prepare_input(kind, &working, Some(existing), unknown)?
            }
        };
        let created = existing
            .pointer("/meta/created")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(timestamp);
        Ok(assemble(kind, id, attrs, &created, &timestamp()))
    }
}

/// The attribute paths a PATCH names: each op's path, or the keys of a path-less value.
fn changed_paths(ops: &[PatchOp]) -> Vec<String> {
    let mut paths: Vec<String> = ops
        .iter()
        .flat_map(|op| match (&op.path, &op.value) {
            (Some(path), _) => vec![path.to_string()],
            (None, Some(Value::Object(map))) => map.keys().cloned().collect(),
            (None, _) => Vec::new(),
        })
        .collect();
    paths.dedup();
    paths
}

/// `412` unless `if_match` is absent or names the resource's current version.
pub(crate) fn check_if_match(existing: &Value, if_match: Option<&str>) -> Result<(), ScimError> {
    match (if_match, version(existing)) {
        (Some(wanted), Some(current)) if !etag_matches(wanted, current) => Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("If-Match {wanted} does not match the current version {current}"),
        )),
        _ => Ok(()),
    }
}

/// Builds a full stored resource from validated attributes.
pub(crate) fn assemble(
    kind: ResourceKind,
    id: &str,
    attrs: Map<String, Value>,
    created: &str,
    modified: &str,
) -> Value {
    let mut out = Map::new();
    let mut attrs = attrs;
    out.insert(
        "schemas".into(),
        attrs
            .remove("schemas")
            .unwrap_or_else(|| json!([kind.core_schema()])),
    );
    out.insert("id".into(), json!(id));
    out.extend(attrs);
    out.insert(
        "meta".into(),
        json!({"resourceType": kind.name(), "created": created, "lastModified": modified}),
    );
    Value::Object(out)
}
