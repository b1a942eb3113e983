//! Attribute mapping: the rules a connector instance carries (`[[connectors.mapping.users]]`,
//! `[[connectors.mapping.groups]]`), checked when the connector is configured and applied by the
//! host to every user and group before the plugin sees it.
//!
//! # Why in the host, and why so small
//! Every target names things its own way. Renaming `title` to the target's `jobTitle` should not
//! mean rebuilding a connector, and a third party's `.wasm` should get the same help as ours. So
//! the host rewrites the event and the plugin never knows: [`connector::Instance`] applies the
//! mapping on the one path every delivery takes (the dispatcher, blocking delivery, reconcile,
//! which enqueues ordinary jobs, and pass-through writes), and the admin API's preview runs the
//! same [`Mapping::apply`].
//!
//! The language is data, not code: each rule names a target attribute and one source (an
//! attribute, optionally one element of a multi-valued one chosen by a SCIM filter; a constant; a
//! template of attributes; or only a default), a list of fixed string transforms, an optional
//! SCIM filter condition, or an attribute to drop. There is no loop, no expression and no call,
//! so a mapping cannot run code, and its cost is bounded by its rule count ([`MAX_RULES`]) times
//! the resource's size.
//!
//! # Reads see the resource as the gateway holds it
//! Every source and every condition reads the resource as committed, never another rule's
//! output, so rules do not chain and their order matters only where two write the same
//! attribute (the later wins) or one drops what another wrote. A `move` removes its source and
//! then writes its target; writing into an extension's attribute adds the extension's URN to
//! `schemas`, and an extension left empty by a move or a drop is removed with its URN.
//!
//! # Errors: early where possible
//! [`Mapping::compile`] refuses everything it can know without a resource: an unknown source
//! attribute (checked against the resource type's schemas, declared extensions included), a
//! malformed path, filter or template, a transform of a value that is not a string, a rule with
//! no source or two, and the attributes the host owns (`id`, `schemas`, a group's `members`,
//! which go as deltas or pages). What only a resource can show (a required source with no value,
//! a template part that is not a single value, a target whose parent is not an object) fails that
//! delivery permanently, naming the rule ([`MappingError`]).
//!
//! # Changed paths
//! A PATCH's event names the paths it changed, and plugins such as `scim2` send only those.
//! [`Mapping::changed_paths`] rewrites them: a rule whose source or condition read a changed
//! attribute adds its target; a path a rule moved or dropped leaves the list.

use serde_json::{Map, Value};

use crate::config::{MappingConfig, RuleConfig, Transform};
use crate::model::ResourceKind;
use crate::scim::attr::{AttrInfo, AttrPath, AttrType};
use crate::scim::filter::{self, Filter, PatchPath};

#[cfg(doc)]
use super::connector;

/// The most rules of one resource type.
pub const MAX_RULES: usize = 200;
/// The longest template, in bytes.
const MAX_TEMPLATE: usize = 1024;
/// The most placeholders in one template.
const MAX_PLACEHOLDERS: usize = 32;

/// A rule that cannot be compiled, or that failed on a resource. `rule` names it as the
/// configuration does: `mapping.users[2] (to userName)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {reason}")]
pub struct MappingError {
    /// The rule.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

/// A checked mapping. The default maps nothing.
#[derive(Debug, Default)]
pub struct Mapping {
    /// The rules for users, in order.
    users: Vec<Rule>,
    /// The rules for groups, in order.
    groups: Vec<Rule>,
}

/// One checked rule.
#[derive(Debug)]
struct Rule {
    /// How errors name it.
    name: String,
    /// What it does.
    action: Action,
    /// Applies only to resources this matches.
    when: Option<Filter>,
    /// The top-level attributes its source and condition read (for changed paths).
    reads: Vec<AttrPath>,
}

/// What a rule does.
#[derive(Debug)]
enum Action {
    /// Writes a value to `to`.
    Write {
        /// The attribute written (no filter; core-schema URN removed).
        to: AttrPath,
        /// Where the value comes from.
        source: Source,
        /// The value when the source has none.
        default: Option<Value>,
        /// String transforms, in order.
        transform: Vec<Transform>,
        /// No value and no default fails the delivery.
        required: bool,
    },
    /// Removes an attribute, or the elements its filter matches.
    Drop(PatchPath),
}

/// Where a written value comes from.
#[derive(Debug)]
enum Source {
    /// The value at a path.
    Copy(PatchPath),
    /// The value at a path, which is then removed.
    Move(PatchPath),
    /// A constant.
    Constant(Value),
    /// A string of literal text and values.
    Template(Vec<Piece>),
    /// The target's own value (a rule with only a `default`).
    Keep(PatchPath),
}

/// A part of a template.
#[derive(Debug)]
enum Piece {
    /// Literal text.
    Text(String),
    /// A value, written as text.
    Value(PatchPath),
}

impl Mapping {
    /// Checks a configured mapping against the resource types' schemas.
    pub fn compile(c: &MappingConfig) -> Result<Self, MappingError> {
        Ok(Mapping {
            users: compile_rules(ResourceKind::User, &c.users)?,
            groups: compile_rules(ResourceKind::Group, &c.groups)?,
        })
    }

