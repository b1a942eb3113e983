//! Case-insensitive access to the members of JSON objects (names match in any case; writes go
//! into the key that already exists), and the list a multi-valued attribute is stored as.

use serde_json::{Map, Value};

/// Takes the values of a multi-valued attribute out of `map` (a lone value counts as one).
pub(super) fn take_elements(map: &mut Map<String, Value>, name: &str) -> Vec<Value> {
    match get_ci_mut(map, name).map(Value::take) {
        Some(Value::Array(elements)) => elements,
        None | Some(Value::Null) => Vec::new(),
        Some(other) => vec![other],
    }
}

/// Puts the values of a multi-valued attribute back; an empty list unassigns it.
pub(super) fn store_elements(map: &mut Map<String, Value>, name: &str, elements: Vec<Value>) {
    if elements.is_empty() {
        remove_ci(map, name);
    } else {
        set_ci(map, name, Value::Array(elements));
    }
}

/// Removes `name` when it holds an empty object.
pub(super) fn remove_if_empty(map: &mut Map<String, Value>, name: &str) {
    if get_ci(map, name)
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        remove_ci(map, name);
    }
}

/// The member named `name`, case-insensitively.
pub(super) fn get_ci<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    map.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The member named `name`, case-insensitively, for writing.
pub(super) fn get_ci_mut<'m>(map: &'m mut Map<String, Value>, name: &str) -> Option<&'m mut Value> {
    map.iter_mut()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The member named `name` (case-insensitively), inserted as `null` when missing.
pub(super) fn slot_mut<'m>(map: &'m mut Map<String, Value>, name: &str) -> &'m mut Value {
    let key = map
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned());
    map.entry(key).or_insert(Value::Null)
}

/// Sets `name`, writing into an existing key of any case.
pub(super) fn set_ci(map: &mut Map<String, Value>, name: &str, value: Value) {
    *slot_mut(map, name) = value;
}

/// Removes `name` (case-insensitively), keeping the order of the other members.
pub(super) fn remove_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = map
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))?
        .clone();
    map.shift_remove(&key)
}

/// Whether `value` is a string equal to `text`, case-insensitively.
pub(super) fn str_eq_ci(value: &Value, text: &str) -> bool {
    value.as_str().is_some_and(|s| s.eq_ignore_ascii_case(text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::scim::patch::tests::{patch, user};

    #[test]
    fn writes_into_existing_keys_of_any_case() {
        let ops = json!([
            { "op": "replace", "path": "USERNAME", "value": "babs" },
            { "op": "add", "path": "Emails", "value": [{ "value": "w@x" }] },
            { "op": "replace", "path": "Name.GivenName", "value": "B" }
        ]);
        let done = patch(user(), ops).unwrap();
        let obj = done.as_object().unwrap();
        assert_eq!(done["userName"], "babs");
        assert!(!obj.contains_key("USERNAME") && !obj.contains_key("Emails"));
        assert_eq!(done["emails"].as_array().unwrap().len(), 2);
        assert_eq!(
            done["name"],
            json!({ "givenName": "B", "familyName": "Jensen" })
        );
    }
}
