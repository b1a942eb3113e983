//! `contract-0-1-0`: a connector built against the first release of the contract,
//! `scim-gateway:connector@0.1.0` (`wit/connector.wit` beside this file is that release, kept
//! as it was), without the SDK. It proves that a gateway on a later `0.1.x` still loads and
//! delivers to plugins built before it: they get whole groups, never deltas.
//!
//! With `url` set it POSTs each event there as `{"operation", "resourceType", "id", "remoteId",
//! "resource", "plugin": "0.1.0"}` and answers the `id` of the reply; without, it answers
//! `old-<id>`.

wit_bindgen::generate!({
    world: "connector",
    path: "wit",
});

use exports::scim_gateway::connector::provisioner::Guest;
use scim_gateway::connector::host;
use scim_gateway::connector::types::{
    Delivered, DeliveryError, Descriptor, ErrorKind, Event, Operation,
};

/// The connector.
struct Old;

/// A permanent or transient failure with a message.
fn failed(kind: ErrorKind, message: impl Into<String>) -> DeliveryError {
    DeliveryError {
        kind,
        message: message.into(),
    }
}

impl Guest for Old {
    fn describe() -> Descriptor {
        Descriptor {
            name: "contract-0-1-0".to_owned(),
            version: "0.1.0".to_owned(),
            resource_types: vec!["User".to_owned(), "Group".to_owned()],
            config_keys: Vec::new(),
            secret_names: Vec::new(),
        }
    }

    fn validate_config(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn provision(event: Event) -> Result<Delivered, DeliveryError> {
        let url = event
            .config
            .iter()
            .find(|(k, _)| k == "url")
            .map(|(_, v)| v.clone());
        let Some(url) = url else {
            return Ok(Delivered {
                remote_id: format!("old-{}", event.id),
                remote_version: None,
            });
        };
        let operation = match event.operation {
            Operation::Create => "create",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
        };
        let resource: serde_json::Value = serde_json::from_str(&event.resource)
            .map_err(|e| failed(ErrorKind::Permanent, format!("resource: {e}")))?;
        let body = serde_json::json!({
            "operation": operation,
            "resourceType": event.resource_type,
            "id": event.id,
            "remoteId": event.remote_id,
            "resource": resource,
            "plugin": "0.1.0",
        });
        let request = host::Request {
            method: "POST".to_owned(),
            url,
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            secret_headers: Vec::new(),
            body: body.to_string().into_bytes(),
        };
        let response = host::http_request(&request)
            .map_err(|e| failed(ErrorKind::Transient, format!("{e:?}")))?;
        if response.status >= 300 {
            return Err(failed(
                ErrorKind::Transient,
                format!("the target answered {}", response.status),
            ));
        }
        let answer: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| failed(ErrorKind::Permanent, format!("answer: {e}")))?;
        Ok(Delivered {
            remote_id: answer["id"].as_str().unwrap_or(&event.id).to_owned(),
            remote_version: None,
        })
    }
}

#[cfg(target_arch = "wasm32")]
export!(Old);
