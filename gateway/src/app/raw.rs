//! Serving a stored resource's JSON text without decoding it: the fast path of a plain read.
//!
//! # Why splice bytes
//! Decoding a resource into a `Value` and encoding it again was the largest cost of a
//! `GET /Users/{id}` in the gateway's own code (see `docs/benchmarks.md`). The stored text is
//! already canonical ([`prepare_input`](crate::scim::schema::prepare_input) made it so), and the
//! store always writes one layout: `meta` is the last attribute, a flat object of strings (the
//! service assembles it last; the store appends `meta.version`). A response only adds
//! `meta.location` at the end of `meta` and, for a user, `groups` after it, which is exactly
//! where the decoding path ([`shape`](super::stored::shape)) puts them, so
//! both paths give the same bytes.
//!
//! Whenever the text needs more than that, [`render`] answers `None` and the caller decodes:
//! a group with members (each gets a `$ref`), any trace of a `returned: never` attribute
//! (`password`), or a layout the checks below do not recognise. The checks are conservative:
//! they may send a resource down the slow path needlessly, never a wrong one down the fast path.

use serde::{Deserialize, Serialize};

use crate::model::ResourceKind;
use crate::scim::schema::never_returned;
use crate::store::{Membership, Stored};

/// A response body built from stored text.
#[derive(Debug)]
pub struct Rendered {
    /// The resource as served.
    pub body: Vec<u8>,
    /// Its `meta.version`, for the `ETag`.
    pub version: Option<String>,
}

/// An entry of `User.groups` as served.
#[derive(Debug, Serialize)]
pub struct GroupRef<'a> {
    /// The group's id.
    pub value: &'a str,
    /// The group's URI.
    #[serde(rename = "$ref")]
    pub uri: String,
    /// The group's `displayName`.
    pub display: &'a str,
    /// Always `direct`: nested groups are not expanded.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The `User.groups` entries for `memberships`, with URIs under `base_url`.
pub fn group_refs<'a>(memberships: &'a [Membership], base_url: &str) -> Vec<GroupRef<'a>> {
    memberships
        .iter()
        .map(|m| GroupRef {
            value: &m.group_id,
            uri: format!("{base_url}/Groups/{}", m.group_id),
            display: &m.display,
            kind: "direct",
        })
        .collect()
}

/// `meta.version`, read without decoding the rest of `meta`.
#[derive(Deserialize)]
struct MetaVersion {
    /// The weak ETag the store assigned.
    version: Option<String>,
}

/// The resource as a plain read (no `attributes` / `excludedAttributes`) serves it, or `None`
/// when it must be decoded (see the module docs).
pub fn render(kind: ResourceKind, stored: &Stored, base_url: &str) -> Option<Rendered> {
    let text = std::str::from_utf8(&stored.json).ok()?;
    if kind == ResourceKind::Group && text.contains("\"members\"") {
        return None;
    }
    if never_returned(kind).any(|name| text.contains(name)) {
        return None;
    }
    // `meta` must be the last attribute and a flat object: `..."meta":{...}}`.
    let open = text.rfind("\"meta\":{")? + "\"meta\":".len();
    let close = open + text[open..].find('}')?;
    if &text[close..] != "}}" || close == open + 1 {
        return None;
    }
    let meta: MetaVersion = serde_json::from_str(&text[open..=close]).ok()?;
    let location = format!("{base_url}/{}/{}", kind.endpoint(), stored.id);
    let mut body = Vec::with_capacity(text.len() + location.len() + 160 * stored.groups.len() + 16);
    body.extend_from_slice(&text.as_bytes()[..close]);
    body.extend_from_slice(b",\"location\":");
    serde_json::to_writer(&mut body, &location).ok()?;
    body.push(b'}');
    if kind == ResourceKind::User && !stored.groups.is_empty() {
        body.extend_from_slice(b",\"groups\":");
        serde_json::to_writer(&mut body, &group_refs(&stored.groups, base_url)).ok()?;
    }
    body.push(b'}');
    Some(Rendered {
        body,
        version: meta.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn stored(resource: &Value, groups: Vec<Membership>) -> Stored {
        Stored {
            id: resource["id"].as_str().unwrap_or_default().to_owned(),
            json: serde_json::to_vec(resource).unwrap(),
            groups,
        }
    }

    fn user() -> Value {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1",
               "userName": "ann\"}{", "name": {"givenName": "Ann"},
               "emails": [{"value": "a@x.org", "primary": true}],
               "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z",
                        "lastModified": "2026-01-01T00:00:00Z", "version": "W/\"7\""}})
    }

    #[test]
    fn splices_location_and_groups_where_decoding_puts_them() {
        let groups = vec![Membership {
            group_id: "g1".into(),
            display: "Staff \"A\"".into(),
        }];
        let out = render(
            ResourceKind::User,
            &stored(&user(), groups),
            "http://h/scim/v2",
        )
        .expect("fast path");
        let mut expected = user();
        expected["meta"]["location"] = json!("http://h/scim/v2/Users/u1");
        expected["groups"] = json!([{"value": "g1", "$ref": "http://h/scim/v2/Groups/g1",
                                     "display": "Staff \"A\"", "type": "direct"}]);
        assert_eq!(out.body, serde_json::to_vec(&expected).unwrap());
        assert_eq!(out.version.as_deref(), Some("W/\"7\""));
    }

    #[test]
    fn no_groups_attribute_for_a_user_in_no_group() {
        let out = render(ResourceKind::User, &stored(&user(), vec![]), "b").expect("fast path");
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert!(v.get("groups").is_none());
        assert_eq!(v["meta"]["location"], "b/Users/u1");
    }

    #[test]
    fn declines_what_needs_decoding() {
        let mut with_password = user();
        with_password["password"] = json!("secret");
        assert!(render(ResourceKind::User, &stored(&with_password, vec![]), "b").is_none());

        let group = json!({"id": "g", "displayName": "G", "members": [{"value": "u1"}],
                           "meta": {"resourceType": "Group", "version": "W/\"1\""}});
        assert!(render(ResourceKind::Group, &stored(&group, vec![]), "b").is_none());

        let mut meta_not_last = user();
        meta_not_last["title"] = json!("x");
        assert!(render(ResourceKind::User, &stored(&meta_not_last, vec![]), "b").is_none());

        let mut nested_meta = user();
        nested_meta["meta"]["extra"] = json!({"a": 1});
        assert!(render(ResourceKind::User, &stored(&nested_meta, vec![]), "b").is_none());

        let empty_meta = json!({"id": "u", "meta": {}});
        assert!(render(ResourceKind::User, &stored(&empty_meta, vec![]), "b").is_none());
    }

    #[test]
    fn a_group_without_members_takes_the_fast_path() {
        let group = json!({"id": "g", "displayName": "G",
                           "meta": {"resourceType": "Group", "version": "W/\"1\""}});
        let out = render(ResourceKind::Group, &stored(&group, vec![]), "b").expect("fast path");
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["meta"]["location"], "b/Groups/g");
    }
}
