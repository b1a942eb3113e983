//! The basic life of a user over HTTP.

use scim_gateway_e2e::{Gateway, create, parts, user};
use serde_json::json;

#[test]
fn create_get_delete_user() {
    let gw = Gateway::start();
    let created = create(&gw, "/Users", &user("ann@example.com"));
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["userName"], "ann@example.com");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(
        created["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{id}"))
    );
    let (status, got) = parts(gw.get(&format!("/Users/{id}")));
    assert_eq!(status, 200);
    assert_eq!(got["id"], json!(id));
    assert_eq!(gw.delete(&format!("/Users/{id}")).status().as_u16(), 204);
    assert_eq!(gw.get(&format!("/Users/{id}")).status().as_u16(), 404);
}
