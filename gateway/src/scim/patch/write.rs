//! `add` and `replace`: writing values into single- and multi-valued attributes, synthesizing
//! the element a filtered write did not find, and keeping one `primary` value.

use serde_json::{Map, Value};

use crate::scim::attr::{AttrInfo, AttrPath};
use crate::scim::filter::{CompareOp, Filter, Literal};

use super::error::{PatchError, invalid_path, unknown_attr};
use super::json::{
    get_ci, get_ci_mut, remove_ci, set_ci, slot_mut, store_elements, str_eq_ci, take_elements,
};
use super::request::parse_path;
use super::target::{Target, container_mut, extension_urn};
use super::{OpKind, PatchPath};

/// `add`/`replace` without a path: each member of the `value` object is written as if it were
/// the path. Keys may be plain, dotted (`name.givenName`), URN-qualified or an extension URN
/// whose value is an object of that extension's attributes (Entra sends all of these).
pub(super) fn write_object(
    resource: &mut Value,
    kind: OpKind,
    value: &Value,
    info: &dyn AttrInfo,
) -> Result<(), PatchError> {
    let attrs = value.as_object().ok_or_else(|| {
        PatchError::InvalidValue("without a `path`, `value` must be an object of attributes".into())
    })?;
    attrs
        .iter()
        .try_for_each(|(key, value)| write(resource, kind, &key_path(key)?, value.clone(), info))
}

/// Parses an attribute name used as an object key (no filters allowed).
fn key_path(key: &str) -> Result<PatchPath, PatchError> {
    let path = parse_path(key)?;
    if path.filter.is_some() {
        return Err(invalid_path(format!("`{key}` is not an attribute name")));
    }
    Ok(path)
}

/// `add`/`replace` at `path`; a bare extension URN path takes an object of that extension's
/// attributes.
pub(super) fn write(
    resource: &mut Value,
    kind: OpKind,
    path: &PatchPath,
    value: Value,
    info: &dyn AttrInfo,
) -> Result<(), PatchError> {
    match extension_urn(path, info) {
        Some(urn) => write_extension(resource, kind, &urn, value, info),
        None => write_attr(resource, kind, &Target::resolve(path, info)?, value, info),
    }
}

/// Writes each member of an extension object as `urn:member`. A `schemas` member naming the
/// extension (python SCIM clients serialize the extension as a resource of its own) says
/// nothing the path does not, and is skipped; one that does not name it is refused.
fn write_extension(
    resource: &mut Value,
    kind: OpKind,
    urn: &str,
    value: Value,
    info: &dyn AttrInfo,
) -> Result<(), PatchError> {
    let Value::Object(attrs) = value else {
        return Err(unknown_attr(urn));
    };
    attrs.into_iter().try_for_each(|(name, value)| {
        if name.eq_ignore_ascii_case("schemas") {
            let names_it = value
                .as_array()
                .is_some_and(|schemas| schemas.iter().any(|s| str_eq_ci(s, urn)));
            return if names_it {
                Ok(())
            } else {
                Err(PatchError::InvalidValue(format!(
                    "`schemas` in the value for `{urn}` must list `{urn}`"
                )))
            };
        }
        let path = key_path(&format!("{urn}:{name}"))?;
        write_attr(resource, kind, &Target::resolve(&path, info)?, value, info)
    })
}

/// `add`/`replace` of one resolved attribute. A `null` value unassigns the target. Writing a
/// read-only attribute is allowed only when it does not change it (Okta sends the group `id`
/// along with a rename).
fn write_attr(
    resource: &mut Value,
    kind: OpKind,
    target: &Target<'_>,
    value: Value,
    info: &dyn AttrInfo,
) -> Result<(), PatchError> {
    if target.read_only {
        return match target.current(resource) {
            Some(current) if target.filter.is_none() && *current == value => Ok(()),
            _ => Err(target.read_only_error()),
        };
    }
    if value.is_null() {
        target.remove(resource, None, info);
        return Ok(());
    }
    let value = target.wrap_scalars(value, info);
    let map = container_mut(resource, target.attr.urn.as_deref(), true)
        .ok_or_else(|| PatchError::InvalidValue("the resource is not a JSON object".into()))?;
    if target.multi {
        return write_elements(map, kind, target, value, info);
    }
    put(
        slot_mut(map, &target.attr.name),
        target.sub,
        value,
        target.complex,
    );
    Ok(())
}

