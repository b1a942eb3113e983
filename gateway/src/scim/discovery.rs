//! The discovery documents: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`
//! (RFC 7644 section 4). They state what this gateway really supports.

use serde_json::{Value, json};

use super::schema::{self, ResourceKind};
use crate::config::Config;

/// The kinds the gateway serves, in listing order.
pub const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// `/ServiceProviderConfig`.
///
/// In pass-through mode the system of record answers lists in its own order, so sorting is not
/// offered, and `/Bulk` is not served.
pub fn service_provider_config(config: &Config, base_url: &str) -> Value {
    let persisting = config.pass_through.is_none();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://example.invalid/scim-gateway/README.md",
        "patch": {"supported": true},
        "bulk": {
            "supported": persisting,
            "maxOperations": config.bulk.max_operations,
            "maxPayloadSize": config.bulk.max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": config.scim.max_results},
        "changePassword": {"supported": true},
        "sort": {"supported": persisting},
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
        .iter()
        .map(|s| schema::schema_json(s, base_url))
        .collect()
}

/// One schema by its URN, case-insensitively.
pub fn schema_by_id(id: &str, base_url: &str) -> Option<Value> {
    schema::schemas()
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| schema::schema_json(s, base_url))
}