    /// Whether it maps nothing.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    fn rules(&self, kind: ResourceKind) -> &[Rule] {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }

    /// The resource as the plugin gets it. A delete's `Null` and a resource type without rules
    /// pass unchanged.
    pub fn apply(&self, kind: ResourceKind, resource: Value) -> Result<Value, MappingError> {
        let rules = self.rules(kind);
        if rules.is_empty() || !resource.is_object() {
            return Ok(resource);
        }
        let original = resource.clone();
        let mut out = resource;
        for rule in rules {
            if rule
                .when
                .as_ref()
                .is_some_and(|f| !f.matches(&original, &kind))
            {
                continue;
            }
            rule.apply(kind, &original, &mut out)
                .map_err(|reason| MappingError {
                    rule: rule.name.clone(),
                    reason,
                })?;
        }
        Ok(out)
    }

    /// A PATCH's changed paths as the mapped resource has them: a rule that read a changed
    /// attribute adds its target, and a path a rule moved or dropped is removed.
    pub fn changed_paths(&self, kind: ResourceKind, changed: Vec<String>) -> Vec<String> {
        let rules = self.rules(kind);
        if rules.is_empty() || changed.is_empty() {
            return changed;
        }
        let mut out: Vec<String> = Vec::new();
        let push = |out: &mut Vec<String>, path: String| {
            if !out.iter().any(|p| p.eq_ignore_ascii_case(&path)) {
                out.push(path);
            }
        };
        for path in changed {
            let Some(top) = filter::parse_patch_path(&path)
                .ok()
                .map(|p| top_level(kind, &p.attr))
            else {
                push(&mut out, path);
                continue;
            };
            let removed = rules.iter().any(|r| r.removes(kind, &path, &top));
            for rule in rules {
                if let (Action::Write { to, .. }, true) =
                    (&rule.action, rule.reads.iter().any(|r| same(r, &top)))
                {
                    push(&mut out, to.to_string());
                }
            }
            if !removed {
                push(&mut out, path);
            }
        }
        out
    }
}

impl Rule {
    /// Runs the rule on `out`, reading `original`.
    fn apply(&self, kind: ResourceKind, original: &Value, out: &mut Value) -> Result<(), String> {
        let (to, source, default, transform, required) = match &self.action {
            Action::Drop(path) => {
                remove(kind, out, path, false);
                return Ok(());
            }
            Action::Write {
                to,
                source,
                default,
                transform,
                required,
            } => (to, source, default, transform, *required),
        };
        let value = match source {
            Source::Copy(p) | Source::Move(p) | Source::Keep(p) => read(kind, original, p).cloned(),
            Source::Constant(v) => Some(v.clone()),
            Source::Template(pieces) => template(kind, original, pieces)?,
        };
        let Some(mut value) = value.or_else(|| default.clone()) else {
            return if required {
                Err(format!("{} has no value", source.describe()))
            } else {
                Ok(())
            };
        };
        for t in transform {
            value = transformed(*t, value)?;
        }
        if let Source::Move(p) = source {
            remove(kind, out, p, true);
        }
        write(out, to, value)
    }

