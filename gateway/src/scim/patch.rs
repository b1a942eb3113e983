//! SCIM PATCH (RFC 7644 section 3.5.2): parsing `PatchOp` request bodies and applying their
//! `add`, `remove` and `replace` operations to a resource.
//!
//! [`parse_request`] turns a body into [`PatchOp`]s whose paths are already parsed; [`apply`] runs
//! them in order on a plain JSON copy of the resource. The engine asks [`AttrInfo`] only what a
//! path means (defined? multi-valued? complex? readOnly?) and leaves type checks, `required`,
//! immutability and the `"True"`/`"False"` conversion to the schema layer, which validates the
//! result. Attribute names match case-insensitively and writes go into the key that already
//! exists. Extension attributes live under their schema URN key; any URN that does not start with
//! `urn:ietf:params:scim:schemas:core:` and is not the resource's first `schemas` entry is treated
//! as an extension. Value-path filters are parsed and evaluated by [`super::filter`]. Quirks of
//! real clients (Entra ID, Okta) are accepted wherever the intent is unambiguous; each is noted at
//! the function that handles it.

use std::fmt;

use serde_json::{Map, Value};

use super::attr::{AttrInfo, AttrPath, AttrType, Mutability};
use super::filter::{self, CompareOp, Filter, Literal};

/// The message schema URN a PATCH request body must list in `schemas`.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Prefix of the core schema URNs, whose attributes sit at the top level of a resource.
const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// One PATCH operation (RFC 7644 section 3.5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// What the operation does.
    pub op: OpKind,
    /// Where it does it; `None` targets the resource itself (`value` is then an object of
    /// attributes).
    pub path: Option<PatchPath>,
    /// The operation's `value` as sent: `None` when absent, `Some(Value::Null)` when `null`.
    pub value: Option<Value>,
}

/// The kind of a PATCH operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `add`: set single values, append to multi-valued attributes.
    Add,
    /// `remove`: unassign attributes or delete values of multi-valued attributes.
    Remove,
    /// `replace`: overwrite values.
    Replace,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        })
    }
}

/// A PATCH `path`: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`, any of them
/// URN-qualified. Defined and parsed next to the filter grammar it embeds; [`parse_path`] wraps
/// that parser with PATCH error kinds.
pub use super::filter::PatchPath;

/// Why a PATCH request was rejected. Every kind is answered with HTTP 400 and the `scimType`
/// from [`PatchError::scim_type`]; the message is meant for the response's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a well-formed PatchOp message (`invalidSyntax`).
    #[error("{0}")]
    InvalidSyntax(String),
    /// A path is malformed or names an attribute the schema does not define (`invalidPath`).
    #[error("{0}")]
    InvalidPath(String),
    /// The filter in a path does not parse (`invalidFilter`).
    #[error("{0}")]
    InvalidFilter(String),
    /// A value has the wrong shape for its operation (`invalidValue`).
    #[error("{0}")]
    InvalidValue(String),
    /// The operation has no target: `remove` without a path, or a filter that matched nothing
    /// where a match is required (`noTarget`).
    #[error("{0}")]
    NoTarget(String),
    /// The operation would modify a read-only attribute (`mutability`).
    #[error("{0}")]
    Mutability(String),
}

impl PatchError {
    /// The `scimType` of the error response (RFC 7644 section 3.12); the status is always 400.
    pub fn scim_type(&self) -> &'static str {
        match self {
            Self::InvalidSyntax(_) => "invalidSyntax",
            Self::InvalidPath(_) => "invalidPath",
            Self::InvalidFilter(_) => "invalidFilter",
            Self::InvalidValue(_) => "invalidValue",
            Self::NoTarget(_) => "noTarget",
            Self::Mutability(_) => "mutability",
        }
    }
}

/// Parses a PatchOp request body.
///
/// `schemas` must contain [`PATCH_OP_SCHEMA`] (compared case-insensitively) and `Operations`
/// (member names in any case) must be a non-empty array. Each operation's `op` is
/// case-insensitive (Entra sends `Add`, `Replace`, `Remove`) and its `path` is parsed with
/// [`parse_path`]; whether `value` fits the operation is checked by [`apply`].
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, PatchError> {
    let body = body
        .as_object()
        .ok_or_else(|| syntax("a PATCH request body must be a JSON object"))?;
    let is_patch_op = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| schemas.iter().any(|s| str_eq_ci(s, PATCH_OP_SCHEMA)));
    if !is_patch_op {
        return Err(syntax(format!(
            "`schemas` must contain `{PATCH_OP_SCHEMA}`"
        )));
    }
    get_ci(body, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| syntax("`Operations` must be a non-empty array"))?
        .iter()
        .map(parse_op)
        .collect()
}

