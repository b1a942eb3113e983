//! `echo`: a connector that answers every event, optionally forwarding it to a URL.
//!
//! Without configuration it calls nothing: it logs the event and answers the remote id it was
//! given, or `echo-<gateway id>` for a new resource. With `url` set it POSTs each event there as
//! JSON (a group's members translated to their remote ids) and takes the remote id from the
//! response's `id`; `auth = bearer` adds `Authorization: Bearer <api-token>` and `sign = true` an
//! `X-Signature` HMAC of the body, both made by the host from the `api-token` secret.
//!
//! Its version is the crate's, unless `ECHO_VERSION` is set when it is built (the gateway's
//! hot-swap test builds two versions that way); each forwarded event names it as `plugin`.

use scim_gateway_plugin_sdk::{
    Connector, Delivered, DeliveryError, Descriptor, Event, SecretDecl, SecretUse, http, log,
    remote_id,
};
use serde_json::json;

/// The connector.
pub struct Echo;

/// This build's version.
const VERSION: &str = match option_env!("ECHO_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

impl Connector for Echo {
    fn describe() -> Descriptor {
        Descriptor::new()
            .version(VERSION)
            .optional_config(
                "url",
                "Where to POST each event as JSON (none: answer locally)",
            )
            .optional_config(
                "auth",
                "`bearer`: send the `api-token` secret as a bearer token",
            )
            .optional_config(
                "sign",
                "`true`: sign the body with HMAC-SHA256 of `api-token`",
            )
            .secret("api-token")
    }

    /// `api-token` both goes in a header and signs (a test plugin shows both uses).
    fn secret_uses() -> Vec<SecretDecl> {
        vec![SecretDecl {
            name: "api-token".into(),
            uses: SecretUse::HEADER | SecretUse::HMAC_KEY,
        }]
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
        log::info(format!(
            "echo {} {} {}",
            event.operation.as_str(),
            event.resource_type,
            event.id
        ));
        let Some(url) = event.config("url") else {
            let remote = event
                .remote_id
                .clone()
                .unwrap_or_else(|| format!("echo-{}", event.id));
            return Ok(Delivered::new(remote));
        };

        let members: Vec<Option<String>> = if event.resource_type == "Group" {
            event
                .group()?
                .members
                .iter()
                .map(|m| remote_id(m.resource_type(), &m.value))
                .collect()
        } else {
            Vec::new()
        };
        let body = json!({
            "operation": event.operation.as_str(),
            "resourceType": event.resource_type,
            "id": event.id,
            "remoteId": event.remote_id,
            "resource": event.json()?,
            "members": members,
            "plugin": VERSION,
        });
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| DeliveryError::permanent(format!("cannot serialise the event: {e}")))?;

        let mut request = http::Request::post(url)
            .header("Content-Type", "application/json")
            .body(bytes.clone());
        if event.config("auth") == Some("bearer") {
            request = request.secret_header("Authorization", "api-token", "Bearer ");
        }
        if event.config("sign") == Some("true") {
            let signature = scim_gateway_plugin_sdk::hmac_sha256("api-token", &bytes)
                .map_err(DeliveryError::permanent)?;
            request = request.header("X-Signature", format!("sha256={signature}"));
        }
        let response = request.send()?.error_for_status()?;
        let answer: serde_json::Value = response.json()?;
        let remote = answer["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("echo-{}", event.id));
        let mut delivered = Delivered::new(remote);
        if let Some(etag) = response.header("etag") {
            delivered = delivered.with_version(etag);
        }
        Ok(delivered)
    }
}

scim_gateway_plugin_sdk::export_connector!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use scim_gateway_plugin_sdk::testing::FakeHost;
    use scim_gateway_plugin_sdk::{ErrorKind, Operation};

    fn user_event() -> Event {
        Event::new(
            Operation::Create,
            "User",
            "u1",
            &json!({ "userName": "bjensen" }),
        )
    }

    #[test]
    fn answers_locally_without_a_url() {
        let host = FakeHost::new();
        let delivered = Echo::provision(user_event()).expect("delivers");
        assert_eq!(delivered, Delivered::new("echo-u1"));
        assert!(host.requests().is_empty());
        assert_eq!(host.logs()[0].1, "echo create User u1");
    }

    #[test]
    fn forwards_with_secret_header_and_signature() {
        let host = FakeHost::new();
        host.secret("api-token")
            .respond_json(201, &json!({ "id": "r-9" }));
        let event = user_event()
            .with_config("url", "https://hooks.example.com/in")
            .with_config("auth", "bearer")
            .with_config("sign", "true");
        let delivered = Echo::provision(event).expect("delivers");
        assert_eq!(delivered.remote_id, "r-9");

        let sent = &host.requests()[0];
        assert_eq!(sent.url, "https://hooks.example.com/in");
        assert_eq!(sent.json()["resource"]["userName"], "bjensen");
        assert_eq!(sent.secret_headers[0].header, "Authorization");
        let signature = format!("sha256=hmac-sha256(api-token, {} bytes)", sent.body.len());
        assert_eq!(sent.header("X-Signature"), Some(signature.as_str()));
    }

    #[test]
    fn translates_group_members() {
        let host = FakeHost::new();
        host.remote_id("User", "u1", "r-u1")
            .respond_json(200, &json!({ "id": "r-g" }));
        let event = Event::new(
            Operation::Replace,
            "Group",
            "g1",
            &json!({ "displayName": "Admins", "members": [{ "value": "u1" }, { "value": "u2" }] }),
        )
        .with_config("url", "https://hooks.example.com/in");
        Echo::provision(event).expect("delivers");
        assert_eq!(host.requests()[0].json()["members"], json!(["r-u1", null]));
    }

    #[test]
    fn server_errors_are_transient() {
        let host = FakeHost::new();
        host.respond(503, "busy");
        let event = user_event().with_config("url", "https://hooks.example.com/in");
        let error = Echo::provision(event).expect_err("fails");
        assert_eq!(error.kind, ErrorKind::Transient);
        assert!(error.message.contains("503"), "{}", error.message);
    }

    #[test]
    fn rejects_a_non_http_url() {
        let config = [("url".to_owned(), "ftp://x".to_owned())];
        assert!(Echo::validate_config(&config).is_err());
    }
}