    /// Whether the rule removes `path` (whose top-level attribute is `top`) from the output.
    fn removes(&self, kind: ResourceKind, path: &str, top: &AttrPath) -> bool {
        let p = match &self.action {
            Action::Drop(p) => p,
            Action::Write {
                source: Source::Move(p),
                ..
            } => p,
            _ => return false,
        };
        let whole = p.filter.is_none() && p.sub.is_none() && p.attr.sub.is_none();
        (whole && same(&top_level(kind, &p.attr), top)) || path_text(p).eq_ignore_ascii_case(path)
    }
}

impl Source {
    /// How an error names the source.
    fn describe(&self) -> String {
        match self {
            Source::Copy(p) | Source::Move(p) | Source::Keep(p) => path_text(p),
            Source::Constant(_) => "the constant".to_owned(),
            Source::Template(pieces) => {
                let parts: Vec<String> = pieces
                    .iter()
                    .filter_map(|p| match p {
                        Piece::Value(p) => Some(path_text(p)),
                        Piece::Text(_) => None,
                    })
                    .collect();
                format!("one of {}", parts.join(", "))
            }
        }
    }
}

// --- compiling ---------------------------------------------------------------------------------

fn compile_rules(kind: ResourceKind, rules: &[RuleConfig]) -> Result<Vec<Rule>, MappingError> {
    let list = match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    };
    if rules.len() > MAX_RULES {
        return Err(MappingError {
            rule: format!("mapping.{list}"),
            reason: format!("{} rules; at most {MAX_RULES}", rules.len()),
        });
    }
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut name = format!("mapping.{list}[{i}]");
            if let Some(to) = &r.to {
                name.push_str(&format!(" (to {to})"));
            } else if let Some(drop) = &r.drop {
                name.push_str(&format!(" (drop {drop})"));
            }
            match compile_rule(kind, r) {
                Ok(rule) => Ok(Rule { name, ..rule }),
                Err(reason) => Err(MappingError { rule: name, reason }),
            }
        })
        .collect()
}

fn compile_rule(kind: ResourceKind, r: &RuleConfig) -> Result<Rule, String> {
    let given = [
        ("from", r.from.is_some()),
        ("move", r.move_from.is_some()),
        ("value", r.value.is_some()),
        ("template", r.template.is_some()),
        ("drop", r.drop.is_some()),
    ];
    let named: Vec<&str> = given.iter().filter(|g| g.1).map(|g| g.0).collect();
    if named.len() > 1 {
        return Err(format!(
            "a rule has one of from, move, value, template and drop; this one has {}",
            named.join(" and ")
        ));
    }
    let when = match &r.when {
        Some(text) => {
            let f = filter::parse(text).map_err(|e| format!("when: {}", e.0))?;
            f.validate(&kind).map_err(|e| format!("when: {}", e.0))?;
            unknown_in(kind, &f, None).map_or(Ok(()), |p| {
                Err(format!("when: {} has no attribute '{p}'", kind.name()))
            })?;
            Some(f)
        }
        None => None,
    };
    let mut reads = Vec::new();
    if let Some(f) = &when {
        filter_paths(kind, f, &mut reads);
    }
    if let Some(text) = &r.drop {
        if r.to.is_some() || r.default.is_some() || !r.transform.is_empty() || r.required {
            return Err("a drop rule has no to, default, transform or required".to_owned());
        }
        let path = source_path(kind, text, Use::Drop)?;
        return Ok(Rule {
            name: String::new(),
            action: Action::Drop(path),
            when,
            reads,
        });
    }
    let Some(to_text) = &r.to else {
        return Err("a rule needs to (the attribute it writes) or drop".to_owned());
    };
    let to = target_path(kind, to_text)?;
    let source = if let Some(text) = &r.from {
        Source::Copy(source_path(kind, text, Use::Read)?)
    } else if let Some(text) = &r.move_from {
        Source::Move(source_path(kind, text, Use::Move)?)
    } else if let Some(v) = &r.value {
        Source::Constant(v.clone())
    } else if let Some(text) = &r.template {
        Source::Template(parse_template(kind, text)?)
    } else if let Some(default) = &r.default {
        // The target's own value, where the gateway's schemas know it; an attribute only the
        // target has is never in the resource, so its default is a constant.
        match kind.attr_type(&to) {
            Some(_) => {
                Source::Keep(source_path(kind, to_text, Use::Read).map_err(|e| format!("to: {e}"))?)
            }
            None => Source::Constant(default.clone()),
        }
    } else {
        return Err("a rule needs a source: from, move, value, template or default".to_owned());
    };
    match &source {
        Source::Copy(p) | Source::Move(p) | Source::Keep(p) => {
            reads.push(top_level(kind, &p.attr));
        }
        Source::Template(pieces) => {
            for piece in pieces {
                if let Piece::Value(p) = piece {
                    reads.push(top_level(kind, &p.attr));
                }
            }
        }
        Source::Constant(_) => {}
    }
    if !r.transform.is_empty() {
        let stringy = match &source {
            Source::Template(_) => true,
            Source::Constant(v) => v.is_string(),
            Source::Copy(p) | Source::Move(p) | Source::Keep(p) => {
                let full = full_path(p);
                !multi_valued_whole(kind, p)
                    && matches!(
                        kind.attr_type(&full),
                        Some(AttrType::String | AttrType::Reference) | None
                    )
            }
        };
        if !stringy || r.default.as_ref().is_some_and(|d| !d.is_string()) {
            return Err(format!(
                "transform works on strings, and {} is not one",
                source.describe()
            ));
        }
    }
    if let (Source::Template(_), Some(t)) = (&source, kind.attr_type(&to)) {
        let multi = kind.multi_valued(&AttrPath {
            sub: None,
            ..to.clone()
        }) && to.sub.is_none();
        if multi || !matches!(t, AttrType::String | AttrType::Reference) {
            return Err(format!(
                "a template makes a string, and {to} is not a single string"
            ));
        }
    }
    Ok(Rule {
        name: String::new(),
        action: Action::Write {
            to,
            source,
            default: r.default.clone(),
            transform: r.transform.clone(),
            required: r.required,
        },
        when,
        reads,
    })
}