impl Target<'_> {
    /// Entra sends a complex attribute with a `value` sub-attribute as a bare scalar (the
    /// enterprise `manager` as its id); wraps such scalars (or array items) as `{"value": …}`.
    fn wrap_scalars(&self, value: Value, info: &dyn AttrInfo) -> Value {
        let value_sub = AttrPath {
            sub: Some("value".into()),
            ..self.attr.clone()
        };
        if self.sub.is_some() || !self.complex || info.attr_type(&value_sub).is_none() {
            return value;
        }
        let wrap = |v: Value| match v {
            Value::Object(_) | Value::Array(_) | Value::Null => v,
            scalar => Value::Object(Map::from_iter([("value".to_owned(), scalar)])),
        };
        match value {
            Value::Array(items) if self.multi => {
                Value::Array(items.into_iter().map(wrap).collect())
            }
            other => wrap(other),
        }
    }
}

/// `add`/`replace` on a multi-valued attribute, then keeps at most one `primary` value.
fn write_elements(
    map: &mut Map<String, Value>,
    kind: OpKind,
    target: &Target<'_>,
    value: Value,
    info: &dyn AttrInfo,
) -> Result<(), PatchError> {
    let mut elements = take_elements(map, &target.attr.name);
    let touched = if target.filter.is_none() && target.sub.is_none() {
        write_whole(&mut elements, kind, value)
    } else {
        write_selected(&mut elements, kind, target, value, info)?
    };
    fix_primary(&mut elements, &touched);
    store_elements(map, &target.attr.name, elements);
    Ok(())
}

/// Writes a whole multi-valued attribute: `add` appends the values not already present (equal
/// JSON), `replace` swaps the whole list. Returns the indices written. Presence is looked up in
/// a set of the elements' canonical texts, so an `add` of n values to m costs n + m, not n × m
/// (a 1 MiB request holds some 58,000 small values).
fn write_whole(elements: &mut Vec<Value>, kind: OpKind, value: Value) -> Vec<usize> {
    let items = match value {
        Value::Array(items) => items,
        item => vec![item],
    };
    if kind == OpKind::Replace {
        elements.clear();
    }
    let mut present: std::collections::HashSet<String> = elements.iter().map(canonical).collect();
    let mut touched = Vec::new();
    for item in items.into_iter().filter(|item| !item.is_null()) {
        if present.insert(canonical(&item)) {
            touched.push(elements.len());
            elements.push(item);
        }
    }
    touched
}

/// JSON text of `v` with every object's keys sorted: equal values (as `Value`'s `==` sees them,
/// whatever their key order) have equal texts.
fn canonical(v: &Value) -> String {
    let mut v = v.clone();
    v.sort_all_objects();
    v.to_string()
}

/// Writes the elements the target selects (by filter, or all of them for `attr.sub`): `.sub` is
/// set on each; without `.sub`, `add` merges `value` into each and `replace` substitutes it.
/// When nothing matches, appends an element synthesized from the filter (see [`synthesize`]).
/// Returns the indices written.
fn write_selected(
    elements: &mut Vec<Value>,
    kind: OpKind,
    target: &Target<'_>,
    value: Value,
    info: &dyn AttrInfo,
) -> Result<Vec<usize>, PatchError> {
    let mut touched = Vec::new();
    for (i, element) in elements.iter_mut().enumerate() {
        if target.selects(element, info) {
            put(element, target.sub, value.clone(), kind == OpKind::Add);
            touched.push(i);
        }
    }
    if touched.is_empty() {
        touched.push(elements.len());
        elements.push(synthesize(kind, target, value)?);
    }
    Ok(touched)
}

/// The element to append when a filtered write matched nothing: the filter's `eq` pairs plus
/// the value (Entra adds or replaces `emails[type eq "work"].value` on users without a work
/// email). Allowed for `add`, and for `replace` of a `.sub`; needs a filter that is a conjunction
/// of `eq` comparisons. Anything else is `noTarget`.
fn synthesize(kind: OpKind, target: &Target<'_>, value: Value) -> Result<Value, PatchError> {
    let seed = match target.filter {
        _ if kind == OpKind::Replace && target.sub.is_none() => None,
        None => Some(Map::new()),
        Some(filter) => eq_pairs(filter),
    };
    let seed = seed.ok_or_else(|| {
        PatchError::NoTarget(format!(
            "no value of `{}` matches `{}`",
            target.attr, target.path
        ))
    })?;
    let mut element = Value::Object(seed);
    put(&mut element, target.sub, value, true);
    Ok(element)
}

