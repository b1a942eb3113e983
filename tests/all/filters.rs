//! `filter` on list requests (RFC 7644 section 3.4.2.2): every operator, logic and grouping,
//! value paths, sub-attributes, URN-qualified paths, dates, booleans and case sensitivity.

use scim_gateway_e2e::{
    ENTERPRISE, Gateway, USER_SCHEMA, create, expect, field_of, group, id_of, user,
};
use serde_json::{Value, json};

/// Four users with distinguishing attributes, created in this order with distinct
/// millisecond timestamps:
///
/// | userName | name | emails | active | externalId | title |
/// |---|---|---|---|---|---|
/// | ann@example.com | Ann Lee | work ann@example.com, home ann@home.org | true | EXT-ann | Engineer |
/// | bo@example.com | Bo Berg | work bo@example.org | false | ext-bo | – |
/// | cy@other.net | Cy Ames | work cy@other.net, home cy@ex-home.net | true | – | Manager |
/// | di@example.com | Di Zed | – | false | – | Engineer |
///
/// Answers the created users.
fn seed(gw: &Gateway) -> Vec<Value> {
    let rows = [
        (
            "ann@example.com",
            ("Ann", "Lee"),
            json!([{"value": "ann@example.com", "type": "work", "primary": true},
                   {"value": "ann@home.org", "type": "home"}]),
            true,
            Some("EXT-ann"),
            Some("Engineer"),
        ),
        (
            "bo@example.com",
            ("Bo", "Berg"),
            json!([{"value": "bo@example.org", "type": "work"}]),
            false,
            Some("ext-bo"),
            None,
        ),
        (
            "cy@other.net",
            ("Cy", "Ames"),
            json!([{"value": "cy@other.net", "type": "work"},
                   {"value": "cy@ex-home.net", "type": "home"}]),
            true,
            None,
            Some("Manager"),
        ),
        (
            "di@example.com",
            ("Di", "Zed"),
            json!(null),
            false,
            None,
            Some("Engineer"),
        ),
    ];
    rows.into_iter()
        .map(|(name, (given, family), emails, active, external, title)| {
            let mut body = user(name);
            body["name"] = json!({"givenName": given, "familyName": family});
            body["active"] = json!(active);
            match emails {
                Value::Null => drop(body.as_object_mut().map(|o| o.remove("emails"))),
                emails => body["emails"] = emails,
            }
            if let Some(e) = external {
                body["externalId"] = json!(e);
            }
            if let Some(t) = title {
                body["title"] = json!(t);
            }
            // meta.created has millisecond precision: keep the four instants distinct.
            std::thread::sleep(std::time::Duration::from_millis(5));
            create(gw, "/Users", &body)
        })
        .collect()
}

/// Asserts, for each (filter, expected userNames) row, what the filter selects.
#[track_caller]
fn check(gw: &Gateway, rows: &[(&str, &[&str])]) {
    for (filter, want) in rows {
        assert_eq!(gw.user_names(filter), *want, "filter {filter}");
    }
}

