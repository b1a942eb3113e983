//! List and search requests: sorting, paging, attribute selection, `POST .search` on each
//! endpoint and at the root, and tolerance of unknown query parameters.

use scim_gateway_e2e::{
    Gateway, LIST_RESPONSE, SEARCH_REQUEST, USER_SCHEMA, create, expect, field_of, group, header,
    id_of, user,
};
use serde_json::{Value, json};

/// Creates users with these (userName, familyName) pairs, in this order.
fn seed(gw: &Gateway, rows: &[(&str, &str)]) -> Vec<String> {
    rows.iter()
        .map(|(name, family)| {
            let mut body = user(name);
            body["name"]["familyName"] = json!(family);
            id_of(&create(gw, "/Users", &body))
        })
        .collect()
}

/// Five users whose userName order (case-insensitive: `Dan` sorts after `cy`) differs from
/// their familyName order and from creation order.
const PEOPLE: [(&str, &str); 5] = [
    ("cy@example.com", "Berg"),
    ("ann@example.com", "Zed"),
    ("eve@example.com", "Lee"),
    ("bo@example.com", "Ames"),
    ("Dan@example.com", "Cole"),
];

/// `sortBy` orders ascending by default and descending on request, on `userName`
/// (case-insensitively) and on the sub-attribute `name.familyName`; it combines with a filter
/// and with paging.
#[test]
fn sort_by_orders_by_user_name_case_insensitively_and_by_family_name_both_ways() {
    let gw = Gateway::start();
    seed(&gw, &PEOPLE);
    let sorted = |params: &[(&str, &str)], attr: &str| -> Vec<String> {
        let list = gw.list("/Users", params);
        match attr {
            "userName" => field_of(&list, "userName"),
            _ => list["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"]["familyName"].as_str().unwrap().to_owned())
                .collect(),
        }
    };
    let by_name = [
        "ann@example.com",
        "bo@example.com",
        "cy@example.com",
        "Dan@example.com",
        "eve@example.com",
    ];
    assert_eq!(sorted(&[("sortBy", "userName")], "userName"), by_name);
    assert_eq!(
        sorted(
            &[("sortBy", "userName"), ("sortOrder", "ascending")],
            "userName"
        ),
        by_name
    );
    let mut reversed = by_name;
    reversed.reverse();
    assert_eq!(
        sorted(
            &[("sortBy", "userName"), ("sortOrder", "descending")],
            "userName"
        ),
        reversed
    );
    let families = ["Ames", "Berg", "Cole", "Lee", "Zed"];
    assert_eq!(sorted(&[("sortBy", "name.familyName")], "family"), families);
    let mut families_desc = families;
    families_desc.reverse();
    assert_eq!(
        sorted(
            &[("sortBy", "name.familyName"), ("sortOrder", "descending")],
            "family"
        ),
        families_desc
    );
    // Sorting happens before paging, and after filtering.
    assert_eq!(
        sorted(
            &[
                ("sortBy", "userName"),
                ("sortOrder", "descending"),
                ("startIndex", "2"),
                ("count", "2")
            ],
            "userName"
        ),
        ["Dan@example.com", "cy@example.com"]
    );
    assert_eq!(
        sorted(
            &[
                ("filter", "userName co \"e@\""),
                ("sortBy", "name.familyName")
            ],
            "userName"
        ),
        ["eve@example.com"]
    );
}

