//! `scim2`: provisions users and groups to any SCIM 2.0 service provider, and reads them back.
//!
//! Configuration: `base_url` (the target's SCIM base, e.g. `https://idp.example.com/scim/v2`),
//! `update` (`put`, the default, or `patch` for targets that prefer PATCH), `auth` (`bearer`, the
//! default, or `none`), `adopt` (`true`, the default, or `false`: see create below). Secret:
//! `token`, sent by the host as `Authorization: Bearer <token>`; this connector never sees it.
//!
//! What it does per event:
//! - create: `POST` the resource. If the target answers `409` (it already holds a user with that
//!   `userName`, or a group with that `displayName`), the existing one is found by filter and
//!   adopted, then updated, instead of being duplicated. Redelivery after a crash is therefore
//!   harmless. With `adopt = false` the `409` is not adopted: the delivery fails permanently with
//!   a message starting `conflict:` (and the target's `detail`, if it gave one).
//! - replace: update the remote resource (`PUT`, or `PATCH` replacing every attribute, at
//!   `{base_url}/Users/{id}` or `Groups`, the id percent-encoded); without a remote id yet, or
//!   when the target lost it (`404`), it is created (or adopted) instead. A delivery creates again
//!   at most once: a target that answers `404` for a resource it has just refused to create as a
//!   duplicate (`409`) makes the delivery fail permanently, saying so.
//! - delete: `DELETE` it (the id percent-encoded); a target that no longer has it counts as done.
//!
//! Every request asks for `Accept: application/scim+json`; one with a body (`POST`, `PUT`,
//! `PATCH`) sends it as `Content-Type: application/scim+json`, one without sends no content type.
//!
//! Group members are translated to the target's ids through the host. A member the target does
//! not know yet (its own delivery has not happened) makes the group's delivery fail transiently,
//! so it is retried after the member arrived.
//!
//! Members travel in chunks of at most `max_members_per_request` (default 100; AWS IAM Identity
//! Center takes no more), so no request grows with the group:
//! - a group is created with its first chunk of members, then filled by `PATCH` `add`s of the
//!   others, a chunk each; a whole group sent again (a `PUT` at the gateway) is updated with the
//!   first chunk and filled the same way;
//! - a change to a delivered group's members arrives as a delta (this connector exports the
//!   contract's `membership`) and is sent as `PATCH` `remove`s (`members[value eq "…"]`) and
//!   `add`s, together with a `replace` of the group's other attributes the change set, chunked
//!   the same way. A removed member the target never got is skipped.
//! - With `members = replace` (a target that cannot PATCH members) the whole group is sent
//!   instead: a delta is applied to the group read back from the target and `PUT`.
//!
//! A `PATCH` the target answers `204` (RFC 7644 allows it; so does this gateway) keeps the
//! group's remote id and takes its version from the `ETag`.
//!
//! Reading (the `reader` interface, for reconciliation), with the same `base_url`, `auth` and
//! headers as provisioning:
//! - get: `GET {base_url}/Users/{id}` (or `Groups`, the id percent-encoded). The resource is
//!   answered as the target sent it (it must be a JSON object); `404` means there is none.
//! - list: `GET {base_url}/Users?startIndex=N&count=M`, with `&filter=…` when a filter is given.
//!   The ListResponse's `totalResults` (the number of `Resources` if absent) and `Resources`
//!   (none if absent) make the page; any other shape is a permanent error saying what is wrong.
//!
//! Other statuses fail as provisioning does: `408`, `429` and `5xx` transiently, the rest
//! permanently.

use scim_gateway_plugin_sdk::http::{Request, Response};
use scim_gateway_plugin_sdk::{
    Connector, Delivered, DeliveryError, Descriptor, Event, GroupChange, Member, Operation, Page,
    ReadableConnector, config_value, log, remote_id,
};
use serde_json::{Map, Value, json};

/// The connector.
pub struct Scim2;

/// The SCIM media type (RFC 7644, section 8.1): what requests accept and their bodies are.
const SCIM_JSON: &str = "application/scim+json";

/// The PatchOp message schema (RFC 7644, section 3.5.2).
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Members per request unless `max_members_per_request` says otherwise.
const DEFAULT_MEMBERS_PER_REQUEST: usize = 100;

