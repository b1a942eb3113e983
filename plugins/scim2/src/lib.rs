//! `scim2`: provisions users and groups to any SCIM 2.0 service provider.
//!
//! Configuration: `base_url` (the target's SCIM base, e.g. `https://idp.example.com/scim/v2`),
//! `update` (`put`, the default, or `patch` for targets that prefer PATCH), `auth` (`bearer`, the
//! default, or `none`). Secret: `token`, sent by the host as `Authorization: Bearer <token>`;
//! this connector never sees it.
//!
//! What it does per event:
//! - create: `POST` the resource. If the target answers `409` (it already holds a user with that
//!   `userName`, or a group with that `displayName`), the existing one is found by filter and
//!   adopted, then updated, instead of being duplicated. Redelivery after a crash is therefore
//!   harmless.
//! - replace: update the remote resource (`PUT`, or `PATCH` replacing every attribute); without a
//!   remote id yet, or when the target lost it (`404`), it is created (or adopted) instead.
//! - delete: `DELETE` it; a target that no longer has it counts as done.
//!
//! Group members are translated to the target's ids through the host. A member the target does
//! not know yet (its own delivery has not happened) makes the group's delivery fail transiently,
//! so it is retried after the member arrived.

use scim_gateway_plugin_sdk::http::{Request, Response};
use scim_gateway_plugin_sdk::{
    Connector, Delivered, DeliveryError, Descriptor, Event, Operation, log, remote_id,
};
use serde_json::{Map, Value, json};

/// The connector.
pub struct Scim2;

/// Attributes the target assigns or computes; never sent.
const SERVER_OWNED: &[&str] = &["id", "meta", "groups"];

impl Connector for Scim2 {
    fn describe() -> Descriptor {
        Descriptor::new()
            .required_config(
                "base_url",
                "The target's SCIM base URL, e.g. https://idp.example.com/scim/v2",
            )
            .optional_config("update", "`put` (default) or `patch`: how changes are sent")
            .optional_config("auth", "`bearer` (default: the `token` secret) or `none`")
            .secret("token")
    }

    fn validate_config(config: &[(String, String)]) -> Result<(), String> {
        let value = |k| scim_gateway_plugin_sdk::config_value(config, k);
        match (value("base_url"), value("update")) {
            (Some(url), _) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(format!("`base_url` must be an http(s) URL, not `{url}`"))
            }
            (_, Some(u)) if u != "put" && u != "patch" => {
                Err(format!("`update` must be `put` or `patch`, not `{u}`"))
            }
            _ if value("auth").is_some_and(|a| a != "bearer" && a != "none") => {
                Err("`auth` must be `bearer` or `none`".to_owned())
            }
            _ => Ok(()),
        }
    }

    fn provision(event: Event) -> Result<Delivered, DeliveryError> {
        let target = Target::new(&event)?;
        match (event.operation, event.remote_id.as_deref()) {
            (Operation::Delete, None) => Ok(Delivered::new("")),
            (Operation::Delete, Some(id)) => target.delete(id),
            (Operation::Create, _) | (Operation::Replace, None) => {
                target.create(&outbound(&event)?)
            }
            (Operation::Replace, Some(id)) => target.update(id, &outbound(&event)?),
        }
    }
}

/// The target and the kind of resource an event is about.
struct Target<'a> {
    /// The resource type's endpoint URL (`…/Users`).
    collection: String,
    /// `User` or `Group`.
    resource_type: &'a str,
    /// Whether updates are sent as PATCH.
    patch: bool,
    /// Whether the host adds the `token` secret as a bearer token.
    bearer: bool,
}

impl<'a> Target<'a> {
    fn new(event: &'a Event) -> Result<Self, DeliveryError> {
        let base = event.require_config("base_url")?.trim_end_matches('/');
        let endpoint = match event.resource_type.as_str() {
            "User" => "Users",
            "Group" => "Groups",
            other => {
                return Err(DeliveryError::permanent(format!(
                    "cannot provision a {other}"
                )));
            }
        };
        Ok(Target {
            collection: format!("{base}/{endpoint}"),
            resource_type: &event.resource_type,
            patch: event.config("update") == Some("patch"),
            bearer: event.config("auth") != Some("none"),
        })
    }

    fn request(&self, request: Request) -> Request {
        let request = request
            .header("Content-Type", "application/scim+json")
            .header("Accept", "application/scim+json");
        if self.bearer {
            request.secret_header("Authorization", "token", "Bearer ")
        } else {
            request
        }
    }

    /// POSTs the resource; adopts an existing one on `409`.
    fn create(&self, body: &Value) -> Result<Delivered, DeliveryError> {
        let response = self
            .request(Request::post(&self.collection).json(body))
            .send()?;
        if response.status == 409 {
            let existing = self.find_existing(body)?;
            log::info(format!(
                "{} already exists at the target as {existing}: adopting it",
                self.resource_type
            ));
            return self.update(&existing, body);
        }
        delivered(response.error_for_status()?)
    }