/// What a rule does with a source path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Reads it (`from`, a template, a default's own target).
    Read,
    /// Reads and removes it (`move`).
    Move,
    /// Removes it (`drop`).
    Drop,
}

/// A source (or drop) path: it parses, names an attribute of the resource type's schemas, and
/// is not one the host owns (a move or a drop may not take `id` or `schemas`). An attribute
/// that is never returned (`password`) may only be dropped whole.
fn source_path(kind: ResourceKind, text: &str, usage: Use) -> Result<PatchPath, String> {
    let path = filter::parse_patch_path(text).map_err(|e| format!("'{text}': {}", e.0))?;
    let full = full_path(&path);
    if kind.attr_type(&full).is_none() && !is_bare(&path, "schemas") {
        return Err(format!(
            "{kind} has no attribute '{text}'",
            kind = kind.name()
        ));
    }
    if let Some(f) = &path.filter {
        let whole = Filter::ValuePath {
            path: path.attr.clone(),
            filter: Box::new(f.clone()),
        };
        whole
            .validate(&kind)
            .map_err(|e| format!("'{text}': {}", e.0))?;
        if let Some(p) = unknown_in(kind, f, Some(&path.attr)) {
            return Err(format!("'{text}': {} has no attribute '{p}'", kind.name()));
        }
    }
    owned_by_host(kind, &path.attr, usage != Use::Read)?;
    if kind.never_returned(&full) && (usage != Use::Drop || !is_bare(&path, &path.attr.name)) {
        return Err(format!(
            "'{text}' is never read back, so a mapping does not read it (it may be dropped whole)"
        ));
    }
    if usage != Use::Drop
        && path.filter.is_none()
        && path.attr.sub.is_some()
        && multi_valued_whole(kind, &path)
    {
        return Err(format!(
            "'{text}' has a value in each element of {}; choose one ({}[type eq \"work\"].{})",
            path.attr.name,
            path.attr.name,
            path.attr.sub.as_deref().unwrap_or("value")
        ));
    }
    Ok(path)
}