/// Parses one element of `Operations`.
fn parse_op(raw: &Value) -> Result<PatchOp, PatchError> {
    let raw = raw
        .as_object()
        .ok_or_else(|| syntax("each operation must be a JSON object"))?;
    let op = match get_ci(raw, "op") {
        Some(Value::String(op)) => parse_kind(op)?,
        _ => return Err(syntax("each operation needs an `op` string")),
    };
    let path = match get_ci(raw, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => Some(parse_path(path)?),
        Some(_) => return Err(syntax("`path` must be a string")),
    };
    let value = get_ci(raw, "value").cloned();
    Ok(PatchOp { op, path, value })
}

/// Parses an `op` name, case-insensitively.
fn parse_kind(op: &str) -> Result<OpKind, PatchError> {
    [OpKind::Add, OpKind::Remove, OpKind::Replace]
        .into_iter()
        .find(|kind| op.trim().eq_ignore_ascii_case(&kind.to_string()))
        .ok_or_else(|| {
            syntax(format!(
                "unknown operation `{op}`; expected add, remove or replace"
            ))
        })
}

/// Parses a PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`, optionally
/// URN-qualified. A malformed attribute part is `invalidPath`; when the attribute before `[`
/// parses, the failure is in the filter and is `invalidFilter`. Whether the schema defines the
/// attribute is checked by [`apply`].
pub fn parse_path(input: &str) -> Result<PatchPath, PatchError> {
    filter::parse_patch_path(input).map_err(|e| {
        let message = format!("invalid path `{}`: {e}", input.trim());
        let in_filter = input
            .split_once('[')
            .and_then(|(attr, _)| filter::parse_attr_path(attr).ok())
            .is_some_and(|attr| attr.sub.is_none());
        if in_filter {
            PatchError::InvalidFilter(message)
        } else {
            invalid_path(message)
        }
    })
}

/// Applies `ops` in order to `resource` (a SCIM JSON object).
///
/// On error the resource may be partly modified; the caller discards the copy.
pub fn apply(resource: &mut Value, ops: &[PatchOp], info: &dyn AttrInfo) -> Result<(), PatchError> {
    ops.iter().try_for_each(|op| apply_op(resource, op, info))
}

/// Applies one operation.
fn apply_op(resource: &mut Value, op: &PatchOp, info: &dyn AttrInfo) -> Result<(), PatchError> {
    match (op.op, &op.path, &op.value) {
        (OpKind::Remove, None, _) => Err(PatchError::NoTarget(
            "a `remove` operation requires a `path`".into(),
        )),
        (OpKind::Remove, Some(path), listed) => remove(resource, path, listed.as_ref(), info),
        (kind, _, None) => Err(syntax(format!("`{kind}` requires a `value`"))),
        (kind, Some(path), Some(value)) => write(resource, kind, path, value.clone(), info),
        (kind, None, Some(value)) => write_object(resource, kind, value, info),
    }
}

