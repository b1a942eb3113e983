//! Declared extension schemas (`[[schemas]]`): discovery, validation on every write, PATCH
//! through the URN, filters, sorting and projection, and delivery to a second gateway through
//! `scim2`, with the request shapes Entra ID and Okta send for custom attributes.

use scim_gateway_e2e::{
    Gateway, ScratchDir, TOKEN, assert_scim_error, create, encode, eventually, id_of, parts,
    scratch_dir, start_refused, when, workspace, write_config,
};
use serde_json::{Value, json};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The extension an Entra ID admin adds to the app's attribute mappings ("Contoso").
const ENTRA: &str = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User";
/// The namespace an Okta app integration's custom profile attributes are sent in.
const OKTA: &str = "urn:okta:acme:1.0:user";
/// A group extension every group must carry.
const GROUP_EXT: &str = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:Group";

fn declarations() -> String {
    format!(
        r#"
[[schemas]]
id = "{ENTRA}"
resourceType = "User"
description = "Contoso's HR attributes"
attributes = [
  {{ name = "costCenter", description = "Where the salary is booked" }},
  {{ name = "badge", type = "integer" }},
  {{ name = "contractor", type = "boolean" }},
  {{ name = "hrId", caseExact = true, mutability = "immutable" }},
  {{ name = "sites", type = "complex", multiValued = true, subAttributes = [
      {{ name = "code", required = true }}, {{ name = "primary", type = "boolean" }} ] }},
  {{ name = "clearance", canonicalValues = ["low", "high"], returned = "request" }},
]

[[schemas]]
id = "{OKTA}"
resourceType = "User"
attributes = [ {{ name = "nickname" }}, {{ name = "startDate", type = "dateTime", required = true }} ]
"#
    )
}

/// Gateway B: the extensions, nothing else.
fn start_b() -> Gateway {
    Gateway::start_with_config(&declarations())
}

/// Gateway A: the extensions and the shipped `scim2` example pointed at `b`; the directory
/// holds its data and config.
fn start_a(b: &Gateway) -> (Gateway, ScratchDir) {
    let example = std::fs::read_to_string(workspace().join("examples/provision-to-scim.toml"))
        .expect("example config")
        .replace("max_attempts = 12", "max_attempts = 1000")
        .replace("base_delay_ms = 500", "base_delay_ms = 50")
        .replace("max_delay_ms = 300000", "max_delay_ms = 500");
    let dir = scratch_dir("ext-a");
    let config = write_config(&dir, &format!("{example}\n{}", declarations()));
    let b_base = format!("{}/scim/v2", b.origin());
    let a = Gateway::spawn(
        &dir,
        &["--config", config.to_str().expect("utf-8 path")],
        &[
            ("SCIM_GATEWAY_TOKEN", TOKEN),
            ("TARGET_SCIM_URL", &b_base),
            ("TARGET_SCIM_TOKEN", TOKEN),
        ],
    );
    (a, dir)
}

