//! SCIM API messages (RFC 7644 section 3.1): request bodies that are not resources, such as a
//! `SearchRequest` or a `BulkRequest`, are JSON objects that list their message schema.

use serde_json::{Map, Value};

use super::ScimError;

/// The body as a message of schema `urn` (`400 invalidSyntax` if it is not a JSON object or
/// does not list the schema). `name` names the message (`SearchRequest`), `what` the request in
/// the error (`a search body`).
pub fn message_object<'a>(
    body: &'a Value,
    urn: &str,
    name: &str,
    what: &str,
) -> Result<&'a Map<String, Value>, ScimError> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::bad_request("invalidSyntax", format!("a {name} must be a JSON object"))
    })?;
    let listed = field(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
        });
    if !listed {
        return Err(ScimError::bad_request(
            "invalidSyntax",
            format!("{what} must list the schema {urn}"),
        ));
    }
    Ok(obj)
}

/// A member of a message, its name matched case-insensitively (attribute names are).
pub fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}