/// `add`/`replace` without a path: each member of the `value` object is written as if it were
/// the path. Keys may be plain, dotted (`name.givenName`), URN-qualified or an extension URN
/// whose value is an object of that extension's attributes (Entra sends all of these).
fn write_object(
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
fn write(
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

/// Writes each member of an extension object as `urn:member`.
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
/// JSON), `replace` swaps the whole list. Returns the indices written.
fn write_whole(elements: &mut Vec<Value>, kind: OpKind, value: Value) -> Vec<usize> {
    let items = match value {
        Value::Array(items) => items,
        item => vec![item],
    };
    if kind == OpKind::Replace {
        elements.clear();
    }
    let mut touched = Vec::new();
    for item in items.into_iter().filter(|item| !item.is_null()) {
        if !elements.contains(&item) {
            touched.push(elements.len());
            elements.push(item);
        }
    }
    touched
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

/// `remove` at `path`. `listed` is the operation's `value`: for a multi-valued attribute without
/// a filter, Entra lists the values to delete (`members` with `[{"value": "id"}]`), and only
/// those go. Removing something absent, or a filter matching nothing, succeeds silently (clients
/// retry removes).
fn remove(
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

/// A PATCH path resolved against the schema.
struct Target<'p> {
    /// The path as written, for messages.
    path: &'p PatchPath,
    /// The top-level attribute (URN and name, never a sub-attribute).
    attr: AttrPath,
    /// The sub-attribute addressed, from `attr.sub` or after the filter.
    sub: Option<&'p str>,
    /// The value filter, if any.
    filter: Option<&'p Filter>,
    /// Whether `attr` is multi-valued.
    multi: bool,
    /// Whether `attr` is complex.
    complex: bool,
    /// Whether the attribute or the sub-attribute is read-only (`schemas` always is).
    read_only: bool,
}

impl<'p> Target<'p> {
    /// Resolves `path`; unknown attributes are `invalidPath`, and so is a filter on a
    /// single-valued attribute.
    fn resolve(path: &'p PatchPath, info: &dyn AttrInfo) -> Result<Self, PatchError> {
        let attr = AttrPath {
            sub: None,
            ..path.attr.clone()
        };
        let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
        let full = AttrPath {
            sub: sub.map(str::to_owned),
            ..attr.clone()
        };
        let schemas = attr.is("schemas");
        if !schemas && info.attr_type(&full).is_none() {
            return Err(unknown_attr(&full));
        }
        let multi = info.multi_valued(&attr);
        if path.filter.is_some() && !multi {
            return Err(invalid_path(format!(
                "`{attr}` is single-valued and cannot take a value filter"
            )));
        }
        let read_only = schemas
            || [&full, &attr]
                .into_iter()
                .any(|p| info.mutability(p) == Some(Mutability::ReadOnly));
        Ok(Self {
            path,
            complex: info.attr_type(&attr) == Some(AttrType::Complex),
            attr,
            sub,
            filter: path.filter.as_ref(),
            multi,
            read_only,
        })
    }

    /// Whether an element of the multi-valued attribute is addressed (no filter: all are).
    fn selects(&self, element: &Value, info: &dyn AttrInfo) -> bool {
        self.filter
            .is_none_or(|filter| filter.matches_element(&self.attr, element, info))
    }

    /// The current value of an unfiltered target.
    fn current<'r>(&self, resource: &'r Value) -> Option<&'r Value> {
        let root = resource.as_object()?;
        let map = match extension_of(root, self.attr.urn.as_deref()) {
            Some(urn) => get_ci(root, urn)?.as_object()?,
            None => root,
        };
        let value = get_ci(map, &self.attr.name)?;
        match self.sub {
            Some(sub) => value.as_object().and_then(|m| get_ci(m, sub)),
            None => Some(value),
        }
    }

    /// Removes what the target addresses; an emptied complex value, multi-valued attribute or
    /// extension object is removed as well.
    fn remove(&self, resource: &mut Value, listed: Option<&Value>, info: &dyn AttrInfo) {
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

    /// The `mutability` error for this target.
    fn read_only_error(&self) -> PatchError {
        PatchError::Mutability(format!("`{}` is read-only", self.path))
    }
}

/// For a URN-qualified path without sub-attribute or filter that the schema does not define as
/// an attribute: the path itself, taken as an extension schema URN.
fn extension_urn(path: &PatchPath, info: &dyn AttrInfo) -> Option<String> {
    let bare = path.filter.is_none()
        && path.sub.is_none()
        && path.attr.sub.is_none()
        && path.attr.urn.is_some();
    (bare && info.attr_type(&path.attr).is_none()).then(|| path.attr.to_string())
}

/// The extension key under which attributes qualified with `urn` live; `None` when they are
/// top-level (no URN, a core schema URN, or the resource's first `schemas` entry).
fn extension_of<'u>(root: &Map<String, Value>, urn: Option<&'u str>) -> Option<&'u str> {
    urn.filter(|urn| {
        let core = urn
            .get(..CORE_SCHEMA_PREFIX.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX));
        let first_schema = get_ci(root, "schemas")
            .and_then(Value::as_array)
            .and_then(|schemas| schemas.first())
            .is_some_and(|first| str_eq_ci(first, urn));
        !core && !first_schema
    })
}