/// The attribute/value pairs of a filter made only of `eq` comparisons joined by `and`; `None`
/// for any other filter, or for contradictory pairs.
fn eq_pairs(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.sub.is_none() => {
            let value = literal_value(value)?;
            Some(Map::from_iter([(path.name.clone(), value)]))
        }
        Filter::And(left, right) => {
            let mut pairs = eq_pairs(left)?;
            for (name, value) in eq_pairs(right)? {
                match get_ci(&pairs, &name) {
                    Some(existing) if *existing != value => return None,
                    Some(_) => {}
                    None => {
                        pairs.insert(name, value);
                    }
                }
            }
            Some(pairs)
        }
        _ => None,
    }
}

/// The JSON value of a filter literal; `None` for `null`, which cannot seed an element.
fn literal_value(literal: &Literal) -> Option<Value> {
    match literal {
        Literal::Null => None,
        Literal::Bool(b) => Some(Value::Bool(*b)),
        Literal::Number(n) => Some(Value::Number(n.clone())),
        Literal::String(s) => Some(Value::String(s.clone())),
    }
}

/// Writes `value` into `slot`: into its sub-attribute `sub` when given; otherwise merged member
/// by member (`null` members unassign) when `merge` is set and both are objects; otherwise
/// replacing the slot.
fn put(slot: &mut Value, sub: Option<&str>, value: Value, merge: bool) {
    match (sub, slot, value) {
        (Some(sub), Value::Object(map), value) => set_ci(map, sub, value),
        (Some(sub), slot, value) => {
            *slot = Value::Object(Map::from_iter([(sub.to_owned(), value)]))
        }
        (None, Value::Object(map), Value::Object(members)) if merge => {
            for (name, value) in members {
                if value.is_null() {
                    remove_ci(map, &name);
                } else {
                    set_ci(map, &name, value);
                }
            }
        }
        (None, slot, value) => *slot = value,
    }
}

/// After a write, keeps `primary` true on at most one element (RFC 7643 section 2.4): the last
/// written element that is primary wins and every other primary element gets `false`.
fn fix_primary(elements: &mut [Value], touched: &[usize]) {
    let Some(&winner) = touched
        .iter()
        .rev()
        .find(|&&i| elements.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (_, element) in elements
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| *i != winner)
    {
        if let Some(primary) = element
            .as_object_mut()
            .and_then(|m| get_ci_mut(m, "primary"))
            && is_true(primary)
        {
            *primary = Value::Bool(false);
        }
    }
}

/// True when an element's `primary` is `true` (or the string `"True"`, any case).
fn is_primary(element: &Value) -> bool {
    element
        .as_object()
        .and_then(|m| get_ci(m, "primary"))
        .is_some_and(is_true)
}