/// The largest `max_members_per_request` accepted.
const MAX_MEMBERS_PER_REQUEST: usize = 10_000;

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
            .optional_config(
                "adopt",
                "`true` (default): a create the target refuses as a duplicate (409) adopts the \
                 existing resource; `false`: it fails permanently as a conflict",
            )
            .optional_config(
                "max_members_per_request",
                "the most group members one request carries (default 100): bigger changes are \
                 sent in chunks",
            )
            .optional_config(
                "members",
                "`patch` (default): membership changes as PATCH add/remove; `replace`: the \
                 target cannot PATCH members, the whole group is sent",
            )
            .secret("token")
    }

    fn validate_config(config: &[(String, String)]) -> Result<(), String> {
        let value = |k| config_value(config, k);
        match (value("base_url"), value("update"), value("adopt")) {
            (Some(url), _, _) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(format!("`base_url` must be an http(s) URL, not `{url}`"))
            }
            (_, Some(u), _) if u != "put" && u != "patch" => {
                Err(format!("`update` must be `put` or `patch`, not `{u}`"))
            }
            (_, _, Some(a)) if a != "true" && a != "false" => {
                Err(format!("`adopt` must be `true` or `false`, not `{a}`"))
            }
            _ if value("auth").is_some_and(|a| a != "bearer" && a != "none") => {
                Err("`auth` must be `bearer` or `none`".to_owned())
            }
            _ if value("members").is_some_and(|m| m != "patch" && m != "replace") => {
                Err("`members` must be `patch` or `replace`".to_owned())
            }
            _ => members_per_request(config).map(drop),
        }
    }

    fn provision(event: Event) -> Result<Delivered, DeliveryError> {
        let target = Target::for_event(&event)?;
        match (event.operation, event.remote_id.as_deref()) {
            (Operation::Delete, None) => Ok(Delivered::new("")),
            (Operation::Delete, Some(id)) => target.delete(id),
            (Operation::Create, _) | (Operation::Replace, None) => {
                target.create(&outbound(&event)?, Recreate::Allowed)
            }
            (Operation::Replace, Some(id)) => {
                target.update(id, &outbound(&event)?, Recreate::Allowed)
            }
        }
    }

    fn takes_member_deltas() -> bool {
        true
    }

    fn update_group(change: GroupChange) -> Result<Delivered, DeliveryError> {
        let target = Target::new("Group", &change.config)?;
        let removed = removed_members(&change.removed);
        let added = added_members(&change.added)?;
        if target.replace_members {
            return target.replace_with_delta(&change.remote_id, &added, &removed);
        }
        let attributes = match change.changed_paths.is_empty() {
            true => Map::new(),
            false => outbound_row(change.group_json()?)?,
        };
        target.patch_members(&change.remote_id, attributes, &removed, &added)
    }
}

impl ReadableConnector for Scim2 {
    fn get(
        resource_type: &str,
        remote_id: &str,
        config: &[(String, String)],
    ) -> Result<Option<String>, DeliveryError> {
        Target::new(resource_type, config)?.get(remote_id)
    }

    fn list(
        resource_type: &str,
        filter: Option<&str>,
        start_index: u32,
        count: u32,
        config: &[(String, String)],
    ) -> Result<Page, DeliveryError> {
        Target::new(resource_type, config)?.list(filter, start_index, count)
    }
}

/// Whether a delivery may still create a resource again after the target answered `404` for it.
///
/// A delivery recreates at most once, so a target that keeps refusing the create as a duplicate
/// (`409`) and the update of the adopted resource as missing (`404`) cannot make `create` and
/// `update` call each other without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recreate {
    /// Not yet recreated in this delivery: a `404` on update creates the resource again.
    Allowed,
    /// Already recreated once: a `404` on update fails the delivery permanently.
    Done,
}

/// The target and the kind of resource a call is about.
struct Target<'a> {
    /// The resource type's endpoint URL (`…/Users`).
    collection: String,
    /// `User` or `Group`.
    resource_type: &'a str,
    /// Whether updates are sent as PATCH.
    patch: bool,
    /// Whether the host adds the `token` secret as a bearer token.
    bearer: bool,
    /// Whether a create answered `409` adopts the existing resource.
    adopt: bool,
    /// The most members one request carries.
    chunk: usize,
    /// Whether the target takes members only whole (`members = replace`).
    replace_members: bool,
}

impl<'a> Target<'a> {
    /// The target of an event: its resource type and configuration.
    fn for_event(event: &'a Event) -> Result<Self, DeliveryError> {
        Target::new(&event.resource_type, &event.config)
    }

    /// The target for a resource type, from a connector instance's configuration.
    fn new(resource_type: &'a str, config: &[(String, String)]) -> Result<Self, DeliveryError> {
        let value = |k| config_value(config, k);
        let base = value("base_url")
            .ok_or_else(|| DeliveryError::permanent("configuration key `base_url` is not set"))?
            .trim_end_matches('/');
        let endpoint = match resource_type {
            "User" => "Users",
            "Group" => "Groups",
            other => {
                return Err(DeliveryError::permanent(format!(
                    "scim2 handles User and Group resources, not {other}"
                )));
            }
        };
        Ok(Target {
            collection: format!("{base}/{endpoint}"),
            resource_type,
            patch: value("update") == Some("patch"),
            bearer: value("auth") != Some("none"),
            adopt: value("adopt") != Some("false"),
            chunk: members_per_request(config).map_err(DeliveryError::permanent)?,
            replace_members: value("members") == Some("replace"),
        })
    }

    /// The URL of one remote resource: the collection and the id, percent-encoded as a path
    /// segment.
    fn resource_url(&self, remote: &str) -> String {
        format!("{}/{}", self.collection, encode(remote))
    }