/// `startIndex` is 1-based and `count` bounds the page; `totalResults` counts every match,
/// `itemsPerPage` the page; `count=0` answers only the total; a start past the end answers an
/// empty page; consecutive pages cover every resource exactly once.
#[test]
fn start_index_and_count_page_through_every_match_exactly_once() {
    let gw = Gateway::start();
    let ids = seed(&gw, &PEOPLE);
    let page = |start: &str, count: &str| {
        gw.list(
            "/Users",
            &[
                ("sortBy", "userName"),
                ("startIndex", start),
                ("count", count),
            ],
        )
    };
    let first = page("1", "2");
    assert_eq!(first["totalResults"], 5);
    assert_eq!(first["startIndex"], 1);
    assert_eq!(first["itemsPerPage"], 2);
    assert_eq!(
        field_of(&first, "userName"),
        ["ann@example.com", "bo@example.com"]
    );
    let third = page("3", "2");
    assert_eq!(third["startIndex"], 3);
    assert_eq!(
        field_of(&third, "userName"),
        ["cy@example.com", "Dan@example.com"]
    );
    let last = page("5", "2");
    assert_eq!(last["itemsPerPage"], 1);
    assert_eq!(field_of(&last, "userName"), ["eve@example.com"]);

    let only_total = gw.list("/Users", &[("count", "0")]);
    assert_eq!(only_total["totalResults"], 5);
    assert_eq!(only_total["itemsPerPage"], 0);
    assert!(
        only_total["Resources"].as_array().is_none_or(Vec::is_empty),
        "{only_total}"
    );

    let past = gw.list("/Users", &[("startIndex", "9"), ("count", "3")]);
    assert_eq!(past["totalResults"], 5);
    assert_eq!(past["itemsPerPage"], 0);
    assert!(past["Resources"].as_array().is_none_or(Vec::is_empty));

    // Unsorted, unfiltered paging still covers every user exactly once.
    let mut seen: Vec<String> = (1..=5)
        .step_by(2)
        .flat_map(|start| {
            let p = gw.list(
                "/Users",
                &[("startIndex", &start.to_string()), ("count", "2")],
            );
            assert_eq!(p["totalResults"], 5);
            field_of(&p, "id")
        })
        .collect();
    seen.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(seen, want);

    // A filtered page: the total counts matches, not the page.
    let filtered = gw.list(
        "/Users",
        &[("filter", "userName co \"n@\""), ("count", "1")],
    );
    assert_eq!(filtered["totalResults"], 2, "{filtered}");
    assert_eq!(filtered["itemsPerPage"], 1);
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// `attributes` returns `id`, `schemas` and the named attributes only (sub-attributes
/// included); `excludedAttributes` drops the named ones, never `id` or `schemas`; both apply
/// to lists, GET, POST, PUT and PATCH; a password is never returned.
#[test]
fn attributes_and_excluded_attributes_select_what_every_answer_returns() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["password"] = json!("t0p-Secret");
    body["displayName"] = json!("Ann");
    let id = id_of(&create(&gw, "/Users", &body));
    let one = |params: &[(&str, &str)]| gw.list("/Users", params)["Resources"][0].clone();

    let only_name = one(&[("attributes", "userName")]);
    assert_eq!(keys(&only_name), ["id", "schemas", "userName"]);
    assert_eq!(only_name["schemas"], json!([USER_SCHEMA]));

    let given = one(&[("attributes", "name.givenName")]);
    assert_eq!(keys(&given), ["id", "name", "schemas"]);
    assert_eq!(given["name"], json!({"givenName": "Given"}));

    let two = one(&[("attributes", "userName,emails.value")]);
    assert_eq!(keys(&two), ["emails", "id", "schemas", "userName"]);
    assert_eq!(two["emails"], json!([{"value": "ann@example.com"}]));

    let without = one(&[("excludedAttributes", "emails,name,meta")]);
    assert!(without.get("emails").is_none() && without.get("name").is_none());
    assert!(without.get("meta").is_none(), "{without}");
    assert_eq!(without["userName"], "ann@example.com");
    assert_eq!(without["displayName"], "Ann");
    assert_eq!(without["id"], id.as_str());
    let always = one(&[("excludedAttributes", "id,schemas,userName")]);
    assert_eq!(always["id"], id.as_str());
    assert_eq!(always["schemas"], json!([USER_SCHEMA]));
    assert!(always.get("userName").is_none());

    // The same parameters on a single GET.
    let got = gw.fetch(&format!("/Users/{id}?attributes=userName"));
    assert_eq!(keys(&got), ["id", "schemas", "userName"]);
    let got = gw.fetch(&format!("/Users/{id}?excludedAttributes=emails"));
    assert!(got.get("emails").is_none() && got.get("userName").is_some());

    // And on the responses of POST, PUT and PATCH; `Location` stays even without `meta`.
    let r = gw.post(
        "/Users?excludedAttributes=meta,name",
        &user("bo@example.com"),
    );
    let location = header(&r, "location").expect("Location header");
    let posted = expect(r, 201);
    assert!(location.ends_with(&format!("/Users/{}", id_of(&posted))));
    assert!(posted.get("meta").is_none() && posted.get("name").is_none());
    assert_eq!(posted["userName"], "bo@example.com");
    let put = expect(
        gw.put(&format!("/Users/{id}?attributes=displayName"), &body),
        200,
    );
    assert_eq!(keys(&put), ["displayName", "id", "schemas"]);
    let patched = expect(
        gw.patch_ops(
            &format!("/Users/{id}?attributes=userName"),
            json!([{"op": "replace", "path": "displayName", "value": "A"}]),
        ),
        200,
    );
    assert_eq!(keys(&patched), ["id", "schemas", "userName"]);

    // A password is never returned, even when asked for.
    for got in [
        gw.fetch(&format!("/Users/{id}")),
        gw.fetch(&format!("/Users/{id}?attributes=password")),
        one(&[]),
        one(&[("attributes", "password,userName")]),
    ] {
        assert!(got.get("password").is_none(), "{got}");
    }
}

