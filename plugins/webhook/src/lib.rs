//! `webhook`: POSTs every change as JSON to a URL, signed so the receiver can trust it.
//!
//! Configuration: `url`. Secret: `signing-key`: the host computes
//! `X-Scim-Gateway-Signature: sha256=<hex HMAC-SHA256 of the body>` with it; this connector only
//! names the secret and never sees it. An optional secret `token` is sent as a bearer token.
//!
//! The body: `{"operation", "resourceType", "id", "remoteId", "changedPaths", "resource"}`. The
//! receiver's answer may carry an `id` to be remembered as the remote id; otherwise the gateway's
//! id is kept. `5xx`, `408` and `429` answers are retried; other failures are not.

use scim_gateway_plugin_sdk::{
    Connector, Delivered, DeliveryError, Descriptor, Event, Operation, SecretDecl, SecretUse,
    hmac_sha256, http,
};
use serde_json::{Value, json};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Scim-Gateway-Signature";

/// The connector.
pub struct Webhook;

impl Connector for Webhook {
    fn describe() -> Descriptor {
        Descriptor::new()
            .required_config("url", "Where each change is POSTed as JSON")
            .optional_config(
                "bearer",
                "`true`: also send the `token` secret as a bearer token",
            )
            .secret("signing-key")
            .secret("token")
    }

    /// The signing key only signs, and the token only goes in a header.
    fn secret_uses() -> Vec<SecretDecl> {
        vec![
            SecretDecl {
                name: "signing-key".into(),
                uses: SecretUse::HMAC_KEY,
            },
            SecretDecl {
                name: "token".into(),
                uses: SecretUse::HEADER,
            },
        ]
    }

    fn validate_config(config: &[(String, String)]) -> Result<(), String> {
        match scim_gateway_plugin_sdk::config_value(config, "url") {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(format!("`url` must be an http(s) URL, not `{url}`"))
            }
            _ => Ok(()),
        }
    }

    fn provision(event: Event) -> Result<Delivered, DeliveryError> {
        let operation = match event.operation {
            Operation::Create => "create",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
        };
        let body = json!({
            "operation": operation,
            "resourceType": event.resource_type,
            "id": event.id,
            "remoteId": event.remote_id,
            "changedPaths": event.changed_paths,
            "resource": event.json()?,
        });
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| DeliveryError::permanent(format!("cannot serialise the event: {e}")))?;
        let signature = hmac_sha256("signing-key", &bytes).map_err(DeliveryError::permanent)?;
        let mut request = http::Request::post(event.require_config("url")?)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, format!("sha256={signature}"))
            .body(bytes);
        if event.config("bearer") == Some("true") {
            request = request.secret_header("Authorization", "token", "Bearer ");
        }
        let response = request.send()?.error_for_status()?;
        let answered: Option<Value> = response.json().ok();
        let remote = answered
            .as_ref()
            .and_then(|a| a["id"].as_str())
            .map(str::to_owned)
            .or(event.remote_id.clone())
            .unwrap_or_else(|| event.id.clone());
        Ok(Delivered::new(remote))
    }
}

scim_gateway_plugin_sdk::export_connector!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;
    use scim_gateway_plugin_sdk::ErrorKind;
    use scim_gateway_plugin_sdk::testing::FakeHost;

    fn event() -> Event {
        Event::new(
            Operation::Replace,
            "User",
            "u1",
            &json!({"userName": "ann"}),
        )
        .with_changed_paths(["active"])
        .with_config("url", "https://hooks.example/in")
    }

    #[test]
    fn posts_the_event_signed_by_the_host() {
        let host = FakeHost::new();
        host.secret("signing-key").secret("token");
        host.respond(204, "");
        let delivered = Webhook::provision(event()).expect("delivers");
        assert_eq!(delivered.remote_id, "u1");
        let sent = &host.requests()[0];
        assert_eq!(sent.url, "https://hooks.example/in");
        let body = sent.json();
        assert_eq!(
            (body["operation"].as_str(), body["changedPaths"][0].as_str()),
            (Some("replace"), Some("active"))
        );
        assert_eq!(body["resource"]["userName"], "ann");
        let signature = sent.header(SIGNATURE_HEADER).expect("signed");
        assert!(
            signature.starts_with("sha256=hmac-sha256(signing-key"),
            "{signature}"
        );
        assert!(sent.secret_headers.is_empty());
    }

    #[test]
    fn optional_bearer_token_and_remote_id_from_the_answer() {
        let host = FakeHost::new();
        host.secret("signing-key").secret("token");
        host.respond_json(200, &json!({"id": "hook-9"}));
        let delivered =
            Webhook::provision(event().with_config("bearer", "true")).expect("delivers");
        assert_eq!(delivered.remote_id, "hook-9");
        assert_eq!(host.requests()[0].secret_headers[0].secret, "token");
    }

    #[test]
    fn failures_are_retried_only_when_worth_it() {
        let host = FakeHost::new();
        host.secret("signing-key").secret("token");
        host.respond(502, "");
        assert_eq!(
            Webhook::provision(event()).unwrap_err().kind,
            ErrorKind::Transient
        );
        let host = FakeHost::new();
        host.secret("signing-key").secret("token");
        host.respond(403, "");
        assert_eq!(
            Webhook::provision(event()).unwrap_err().kind,
            ErrorKind::Permanent
        );
        assert!(Webhook::validate_config(&[("url".into(), "file:///etc".into())]).is_err());
    }
}
