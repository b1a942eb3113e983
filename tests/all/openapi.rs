//! `GET /admin/v1/openapi.json`: the admin API describes itself, behind the admin token.

use reqwest::Method;
use scim_gateway_e2e::{Gateway, header};
use serde_json::Value;

#[test]
fn the_openapi_document_is_served_to_admins_and_names_every_area() {
    let gw = Gateway::start();
    let r = gw
        .admin_req(Method::GET, "/admin/v1/openapi.json")
        .send()
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = r.json().expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/admin/v1");
    let connector = &doc["paths"]["/connectors/{name}"];
    for method in ["get", "put", "patch", "delete"] {
        assert!(
            connector[method].is_object(),
            "no {method} /connectors/{{name}}"
        );
    }
    for path in [
        "/jobs",
        "/jobs/{seq}/retry",
        "/audit",
        "/plugins",
        "/connectors/{name}/reconcile",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }

    let anonymous = gw
        .client
        .get(format!("{}/admin/v1/openapi.json", gw.origin()))
        .send()
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
}
