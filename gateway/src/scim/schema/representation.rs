//! The discovery representations: the `/Schemas/{id}` (RFC 7643 section 7) and
//! `/ResourceTypes/{name}` (RFC 7643 section 6) JSON documents, built from the tables.

use serde_json::{Map, Value, json};

use super::{Attribute, RESOURCE_TYPE_SCHEMA, SCHEMA_SCHEMA, Schema};
use crate::model::ResourceKind;
use crate::scim::attr::{AttrType, Mutability};

fn type_name(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

fn mutability_name(mutability: Mutability) -> &'static str {
    match mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    }
}

fn attribute_json(a: &Attribute) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), a.name.into());
    m.insert("type".into(), type_name(a.kind).into());
    m.insert("multiValued".into(), a.multi_valued.into());
    m.insert("description".into(), a.description.into());
    m.insert("required".into(), a.required.into());
    m.insert("caseExact".into(), a.case_exact.into());
    if !a.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), a.canonical_values.into());
    }
    if !a.reference_types.is_empty() {
        m.insert("referenceTypes".into(), a.reference_types.into());
    }
    m.insert("mutability".into(), mutability_name(a.mutability).into());
    m.insert("returned".into(), a.returned.as_str().into());
    m.insert("uniqueness".into(), a.uniqueness.as_str().into());
    if !a.sub_attributes.is_empty() {
        let subs = a.sub_attributes.iter().map(attribute_json).collect();
        m.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(m)
}

/// The `/Schemas/{id}` representation of `schema` (RFC 7643 section 7). `base_url` is the SCIM
/// base URL the client used (a trailing slash is ignored).
pub fn schema_json(schema: &Schema, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let attributes: Vec<Value> = schema.attributes.iter().map(attribute_json).collect();
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", schema.id),
        },
    })
}

/// The `/ResourceTypes/{name}` representation of `kind` (RFC 7643 section 6). `base_url` is the
/// SCIM base URL the client used (a trailing slash is ignored).
pub fn resource_type_json(kind: ResourceKind, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let mut m = Map::new();
    m.insert("schemas".into(), json!([RESOURCE_TYPE_SCHEMA]));
    m.insert("id".into(), kind.name().into());
    m.insert("name".into(), kind.name().into());
    m.insert("endpoint".into(), format!("/{}", kind.endpoint()).into());
    m.insert("description".into(), kind.description().into());
    m.insert("schema".into(), kind.core_schema().into());
    if !kind.extensions().is_empty() {
        let extensions: Vec<Value> = kind
            .extensions()
            .iter()
            .map(|urn| json!({ "schema": urn, "required": kind.extension_required(urn) }))
            .collect();
        m.insert("schemaExtensions".into(), Value::Array(extensions));
    }
    m.insert(
        "meta".into(),
        json!({
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", kind.name()),
        }),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, schemas};

    const BASE: &str = "https://scim.example.com/scim/v2/";

    #[test]
    fn schema_json_shape() {
        let v = schema_json(schemas().next().expect("User"), BASE);
        assert_eq!(v["schemas"], json!([SCHEMA_SCHEMA]));
        assert_eq!(v["id"], USER_SCHEMA);
        assert_eq!(v["name"], "User");
        assert_eq!(v["meta"]["resourceType"], "Schema");
        assert_eq!(
            v["meta"]["location"],
            format!("https://scim.example.com/scim/v2/Schemas/{USER_SCHEMA}")
        );
        let attrs = v["attributes"].as_array().expect("attributes");
        assert_eq!(attrs.len(), 21);
        let user_name = &attrs[0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["type"], "string");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["mutability"], "readWrite");
        assert_eq!(user_name["returned"], "default");
        assert_eq!(user_name["uniqueness"], "server");
        assert!(user_name.get("subAttributes").is_none());
        let password = attrs
            .iter()
            .find(|a| a["name"] == "password")
            .expect("password");
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(password["returned"], "never");
        let emails = attrs
            .iter()
            .find(|a| a["name"] == "emails")
            .expect("emails");
        assert_eq!(emails["multiValued"], true);
        let subs = emails["subAttributes"].as_array().expect("subs");
        let names: Vec<&str> = subs.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["value", "display", "type", "primary"]);
        assert_eq!(subs[2]["canonicalValues"], json!(["work", "home", "other"]));
        let groups = attrs
            .iter()
            .find(|a| a["name"] == "groups")
            .expect("groups");
        assert_eq!(groups["mutability"], "readOnly");
        assert_eq!(
            groups["subAttributes"][1]["referenceTypes"],
            json!(["User", "Group"])
        );

        let group = schema_json(schemas().nth(2).expect("Group"), "http://h");
        assert_eq!(
            group["meta"]["location"],
            format!("http://h/Schemas/{GROUP_SCHEMA}")
        );
        assert_eq!(
            group["attributes"][1]["subAttributes"][0]["mutability"],
            "immutable"
        );
    }

    #[test]
    fn resource_type_json_shape() {
        let v = resource_type_json(ResourceKind::User, BASE);
        assert_eq!(
            v,
            json!({
                "schemas": [RESOURCE_TYPE_SCHEMA],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "User Account",
                "schema": USER_SCHEMA,
                "schemaExtensions": [{ "schema": ENTERPRISE_USER_SCHEMA, "required": false }],
                "meta": {
                    "resourceType": "ResourceType",
                    "location": "https://scim.example.com/scim/v2/ResourceTypes/User",
                },
            })
        );
        let g = resource_type_json(ResourceKind::Group, "http://h");
        assert_eq!(g["endpoint"], "/Groups");
        assert_eq!(g["schema"], GROUP_SCHEMA);
        assert!(g.get("schemaExtensions").is_none());
        assert_eq!(g["meta"]["location"], "http://h/ResourceTypes/Group");
    }
}