/// The user at `gw` whose userName is `name`, whole (every `returned` it has).
fn by_name(gw: &Gateway, name: &str, attributes: &str) -> Option<Value> {
    let filter = encode(&format!(r#"userName eq "{name}""#));
    let (_, list) = parts(gw.get(&format!("/Users?filter={filter}&attributes={attributes}")));
    list["Resources"].get(0).cloned()
}

#[test]
fn a_declared_extension_is_discovered_validated_filtered_and_delivered() {
    let b = start_b();
    let (a, _dir) = start_a(&b);

    // Discovery: the schema with its characteristics, and the resource type's extension list.
    let (status, schema) = parts(a.get(&format!("/Schemas/{ENTRA}")));
    assert_eq!(status, 200, "{schema}");
    assert_eq!(schema["name"], "Contoso");
    let attrs = schema["attributes"].as_array().expect("attributes");
    let names: Vec<&str> = attrs.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "costCenter",
            "badge",
            "contractor",
            "hrId",
            "sites",
            "clearance"
        ]
    );
    assert_eq!(attrs[1]["type"], "integer");
    assert_eq!(attrs[3]["mutability"], "immutable");
    assert_eq!(attrs[3]["caseExact"], true);
    assert_eq!(attrs[4]["subAttributes"][0]["required"], true);
    assert_eq!(attrs[5]["canonicalValues"], json!(["low", "high"]));
    let (_, rt) = parts(a.get("/ResourceTypes/User"));
    assert_eq!(
        rt["schemaExtensions"],
        json!([
            {"schema": ENTERPRISE, "required": false},
            {"schema": ENTRA, "required": false},
            {"schema": OKTA, "required": false},
        ])
    );
    let (_, all) = parts(a.get("/Schemas"));
    let ids: Vec<&str> = all["Resources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&ENTRA) && ids.contains(&OKTA), "{ids:?}");

    // Entra ID's create: the extension in `schemas` and as a URN-keyed object, a boolean as
    // the string "True".
    let entra_user = create(
        &a,
        "/Users",
        &json!({
            "schemas": [CORE, ENTERPRISE, ENTRA],
            "externalId": "e-1",
            "userName": "ada@contoso.example",
            "active": true,
            ENTERPRISE: {"department": "R&D"},
            ENTRA: {"costCenter": "CC-100", "badge": 42, "contractor": "True", "hrId": "HR-1",
                    "sites": [{"code": "AMS", "primary": true}], "clearance": "high"},
        }),
    );
    let id = id_of(&entra_user);
    assert_eq!(
        entra_user["schemas"],
        json!([CORE, ENTERPRISE, ENTRA]),
        "{entra_user}"
    );
    assert_eq!(entra_user[ENTRA]["contractor"], true);
    assert!(
        entra_user[ENTRA].get("clearance").is_none(),
        "returned=request is left out unless asked for: {entra_user}"
    );
    let (_, asked) = parts(a.get(&format!("/Users/{id}?attributes={ENTRA}:clearance")));
    assert_eq!(asked[ENTRA], json!({"clearance": "high"}), "{asked}");

    // Entra ID's update: PATCH ops with capitalised names and paths through the URN.
    let (status, body) = parts(a.patch_ops(
        &format!("/Users/{id}"),
        json!([
            {"op": "Replace", "path": format!("{ENTRA}:costCenter"), "value": "CC-200"},
            {"op": "Add", "path": format!("{ENTRA}:badge"), "value": 43},
        ]),
    ));
    assert!(status == 200 || status == 204, "{status} {body}");

    // Okta's shapes: a create carrying its namespace, then a PATCH replace without a path
    // whose value holds the URN-keyed object.
    let okta_user = create(
        &a,
        "/Users",
        &json!({
            "schemas": [CORE, OKTA],
            "userName": "grace@contoso.example",
            "name": {"givenName": "Grace", "familyName": "Hopper"},
            OKTA: {"nickname": "amazing", "startDate": "2026-01-05T09:00:00Z"},
        }),
    );
    let okta_id = id_of(&okta_user);
    let (status, body) = parts(a.patch_ops(
        &format!("/Users/{okta_id}"),
        json!([{"op": "replace", "value": {OKTA: {"nickname": "grandma COBOL"}}}]),
    ));
    assert!(status == 200 || status == 204, "{status} {body}");
    let (_, okta_now) = parts(a.get(&format!("/Users/{okta_id}")));
    assert_eq!(
        okta_now[OKTA],
        json!({"nickname": "grandma COBOL", "startDate": "2026-01-05T09:00:00Z"})
    );

    // Filters, sorting and projection on declared attributes.
    let filter = encode(&format!(r#"{ENTRA}:costCenter eq "cc-200""#));
    let (_, found) = parts(a.get(&format!("/Users?filter={filter}")));
    assert_eq!(
        found["totalResults"], 1,
        "costCenter is case-insensitive: {found}"
    );
    let filter = encode(&format!(r#"{ENTRA}:hrId eq "hr-1""#));
    let (_, found) = parts(a.get(&format!("/Users?filter={filter}")));
    assert_eq!(found["totalResults"], 0, "hrId is caseExact: {found}");
    let filter = encode(&format!(
        r#"{ENTRA}:sites[code eq "AMS" and primary eq true]"#
    ));
    let (_, found) = parts(a.get(&format!("/Users?filter={filter}")));
    assert_eq!(found["totalResults"], 1, "{found}");
    let filter = encode(&format!(r#"{ENTRA}:badge gt 42"#));
    let (_, found) = parts(a.get(&format!("/Users?filter={filter}")));
    assert_eq!(found["totalResults"], 1, "{found}");
    let (_, sorted) = parts(a.get(&format!(
        "/Users?sortBy={OKTA}:nickname&sortOrder=descending&attributes=userName"
    )));
    let order: Vec<&str> = sorted["Resources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["userName"].as_str())
        .collect();
    assert_eq!(order, ["grace@contoso.example", "ada@contoso.example"]);
    let (_, projected) = parts(a.get(&format!("/Users/{id}?attributes={ENTRA}:costCenter")));
    assert_eq!(projected[ENTRA], json!({"costCenter": "CC-200"}));
    assert!(projected.get("userName").is_none(), "{projected}");
    let (_, without) = parts(a.get(&format!("/Users/{id}?excludedAttributes={ENTRA}")));
    assert!(without.get(ENTRA).is_none(), "{without}");

    // Every refusal is a SCIM error naming the attribute.
    let path = format!("/Users/{id}");
    let refused = [
        (
            json!([{"op": "replace", "path": format!("{ENTRA}:badge"), "value": "many"}]),
            400,
            "invalidValue",
            "badge",
        ),
        (
            json!([{"op": "add", "path": format!("{ENTRA}:floor"), "value": "3"}]),
            400,
            "invalidPath",
            "floor",
        ),
        (
            json!([{"op": "replace", "path": format!("{ENTRA}:hrId"), "value": "HR-2"}]),
            400,
            "mutability",
            "hrId",
        ),
        (
            json!([{"op": "add", "path": format!("{ENTRA}:sites"), "value": [{"primary": true}]}]),
            400,
            "invalidValue",
            "code",
        ),
    ];
    for (ops, status, scim_type, names) in refused {
        let err = assert_scim_error(a.patch_ops(&path, ops.clone()), status, Some(scim_type));
        let detail = err["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(names), "{ops}: {err}");
    }
    let err = assert_scim_error(
        a.post(
            "/Users",
            &json!({"schemas": [CORE, OKTA], "userName": "no-start", OKTA: {"nickname": "x"}}),
        ),
        400,
        Some("invalidValue"),
    );
    assert!(
        err["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("startDate"),
        "{err}"
    );
    let err = assert_scim_error(
        a.post(
            "/Users",
            &json!({"schemas": [CORE, "urn:ietf:params:scim:schemas:extension:Other:2.0:User"],
                    "userName": "other"}),
        ),
        400,
        Some("invalidValue"),
    );
    assert!(
        err["detail"].as_str().unwrap_or_default().contains("Other"),
        "{err}"
    );

    // Delivered through `scim2`: B holds both users with their extensions, the changes in.
    eventually(|| {
        let ada =
            by_name(&b, "ada@contoso.example", "").ok_or_else(|| "ada not at B".to_owned())?;
        let grace =
            by_name(&b, "grace@contoso.example", "").ok_or_else(|| "grace not at B".to_owned())?;
        when(
            ada[ENTRA]["costCenter"] == "CC-200"
                && ada[ENTRA]["badge"] == 43
                && ada[ENTRA]["sites"] == json!([{"code": "AMS", "primary": true}])
                && grace[OKTA]["nickname"] == "grandma COBOL",
            &format!("B holds {ada} and {grace}"),
        )
    });
    let ada_at_b =
        by_name(&b, "ada@contoso.example", &format!("{ENTRA}:clearance")).expect("ada at B");
    assert_eq!(ada_at_b[ENTRA]["clearance"], "high", "{ada_at_b}");
}

#[test]
fn a_required_extension_binds_every_write_and_a_bad_declaration_stops_the_start() {
    let gw = Gateway::start_with_config(&format!(
        r#"
[[schemas]]
id = "{GROUP_EXT}"
resourceType = "Group"
required = true
attributes = [ {{ name = "owner", required = true }}, {{ name = "note" }} ]
"#
    ));
    let (_, rt) = parts(gw.get("/ResourceTypes/Group"));
    assert_eq!(
        rt["schemaExtensions"],
        json!([{"schema": GROUP_EXT, "required": true}])
    );
    let core = "urn:ietf:params:scim:schemas:core:2.0:Group";
    let err = assert_scim_error(
        gw.post("/Groups", &json!({"schemas": [core], "displayName": "g"})),
        400,
        Some("invalidValue"),
    );
    assert!(
        err["detail"].as_str().unwrap_or_default().contains("owner"),
        "{err}"
    );
    let g = create(
        &gw,
        "/Groups",
        &json!({"schemas": [core, GROUP_EXT], "displayName": "g", GROUP_EXT: {"owner": "ada"}}),
    );
    let path = format!("/Groups/{}", id_of(&g));
    assert_scim_error(
        gw.patch_ops(
            &path,
            json!([{"op": "remove", "path": format!("{GROUP_EXT}:owner")}]),
        ),
        400,
        Some("invalidValue"),
    );
    let (status, body) = parts(gw.patch_ops(
        &path,
        json!([{"op": "add", "path": format!("{GROUP_EXT}:note"), "value": "kept"}]),
    ));
    assert!(status == 200 || status == 204, "{status} {body}");
    let (_, now) = parts(gw.get(&path));
    assert_eq!(now[GROUP_EXT], json!({"owner": "ada", "note": "kept"}));

    // A declaration that cannot be enforced, or is not one, stops the start with its reason.
    for (body, names) in [
        (
            r#"id = "urn:x:1"
resourceType = "User"
attributes = [ { name = "badge", uniqueness = "server" } ]"#,
            "attribute 'badge'",
        ),
        (
            r#"id = "urn:ietf:params:scim:schemas:core:2.0:User"
resourceType = "User"
attributes = [ { name = "a" } ]"#,
            "already exists",
        ),
        (
            r#"id = "urn:x:1"
resourceType = "User"
attributes = [ { name = "a", type = "text" } ]"#,
            "unknown variant",
        ),
    ] {
        let dir = scratch_dir("ext-bad");
        let config = write_config(&dir, &format!("[[schemas]]\n{body}\n"));
        let out = start_refused(&dir, &["--config", config.to_str().expect("utf-8")], &[]);
        assert!(out.contains(names), "{body}: {out}");
    }
}