/// A SearchRequest body of the given fields.
fn search_body(fields: Value) -> Value {
    let mut body = json!({"schemas": [SEARCH_REQUEST]});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    body
}

/// `POST /Users/.search` and `POST /Groups/.search` take filter, sort, paging and attribute
/// selection from the body; `POST /.search` searches both resource types.
#[test]
fn post_search_takes_the_query_from_the_body_on_each_endpoint_and_at_the_root() {
    let gw = Gateway::start();
    let ids = seed(&gw, &PEOPLE[..3]);
    create(&gw, "/Groups", &group("eve's team", &[&ids[2]]));
    create(&gw, "/Groups", &group("Others", &[]));

    let found = expect(
        gw.post(
            "/Users/.search",
            &search_body(json!({
                "filter": "userName co \"e\"",
                "sortBy": "userName",
                "sortOrder": "descending",
                "startIndex": 1,
                "count": 2,
                "attributes": ["userName"],
            })),
        ),
        200,
    );
    assert_eq!(found["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(found["totalResults"], 3);
    assert_eq!(found["itemsPerPage"], 2);
    assert_eq!(
        field_of(&found, "userName"),
        ["eve@example.com", "cy@example.com"]
    );
    assert!(found["Resources"][0].get("emails").is_none());

    let groups = expect(
        gw.post(
            "/Groups/.search",
            &search_body(json!({"filter": "displayName sw \"eve\""})),
        ),
        200,
    );
    assert_eq!(groups["totalResults"], 1);
    assert_eq!(field_of(&groups, "displayName"), ["eve's team"]);

    let all = expect(gw.post("/.search", &search_body(json!({}))), 200);
    assert_eq!(all["totalResults"], 5, "{all}");
    let types: Vec<&str> = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types.iter().filter(|t| **t == "User").count(), 3);
    assert_eq!(types.iter().filter(|t| **t == "Group").count(), 2);

    // A root filter on an attribute both types have.
    let both = expect(
        gw.post(
            "/.search",
            &search_body(json!({"filter": "meta.created pr", "count": 4})),
        ),
        200,
    );
    assert_eq!(both["totalResults"], 5);
    assert_eq!(both["itemsPerPage"], 4);
}

/// Unknown query parameters (Entra ID's `aadOptscim062020`) are ignored, on lists and on
/// single resources.
#[test]
fn unknown_query_parameters_are_ignored() {
    let gw = Gateway::start();
    let id = seed(&gw, &PEOPLE[..2])[0].clone();
    let list = gw.list(
        "/Users",
        &[
            ("aadOptscim062020", ""),
            ("filter", "userName eq \"cy@example.com\""),
            ("somethingElse", "1"),
        ],
    );
    assert_eq!(field_of(&list, "userName"), ["cy@example.com"]);
    let got = gw.fetch(&format!("/Users/{id}?aadOptscim062020"));
    assert_eq!(got["userName"], "cy@example.com");
    let all = expect(gw.get("/Users?aadOptscim062020"), 200);
    assert_eq!(all["totalResults"], 2);
}

/// RFC 7644 section 3.4.2.3: a multi-valued `sortBy` attribute sorts by its primary value if
/// any, otherwise by its first value.
#[test]
fn sort_by_a_multi_valued_attribute_uses_the_primary_value() {
    let gw = Gateway::start();
    let with_emails = |name: &str, emails: Value| {
        let mut body = user(name);
        body["emails"] = emails;
        create(&gw, "/Users", &body);
    };
    with_emails(
        "primary-aa@example.com",
        json!([{"value": "zz@x.org", "type": "home"},
               {"value": "aa@x.org", "type": "work", "primary": true}]),
    );
    with_emails(
        "first-mm@example.com",
        json!([{"value": "mm@x.org", "type": "home"}, {"value": "ab@x.org", "type": "work"}]),
    );
    with_emails("only-bb@example.com", json!([{"value": "bb@x.org"}]));
    let list = gw.list("/Users", &[("sortBy", "emails.value")]);
    assert_eq!(
        field_of(&list, "userName"),
        [
            "primary-aa@example.com",
            "only-bb@example.com",
            "first-mm@example.com"
        ]
    );
}

/// An RFC 3339 UTC timestamp as (whole seconds, milliseconds), ordered chronologically.
fn instant(stamp: &str) -> (String, u32) {
    let body = stamp
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("not UTC: {stamp}"));
    let (seconds, fraction) = body.split_once('.').unwrap_or((body, ""));
    let ms = format!("{fraction:0<3}")[..3]
        .parse()
        .unwrap_or_else(|_| panic!("bad fraction in {stamp}"));
    (seconds.to_owned(), ms)
}