/// eq, ne, co, sw, ew and pr on strings; `userName` compares case-insensitively.
#[test]
fn string_operators() {
    let gw = Gateway::start();
    seed(&gw);
    check(
        &gw,
        &[
            (r#"userName eq "ann@example.com""#, &["ann@example.com"]),
            (r#"userName eq "ANN@Example.COM""#, &["ann@example.com"]),
            (r#"userName eq "nobody""#, &[]),
            (
                r#"userName ne "ann@example.com""#,
                &["bo@example.com", "cy@other.net", "di@example.com"],
            ),
            (
                r#"userName co "EXAMPLE""#,
                &["ann@example.com", "bo@example.com", "di@example.com"],
            ),
            (r#"userName sw "B""#, &["bo@example.com"]),
            (r#"userName ew ".NET""#, &["cy@other.net"]),
            (
                "title pr",
                &["ann@example.com", "cy@other.net", "di@example.com"],
            ),
            ("externalId pr", &["ann@example.com", "bo@example.com"]),
            (
                "emails pr",
                &["ann@example.com", "bo@example.com", "cy@other.net"],
            ),
        ],
    );
}

/// gt, ge, lt and le order strings (case-insensitively for `userName`) and dateTimes (as
/// instants, whatever the offset notation).
#[test]
fn ordering_operators_on_strings_and_dates() {
    let gw = Gateway::start();
    let users = seed(&gw);
    check(
        &gw,
        &[
            (
                r#"userName gt "bo@example.com""#,
                &["cy@other.net", "di@example.com"],
            ),
            (
                r#"userName ge "BO@example.com""#,
                &["bo@example.com", "cy@other.net", "di@example.com"],
            ),
            (r#"userName lt "bo@example.com""#, &["ann@example.com"]),
            (
                r#"userName le "bo@example.com""#,
                &["ann@example.com", "bo@example.com"],
            ),
        ],
    );
    let created = |i: usize| users[i]["meta"]["created"].as_str().unwrap().to_owned();
    let bo = created(1);
    check(
        &gw,
        &[
            (
                &format!(r#"meta.created gt "{bo}""#),
                &["cy@other.net", "di@example.com"],
            ),
            (
                &format!(r#"meta.created ge "{bo}""#),
                &["bo@example.com", "cy@other.net", "di@example.com"],
            ),
            (&format!(r#"meta.created lt "{bo}""#), &["ann@example.com"]),
            (
                &format!(r#"meta.created le "{bo}""#),
                &["ann@example.com", "bo@example.com"],
            ),
            (&format!(r#"meta.created eq "{bo}""#), &["bo@example.com"]),
            (r#"meta.created lt "2000-01-01T00:00:00Z""#, &[]),
            (
                r#"meta.lastModified gt "2000-01-01T01:00:00+01:00""#,
                &[
                    "ann@example.com",
                    "bo@example.com",
                    "cy@other.net",
                    "di@example.com",
                ],
            ),
        ],
    );
}

/// Booleans compare as booleans; `externalId` is case-exact while `userName` is not.
#[test]
fn booleans_and_case_exactness() {
    let gw = Gateway::start();
    seed(&gw);
    check(
        &gw,
        &[
            ("active eq false", &["bo@example.com", "di@example.com"]),
            ("active eq true", &["ann@example.com", "cy@other.net"]),
            ("active ne true", &["bo@example.com", "di@example.com"]),
            (r#"externalId eq "EXT-ann""#, &["ann@example.com"]),
            (r#"externalId eq "ext-ann""#, &[]),
            (r#"externalId eq "ext-bo""#, &["bo@example.com"]),
            (r#"externalId sw "EXT""#, &["ann@example.com"]),
            (r#"userName eq "BO@EXAMPLE.COM""#, &["bo@example.com"]),
        ],
    );
}

/// and, or, not, parentheses, and the precedence of `and` over `or`; operators and attribute
/// names are case-insensitive.
#[test]
fn logical_operators_grouping_and_precedence() {
    let gw = Gateway::start();
    seed(&gw);
    check(
        &gw,
        &[
            (
                r#"title eq "Engineer" and active eq true"#,
                &["ann@example.com"],
            ),
            (
                r#"userName sw "a" or userName sw "c""#,
                &["ann@example.com", "cy@other.net"],
            ),
            (
                r#"not (title eq "Engineer")"#,
                &["bo@example.com", "cy@other.net"],
            ),
            (
                r#"not (userName sw "a" or active eq false)"#,
                &["cy@other.net"],
            ),
            // `and` binds tighter: false-or-(a-and-Manager) is {bo, di}; read left to right
            // it would select nobody.
            (
                r#"active eq false or userName sw "a" and title eq "Manager""#,
                &["bo@example.com", "di@example.com"],
            ),
            (
                r#"(active eq false or userName sw "a") and title eq "Engineer""#,
                &["ann@example.com", "di@example.com"],
            ),
            (
                r#"((userName sw "a")) or (title eq "Manager" and (active eq true))"#,
                &["ann@example.com", "cy@other.net"],
            ),
            (
                r#"USERNAME Eq "ann@example.com" AND Active EQ true"#,
                &["ann@example.com"],
            ),
        ],
    );
}

/// Value paths bind their conditions to one element; sub-attributes (`name.familyName`,
/// `emails.type`) and URN-qualified core paths address the same attributes.
#[test]
fn value_paths_sub_attributes_and_urn_paths() {
    let gw = Gateway::start();
    seed(&gw);
    check(
        &gw,
        &[
            // cy has a work email and an "@ex" email, but not in one element.
            (
                r#"emails[type eq "work" and value co "@ex"]"#,
                &["ann@example.com", "bo@example.com"],
            ),
            (
                r#"emails.type eq "work" and emails.value co "@ex""#,
                &["ann@example.com", "bo@example.com", "cy@other.net"],
            ),
            (
                r#"emails[type eq "home"]"#,
                &["ann@example.com", "cy@other.net"],
            ),
            (r#"emails[primary eq true]"#, &["ann@example.com"]),
            (
                r#"emails.value ew ".org""#,
                &["ann@example.com", "bo@example.com"],
            ),
            (r#"name.familyName eq "lee""#, &["ann@example.com"]),
            (r#"name.givenName sw "C""#, &["cy@other.net"]),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bo@example.com""#,
                &["bo@example.com"],
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "Zed""#,
                &["di@example.com"],
            ),
        ],
    );
    let got = gw.list(
        "/Users",
        &[("filter", r#"emails[type eq "work" and value co "@ex"]"#)],
    );
    assert_eq!(got["totalResults"], 2, "{got}");
}

/// Entra ID's form when a work email is the matching attribute: a sub-attribute compared after
/// a value path. One element must pass both: cy's work address is not the home one.
#[test]
fn a_sub_attribute_compared_after_a_value_path_matches_within_one_element() {
    let gw = Gateway::start();
    seed(&gw);
    check(
        &gw,
        &[
            (
                r#"emails[type eq "work"].value eq "cy@other.net""#,
                &["cy@other.net"],
            ),
            (r#"emails[type eq "home"].value eq "cy@other.net""#, &[]),
            (
                r#"emails[type eq "work"].value co "@ex""#,
                &["ann@example.com", "bo@example.com"],
            ),
            (
                r#"emails[type eq "home"].value pr and active eq true"#,
                &["ann@example.com", "cy@other.net"],
            ),
        ],
    );
}

/// Groups filter by `displayName` and by member (`members[value eq ...]`, `members.value`).
#[test]
fn group_filters() {
    let gw = Gateway::start();
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let bo = id_of(&create(&gw, "/Users", &user("bo@example.com")));
    create(&gw, "/Groups", &group("Sales", &[&ann, &bo]));
    create(&gw, "/Groups", &group("Admins", &[&bo]));
    create(&gw, "/Groups", &group("Empty", &[]));
    let names = |filter: &str| {
        let list = gw.list("/Groups", &[("filter", filter)]);
        let mut names = field_of(&list, "displayName");
        names.sort();
        assert_eq!(list["totalResults"], names.len(), "{list}");
        names
    };
    assert_eq!(names(r#"displayName eq "sales""#), ["Sales"]);
    assert_eq!(names(&format!(r#"members[value eq "{ann}"]"#)), ["Sales"]);
    assert_eq!(
        names(&format!(r#"members.value eq "{bo}""#)),
        ["Admins", "Sales"]
    );
    assert_eq!(names("members pr"), ["Admins", "Sales"]);
    assert_eq!(names("not (members pr)"), ["Empty"]);
    assert_eq!(names("displayName pr"), ["Admins", "Empty", "Sales"]);
}

/// Equality filters on indexed attributes (userName, emails.value, externalId,
/// Group.displayName) follow every change: after PATCH, PUT and DELETE the old values find
/// nothing and the new ones find the resource.
#[test]
fn indexed_filters_follow_changes() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["externalId"] = json!("ext-1");
    let path = format!("/Users/{}", id_of(&create(&gw, "/Users", &body)));
    let gpath = format!(
        "/Groups/{}",
        id_of(&create(&gw, "/Groups", &group("Sales", &[])))
    );
    let found = |endpoint: &str, filter: &str| {
        gw.list(endpoint, &[("filter", filter)])["totalResults"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(found("/Users", r#"emails.value eq "ANN@example.com""#), 1);

    let ops = json!([
        {"op": "replace", "path": "userName", "value": "ann.lee@example.com"},
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ann.lee@example.com"},
        {"op": "replace", "path": "externalId", "value": "ext-2"},
    ]);
    expect(gw.patch_ops(&path, ops), 200);
    for (filter, n) in [
        (r#"userName eq "ann@example.com""#, 0),
        (r#"userName eq "Ann.Lee@example.com""#, 1),
        (r#"emails.value eq "ann@example.com""#, 0),
        (r#"emails[value eq "ann.lee@example.com"]"#, 1),
        (r#"externalId eq "ext-1""#, 0),
        (r#"externalId eq "ext-2""#, 1),
    ] {
        assert_eq!(found("/Users", filter), n, "after PATCH: {filter}");
    }

    let mut replaced = user("bo@example.com");
    replaced["externalId"] = json!("ext-3");
    expect(gw.put(&path, &replaced), 200);
    for (filter, n) in [
        (r#"userName eq "ann.lee@example.com""#, 0),
        (r#"emails.value eq "ann.lee@example.com""#, 0),
        (r#"externalId eq "ext-2""#, 0),
        (
            r#"userName eq "bo@example.com" or externalId eq "ext-3""#,
            1,
        ),
        (r#"emails.value eq "bo@example.com""#, 1),
    ] {
        assert_eq!(found("/Users", filter), n, "after PUT: {filter}");
    }

    expect(
        gw.patch_ops(
            &gpath,
            json!([{"op": "replace", "path": "displayName", "value": "Marketing"}]),
        ),
        204,
    );
    assert_eq!(found("/Groups", r#"displayName eq "Sales""#), 0);
    assert_eq!(found("/Groups", r#"displayName eq "marketing""#), 1);

    assert_eq!(gw.delete(&path).status().as_u16(), 204);
    assert_eq!(gw.delete(&gpath).status().as_u16(), 204);
    assert_eq!(found("/Users", r#"userName eq "bo@example.com""#), 0);
    assert_eq!(found("/Users", r#"emails.value eq "bo@example.com""#), 0);
    assert_eq!(found("/Users", r#"externalId eq "ext-3""#), 0);
    assert_eq!(found("/Groups", r#"displayName eq "Marketing""#), 0);
}

/// The example filters of RFC 7644 section 3.4.2.2, on three users; a multi-valued attribute
/// without a sub-attribute (`emails co ...`) compares its `value`s.
#[test]
fn rfc_7644_example_filters() {
    let gw = Gateway::start();
    let with = |name: &str, extra: Value| {
        let mut body = user(name);
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        create(&gw, "/Users", &body);
    };
    with(
        "e1",
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userType": "Employee", "title": "Boss",
            "emails": [{"value": "e1@example.com", "type": "work"}],
            "ims": [{"value": "e1@chat.net", "type": "xmpp"}],
            ENTERPRISE: {"department": "Sales"}
        }),
    );
    with(
        "e2",
        json!({
            "userType": "Employee",
            "name": {"givenName": "Bo", "familyName": "O'Malley"},
            "emails": [{"value": "e2@example.org", "type": "home"}]
        }),
    );
    with(
        "i1",
        json!({
            "userType": "Intern",
            "emails": [{"value": "i1@other.net", "type": "work"}],
            "ims": [{"value": "i1@foo.com", "type": "xmpp"}]
        }),
    );
    check(
        &gw,
        &[
            (r#"emails co "example.com""#, &["e1"]),
            (r#"name.familyName co "O'Malley""#, &["e2"]),
            (r#"title pr and userType eq "Employee""#, &["e1"]),
            (r#"title pr or userType eq "Intern""#, &["e1", "i1"]),
            (&format!(r#"schemas eq "{ENTERPRISE}""#), &["e1"]),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                &["e1", "e2"],
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                &["i1"],
            ),
            (
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                &["e1"],
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                &["e1"],
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                &["e1", "i1"],
            ),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                &["e1", "e2", "i1"],
            ),
        ],
    );
}

/// A password can be set but never read back, and so never filtered or sorted by: a filter
/// that tests it (alone, in a logical expression, or inside a value path) is `400
/// invalidFilter`, and `sortBy=password` is `400 invalidValue`. Otherwise each answer's count
/// would tell a token holder one more character of any user's password.
#[test]
fn a_password_cannot_be_filtered_or_sorted_on() {
    let gw = Gateway::start();
    let mut body = user("alice@example.com");
    body["password"] = json!("aSecret-42");
    create(&gw, "/Users", &body);
    for filter in [
        r#"password sw "a""#,
        r#"userName eq "alice@example.com" and password sw "a""#,
        r#"not (password pr)"#,
        r#"PASSWORD eq "aSecret-42""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:password co "S""#,
    ] {
        let r = gw.get(&format!(
            "/Users?filter={}",
            scim_gateway_e2e::encode(filter)
        ));
        let e = scim_gateway_e2e::assert_scim_error(r, 400, Some("invalidFilter"));
        assert!(
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("never returned")),
            "{filter}: {e}"
        );
        let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                            "filter": filter});
        scim_gateway_e2e::assert_scim_error(
            gw.post("/Users/.search", &search),
            400,
            Some("invalidFilter"),
        );
    }
    let r = gw.get("/Users?sortBy=password");
    scim_gateway_e2e::assert_scim_error(r, 400, Some("invalidValue"));
    // Filters on other attributes still work.
    let list = gw.list(
        "/Users",
        &[("filter", r#"userName eq "alice@example.com""#)],
    );
    assert_eq!(list["totalResults"], 1);
}