/// A target path: a plain attribute path (no filter), an extension attribute written under its
/// URN, not one the host owns. It need not be in the gateway's schemas: the target's names are
/// the target's.
fn target_path(kind: ResourceKind, text: &str) -> Result<AttrPath, String> {
    if text.contains('[') {
        return Err(format!(
            "'{text}': a rule writes a whole attribute or a sub-attribute, not an element"
        ));
    }
    let parsed = filter::parse_attr_path(text).map_err(|e| format!("'{text}': {}", e.0))?;
    let to = top_level_keep_sub(kind, &parsed);
    owned_by_host(kind, &to, true)?;
    if to.sub.is_some() && kind.multi_valued(&to) && kind.attr_type(&to).is_some() {
        return Err(format!(
            "'{text}': {} is multi-valued, so write it whole",
            to.name
        ));
    }
    Ok(to)
}

/// `id`, `schemas` and a group's `members` belong to the host: `id` is the gateway's, `schemas`
/// follows the extensions written, and members go as deltas or pages with translated ids.
fn owned_by_host(kind: ResourceKind, p: &AttrPath, written: bool) -> Result<(), String> {
    let core = p
        .urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(kind.core_schema()));
    if !core {
        return Ok(());
    }
    if kind == ResourceKind::Group && p.name.eq_ignore_ascii_case("members") {
        return Err(
            "a group's members are sent by the host (as deltas or pages, with the target's ids); \
             a mapping does not touch them"
                .to_owned(),
        );
    }
    if written && (p.name.eq_ignore_ascii_case("id") || p.name.eq_ignore_ascii_case("schemas")) {
        return Err(format!(
            "{} is the host's; a mapping reads it but does not write or remove it",
            p.name
        ));
    }
    Ok(())
}

/// Parses `{path}` placeholders and literal text (`{{` and `}}` are literal braces).
fn parse_template(kind: ResourceKind, text: &str) -> Result<Vec<Piece>, String> {
    if text.len() > MAX_TEMPLATE {
        return Err(format!("the template is longer than {MAX_TEMPLATE} bytes"));
    }
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                return Err(format!(
                    "template: '}}' at byte {i} closes nothing (write '}}}}')"
                ));
            }
            '{' => {
                let rest = &text[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(format!("template: '{{' at byte {i} is not closed"));
                };
                let inner = &rest[..end];
                if inner.contains('{') {
                    return Err(format!("template: '{{' at byte {i} is not closed"));
                }
                if inner.trim().is_empty() {
                    return Err(format!("template: the placeholder at byte {i} is empty"));
                }
                let path = source_path(kind, inner.trim(), Use::Read)
                    .map_err(|e| format!("template: {e}"))?;
                if multi_valued_whole(kind, &path) {
                    return Err(format!(
                        "template: '{inner}' has many values; choose one ({}[…].value)",
                        path.attr.name
                    ));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Value(path));
                for _ in 0..inner.chars().count() + 1 {
                    chars.next();
                }
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    let placeholders = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Value(_)))
        .count();
    if placeholders > MAX_PLACEHOLDERS {
        return Err(format!(
            "template: {placeholders} placeholders; at most {MAX_PLACEHOLDERS}"
        ));
    }
    Ok(pieces)
}

/// The first attribute a filter names that the resource type's schemas do not have (a filter
/// on it would silently match nothing). `parent`: the filter is an element filter of it.
fn unknown_in(kind: ResourceKind, f: &Filter, parent: Option<&AttrPath>) -> Option<String> {
    match f {
        Filter::Compare { path, .. } | Filter::Present(path) => {
            let full = match parent {
                Some(p) => AttrPath {
                    sub: Some(path.name.clone()),
                    ..p.clone()
                },
                None => path.clone(),
            };
            kind.attr_type(&full).is_none().then(|| full.to_string())
        }
        Filter::ValuePath { path, filter } => match kind.attr_type(path) {
            None => Some(path.to_string()),
            Some(_) => unknown_in(kind, filter, Some(path)),
        },
        Filter::And(a, b) | Filter::Or(a, b) => {
            unknown_in(kind, a, parent).or_else(|| unknown_in(kind, b, parent))
        }
        Filter::Not(f) => unknown_in(kind, f, parent),
    }
}