    /// Sends the request with `Accept: application/scim+json` and, unless `auth = none`, the
    /// bearer token. With a body, it is sent as JSON with `Content-Type: application/scim+json`
    /// (the only content type); without one, no content type is sent.
    fn send(&self, request: Request, body: Option<&Value>) -> Result<Response, DeliveryError> {
        let mut request = request.header("Accept", SCIM_JSON);
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| {
                DeliveryError::permanent(format!("the JSON body does not serialise: {e}"))
            })?;
            request = request.header("Content-Type", SCIM_JSON).body(bytes);
        }
        if self.bearer {
            request = request.secret_header("Authorization", "token", "Bearer ");
        }
        Ok(request.send()?)
    }

    /// POSTs the resource; adopts an existing one on `409` (unless `adopt = false`). A group
    /// is posted with its first chunk of members and filled with the rest.
    fn create(&self, body: &Value, recreate: Recreate) -> Result<Delivered, DeliveryError> {
        let (first, rest) = self.split_members(body);
        let response = self.send(Request::post(&self.collection), Some(&first))?;
        if response.status != 409 && !rest.is_empty() {
            let created = delivered(response.error_for_status()?, None)?;
            return self.fill(created, &rest);
        }
        if response.status == 409 {
            if !self.adopt {
                return Err(self.conflict(&response));
            }
            let existing = self.find_existing(body)?;
            log::info(format!(
                "{} already exists at the target as {existing}: adopting it",
                self.resource_type
            ));
            return self.update(&existing, body, recreate);
        }
        delivered(response.error_for_status()?, None)
    }

    /// The permanent error for a `409` that is not to be adopted, with the target's `detail`.
    fn conflict(&self, response: &Response) -> DeliveryError {
        let mut message = format!(
            "conflict: the target already holds this {} and `adopt` is false",
            self.resource_type
        );
        let detail = response
            .json::<Value>()
            .ok()
            .and_then(|body| body["detail"].as_str().map(str::to_owned));
        if let Some(detail) = detail {
            message.push_str(": ");
            message.push_str(&detail);
        }
        DeliveryError::permanent(message)
    }

    /// Replaces the remote resource; creates it if the target no longer has it, unless this
    /// delivery already did (then the target contradicts itself: a permanent error).
    fn update(
        &self,
        remote: &str,
        body: &Value,
        recreate: Recreate,
    ) -> Result<Delivered, DeliveryError> {
        let url = self.resource_url(remote);
        let (first, rest) = self.split_members(body);
        let response = if self.patch {
            self.send(Request::patch(url), Some(&patch_replacing(&first)))?
        } else {
            self.send(Request::put(url), Some(&first))?
        };
        if response.status == 404 {
            if recreate == Recreate::Done {
                return Err(DeliveryError::permanent(format!(
                    "the target reports {} `{remote}` as both existing (409) and missing (404)",
                    self.resource_type
                )));
            }
            log::warn(format!(
                "{} {remote} is gone from the target: creating it again",
                self.resource_type
            ));
            return self.create(body, Recreate::Done);
        }
        let updated = delivered(response.error_for_status()?, Some(remote))?;
        self.fill(updated, &rest)
    }

    /// A group body with only its first chunk of members, and the other members; the body as
    /// it is when it is no group, fits in one request, or the target takes members only whole.
    fn split_members(&self, body: &Value) -> (Value, Vec<Value>) {
        let mut first = body.clone();
        if self.replace_members {
            return (first, Vec::new());
        }
        let rest = match first.get_mut("members") {
            Some(Value::Array(members)) if members.len() > self.chunk => {
                members.split_off(self.chunk)
            }
            _ => Vec::new(),
        };
        (first, rest)
    }

    /// Adds `members` to the group just created or updated, a chunk per `PATCH`.
    fn fill(&self, group: Delivered, members: &[Value]) -> Result<Delivered, DeliveryError> {
        if members.is_empty() {
            return Ok(group);
        }
        self.patch_members(&group.remote_id, Map::new(), &[], members)
    }

    /// Sends a group's attributes (if any) and its members' removals and additions as PATCH
    /// requests of at most `chunk` members each (the attributes ride on the first).
    fn patch_members(
        &self,
        remote: &str,
        attributes: Map<String, Value>,
        removed: &[String],
        added: &[Value],
    ) -> Result<Delivered, DeliveryError> {
        let mut ops: Vec<Value> = Vec::new();
        if !attributes.is_empty() {
            ops.push(json!({"op": "replace", "value": Value::Object(attributes)}));
        }
        let mut requests: Vec<Vec<Value>> = Vec::new();
        let mut removes = removed.chunks(self.chunk);
        let mut adds = added.chunks(self.chunk);
        loop {
            if let Some(chunk) = removes.next() {
                ops.extend(chunk.iter().map(|id| {
                    let path = format!("members[value eq {}]", Value::from(id.as_str()));
                    json!({"op": "remove", "path": path})
                }));
            } else if let Some(chunk) = adds.next() {
                ops.push(json!({"op": "add", "path": "members", "value": chunk}));
            }
            if ops.is_empty() {
                break;
            }
            requests.push(std::mem::take(&mut ops));
        }
        let mut last = Delivered::new(remote);
        for operations in requests {
            let body = json!({"schemas": [PATCH_OP], "Operations": operations});
            let response = self.send(Request::patch(self.resource_url(remote)), Some(&body))?;
            if response.status == 404 {
                return Err(DeliveryError::permanent(format!(
                    "Group `{remote}` is gone from the target: a reconcile creates it again"
                )));
            }
            last = delivered(response.error_for_status()?, Some(remote))?;
        }
        Ok(last)
    }

    /// `members = replace`: reads the group back, applies the delta, and PUTs it whole.
    fn replace_with_delta(
        &self,
        remote: &str,
        added: &[Value],
        removed: &[String],
    ) -> Result<Delivered, DeliveryError> {
        let text = self.get(remote)?.ok_or_else(|| {
            DeliveryError::permanent(format!(
                "Group `{remote}` is gone from the target: a reconcile creates it again"
            ))
        })?;
        let mut group: Value = serde_json::from_str(&text)
            .map_err(|e| DeliveryError::permanent(format!("the target's group: {e}")))?;
        let obj = group
            .as_object_mut()
            .ok_or_else(|| DeliveryError::permanent("the target's group is not an object"))?;
        for key in SERVER_OWNED {
            obj.remove(*key);
        }
        let gone: std::collections::HashSet<&str> = removed.iter().map(String::as_str).collect();
        let mut members: Vec<Value> = match obj.remove("members") {
            Some(Value::Array(members)) => members
                .into_iter()
                .filter(|m| !m["value"].as_str().is_some_and(|v| gone.contains(v)))
                .map(|m| json!({"value": m["value"], "type": m.get("type").cloned().unwrap_or(json!("User"))}))
                .collect(),
            _ => Vec::new(),
        };
        members.extend(added.iter().cloned());
        obj.insert("members".to_owned(), Value::Array(members));
        let response = self.send(Request::put(self.resource_url(remote)), Some(&group))?;
        delivered(response.error_for_status()?, Some(remote))
    }

    /// DELETEs the remote resource; one the target no longer has counts as deleted.
    fn delete(&self, remote: &str) -> Result<Delivered, DeliveryError> {
        let response = self.send(Request::delete(self.resource_url(remote)), None)?;
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
            .send(Request::get(url), None)?
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

    /// Reads one remote resource as the target sends it; `None` if the target answers `404`.
    fn get(&self, remote: &str) -> Result<Option<String>, DeliveryError> {
        let response = self.send(Request::get(self.resource_url(remote)), None)?;
        if response.status == 404 {
            return Ok(None);
        }
        let response = response.error_for_status()?;
        if !response.json::<Value>()?.is_object() {
            return Err(DeliveryError::permanent(format!(
                "the target's answer for {} {remote} is not a JSON object",
                self.resource_type
            )));
        }
        Ok(Some(response.text()))
    }

    /// Reads one page of remote resources, optionally filtered.
    fn list(
        &self,
        filter: Option<&str>,
        start_index: u32,
        count: u32,
    ) -> Result<Page, DeliveryError> {
        let mut url = format!("{}?startIndex={start_index}&count={count}", self.collection);
        if let Some(filter) = filter {
            url.push_str("&filter=");
            url.push_str(&encode(filter));
        }
        let answer: Value = self
            .send(Request::get(url), None)?
            .error_for_status()?
            .json()?;
        page(&answer).map_err(|what| {
            DeliveryError::permanent(format!(
                "the target's list of {}s is malformed: {what}",
                self.resource_type
            ))
        })
    }
}