/// `true`, or a string spelling it in any case.
fn is_true(value: &Value) -> bool {
    value.as_bool() == Some(true)
        || value
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{OpKind, canonical, write_whole};
    use crate::scim::patch::tests::{CORE, ENTERPRISE, group, kind, patch, user};

    #[test]
    fn pathless_value_must_be_an_object() {
        let ops = json!([{ "op": "add", "value": "x" }]);
        assert_eq!(kind(user(), ops), "invalidValue");
        let ops = json!([{ "op": "replace", "value": [{ "active": false }] }]);
        assert_eq!(kind(user(), ops), "invalidValue");
    }

    #[test]
    fn okta_rename_carrying_the_unchanged_id_is_accepted() {
        let ops = json!([{ "op": "replace", "value": { "id": "g1", "displayName": "Ops" } }]);
        let done = patch(group(), ops).unwrap();
        assert_eq!(done["id"], "g1");
        assert_eq!(done["displayName"], "Ops");
    }

    // ----- add -----

    #[test]
    fn add_sets_single_valued_attributes() {
        let ops = json!([
            { "op": "Add", "path": "displayName", "value": "Babs" },
            { "op": "add", "path": "name.familyName", "value": "J" }
        ]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["displayName"], "Babs");
        assert_eq!(
            done["name"],
            json!({ "givenName": "Barbara", "familyName": "J" })
        );
    }

    #[test]
    fn add_merges_complex_sub_attributes() {
        let ops = json!([{ "op": "add", "path": "name", "value": { "givenName": "Babs" } }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(
            done["name"],
            json!({ "givenName": "Babs", "familyName": "Jensen" })
        );
    }

    #[test]
    fn add_appends_values_without_duplicates() {
        let ops = json!([{
            "op": "add",
            "path": "members",
            "value": [{ "value": "b" }, { "value": "d" }, { "value": "d" }]
        }]);
        let done = patch(group(), ops).unwrap();
        let ids: Vec<_> = done["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["value"])
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
    }

    #[test]
    fn an_added_value_is_a_duplicate_whatever_its_key_order() {
        let mut elements = vec![json!({"type": "work", "value": "a@x.org"})];
        let value = json!([{"value": "a@x.org", "type": "work"}, {"value": "b@x.org"}, 1, 1.0]);
        let touched = write_whole(&mut elements, OpKind::Add, value);
        assert_eq!(touched, [1, 2, 3]);
        assert_eq!(
            elements[1..],
            [json!({"value": "b@x.org"}), json!(1), json!(1.0)]
        );
        assert_eq!(
            canonical(&json!({"b": [{"y": 1, "x": 2}], "a": null})),
            r#"{"a":null,"b":[{"x":2,"y":1}]}"#
        );
    }

    #[test]
    fn add_accepts_a_single_value_for_a_multi_valued_attribute() {
        let ops = json!([{ "op": "add", "path": "phoneNumbers", "value": { "value": "555" } }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["phoneNumbers"], json!([{ "value": "555" }]));
    }

    #[test]
    fn add_filtered_sub_attribute_creates_the_missing_element() {
        // Entra: user without a work email.
        let ops =
            json!([{ "op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@x" }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["emails"][1], json!({ "type": "work", "value": "w@x" }));
        assert_eq!(done["emails"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn add_filtered_sub_attribute_sets_it_on_matching_elements() {
        let ops =
            json!([{ "op": "add", "path": "emails[type eq \"home\"].value", "value": "n@x" }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(
            done["emails"],
            json!([{ "value": "n@x", "type": "home", "primary": true }])
        );
    }

    #[test]
    fn add_filtered_without_eq_filter_and_no_match_is_no_target() {
        let ops = json!([{ "op": "add", "path": "emails[value co \"zz\"].type", "value": "x" }]);
        assert_eq!(kind(user(), ops), "noTarget");
        let ops = json!([{
            "op": "add",
            "path": "emails[type eq \"a\" or type eq \"b\"].value",
            "value": "x"
        }]);
        assert_eq!(kind(user(), ops), "noTarget");
    }

    #[test]
    fn add_without_path_takes_dotted_qualified_and_extension_keys() {
        let ops = json!([{
            "op": "add",
            "value": {
                "displayName": "Babs",
                "name.givenName": "B",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "department": "R&D",
                    "manager": { "value": "m1" }
                },
                "urn:ietf:params:scim:schemas:core:2.0:User:externalId": "ext"
            }
        }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["displayName"], "Babs");
        assert_eq!(done["name"]["givenName"], "B");
        assert_eq!(done["externalId"], "ext");
        assert_eq!(
            done[ENTERPRISE],
            json!({ "employeeNumber": "42", "department": "R&D", "manager": { "value": "m1" } })
        );
        assert_eq!(done["schemas"], json!([CORE, ENTERPRISE]));
    }

    #[test]
    fn add_with_extension_urn_path_writes_its_attributes() {
        let ops = json!([{ "op": "add", "path": ENTERPRISE, "value": { "department": "Ops" } }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done[ENTERPRISE], json!({ "department": "Ops" }));
    }

    #[test]
    fn an_extension_value_carrying_its_own_schemas_writes_its_attributes() {
        for op in ["add", "replace"] {
            let value = json!({ "schemas": [ENTERPRISE], "department": "Ops" });
            let ops = json!([{ "op": op, "path": ENTERPRISE, "value": value }]);
            let done = patch(user(), ops).unwrap();
            assert_eq!(done[ENTERPRISE], json!({ "department": "Ops" }), "{op}");
            assert_eq!(done["schemas"], json!([CORE, ENTERPRISE]), "{op}");
        }
        let other = json!({ "schemas": [CORE], "department": "Ops" });
        let ops = json!([{ "op": "add", "path": ENTERPRISE, "value": other }]);
        assert!(matches!(
            patch(user(), ops),
            Err(super::PatchError::InvalidValue(_))
        ));
    }

    #[test]
    fn entra_manager_id_string_is_wrapped_as_value() {
        let path = format!("{ENTERPRISE}:manager");
        let ops = json!([{ "op": "Add", "path": path, "value": "m7" }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done[ENTERPRISE]["manager"], json!({ "value": "m7" }));
    }

    // ----- replace -----

    #[test]
    fn replace_sets_single_valued_and_adds_missing_attributes() {
        let ops = json!([
            { "op": "replace", "path": "userName", "value": "babs" },
            { "op": "replace", "path": "displayName", "value": "Babs" }
        ]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["userName"], "babs");
        assert_eq!(done["displayName"], "Babs");
    }

    #[test]
    fn replace_merges_complex_sub_attributes() {
        let ops = json!([{ "op": "replace", "path": "name", "value": { "familyName": "J" } }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(
            done["name"],
            json!({ "givenName": "Barbara", "familyName": "J" })
        );
    }

    #[test]
    fn replace_swaps_a_whole_multi_valued_attribute() {
        let ops = json!([{ "op": "replace", "path": "members", "value": [{ "value": "z" }] }]);
        let done = patch(group(), ops).unwrap();
        assert_eq!(done["members"], json!([{ "value": "z" }]));
    }

    #[test]
    fn replace_filtered_element_replaces_it_whole() {
        let ops = json!([{
            "op": "replace",
            "path": "emails[type eq \"home\"]",
            "value": { "value": "n@x", "type": "other" }
        }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["emails"], json!([{ "value": "n@x", "type": "other" }]));
    }

    #[test]
    fn replace_filtered_sub_attribute() {
        let ops =
            json!([{ "op": "replace", "path": "emails[type eq \"home\"].value", "value": "n@x" }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["emails"][0]["value"], "n@x");
    }

    #[test]
    fn entra_replace_of_missing_work_email_creates_it() {
        let ops =
            json!([{ "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w@x" }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["emails"][1], json!({ "type": "work", "value": "w@x" }));
    }

    #[test]
    fn replace_filtered_element_without_match_is_no_target() {
        let ops = json!([{ "op": "replace", "path": "emails[type eq \"work\"]", "value": { "value": "w@x" } }]);
        assert_eq!(kind(user(), ops), "noTarget");
        let ops =
            json!([{ "op": "replace", "path": "emails[value sw \"zz\"].value", "value": "w@x" }]);
        assert_eq!(kind(user(), ops), "noTarget");
    }

    #[test]
    fn entra_replace_without_path_takes_dotted_qualified_and_extension_keys() {
        let ops = json!([{
            "op": "Replace",
            "value": {
                "name.familyName": "J",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "7" },
                "active": "True"
            }
        }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["name"]["familyName"], "J");
        assert_eq!(
            done[ENTERPRISE],
            json!({ "department": "Ops", "employeeNumber": "7" })
        );
        assert_eq!(done["active"], "True");
    }

    #[test]
    fn okta_deactivation() {
        let ops = json!([{ "op": "replace", "value": { "active": false } }]);
        assert_eq!(patch(user(), ops).unwrap()["active"], false);
    }

    #[test]
    fn boolean_strings_are_left_for_the_schema_layer() {
        let ops = json!([{ "op": "Replace", "path": "active", "value": "False" }]);
        assert_eq!(patch(user(), ops).unwrap()["active"], "False");
    }

    #[test]
    fn replace_with_null_removes() {
        let ops = json!([
            { "op": "replace", "path": "name.givenName", "value": null },
            { "op": "replace", "path": "displayName", "value": null },
            { "op": "replace", "value": { "emails": null } }
        ]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["name"], json!({ "familyName": "Jensen" }));
        let obj = done.as_object().unwrap();
        assert!(!obj.contains_key("displayName") && !obj.contains_key("emails"));
    }

    // ----- primary -----

    #[test]
    fn adding_a_primary_value_clears_the_other_primary() {
        let ops = json!([{
            "op": "add",
            "path": "emails",
            "value": [{ "value": "w@x", "type": "work", "primary": true }]
        }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["emails"][0]["primary"], false);
        assert_eq!(done["emails"][1]["primary"], true);
    }

    #[test]
    fn setting_primary_through_a_filter_clears_the_others() {
        let mut resource = user();
        resource["emails"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "value": "w@x", "type": "work" }));
        let ops = json!([{ "op": "replace", "path": "emails[value eq \"w@x\"].primary", "value": "True" }]);
        let done = patch(resource, ops).unwrap();
        assert_eq!(done["emails"][0]["primary"], false);
        assert_eq!(done["emails"][1]["primary"], "True");
    }

    #[test]
    fn replacing_with_several_primaries_keeps_the_last() {
        let ops = json!([{
            "op": "replace",
            "path": "emails",
            "value": [{ "value": "a", "primary": true }, { "value": "b", "primary": true }]
        }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done["emails"][0]["primary"], false);
        assert_eq!(done["emails"][1]["primary"], true);
    }
}
