//! `remove`: unassigning attributes, deleting values of multi-valued attributes, and dropping
//! what a removal leaves empty.

use serde_json::Value;

use crate::scim::attr::AttrInfo;

use super::PatchPath;
use super::error::{PatchError, unknown_attr};
use super::json::{get_ci, get_ci_mut, remove_ci, remove_if_empty, store_elements, take_elements};
use super::target::{Target, container_mut, extension_of, extension_urn, lists_schema};

/// `remove` at `path`. `listed` is the operation's `value`: for a multi-valued attribute without
/// a filter, Entra lists the values to delete (`members` with `[{"value": "id"}]`), and only
/// those go. Removing something absent, or a filter matching nothing, succeeds silently (clients
/// retry removes).
pub(super) fn remove(
    resource: &mut Value,
    path: &PatchPath,
    listed: Option<&Value>,
    info: &dyn AttrInfo,
) -> Result<(), PatchError> {
    if let Some(urn) = extension_urn(path, info) {
        return remove_extension(resource, &urn);
    }
    let target = Target::resolve(path, info)?;
    if target.read_only {
        return Err(target.read_only_error());
    }
    target.remove(resource, listed.filter(|v| !v.is_null()), info);
    Ok(())
}

impl Target<'_> {
    /// Removes what the target addresses; an emptied complex value, multi-valued attribute or
    /// extension object is removed as well.
    pub(super) fn remove(&self, resource: &mut Value, listed: Option<&Value>, info: &dyn AttrInfo) {
        let urn = self.attr.urn.as_deref();
        let name = self.attr.name.as_str();
        if let Some(map) = container_mut(resource, urn, false) {
            match (self.multi, self.sub) {
                (true, _) => {
                    let mut elements = take_elements(map, name);
                    remove_elements(&mut elements, self, listed, info);
                    store_elements(map, name, elements);
                }
                (false, Some(sub)) => {
                    if let Some(Value::Object(members)) = get_ci_mut(map, name) {
                        remove_ci(members, sub);
                    }
                    remove_if_empty(map, name);
                }
                (false, None) => {
                    remove_ci(map, name);
                }
            }
        }
        if let Some(root) = resource.as_object_mut()
            && let Some(urn) = extension_of(root, urn)
        {
            remove_if_empty(root, urn);
        }
    }
}

/// Removes a whole extension object (`path` is its URN). An extension the resource neither
/// carries nor lists in `schemas` is an unknown path.
fn remove_extension(resource: &mut Value, urn: &str) -> Result<(), PatchError> {
    let Some(root) = resource.as_object_mut() else {
        return Ok(());
    };
    if remove_ci(root, urn).is_some() || lists_schema(root, urn) {
        Ok(())
    } else {
        Err(unknown_attr(urn))
    }
}

/// Removes elements of a multi-valued attribute, or a sub-attribute from them, as `target` and
/// `listed` select; elements left empty go too.
fn remove_elements(
    elements: &mut Vec<Value>,
    target: &Target<'_>,
    listed: Option<&Value>,
    info: &dyn AttrInfo,
) {
    if let Some(sub) = target.sub {
        for element in elements.iter_mut() {
            if target.selects(element, info)
                && let Value::Object(members) = element
            {
                remove_ci(members, sub);
            }
        }
        elements.retain(|element| element.as_object().is_none_or(|m| !m.is_empty()));
    } else if target.filter.is_some() {
        elements.retain(|element| !target.selects(element, info));
    } else if let Some(listed) = listed {
        let listed = match listed {
            Value::Array(items) => items.as_slice(),
            item => std::slice::from_ref(item),
        };
        elements.retain(|element| !listed.iter().any(|item| same_value(element, item)));
    } else {
        elements.clear();
    }
}

/// Whether `element` is the value `item` names: equal JSON, or the same `value` sub-attribute
/// (compared exactly) when `item` is an object with `value` or a bare scalar.
fn same_value(element: &Value, item: &Value) -> bool {
    let element_value = element.as_object().and_then(|m| get_ci(m, "value"));
    let item_value = match item {
        Value::Object(members) => get_ci(members, "value"),
        scalar => Some(scalar),
    };
    element == item || (element_value.is_some() && element_value == item_value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::scim::patch::tests::{ENTERPRISE, group, patch, user};

    #[test]
    fn remove_attribute_and_sub_attribute() {
        let ops = json!([
            { "op": "remove", "path": "active" },
            { "op": "remove", "path": "name.familyName" },
            { "op": "remove", "path": "name.givenName" }
        ]);
        let done = patch(user(), ops).unwrap();
        let obj = done.as_object().unwrap();
        assert!(!obj.contains_key("active"));
        assert!(
            !obj.contains_key("name"),
            "an emptied complex value goes: {done}"
        );
    }

    #[test]
    fn remove_members_by_filter() {
        let ops = json!([{ "op": "Remove", "path": "members[value eq \"b\"]" }]);
        let done = patch(group(), ops).unwrap();
        assert_eq!(done["members"], json!([{ "value": "a" }, { "value": "c" }]));
    }

    #[test]
    fn removing_the_last_member_removes_the_attribute() {
        let ops = json!([{ "op": "remove", "path": "members[value eq \"a\" or value eq \"b\" or value eq \"c\"]" }]);
        let done = patch(group(), ops).unwrap();
        assert!(!done.as_object().unwrap().contains_key("members"));
    }

    #[test]
    fn remove_with_filter_matching_nothing_succeeds() {
        let ops = json!([{ "op": "remove", "path": "members[value eq \"zz\"]" }]);
        assert_eq!(patch(group(), ops).unwrap(), group());
        let ops = json!([{ "op": "remove", "path": "displayName" }, { "op": "remove", "path": "displayName" }]);
        assert!(patch(group(), ops).is_ok());
    }

    #[test]
    fn remove_filtered_sub_attribute() {
        let ops = json!([{ "op": "remove", "path": "emails[type eq \"home\"].primary" }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(
            done["emails"],
            json!([{ "value": "b@home.example", "type": "home" }])
        );
    }

    #[test]
    fn entra_remove_members_listed_in_value() {
        let ops = json!([{
            "op": "Remove",
            "path": "members",
            "value": [{ "value": "a" }, { "value": "C" }, { "value": "c" }]
        }]);
        let done = patch(group(), ops).unwrap();
        assert_eq!(
            done["members"],
            json!([{ "value": "b" }]),
            "matching is case-sensitive"
        );
    }

    #[test]
    fn remove_whole_multi_valued_attribute() {
        let ops = json!([{ "op": "remove", "path": "members" }]);
        assert!(
            !patch(group(), ops)
                .unwrap()
                .as_object()
                .unwrap()
                .contains_key("members")
        );
    }

    #[test]
    fn removing_the_last_extension_attribute_drops_the_extension_object() {
        let mut resource = user();
        resource[ENTERPRISE] = json!({ "department": "Ops", "employeeNumber": "1" });
        let ops = json!([
            { "op": "remove", "path": format!("{ENTERPRISE}:department") },
            { "op": "remove", "path": format!("{ENTERPRISE}:employeeNumber") }
        ]);
        let done = patch(resource.clone(), ops).unwrap();
        assert!(!done.as_object().unwrap().contains_key(ENTERPRISE));

        let ops = json!([{ "op": "remove", "path": ENTERPRISE }]);
        assert!(
            !patch(resource, ops)
                .unwrap()
                .as_object()
                .unwrap()
                .contains_key(ENTERPRISE)
        );
    }
}
