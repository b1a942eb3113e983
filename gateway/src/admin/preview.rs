//! `POST /admin/v1/connectors/{name}/preview`: the event a connector's plugin would receive for
//! one user or group, its mapping applied, without delivering anything.
//!
//! The body names a stored resource (`{"resourceType": "User", "id": "…"}`) or carries one
//! (`"resource": {…}`, for a gateway in pass-through mode or a resource not written yet), and may
//! carry a `mapping` to try instead of the connector's own, so a mapping can be checked before it
//! is applied. The event is built as delivery builds it ([`connector::plugin_event`]): the
//! operation the next delivery would have (`replace` once the connector has a remote id,
//! `create` before), the remote id, the mapped resource and, for a group, its row without
//! `members` (the host sends those itself, as deltas or a page at a time). A mapping that fails on
//! the resource answers `422` with the message the delivery would fail with.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminError, AdminState, json_body};
use crate::config::MappingConfig;
use crate::delivery::ConnectorEvent;
use crate::delivery::connector;
use crate::delivery::mapping::Mapping;
use crate::model::{Operation, ResourceKind};

/// The request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Ask {
    /// `User` or `Group`.
    resource_type: String,
    /// A stored resource's id.
    #[serde(default)]
    id: Option<String>,
    /// A resource given whole instead.
    #[serde(default)]
    resource: Option<Value>,
    /// A mapping to try instead of the connector's.
    #[serde(default)]
    mapping: Option<MappingConfig>,
}

/// See the module docs.
pub async fn preview(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let view = state.catalog.connector(&name)?;
    let ask: Ask = serde_json::from_value(json_body(&body?)?)
        .map_err(|e| AdminError::bad_request(format!("invalid preview request: {e}")))?;
    let kind = ResourceKind::from_name(&ask.resource_type).ok_or_else(|| {
        AdminError::bad_request(format!(
            "resourceType '{}' is neither User nor Group",
            ask.resource_type
        ))
    })?;
    if !view.resource_types.iter().any(|t| t == kind.name()) {
        return Err(AdminError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("connector '{name}' does not receive {}", kind.name()),
        ));
    }
    let given = ask.mapping.is_some();
    let mapping = Mapping::compile(ask.mapping.as_ref().unwrap_or(&view.mapping))
        .map_err(|e| AdminError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let (id, resource) = match (ask.id, ask.resource) {
        (Some(id), None) => {
            let stored = match kind {
                ResourceKind::User => state.store.get(kind, &id)?,
                ResourceKind::Group => state.store.row(kind, &id)?,
            };
            let resource = stored.ok_or_else(|| {
                AdminError::new(StatusCode::NOT_FOUND, format!("no {} '{id}'", kind.name()))
            })?;
            (id, resource)
        }
        (None, Some(resource)) if resource.is_object() => {
            let id = resource
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (id, resource)
        }
        _ => {
            return Err(AdminError::bad_request(
                "give either the id of a stored resource or a resource object, not both",
            ));
        }
    };
    let mut resource = resource;
    if let Some(o) = resource.as_object_mut() {
        o.remove("members");
    }
    let remote = state.store.remote_ref(&name, kind.name(), &id)?;
    let event = ConnectorEvent {
        operation: if remote.is_some() {
            Operation::Replace
        } else {
            Operation::Create
        },
        kind,
        id,
        remote_id: remote.map(|r| r.remote_id),
        resource,
        changed_paths: Vec::new(),
        members: None,
    };
    let event = connector::plugin_event(&mapping, event).map_err(|f| {
        AdminError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("delivering this resource would fail: {}", f.message),
        )
    })?;
    let resource: Value = serde_json::from_str(&event.resource).unwrap_or(Value::Null);
    let mut body = json!({
        "connector": name,
        "mapping": if given { "given" } else { "configured" },
        "operation": event.operation,
        "resourceType": event.resource_type,
        "id": event.id,
        "remoteId": event.remote_id,
        "resource": resource,
    });
    if kind == ResourceKind::Group {
        body["members"] = json!("sent by the host: as deltas, or a page at a time");
    }
    Ok(Json(body).into_response())
}