/// The object holding attributes qualified with `urn`: the resource itself or its extension
/// object, which `create` adds (listing the URN in `schemas`) when missing.
fn container_mut<'r>(
    resource: &'r mut Value,
    urn: Option<&str>,
    create: bool,
) -> Option<&'r mut Map<String, Value>> {
    let root = resource.as_object_mut()?;
    let Some(urn) = extension_of(root, urn) else {
        return Some(root);
    };
    if create && get_ci(root, urn).is_none() {
        if let Some(Value::Array(schemas)) = get_ci_mut(root, "schemas")
            && !schemas.iter().any(|s| str_eq_ci(s, urn))
        {
            schemas.push(Value::String(urn.to_owned()));
        }
        root.insert(urn.to_owned(), Value::Object(Map::new()));
    }
    get_ci_mut(root, urn)?.as_object_mut()
}

/// Whether the resource's `schemas` lists `urn`.
fn lists_schema(root: &Map<String, Value>, urn: &str) -> bool {
    get_ci(root, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| schemas.iter().any(|s| str_eq_ci(s, urn)))
}

/// Takes the values of a multi-valued attribute out of `map` (a lone value counts as one).
fn take_elements(map: &mut Map<String, Value>, name: &str) -> Vec<Value> {
    match get_ci_mut(map, name).map(Value::take) {
        Some(Value::Array(elements)) => elements,
        None | Some(Value::Null) => Vec::new(),
        Some(other) => vec![other],
    }
}

/// Puts the values of a multi-valued attribute back; an empty list unassigns it.
fn store_elements(map: &mut Map<String, Value>, name: &str, elements: Vec<Value>) {
    if elements.is_empty() {
        remove_ci(map, name);
    } else {
        set_ci(map, name, Value::Array(elements));
    }
}

/// Removes `name` when it holds an empty object.
fn remove_if_empty(map: &mut Map<String, Value>, name: &str) {
    if get_ci(map, name)
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        remove_ci(map, name);
    }
}

/// The member named `name`, case-insensitively.
fn get_ci<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    map.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The member named `name`, case-insensitively, for writing.
fn get_ci_mut<'m>(map: &'m mut Map<String, Value>, name: &str) -> Option<&'m mut Value> {
    map.iter_mut()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The member named `name` (case-insensitively), inserted as `null` when missing.
fn slot_mut<'m>(map: &'m mut Map<String, Value>, name: &str) -> &'m mut Value {
    let key = map
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned());
    map.entry(key).or_insert(Value::Null)
}

/// Sets `name`, writing into an existing key of any case.
fn set_ci(map: &mut Map<String, Value>, name: &str, value: Value) {
    *slot_mut(map, name) = value;
}

/// Removes `name` (case-insensitively), keeping the order of the other members.
fn remove_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = map
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))?
        .clone();
    map.shift_remove(&key)
}

/// Whether `value` is a string equal to `text`, case-insensitively.
fn str_eq_ci(value: &Value, text: &str) -> bool {
    value.as_str().is_some_and(|s| s.eq_ignore_ascii_case(text))
}

/// An `invalidSyntax` error.
fn syntax(message: impl Into<String>) -> PatchError {
    PatchError::InvalidSyntax(message.into())
}

/// An `invalidPath` error.
fn invalid_path(message: impl Into<String>) -> PatchError {
    PatchError::InvalidPath(message.into())
}