/// `sortBy=meta.created` sorts chronologically (RFC 7644 section 3.4.2.3: "according to the
/// attribute type"). Timestamps drop trailing zeros (`…10.5Z` is 10.500 s and sorts after
/// `…10.512Z` as text), so users are created until two of them order differently as text and
/// as instants (the test fails if none do within 1,000), then both sort orders are checked,
/// and the two that differ come in chronological order.
#[test]
fn sort_by_meta_created_is_chronological() {
    let gw = Gateway::start();
    let mut stamps: Vec<String> = Vec::new();
    let mut pair = None;
    for i in 0..1000 {
        let created = create(&gw, "/Users", &user(&format!("u{i}@example.com")));
        let stamp = created["meta"]["created"].as_str().unwrap().to_owned();
        pair = stamps
            .iter()
            .find(|old| (instant(old) < instant(&stamp)) != (old.as_str() < stamp.as_str()))
            .map(|old| (old.clone(), stamp.clone()));
        stamps.push(stamp);
        if pair.is_some() {
            break;
        }
    }
    let (earlier, later) = pair.unwrap_or_else(|| {
        panic!(
            "no two of {} creation times order differently as text and as instants: {stamps:?}",
            stamps.len()
        )
    });
    assert!(
        instant(&earlier) < instant(&later) && earlier > later,
        "{earlier} is earlier but sorts after {later} as text"
    );
    let count = stamps.len().to_string();
    let sorted = |order: &str| -> Vec<(String, u32)> {
        let list = gw.list(
            "/Users",
            &[
                ("sortBy", "meta.created"),
                ("sortOrder", order),
                ("count", &count),
            ],
        );
        assert_eq!(list["itemsPerPage"], stamps.len());
        list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| instant(r["meta"]["created"].as_str().unwrap()))
            .collect()
    };
    let ascending = sorted("ascending");
    assert!(ascending.is_sorted(), "{ascending:?}");
    let at = |stamp: &str| ascending.iter().position(|i| *i == instant(stamp));
    assert!(
        at(&earlier) < at(&later),
        "{earlier} comes before {later}: {ascending:?}"
    );
    let descending = sorted("descending");
    assert!(descending.is_sorted_by(|a, b| a >= b), "{descending:?}");
}
