//! The discovery documents: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`
//! (RFC 7644 section 4). They state what this gateway really supports.

use serde_json::{Value, json};

use super::schema;
use crate::model::KINDS;

/// What `/ServiceProviderConfig` states: the limits the gateway is configured with and what the
/// way it keeps resources offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether `/Bulk` is served (not in pass-through mode: the system of record has no
    /// transactions to offer).
    pub bulk: bool,
    /// Whether `sortBy` is honoured (not in pass-through mode: the system of record answers
    /// lists in its own order).
    pub sort: bool,
    /// Most operations in one `/Bulk` request.
    pub max_operations: usize,
    /// Largest `/Bulk` body, in bytes.
    pub max_payload_bytes: usize,
    /// Most resources in one list response.
    pub max_results: usize,
}

/// `/ServiceProviderConfig`.
pub fn service_provider_config(c: &Capabilities, base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://example.invalid/scim-gateway/README.md",
        "patch": {"supported": true},
        "bulk": {
            "supported": c.bulk,
            "maxOperations": c.max_operations,
            "maxPayloadSize": c.max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": c.max_results},
        "changePassword": {"supported": true},
        "sort": {"supported": c.sort},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token in the Authorization header, issued by the gateway's operator.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

/// Every resource type's description.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    KINDS
        .iter()
        .map(|&k| schema::resource_type_json(k, base_url))
        .collect()
}

/// One resource type by id (`User`, `Group`), case-insensitively.
pub fn resource_type(id: &str, base_url: &str) -> Option<Value> {
    KINDS
        .iter()
        .find(|k| k.name().eq_ignore_ascii_case(id))
        .map(|&k| schema::resource_type_json(k, base_url))
}

/// Every schema's full definition.
pub fn schemas(base_url: &str) -> Vec<Value> {
    schema::schemas()
        .map(|s| schema::schema_json(s, base_url))
        .collect()
}

/// One schema by its URN, case-insensitively.
pub fn schema_by_id(id: &str, base_url: &str) -> Option<Value> {
    schema::schemas()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| schema::schema_json(s, base_url))
}
