//! Discovery (RFC 7644 section 4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`;
//! their read-only nature; `/Me`; unknown paths; trailing slashes.

use reqwest::Method;
use scim_gateway_e2e::{
    ENTERPRISE, GROUP_SCHEMA, Gateway, LIST_RESPONSE, TOKEN, USER_SCHEMA, assert_scim_error,
    create, expect, field_of, id_of, user,
};
use serde_json::{Value, json};

/// The definition of attribute `name` in a schema (or a complex attribute's `subAttributes`).
#[track_caller]
fn attr<'a>(attributes: &'a Value, name: &str) -> &'a Value {
    attributes
        .as_array()
        .expect("an attribute list")
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

/// Asserts that every attribute definition (recursively) has the characteristics RFC 7643
/// section 7 lists; answers how many were checked.
fn check_definitions(attributes: &Value, schema: &str) -> usize {
    let mut n = 0;
    for a in attributes.as_array().expect("an attribute list") {
        for key in [
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "mutability",
            "returned",
            "uniqueness",
        ] {
            assert!(a.get(key).is_some(), "{schema}: {key} missing in {a}");
        }
        if a["type"] == "string" {
            assert!(a["caseExact"].is_boolean(), "{schema}: caseExact in {a}");
        }
        n += 1;
        if a["type"] == "complex" {
            n += check_definitions(&a["subAttributes"], schema);
        }
    }
    n
}