/// The top-level attributes a filter reads.
fn filter_paths(kind: ResourceKind, f: &Filter, into: &mut Vec<AttrPath>) {
    match f {
        Filter::Compare { path, .. } | Filter::Present(path) | Filter::ValuePath { path, .. } => {
            into.push(top_level(kind, path))
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            filter_paths(kind, a, into);
            filter_paths(kind, b, into);
        }
        Filter::Not(f) => filter_paths(kind, f, into),
    }
}

// --- paths ---------------------------------------------------------------------------------------

/// The attribute and sub-attribute a path names, filter aside (`emails[…].value` → `emails.value`).
fn full_path(p: &PatchPath) -> AttrPath {
    AttrPath {
        sub: p.sub.clone().or_else(|| p.attr.sub.clone()),
        ..p.attr.clone()
    }
}

/// The path's top-level attribute, its URN dropped when it is the core schema's.
fn top_level(kind: ResourceKind, p: &AttrPath) -> AttrPath {
    AttrPath {
        sub: None,
        ..top_level_keep_sub(kind, p)
    }
}

fn top_level_keep_sub(kind: ResourceKind, p: &AttrPath) -> AttrPath {
    let urn = p
        .urn
        .clone()
        .filter(|u| !u.eq_ignore_ascii_case(kind.core_schema()));
    AttrPath { urn, ..p.clone() }
}

/// Whether two top-level paths name the same attribute.
fn same(a: &AttrPath, b: &AttrPath) -> bool {
    a.name.eq_ignore_ascii_case(&b.name)
        && match (&a.urn, &b.urn) {
            (None, None) => true,
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => false,
        }
}

/// `path` is the bare name `name`.
fn is_bare(p: &PatchPath, name: &str) -> bool {
    p.filter.is_none() && p.sub.is_none() && p.attr.is(name)
}

/// Whether the path, read, yields every value of a multi-valued attribute (no filter chooses).
fn multi_valued_whole(kind: ResourceKind, p: &PatchPath) -> bool {
    p.filter.is_none()
        && kind.multi_valued(&AttrPath {
            sub: None,
            ..p.attr.clone()
        })
}

/// The path as written in a rule.
fn path_text(p: &PatchPath) -> String {
    p.to_string()
}

// --- reading and writing -----------------------------------------------------------------------

/// The object an attribute of `urn` lives in: the resource itself for the core schema, else its
/// extension object.
fn container<'a>(kind: ResourceKind, resource: &'a Value, urn: Option<&str>) -> Option<&'a Value> {
    match urn {
        Some(u) if !u.eq_ignore_ascii_case(kind.core_schema()) => filter::get_ci(resource, u),
        _ => Some(resource),
    }
}

/// The value at `p`: with a filter, the first matching element (or its sub-attribute).
fn read<'a>(kind: ResourceKind, resource: &'a Value, p: &PatchPath) -> Option<&'a Value> {
    let base = container(kind, resource, p.attr.urn.as_deref())?;
    let attr = filter::get_ci(base, &p.attr.name)?;
    let found = match &p.filter {
        None => match &p.attr.sub {
            None => Some(attr),
            Some(sub) => match attr {
                // `emails.value` reads every element's value: not one value, so it is read
                // only where compile allowed it (a copy of the whole list is not offered).
                Value::Array(_) => None,
                other => filter::get_ci(other, sub),
            },
        },
        Some(f) => {
            let element = elements(attr).find(|e| f.matches_element(&p.attr, e, &kind))?;
            match &p.sub {
                Some(sub) => filter::get_ci(element, sub),
                None => Some(element),
            }
        }
    };
    found.filter(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
}

fn elements(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// A template's text, or `None` when one of its values is missing.
fn template(
    kind: ResourceKind,
    resource: &Value,
    pieces: &[Piece],
) -> Result<Option<Value>, String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Value(p) => match read(kind, resource, p) {
                None => return Ok(None),
                Some(Value::String(s)) => out.push_str(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                Some(_) => {
                    return Err(format!(
                        "{{{}}} is not a single value, so it cannot be written in a template",
                        path_text(p)
                    ));
                }
            },
        }
    }
    Ok(Some(Value::String(out)))
}