    /// Replaces the remote resource; creates it if the target no longer has it.
    fn update(&self, remote: &str, body: &Value) -> Result<Delivered, DeliveryError> {
        let url = format!("{}/{remote}", self.collection);
        let request = if self.patch {
            Request::patch(&url).json(&patch_replacing(body))
        } else {
            Request::put(&url).json(body)
        };
        let response = self.request(request).send()?;
        if response.status == 404 {
            log::warn(format!(
                "{} {remote} is gone from the target: creating it again",
                self.resource_type
            ));
            return self.create(body);
        }
        delivered(response.error_for_status()?)
    }

    fn delete(&self, remote: &str) -> Result<Delivered, DeliveryError> {
        let url = format!("{}/{remote}", self.collection);
        let response = self.request(Request::delete(&url)).send()?;
        if response.status != 404 {
            response.error_for_status()?;
        }
        Ok(Delivered::new(remote))
    }

    /// The remote id of the resource that made a create conflict.
    fn find_existing(&self, body: &Value) -> Result<String, DeliveryError> {
        let (attr, value) = match self.resource_type {
            "User" => ("userName", &body["userName"]),
            _ => ("displayName", &body["displayName"]),
        };
        let filter = format!("{attr} eq {value}");
        let url = format!("{}?filter={}&count=1", self.collection, encode(&filter));
        let found: Value = self
            .request(Request::get(url))
            .send()?
            .error_for_status()?
            .json()?;
        found["Resources"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                DeliveryError::permanent(format!(
                    "the target refused the {} as a conflict, but no {attr} {value} is found there",
                    self.resource_type
                ))
            })
    }
}

/// The resource as the target should receive it: without server-owned attributes, and with a
/// group's members translated to the target's ids.
fn outbound(event: &Event) -> Result<Value, DeliveryError> {
    let mut resource = event.json()?;
    let Some(obj) = resource.as_object_mut() else {
        return Err(DeliveryError::permanent(
            "the resource is not a JSON object",
        ));
    };
    for key in SERVER_OWNED {
        obj.remove(*key);
    }
    if let Some(Value::Array(members)) = obj.get_mut("members") {
        let mut missing = Vec::new();
        for member in members.iter_mut() {
            let value = member["value"].as_str().unwrap_or_default().to_owned();
            let kind = member["type"].as_str().unwrap_or("User").to_owned();
            match remote_id(&kind, &value) {
                Some(remote) => *member = json!({"value": remote, "type": kind}),
                None => missing.push(value),
            }
        }
        if !missing.is_empty() {
            return Err(DeliveryError::transient(format!(
                "members not yet provisioned to the target: {}",
                missing.join(", ")
            )));
        }
    }
    Ok(resource)
}