/// The page a SCIM ListResponse holds; the error says what is wrong with it.
fn page(answer: &Value) -> Result<Page, String> {
    let Some(answer) = answer.as_object() else {
        return Err("it is not a JSON object".to_owned());
    };
    let resources = match answer.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => page_resources(items)?,
        Some(_) => return Err("`Resources` is not an array".to_owned()),
    };
    let total = match answer.get("totalResults") {
        None | Some(Value::Null) => u32::try_from(resources.len()).ok(),
        Some(total) => total.as_u64().and_then(|n| u32::try_from(n).ok()),
    }
    .ok_or("`totalResults` is not a count (a whole number up to 4294967295)")?;
    Ok(Page { total, resources })
}

/// The page's resources as JSON text; each must be a JSON object.
fn page_resources(items: &[Value]) -> Result<Vec<String>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.is_object() {
                Ok(item.to_string())
            } else {
                Err(format!("`Resources[{i}]` is not a JSON object"))
            }
        })
        .collect()
}

/// `max_members_per_request` of a configuration, or why it is not acceptable.
fn members_per_request(config: &[(String, String)]) -> Result<usize, String> {
    match config_value(config, "max_members_per_request") {
        None => Ok(DEFAULT_MEMBERS_PER_REQUEST),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_MEMBERS_PER_REQUEST).contains(&n) => Ok(n),
            _ => Err(format!(
                "`max_members_per_request` must be a whole number from 1 to \
                 {MAX_MEMBERS_PER_REQUEST}, not `{text}`"
            )),
        },
    }
}