/// The `invalidPath` error for an attribute the schema does not define.
fn unknown_attr(path: impl fmt::Display) -> PatchError {
    invalid_path(format!("`{path}` is not an attribute of this resource"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    /// (schema, attribute, sub-attribute, type, multi-valued, mutability)
    type Def = (
        &'static str,
        &'static str,
        Option<&'static str>,
        AttrType,
        bool,
        Mutability,
    );

    const RW: Mutability = Mutability::ReadWrite;
    const RO: Mutability = Mutability::ReadOnly;
    const STR: AttrType = AttrType::String;
    const BOOL: AttrType = AttrType::Boolean;
    const CPX: AttrType = AttrType::Complex;

    const DEFS: &[Def] = &[
        (CORE, "id", None, STR, false, RO),
        (CORE, "externalId", None, STR, false, RW),
        (CORE, "userName", None, STR, false, RW),
        (CORE, "displayName", None, STR, false, RW),
        (CORE, "active", None, BOOL, false, RW),
        (CORE, "name", None, CPX, false, RW),
        (CORE, "name", Some("givenName"), STR, false, RW),
        (CORE, "name", Some("familyName"), STR, false, RW),
        (CORE, "emails", None, CPX, true, RW),
        (CORE, "emails", Some("value"), STR, true, RW),
        (CORE, "emails", Some("type"), STR, true, RW),
        (CORE, "emails", Some("primary"), BOOL, true, RW),
        (CORE, "phoneNumbers", None, CPX, true, RW),
        (CORE, "phoneNumbers", Some("value"), STR, true, RW),
        (CORE, "phoneNumbers", Some("type"), STR, true, RW),
        (CORE, "phoneNumbers", Some("primary"), BOOL, true, RW),
        (CORE, "members", None, CPX, true, RW),
        (CORE, "members", Some("value"), STR, true, RW),
        (CORE, "members", Some("display"), STR, true, RW),
        (CORE, "members", Some("type"), STR, true, RW),
        (CORE, "groups", None, CPX, true, RO),
        (CORE, "groups", Some("value"), STR, true, RO),
        (CORE, "meta", None, CPX, false, RO),
        (CORE, "meta", Some("resourceType"), STR, false, RO),
        (
            CORE,
            "meta",
            Some("lastModified"),
            AttrType::DateTime,
            false,
            RO,
        ),
        (ENTERPRISE, "employeeNumber", None, STR, false, RW),
        (ENTERPRISE, "department", None, STR, false, RW),
        (ENTERPRISE, "manager", None, CPX, false, RW),
        (ENTERPRISE, "manager", Some("value"), STR, false, RW),
        (ENTERPRISE, "manager", Some("displayName"), STR, false, RW),
    ];

    /// A User-like schema (plus group `members`) for the tests.
    struct UserInfo;

    impl UserInfo {
        fn def(path: &AttrPath) -> Option<&'static Def> {
            let schema = match path.urn.as_deref() {
                None => CORE,
                Some(urn) if urn.eq_ignore_ascii_case(CORE) => CORE,
                Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE) => ENTERPRISE,
                Some(_) => return None,
            };
            DEFS.iter().find(|d| {
                d.0 == schema
                    && d.1.eq_ignore_ascii_case(&path.name)
                    && match (d.2, path.sub.as_deref()) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        _ => false,
                    }
            })
        }
    }

    impl AttrInfo for UserInfo {
        fn attr_type(&self, path: &AttrPath) -> Option<AttrType> {
            Self::def(path).map(|d| d.3)
        }
        fn case_exact(&self, path: &AttrPath) -> bool {
            path.is("id") || path.sub.as_deref() == Some("value") && path.name == "members"
        }
        fn multi_valued(&self, path: &AttrPath) -> bool {
            Self::def(&AttrPath {
                sub: None,
                ..path.clone()
            })
            .is_some_and(|d| d.4)
        }
        fn mutability(&self, path: &AttrPath) -> Option<Mutability> {
            Self::def(path).map(|d| d.5)
        }
    }

    fn body(ops: Value) -> Value {
        json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": ops })
    }

    fn patch(mut resource: Value, ops: Value) -> Result<Value, PatchError> {
        let ops = parse_request(&body(ops))?;
        apply(&mut resource, &ops, &UserInfo)?;
        Ok(resource)
    }

    fn user() -> Value {
        json!({
            "schemas": [CORE],
            "id": "u1",
            "userName": "bjensen",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "active": true,
            "emails": [{ "value": "b@home.example", "type": "home", "primary": true }],
            "meta": { "resourceType": "User" }
        })
    }

    fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1",
            "displayName": "Admins",
            "members": [{ "value": "a" }, { "value": "b" }, { "value": "c" }]
        })
    }

    fn err(resource: Value, ops: Value) -> PatchError {
        match patch(resource, ops) {
            Ok(done) => panic!("expected an error, got {done}"),
            Err(e) => e,
        }
    }

    fn kind(resource: Value, ops: Value) -> &'static str {
        err(resource, ops).scim_type()
    }

    // ----- parse_request / parse_path -----

    #[test]
    fn parses_entra_body_with_capitalised_ops_and_member_names() {
        let body = json!({
            "schemas": ["URN:ietf:params:scim:api:messages:2.0:PatchOp"],
            "operations": [
                { "Op": "Add", "Path": "displayName", "Value": "x" },
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w" },
                { "op": "Remove", "path": "members[value eq \"a\"]" }
            ]
        });
        let ops = parse_request(&body).unwrap();
        let kinds: Vec<_> = ops.iter().map(|o| o.op).collect();
        assert_eq!(kinds, [OpKind::Add, OpKind::Replace, OpKind::Remove]);
        assert_eq!(ops[0].value, Some(json!("x")));
        let path = ops[1].path.as_ref().unwrap();
        assert!(path.attr.is("emails"));
        assert_eq!(path.sub.as_deref(), Some("value"));
        assert!(path.filter.is_some());
        assert_eq!(ops[2].value, None);
    }

    #[test]
    fn keeps_explicit_null_value_apart_from_absent_value() {
        let ops = parse_request(&body(json!([
            { "op": "replace", "path": "displayName", "value": null }
        ])))
        .unwrap();
        assert_eq!(ops[0].value, Some(Value::Null));
    }

    #[test]
    fn rejects_bodies_that_are_not_patch_op_messages() {
        let no_schema = json!({ "Operations": [{ "op": "add", "value": {} }] });
        let wrong_schema = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "Operations": [{ "op": "add", "value": {} }]
        });
        for body in [no_schema, wrong_schema, json!([1]), json!("x")] {
            let e = parse_request(&body).unwrap_err();
            assert_eq!(e.scim_type(), "invalidSyntax", "{body}");
        }
    }

    #[test]
    fn rejects_missing_or_empty_operations() {
        for ops in [json!([]), json!(null), json!({ "op": "add" })] {
            let e = parse_request(&body(ops.clone())).unwrap_err();
            assert_eq!(e.scim_type(), "invalidSyntax", "{ops}");
        }
        let missing = json!({ "schemas": [PATCH_OP_SCHEMA] });
        assert_eq!(
            parse_request(&missing).unwrap_err().scim_type(),
            "invalidSyntax"
        );
    }

    #[test]
    fn rejects_unknown_or_missing_op() {
        for op in [
            json!({ "op": "move", "path": "userName", "value": "x" }),
            json!({ "path": "userName", "value": "x" }),
            json!({ "op": 1, "path": "userName", "value": "x" }),
            json!("add"),
        ] {
            let e = parse_request(&body(json!([op.clone()]))).unwrap_err();
            assert_eq!(e.scim_type(), "invalidSyntax", "{op}");
        }
    }

    #[test]
    fn rejects_non_string_path() {
        let e = parse_request(&body(json!([{ "op": "remove", "path": 3 }]))).unwrap_err();
        assert_eq!(e.scim_type(), "invalidSyntax");
    }

    #[test]
    fn parses_every_path_form() {
        let p = parse_path("userName").unwrap();
        assert!(p.attr.is("userName") && p.filter.is_none() && p.sub.is_none());

        let p = parse_path("name.givenName").unwrap();
        assert_eq!(p.attr.sub.as_deref(), Some("givenName"));

        let p = parse_path("emails[type eq \"work\"]").unwrap();
        assert!(p.attr.is("emails") && p.filter.is_some() && p.sub.is_none());

        let p = parse_path(" emails[type eq \"work\" and primary eq true].value ").unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));

        let p = parse_path(&format!("{ENTERPRISE}:manager.value")).unwrap();
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE));
        assert_eq!(p.attr.name, "manager");
        assert_eq!(p.attr.sub.as_deref(), Some("value"));

        let p = parse_path("members[value eq \"a]b\"]").unwrap();
        let Some(Filter::Compare { value, .. }) = p.filter else {
            panic!("expected a comparison");
        };
        assert_eq!(value, Literal::String("a]b".into()));
    }

    #[test]
    fn classifies_path_syntax_errors() {
        for bad in [
            "",
            "1userName",
            "name..givenName",
            "name.givenName[type eq \"x\"]",
        ] {
            assert_eq!(
                parse_path(bad).unwrap_err().scim_type(),
                "invalidPath",
                "{bad}"
            );
        }
        for bad in [
            "emails[type eq]",
            "emails[type eq \"work\"",
            "emails[type zz \"work\"]",
        ] {
            assert_eq!(
                parse_path(bad).unwrap_err().scim_type(),
                "invalidFilter",
                "{bad}"
            );
        }
        let e = parse_request(&body(
            json!([{ "op": "remove", "path": "emails[type eq]" }]),
        ));
        assert_eq!(e.unwrap_err().scim_type(), "invalidFilter");
    }

    #[test]
    fn maps_every_error_to_its_scim_type() {
        let cases = [
            (PatchError::InvalidSyntax(String::new()), "invalidSyntax"),
            (PatchError::InvalidPath(String::new()), "invalidPath"),
            (PatchError::InvalidFilter(String::new()), "invalidFilter"),
            (PatchError::InvalidValue(String::new()), "invalidValue"),
            (PatchError::NoTarget(String::new()), "noTarget"),
            (PatchError::Mutability(String::new()), "mutability"),
        ];
        for (e, scim_type) in cases {
            assert_eq!(e.scim_type(), scim_type);
        }
        assert_eq!(PatchError::NoTarget("gone".into()).to_string(), "gone");
    }

    // ----- operation-level errors -----

    #[test]
    fn add_or_replace_without_value_is_invalid_syntax() {
        for op in ["add", "Replace"] {
            let ops = json!([{ "op": op, "path": "displayName" }]);
            assert_eq!(kind(user(), ops), "invalidSyntax", "{op}");
        }
    }

    #[test]
    fn remove_without_path_is_no_target() {
        assert_eq!(kind(group(), json!([{ "op": "remove" }])), "noTarget");
        let with_value = json!([{ "op": "Remove", "value": [{ "value": "a" }] }]);
        assert_eq!(kind(group(), with_value), "noTarget");
    }

    #[test]
    fn pathless_value_must_be_an_object() {
        let ops = json!([{ "op": "add", "value": "x" }]);
        assert_eq!(kind(user(), ops), "invalidValue");
        let ops = json!([{ "op": "replace", "value": [{ "active": false }] }]);
        assert_eq!(kind(user(), ops), "invalidValue");
    }

    #[test]
    fn read_only_targets_are_mutability_errors() {
        for op in [
            json!({ "op": "replace", "path": "id", "value": "other" }),
            json!({ "op": "remove", "path": "id" }),
            json!({ "op": "add", "path": "meta.lastModified", "value": "2024-01-01T00:00:00Z" }),
            json!({ "op": "replace", "path": "meta", "value": { "resourceType": "Group" } }),
            json!({ "op": "add", "path": "groups", "value": [{ "value": "g1" }] }),
            json!({ "op": "remove", "path": "groups[value eq \"g1\"]" }),
            json!({ "op": "replace", "path": "schemas", "value": [ENTERPRISE] }),
            json!({ "op": "remove", "path": "schemas" }),
            json!({ "op": "replace", "value": { "id": "other" } }),
        ] {
            assert_eq!(kind(user(), json!([op.clone()])), "mutability", "{op}");
        }
    }

    #[test]
    fn okta_rename_carrying_the_unchanged_id_is_accepted() {
        let ops = json!([{ "op": "replace", "value": { "id": "g1", "displayName": "Ops" } }]);
        let done = patch(group(), ops).unwrap();
        assert_eq!(done["id"], "g1");
        assert_eq!(done["displayName"], "Ops");
    }

    #[test]
    fn unknown_attributes_are_invalid_paths() {
        for op in [
            json!({ "op": "add", "path": "nickName", "value": "x" }),
            json!({ "op": "replace", "path": "name.middleName", "value": "x" }),
            json!({ "op": "remove", "path": "nickName" }),
            json!({ "op": "add", "path": format!("{ENTERPRISE}:costCenter"), "value": "x" }),
            json!({ "op": "add", "value": { "nickName": "x" } }),
            json!({ "op": "add", "value": { "urn:example:ext:1.0:User": { "x": 1 } } }),
            json!({ "op": "add", "path": "urn:example:ext:1.0:User", "value": { "x": 1 } }),
            json!({ "op": "remove", "path": "urn:example:ext:1.0:User" }),
            json!({ "op": "replace", "value": { "emails[type eq \"work\"].value": "x" } }),
        ] {
            assert_eq!(kind(user(), json!([op.clone()])), "invalidPath", "{op}");
        }
    }

    #[test]
    fn filter_on_single_valued_attribute_is_invalid_path() {
        let ops = json!([{ "op": "replace", "path": "name[givenName eq \"B\"]", "value": {} }]);
        assert_eq!(kind(user(), ops), "invalidPath");
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
    fn entra_manager_id_string_is_wrapped_as_value() {
        let path = format!("{ENTERPRISE}:manager");
        let ops = json!([{ "op": "Add", "path": path, "value": "m7" }]);
        let done = patch(user(), ops).unwrap();
        assert_eq!(done[ENTERPRISE]["manager"], json!({ "value": "m7" }));
    }

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

    // ----- remove -----

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