fn transformed(t: Transform, value: Value) -> Result<Value, String> {
    let Value::String(s) = value else {
        return Err(format!(
            "transform {t:?} needs a string, and the value is {value}"
        ));
    };
    Ok(Value::String(match t {
        Transform::Lower => s.to_lowercase(),
        Transform::Upper => s.to_uppercase(),
        Transform::Trim => s.trim().to_owned(),
        Transform::CollapseWhitespace => s.split_whitespace().collect::<Vec<_>>().join(" "),
        Transform::RemoveWhitespace => s.split_whitespace().collect(),
    }))
}

/// The key of `object` that is `name` ignoring case, if any.
fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_owned());
    }
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// The member `name` of `object`, made an empty object when absent.
fn object_at<'a>(
    object: &'a mut Map<String, Value>,
    name: &str,
) -> Result<&'a mut Map<String, Value>, String> {
    let key = key_of(object, name).unwrap_or_else(|| name.to_owned());
    match object
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(o) => Ok(o),
        other => Err(format!(
            "{name} is {other}, not an object, so nothing can be written in it"
        )),
    }
}

fn write(out: &mut Value, to: &AttrPath, value: Value) -> Result<(), String> {
    let root = out.as_object_mut().ok_or("the resource is not an object")?;
    let base = match &to.urn {
        Some(urn) => {
            add_schema(root, urn);
            object_at(root, urn)?
        }
        None => root,
    };
    let (object, name) = match &to.sub {
        Some(sub) => (object_at(base, &to.name)?, sub.as_str()),
        None => (base, to.name.as_str()),
    };
    let key = key_of(object, name).unwrap_or_else(|| name.to_owned());
    object.insert(key, value);
    Ok(())
}

fn add_schema(root: &mut Map<String, Value>, urn: &str) {
    let schemas = root
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = schemas
        && !list
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    {
        list.push(Value::String(urn.to_owned()));
    }
}

/// Removes what `p` names from `out`: the attribute, its sub-attribute, or the elements its
/// filter matches (their sub-attribute, for a drop that names one; the whole first element, for
/// a move). An array or extension left empty goes too.
fn remove(kind: ResourceKind, out: &mut Value, p: &PatchPath, moved: bool) {
    let Some(root) = out.as_object_mut() else {
        return;
    };
    let ext = p
        .attr
        .urn
        .as_deref()
        .filter(|u| !u.eq_ignore_ascii_case(kind.core_schema()));
    let ext_key = match ext {
        Some(urn) => match key_of(root, urn) {
            Some(k) => Some(k),
            None => return,
        },
        None => None,
    };
    let base = match &ext_key {
        Some(k) => match root.get_mut(k) {
            Some(Value::Object(o)) => o,
            _ => return,
        },
        None => &mut *root,
    };
    if let Some(name) = key_of(base, &p.attr.name) {
        match (&p.filter, &p.attr.sub) {
            (None, None) => {
                base.remove(&name);
            }
            (None, Some(sub)) => {
                if let Some(Value::Object(o)) = base.get_mut(&name) {
                    if let Some(k) = key_of(o, sub) {
                        o.remove(&k);
                    }
                    if o.is_empty() {
                        base.remove(&name);
                    }
                }
            }
            (Some(f), _) => {
                if let Some(Value::Array(items)) = base.get_mut(&name) {
                    let matching = |e: &Value| f.matches_element(&p.attr, e, &kind);
                    match (&p.sub, moved) {
                        (Some(sub), false) => {
                            for e in items.iter_mut().filter(|e| matching(e)) {
                                if let Some(o) = e.as_object_mut()
                                    && let Some(k) = key_of(o, sub)
                                {
                                    o.remove(&k);
                                }
                            }
                        }
                        (_, true) => {
                            if let Some(i) = items.iter().position(matching) {
                                items.remove(i);
                            }
                        }
                        (None, false) => items.retain(|e| !matching(e)),
                    }
                    if items.is_empty() {
                        base.remove(&name);
                    }
                }
            }
        }
    }
    if let Some(k) = ext_key
        && root
            .get(&k)
            .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        root.remove(&k);
        if let Some(Value::Array(list)) = root.get_mut("schemas") {
            list.retain(|s| s.as_str().is_none_or(|s| !s.eq_ignore_ascii_case(&k)));
        }
    }
}

#[cfg(test)]
mod tests;