/// The members a delta adds, as the target knows them; a member not delivered yet makes the
/// change wait (a transient error), as for a whole group.
fn added_members(added: &[Member]) -> Result<Vec<Value>, DeliveryError> {
    let mut missing = Vec::new();
    let members = added
        .iter()
        .filter_map(|m| match remote_id(&m.resource_type, &m.id) {
            Some(remote) => Some(json!({"value": remote, "type": m.resource_type})),
            None => {
                missing.push(m.id.as_str());
                None
            }
        })
        .collect();
    if missing.is_empty() {
        Ok(members)
    } else {
        Err(DeliveryError::transient(format!(
            "members not yet provisioned to the target: {}",
            missing.join(", ")
        )))
    }
}

/// The target's ids of the members a delta removes; one it never got is not there to remove.
fn removed_members(removed: &[Member]) -> Vec<String> {
    removed
        .iter()
        .filter_map(|m| remote_id(&m.resource_type, &m.id))
        .collect()
}

/// A resource without its server-owned attributes.
fn outbound_row(mut resource: Value) -> Result<Map<String, Value>, DeliveryError> {
    let Some(obj) = resource.as_object_mut() else {
        return Err(DeliveryError::permanent(
            "the resource is not a JSON object",
        ));
    };
    for key in SERVER_OWNED {
        obj.remove(*key);
    }
    obj.remove("schemas");
    obj.remove("members");
    Ok(std::mem::take(obj))
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

/// The remote id and version of a successful create or update. A `204` (no body) keeps
/// `known`, the id the request addressed.
fn delivered(response: Response, known: Option<&str>) -> Result<Delivered, DeliveryError> {
    let body: Value = match (response.status, known) {
        (204, Some(known)) => json!({"id": known}),
        _ => response.json()?,
    };
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

/// Percent-encodes a query parameter value or a path segment (all but the unreserved characters).
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

scim_gateway_plugin_sdk::export_readable_connector!(Scim2);

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

    /// `n` users `u0…` known at the target as `r-u0…`.
    fn members(host: &FakeHost, n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                host.remote_id("User", &format!("u{i}"), &format!("r-u{i}"));
                json!({"value": format!("u{i}"), "type": "User"})
            })
            .collect()
    }

    /// The member ids each request's operations add, and the paths they remove.
    fn member_ops(sent: &scim_gateway_plugin_sdk::testing::RecordedRequest) -> (usize, usize) {
        let body = sent.json();
        let ops = body["Operations"].as_array().cloned().unwrap_or_default();
        let added = ops
            .iter()
            .filter(|op| op["op"] == "add" && op["path"] == "members")
            .map(|op| op["value"].as_array().map_or(0, Vec::len))
            .sum();
        let removed = ops.iter().filter(|op| op["op"] == "remove").count();
        (added, removed)
    }

    #[test]
    fn a_big_group_is_created_with_a_chunk_then_filled_a_chunk_per_patch() {
        let host = token_host();
        let all = members(&host, 250);
        host.respond_json(201, &json!({"id": "r-g"}))
            .respond(204, "")
            .respond(204, "");
        let group = json!({"id": "g", "displayName": "All staff", "members": all});
        let event =
            Event::new(Operation::Create, "Group", "g", &group).with_config("base_url", BASE);
        let delivered = Scim2::provision(event).expect("delivers");
        assert_eq!(delivered.remote_id, "r-g");
        let sent = host.requests();
        assert_eq!(sent.len(), 3, "one POST and two PATCHes");
        assert_eq!(sent[0].method, "POST");
        assert_eq!(
            sent[0].json()["members"].as_array().map(Vec::len),
            Some(100)
        );
        assert_eq!(sent[0].json()["members"][0]["value"], "r-u0");
        for (request, want) in sent[1..].iter().zip([100, 50]) {
            assert_eq!(request.method, "PATCH");
            assert_eq!(request.url, format!("{BASE}/Groups/r-g"));
            assert_eq!(member_ops(request), (want, 0));
        }
        assert_eq!(
            sent[2].json()["Operations"][0]["value"][49]["value"],
            "r-u249"
        );
    }

    #[test]
    fn a_delta_is_sent_as_chunked_removes_and_adds_with_the_changed_attributes() {
        let host = token_host();
        let added: Vec<Member> = (0..7)
            .map(|i| Member::new("User", format!("u{i}")))
            .collect();
        members(&host, 7);
        host.remote_id("User", "gone1", "r-gone1")
            .remote_id("User", "gone2", "r-gone2");
        for _ in 0..4 {
            host.respond(204, "");
        }
        let row = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g",
                         "displayName": "Renamed", "meta": {"resourceType": "Group"}});
        let change = GroupChange::new("g", "r-g", &row)
            .with_added(added)
            .with_removed([
                Member::new("User", "gone1"),
                Member::new("User", "never-delivered"),
                Member::new("User", "gone2"),
            ])
            .with_changed_paths(["displayName"])
            .with_config("base_url", BASE)
            .with_config("max_members_per_request", "3");
        let delivered = Scim2::update_group(change).expect("delivers");
        assert_eq!(delivered.remote_id, "r-g");
        let sent = host.requests();
        let shape: Vec<(usize, usize)> = sent.iter().map(member_ops).collect();
        assert_eq!(shape, [(0, 2), (3, 0), (3, 0), (1, 0)]);
        assert!(
            sent.iter()
                .all(|r| r.method == "PATCH" && r.url == format!("{BASE}/Groups/r-g"))
        );
        let first = sent[0].json();
        assert_eq!(
            first["Operations"][0],
            json!({"op": "replace", "value": {"displayName": "Renamed"}})
        );
        assert_eq!(
            first["Operations"][1]["path"],
            r#"members[value eq "r-gone1"]"#
        );
    }

    #[test]
    fn a_delta_waits_for_members_not_yet_delivered() {
        let host = token_host();
        let change = GroupChange::new("g", "r-g", &json!({"displayName": "G"}))
            .with_added([Member::new("User", "u-late")])
            .with_config("base_url", BASE);
        let error = Scim2::update_group(change).expect_err("waits");
        assert_eq!(error.kind, ErrorKind::Transient);
        assert!(error.message.contains("u-late"), "{}", error.message);
        assert!(host.requests().is_empty());
    }

    #[test]
    fn with_members_replace_a_delta_is_applied_to_the_targets_group_and_put() {
        let host = token_host();
        host.remote_id("User", "u2", "r-u2")
            .remote_id("User", "u1", "r-u1");
        host.respond_json(
            200,
            &json!({"id": "r-g", "displayName": "G", "meta": {"version": "1"},
                    "members": [{"value": "r-u1", "type": "User"}, {"value": "r-u9"}]}),
        )
        .respond_json(200, &json!({"id": "r-g"}));
        let change = GroupChange::new("g", "r-g", &json!({"displayName": "G"}))
            .with_added([Member::new("User", "u2")])
            .with_removed([Member::new("User", "u1")])
            .with_config("base_url", BASE)
            .with_config("members", "replace");
        Scim2::update_group(change).expect("delivers");
        let sent = host.requests();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            (sent[0].method.as_str(), sent[1].method.as_str()),
            ("GET", "PUT")
        );
        let put = sent[1].json();
        assert_eq!(
            put["members"],
            json!([{"value": "r-u9", "type": "User"}, {"value": "r-u2", "type": "User"}])
        );
        assert!(
            put.get("meta").is_none() && put.get("id").is_none(),
            "{put}"
        );
    }

    #[test]
    fn max_members_per_request_and_members_are_checked() {
        let config = |k: &str, v: &str| {
            vec![
                ("base_url".to_owned(), BASE.to_owned()),
                (k.to_owned(), v.to_owned()),
            ]
        };
        for bad in ["0", "-1", "x", "10001"] {
            assert!(
                Scim2::validate_config(&config("max_members_per_request", bad)).is_err(),
                "{bad}"
            );
        }
        assert!(Scim2::validate_config(&config("max_members_per_request", "100")).is_ok());
        assert!(Scim2::validate_config(&config("members", "all")).is_err());
        assert!(Scim2::validate_config(&config("members", "replace")).is_ok());
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

    /// A connector instance's configuration pointing at the test target.
    fn config() -> Vec<(String, String)> {
        vec![("base_url".to_owned(), BASE.to_owned())]
    }

    #[test]
    fn get_reads_a_resource_by_its_encoded_id_with_the_token_header() {
        let host = token_host();
        let user = r#"{"id":"r 1/x","userName":"ann@example.com","active":true}"#;
        host.respond(200, user);
        let found = Scim2::get("User", "r 1/x", &config()).expect("reads");
        assert_eq!(found.as_deref(), Some(user));
        let sent = &host.requests()[0];
        assert_eq!(
            (sent.method.as_str(), sent.url.as_str()),
            ("GET", "https://target.example/scim/v2/Users/r%201%2Fx")
        );
        assert_eq!(sent.header("Accept"), Some("application/scim+json"));
        assert_eq!(sent.secret_headers[0].secret, "token");
        assert_eq!(sent.secret_headers[0].prefix, "Bearer ");
    }

    #[test]
    fn get_answers_none_for_a_missing_resource() {
        let host = token_host();
        host.respond(404, r#"{"status":"404"}"#);
        assert_eq!(Scim2::get("Group", "r-9", &config()).expect("reads"), None);
        assert_eq!(host.requests()[0].url, format!("{BASE}/Groups/r-9"));
    }

    #[test]
    fn get_errors_are_transient_or_permanent_as_for_provisioning() {
        let host = token_host();
        host.respond(503, "busy");
        let error = Scim2::get("User", "r-1", &config()).expect_err("server error");
        assert_eq!(error.kind, ErrorKind::Transient);
        assert!(error.message.contains("503"), "{}", error.message);

        let host = token_host();
        host.respond(403, "forbidden");
        let error = Scim2::get("User", "r-1", &config()).expect_err("refused");
        assert_eq!(error.kind, ErrorKind::Permanent);

        let host = token_host();
        host.respond(200, "[1, 2]");
        let error = Scim2::get("User", "r-1", &config()).expect_err("not an object");
        assert_eq!(error.kind, ErrorKind::Permanent);
        assert!(
            error.message.contains("not a JSON object"),
            "{}",
            error.message
        );
    }

    #[test]
    fn list_asks_for_the_page_and_filter_and_parses_the_list_response() {
        let host = token_host();
        host.respond_json(
            200,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 42, "startIndex": 11, "itemsPerPage": 2,
                "Resources": [{"id": "g-a", "displayName": "Sales"}, {"id": "g-b"}]}),
        );
        let page = Scim2::list(
            "Group",
            Some(r#"displayName eq "Sales & Co""#),
            11,
            2,
            &config(),
        )
        .expect("lists");
        assert_eq!(page.total, 42);
        assert_eq!(
            page.resources,
            [r#"{"id":"g-a","displayName":"Sales"}"#, r#"{"id":"g-b"}"#]
        );
        let sent = &host.requests()[0];
        assert_eq!(sent.method, "GET");
        assert_eq!(
            sent.url,
            format!(
                "{BASE}/Groups?startIndex=11&count=2\
                 &filter=displayName%20eq%20%22Sales%20%26%20Co%22"
            )
        );
        assert_eq!(sent.header("Accept"), Some("application/scim+json"));
        assert_eq!(sent.secret_headers[0].secret, "token");
    }

    #[test]
    fn list_without_filter_total_or_resources_uses_the_defaults() {
        let host = token_host();
        host.respond_json(200, &json!({"Resources": [{"id": "a"}, {"id": "b"}]}))
            .respond_json(200, &json!({"totalResults": 0}));
        let page = Scim2::list("User", None, 1, 50, &config()).expect("lists");
        assert_eq!((page.total, page.resources.len()), (2, 2));
        let page = Scim2::list("User", None, 1, 50, &config()).expect("lists");
        assert_eq!(
            page,
            Page {
                total: 0,
                resources: Vec::new()
            }
        );
        assert_eq!(
            host.requests()[0].url,
            format!("{BASE}/Users?startIndex=1&count=50")
        );
    }

    #[test]
    fn a_malformed_list_answer_is_a_permanent_error_naming_the_fault() {
        let cases = [
            (
                json!({"totalResults": "many", "Resources": []}),
                "`totalResults`",
            ),
            (json!({"totalResults": -1}), "`totalResults`"),
            (
                json!({"totalResults": 1, "Resources": {"id": "a"}}),
                "`Resources` is not an array",
            ),
            (json!({"Resources": [{"id": "a"}, "b"]}), "`Resources[1]`"),
            (json!([{"id": "a"}]), "not a JSON object"),
        ];
        for (answer, fault) in cases {
            token_host().respond_json(200, &answer);
            let error = Scim2::list("User", None, 1, 10, &config()).expect_err("malformed");
            assert_eq!(error.kind, ErrorKind::Permanent, "{answer}");
            assert!(error.message.contains("malformed"), "{}", error.message);
            assert!(error.message.contains(fault), "{answer}: {}", error.message);
        }
        token_host().respond(200, "not json");
        let error = Scim2::list("User", None, 1, 10, &config()).expect_err("not JSON");
        assert_eq!(error.kind, ErrorKind::Permanent);
    }

    #[test]
    fn reading_an_unknown_resource_type_or_without_base_url_is_permanent() {
        let host = token_host();
        let error = Scim2::get("Device", "d-1", &config()).expect_err("unknown type");
        assert_eq!(error.kind, ErrorKind::Permanent);
        let error = Scim2::list("User", None, 1, 10, &[]).expect_err("no base_url");
        assert_eq!(error.kind, ErrorKind::Permanent);
        assert!(error.message.contains("base_url"), "{}", error.message);
        assert!(host.requests().is_empty());
    }

    #[test]
    fn without_adoption_a_conflicting_create_fails_permanently() {
        let host = token_host();
        host.respond_json(
            409,
            &json!({"scimType": "uniqueness", "detail": "userName is taken", "status": "409"}),
        );
        let event = user_event(Operation::Create).with_config("adopt", "false");
        let error = Scim2::provision(event).expect_err("conflict");
        assert_eq!(error.kind, ErrorKind::Permanent);
        assert!(error.message.starts_with("conflict:"), "{}", error.message);
        assert!(
            error.message.contains("userName is taken"),
            "{}",
            error.message
        );
        assert_eq!(host.requests().len(), 1, "no search for the existing user");

        let host = token_host();
        host.respond(409, "");
        let event = user_event(Operation::Create).with_config("adopt", "false");
        let error = Scim2::provision(event).expect_err("conflict without a body");
        assert!(error.message.starts_with("conflict:"), "{}", error.message);
        assert_eq!(host.requests().len(), 1);
    }

    #[test]
    fn update_and_delete_address_the_resource_by_its_encoded_id() {
        let encoded = format!("{BASE}/Users/r%201%2Fx");
        let host = token_host();
        host.respond_json(200, &json!({"id": "r 1/x"}))
            .respond_json(200, &json!({"id": "r 1/x"}))
            .respond(204, "");
        Scim2::provision(user_event(Operation::Replace).with_remote_id("r 1/x")).expect("puts");
        let event = user_event(Operation::Replace)
            .with_remote_id("r 1/x")
            .with_config("update", "patch");
        Scim2::provision(event).expect("patches");
        Scim2::provision(user_event(Operation::Delete).with_remote_id("r 1/x")).expect("deletes");
        let sent: Vec<_> = host
            .requests()
            .into_iter()
            .map(|r| (r.method, r.url))
            .collect();
        assert_eq!(
            sent,
            [
                ("PUT".to_owned(), encoded.clone()),
                ("PATCH".to_owned(), encoded.clone()),
                ("DELETE".to_owned(), encoded),
            ]
        );
    }

    #[test]
    fn a_target_answering_409_and_404_for_the_same_resource_is_recreated_once_then_fails() {
        // Create: POST 409 → adopt r-7 → PUT 404 → POST again (the one recreate) → 409 → adopt
        // r-7 → PUT 404 → a permanent error, not another POST.
        let host = token_host();
        let found = json!({"totalResults": 1, "Resources": [{"id": "r-7"}]});
        for _ in 0..2 {
            host.respond(409, "")
                .respond_json(200, &found)
                .respond(404, "");
        }
        let error = Scim2::provision(user_event(Operation::Create)).expect_err("contradiction");
        assert_eq!(error.kind, ErrorKind::Permanent);
        assert_eq!(
            error.message,
            "the target reports User `r-7` as both existing (409) and missing (404)"
        );
        let methods: Vec<_> = host.requests().into_iter().map(|r| r.method).collect();
        assert_eq!(methods, ["POST", "GET", "PUT", "POST", "GET", "PUT"]);

        // Replace: PUT 404 → POST (the one recreate) → 409 → adopt r-7 → PUT 404 → the error.
        let host = token_host();
        host.respond(404, "")
            .respond(409, "")
            .respond_json(200, &found)
            .respond(404, "");
        let error = Scim2::provision(user_event(Operation::Replace).with_remote_id("r-1"))
            .expect_err("contradiction");
        assert_eq!(error.kind, ErrorKind::Permanent);
        assert!(error.message.contains("`r-7`"), "{}", error.message);
        assert_eq!(host.requests().len(), 4);

        // A resource deleted between the adoption and its update is still recreated once.
        let host = token_host();
        host.respond(409, "")
            .respond_json(200, &found)
            .respond(404, "")
            .respond_json(201, &json!({"id": "r-8"}));
        let delivered = Scim2::provision(user_event(Operation::Create)).expect("recreates");
        assert_eq!(delivered.remote_id, "r-8");
    }

    #[test]
    fn requests_carry_one_scim_content_type_and_only_with_a_body() {
        /// The values of every `Content-Type` header the request set.
        fn content_types(sent: &scim_gateway_plugin_sdk::testing::RecordedRequest) -> Vec<&str> {
            sent.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .map(|(_, value)| value.as_str())
                .collect()
        }
        let host = token_host();
        let found = json!({"totalResults": 1, "Resources": [{"id": "r-7"}]});
        host.respond(409, "")
            .respond_json(200, &found)
            .respond_json(200, &json!({"id": "r-7"}));
        Scim2::provision(user_event(Operation::Create)).expect("adopts");
        let event = user_event(Operation::Replace)
            .with_remote_id("r-7")
            .with_config("update", "patch");
        host.respond_json(200, &json!({"id": "r-7"}));
        Scim2::provision(event).expect("patches");
        host.respond(204, "");
        Scim2::provision(user_event(Operation::Delete).with_remote_id("r-7")).expect("deletes");
        host.respond(200, r#"{"id":"r-7"}"#);
        Scim2::get("User", "r-7", &config()).expect("reads");

        let sent = host.requests();
        let methods: Vec<_> = sent.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["POST", "GET", "PUT", "PATCH", "DELETE", "GET"]);
        for request in &sent {
            let expected: &[&str] = if request.body.is_empty() {
                &[]
            } else {
                &["application/scim+json"]
            };
            assert_eq!(content_types(request), expected, "{}", request.method);
            assert_eq!(
                request.header("Accept"),
                Some("application/scim+json"),
                "{}",
                request.method
            );
        }
        assert!(
            ["POST", "PUT", "PATCH"]
                .iter()
                .all(|m| sent.iter().any(|r| r.method == *m && !r.body.is_empty()))
        );
    }

    #[test]
    fn adopt_must_be_true_or_false_and_is_described() {
        let with_adopt = |value: &str| {
            Scim2::validate_config(&[
                ("base_url".into(), BASE.into()),
                ("adopt".into(), value.into()),
            ])
        };
        assert_eq!(with_adopt("true"), Ok(()));
        assert_eq!(with_adopt("false"), Ok(()));
        let error = with_adopt("no").expect_err("refused");
        assert!(
            error.contains("`adopt`") && error.contains("`no`"),
            "{error}"
        );
        assert!(with_adopt("FALSE").is_err());
        let keys = Scim2::describe().config_keys;
        assert!(keys.iter().any(|k| k.name == "adopt" && !k.required));
    }
}