/// `/ServiceProviderConfig` states what is supported, with the configured bulk and filter
/// limits as numbers and the bearer authentication scheme.
#[test]
fn service_provider_config() {
    let gw = Gateway::start_with_config(
        "[bulk]\nmax_operations = 7\nmax_payload_bytes = 4096\n[scim]\nmax_results = 50\n",
    );
    let spc = gw.fetch("/ServiceProviderConfig");
    assert_eq!(
        spc["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    for feature in ["patch", "bulk", "filter", "sort", "etag"] {
        assert_eq!(spc[feature]["supported"], true, "{feature}: {spc}");
    }
    assert_eq!(spc["bulk"]["maxOperations"], 7);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 4096);
    assert_eq!(spc["filter"]["maxResults"], 50);
    assert!(spc["changePassword"]["supported"].is_boolean(), "{spc}");
    let schemes = spc["authenticationSchemes"].as_array().expect("schemes");
    assert!(!schemes.is_empty());
    assert_eq!(schemes[0]["type"], "oauthbearertoken");
    assert!(schemes[0]["name"].is_string() && schemes[0]["description"].is_string());
    let location = spc["meta"]["location"].as_str().expect("meta.location");
    assert_eq!(location, format!("{}/ServiceProviderConfig", gw.base));

    let defaults = Gateway::start().fetch("/ServiceProviderConfig");
    assert!(
        defaults["bulk"]["maxOperations"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert!(
        defaults["bulk"]["maxPayloadSize"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
}

/// `/ResourceTypes` lists User (with the enterprise extension) and Group; each is reachable by
/// id; an unknown id is 404.
#[test]
fn resource_types() {
    let gw = Gateway::start();
    let list = gw.fetch("/ResourceTypes");
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(list["totalResults"], 2);
    let mut ids = field_of(&list, "id");
    ids.sort();
    assert_eq!(ids, ["Group", "User"]);

    let user_type = gw.fetch("/ResourceTypes/User");
    assert_eq!(
        user_type["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ResourceType"])
    );
    assert_eq!(user_type["name"], "User");
    assert_eq!(user_type["endpoint"], "/Users");
    assert_eq!(user_type["schema"], USER_SCHEMA);
    assert_eq!(
        user_type["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}])
    );
    assert_eq!(user_type["meta"]["resourceType"], "ResourceType");
    assert!(list["Resources"].as_array().unwrap().contains(&user_type));

    let group_type = gw.fetch("/ResourceTypes/Group");
    assert_eq!(group_type["endpoint"], "/Groups");
    assert_eq!(group_type["schema"], GROUP_SCHEMA);

    assert_scim_error(gw.get("/ResourceTypes/Printer"), 404, None);
}

/// `/Schemas` holds the three schemas with full attribute definitions; each is reachable by
/// its URN; an unknown URN is 404.
#[test]
fn schemas() {
    let gw = Gateway::start();
    let list = gw.fetch("/Schemas");
    assert_eq!(list["totalResults"], 3);
    let mut ids = field_of(&list, "id");
    ids.sort();
    let mut want = [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE];
    want.sort();
    assert_eq!(ids, want);
    for s in list["Resources"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        assert!(check_definitions(&s["attributes"], id) >= 5, "{id}");
    }

    let user_schema = gw.fetch(&format!("/Schemas/{USER_SCHEMA}"));
    assert_eq!(user_schema["id"], USER_SCHEMA);
    assert_eq!(
        user_schema["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"])
    );
    assert!(list["Resources"].as_array().unwrap().contains(&user_schema));
    let attrs = &user_schema["attributes"];
    let user_name = attr(attrs, "userName");
    assert_eq!(user_name["type"], "string");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["mutability"], "readWrite");
    assert_eq!(user_name["returned"], "default");
    let password = attr(attrs, "password");
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");
    let groups = attr(attrs, "groups");
    assert_eq!(groups["mutability"], "readOnly");
    assert_eq!(groups["multiValued"], true);
    let emails = attr(attrs, "emails");
    assert_eq!(emails["type"], "complex");
    assert_eq!(attr(&emails["subAttributes"], "primary")["type"], "boolean");
    assert_eq!(attr(attrs, "active")["type"], "boolean");
    let name = attr(attrs, "name");
    assert_eq!(name["type"], "complex");
    let family = attr(&name["subAttributes"], "familyName");
    assert_eq!(family["type"], "string");

    let group_schema = gw.fetch(&format!("/Schemas/{GROUP_SCHEMA}"));
    let display = attr(&group_schema["attributes"], "displayName");
    assert_eq!(display["required"], true);
    let members = attr(&group_schema["attributes"], "members");
    assert_eq!(members["multiValued"], true);
    for sub in ["value", "$ref", "display", "type"] {
        attr(&members["subAttributes"], sub);
    }

    let enterprise = gw.fetch(&format!("/Schemas/{ENTERPRISE}"));
    let manager = attr(&enterprise["attributes"], "manager");
    assert_eq!(manager["type"], "complex");
    attr(&manager["subAttributes"], "value");
    for simple in [
        "employeeNumber",
        "department",
        "costCenter",
        "organization",
        "division",
    ] {
        assert_eq!(attr(&enterprise["attributes"], simple)["type"], "string");
    }

    assert_scim_error(
        gw.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Printer"),
        404,
        None,
    );
}

/// Discovery endpoints are read-only: POST, PUT, PATCH and DELETE answer `405` with a SCIM
/// error body.
#[test]
fn discovery_endpoints_are_read_only() {
    let gw = Gateway::start();
    let body = json!({"schemas": [USER_SCHEMA]});
    for path in [
        "/ServiceProviderConfig".to_owned(),
        "/ResourceTypes".to_owned(),
        "/ResourceTypes/User".to_owned(),
        "/Schemas".to_owned(),
        format!("/Schemas/{USER_SCHEMA}"),
    ] {
        for method in [Method::POST, Method::PUT, Method::PATCH] {
            assert_scim_error(gw.send(method, &path, &body), 405, None);
        }
        assert_scim_error(gw.delete(&path), 405, None);
    }
    assert_eq!(gw.fetch("/ResourceTypes")["totalResults"], 2);
}

/// `/Me` answers `501` with a SCIM error body, whatever the method.
#[test]
fn me_is_not_implemented() {
    let gw = Gateway::start();
    assert_scim_error(gw.get("/Me"), 501, None);
    assert_scim_error(gw.post("/Me", &user("me@example.com")), 501, None);
    assert_scim_error(gw.delete("/Me"), 501, None);
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);
}

/// Unknown paths, inside and outside the SCIM base, answer `404` with a SCIM error body.
#[test]
fn unknown_paths_are_404() {
    let gw = Gateway::start();
    assert_scim_error(gw.get("/Nope"), 404, None);
    assert_scim_error(gw.post("/Nope", &user("x@example.com")), 404, None);
    assert_scim_error(gw.get("/Users/a/b/c"), 404, None);
    let client = &gw.client;
    for url in [
        format!("{}/other", gw.origin()),
        format!("{}/", gw.origin()),
        format!("{}/scim/v1/Users", gw.origin()),
    ] {
        let r = client.get(&url).bearer_auth(TOKEN).send().expect("request");
        assert_scim_error(r, 404, None);
    }
}

/// A trailing slash is accepted on collection, resource and discovery paths.
#[test]
fn trailing_slash_works() {
    let gw = Gateway::start();
    let created = expect(gw.post("/Users/", &user("ann@example.com")), 201);
    let id = id_of(&created);
    let list = expect(gw.get("/Users/"), 200);
    assert_eq!(list["totalResults"], 1);
    let filtered = expect(
        gw.get("/Users/?filter=userName%20eq%20%22ann@example.com%22"),
        200,
    );
    assert_eq!(filtered["totalResults"], 1);
    assert_eq!(expect(gw.get(&format!("/Users/{id}/")), 200), created);
    expect(gw.get("/Schemas/"), 200);
    expect(gw.get("/ServiceProviderConfig/"), 200);
    assert_eq!(gw.delete(&format!("/Users/{id}/")).status().as_u16(), 204);
    let group = json!({"schemas": [GROUP_SCHEMA], "displayName": "G"});
    assert_eq!(create(&gw, "/Groups/", &group)["displayName"], "G");
}