/// A PatchOp that replaces every attribute of `body` (and `members` entirely).
fn patch_replacing(body: &Value) -> Value {
    let attrs: Map<String, Value> = body
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.as_str() != "schemas")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut ops = vec![json!({"op": "replace", "value": Value::Object(attrs.clone())})];
    if let Some(members) = attrs.get("members") {
        ops.push(json!({"op": "replace", "path": "members", "value": members}));
    }
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// The remote id and version of a successful create or update.
fn delivered(response: Response) -> Result<Delivered, DeliveryError> {
    let body: Value = response.json()?;
    let id = body["id"]
        .as_str()
        .ok_or_else(|| DeliveryError::permanent("the target's answer has no id"))?;
    let version = response
        .header("etag")
        .map(str::to_owned)
        .or_else(|| body["meta"]["version"].as_str().map(str::to_owned));
    let delivered = Delivered::new(id);
    Ok(match version {
        Some(v) => delivered.with_version(v),
        None => delivered,
    })
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

scim_gateway_plugin_sdk::export_connector!(Scim2);

#[cfg(test)]
mod tests {
    use super::*;
    use scim_gateway_plugin_sdk::ErrorKind;
    use scim_gateway_plugin_sdk::testing::FakeHost;

    const BASE: &str = "https://target.example/scim/v2";

    /// A fake host holding the `token` secret, as a configured instance would.
    fn token_host() -> FakeHost {
        let host = FakeHost::new();
        host.secret("token");
        host
    }

    fn user_event(operation: Operation) -> Event {
        let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "g-1",
            "userName": "ann@example.com", "active": true, "groups": [{"value": "x"}],
            "meta": {"resourceType": "User"}});
        Event::new(operation, "User", "g-1", &user).with_config("base_url", BASE)
    }

    #[test]
    fn creates_without_server_owned_attributes_and_with_the_token_header() {
        let host = token_host();
        host.respond_json(201, &json!({"id": "r-1", "meta": {"version": "W/\"1\""}}));
        let delivered = Scim2::provision(user_event(Operation::Create)).expect("delivers");
        assert_eq!(delivered, Delivered::new("r-1").with_version("W/\"1\""));
        let sent = &host.requests()[0];
        assert_eq!(
            (sent.method.as_str(), sent.url.as_str()),
            ("POST", "https://target.example/scim/v2/Users")
        );
        let body = sent.json();
        assert_eq!(body["userName"], "ann@example.com");
        assert!(
            body.get("id").is_none() && body.get("meta").is_none() && body.get("groups").is_none()
        );
        assert_eq!(sent.secret_headers[0].secret, "token");
        assert_eq!(sent.secret_headers[0].prefix, "Bearer ");
    }

    #[test]
    fn a_conflicting_create_adopts_the_existing_user() {
        let host = token_host();
        host.respond_json(409, &json!({"scimType": "uniqueness"}))
            .respond_json(
                200,
                &json!({"totalResults": 1, "Resources": [{"id": "r-7"}]}),
            )
            .respond_json(200, &json!({"id": "r-7"}));
        let delivered = Scim2::provision(user_event(Operation::Create)).expect("adopts");
        assert_eq!(delivered.remote_id, "r-7");
        let sent = host.requests();
        assert_eq!(
            sent[1].url,
            format!("{BASE}/Users?filter=userName%20eq%20%22ann%40example.com%22&count=1")
        );
        assert_eq!(
            (sent[2].method.as_str(), sent[2].url.as_str()),
            ("PUT", "https://target.example/scim/v2/Users/r-7")
        );
    }

    #[test]
    fn replace_puts_or_patches_and_recreates_a_lost_resource() {
        let host = token_host();
        host.respond_json(200, &json!({"id": "r-1"}));
        Scim2::provision(user_event(Operation::Replace).with_remote_id("r-1")).expect("puts");
        assert_eq!(host.requests()[0].method, "PUT");

        let host = token_host();
        host.respond_json(200, &json!({"id": "r-1"}));
        let event = user_event(Operation::Replace)
            .with_remote_id("r-1")
            .with_config("update", "patch");
        Scim2::provision(event).expect("patches");
        let sent = &host.requests()[0];
        assert_eq!(sent.method, "PATCH");
        assert_eq!(sent.json()["Operations"][0]["value"]["active"], true);

        let host = token_host();
        host.respond(404, "gone")
            .respond_json(201, &json!({"id": "r-2"}));
        let delivered = Scim2::provision(user_event(Operation::Replace).with_remote_id("r-1"))
            .expect("recreates");
        assert_eq!(delivered.remote_id, "r-2");
        assert_eq!(host.requests()[1].method, "POST");
    }

    #[test]
    fn group_members_are_translated_or_the_group_waits() {
        let group = json!({"id": "g", "displayName": "Sales", "members": [{"value": "u1", "type": "User"}]});
        let event =
            || Event::new(Operation::Create, "Group", "g", &group).with_config("base_url", BASE);

        let host = token_host();
        let error = Scim2::provision(event()).expect_err("member unknown");
        assert_eq!(error.kind, ErrorKind::Transient);
        assert!(error.message.contains("u1"));
        assert!(host.requests().is_empty());

        let host = token_host();
        host.remote_id("User", "u1", "r-u1")
            .respond_json(201, &json!({"id": "r-g"}));
        Scim2::provision(event()).expect("delivers");
        assert_eq!(
            host.requests()[0].json()["members"],
            json!([{"value": "r-u1", "type": "User"}])
        );
    }

    #[test]
    fn without_auth_no_secret_is_used() {
        let host = FakeHost::new();
        host.respond_json(201, &json!({"id": "r-1"}));
        Scim2::provision(user_event(Operation::Create).with_config("auth", "none"))
            .expect("delivers");
        assert!(host.requests()[0].secret_headers.is_empty());
    }

    #[test]
    fn deletes_and_tolerates_a_missing_remote() {
        let host = token_host();
        host.respond(404, "");
        Scim2::provision(user_event(Operation::Delete).with_remote_id("r-1"))
            .expect("gone is done");
        assert_eq!(host.requests()[0].method, "DELETE");
        let host = token_host();
        Scim2::provision(user_event(Operation::Delete)).expect("never delivered: nothing to do");
        assert!(host.requests().is_empty());
    }

    #[test]
    fn target_errors_map_to_retry_or_not() {
        let host = token_host();
        host.respond(503, "busy");
        assert_eq!(
            Scim2::provision(user_event(Operation::Create))
                .unwrap_err()
                .kind,
            ErrorKind::Transient
        );
        let host = token_host();
        host.respond(400, "bad");
        assert_eq!(
            Scim2::provision(user_event(Operation::Create))
                .unwrap_err()
                .kind,
            ErrorKind::Permanent
        );
        assert!(Scim2::validate_config(&[("update".into(), "post".into())]).is_err());
    }
}
