//! Extension schemas an admin declares (`[[schemas]]` in the config file), beside the built-in
//! tables.
//!
//! A declaration uses RFC 7643 §7's own names (`type`, `multiValued`, `caseExact`,
//! `mutability`, `returned`, `uniqueness`, `canonicalValues`, `referenceTypes`,
//! `subAttributes`), so a schema an identity provider documents, or another server's
//! `/Schemas/{id}`, can be pasted in. [`Registry::build`] checks it whole and turns it into the
//! same [`Schema`] data the built-in tables are, so everything that works by schema (discovery,
//! validation, PATCH paths, filters, sorting, projection, delivery) treats a declared extension
//! exactly as it treats the enterprise one: there is no second code path to drift.
//!
//! The built-in tables are `'static`; a declared schema is made `'static` by leaking it once,
//! when it is installed. The registry in use is one pointer, swapped whole ([`install`]), so a
//! lookup takes no lock. A registry replaced later stays allocated (a few kilobytes per change;
//! declarations change at start, not per request).

use std::sync::atomic::{AtomicPtr, Ordering};

use serde::Deserialize;

use super::tables::SCHEMAS;
use super::{Attribute, ENTERPRISE_USER_SCHEMA, Returned, Schema, Uniqueness};
use crate::model::ResourceKind;
use crate::scim::attr::{AttrType, Mutability};

/// One declared extension schema, as the config file writes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtensionDef {
    /// The schema's URN, e.g. `urn:ietf:params:scim:schemas:extension:Contoso:2.0:User`.
    pub id: String,
    /// The resource type it extends: `User` or `Group`.
    #[serde(alias = "resource_type")]
    pub resource_type: String,
    /// Whether every resource of the type must carry it (`schemaExtensions[].required`).
    #[serde(default)]
    pub required: bool,
    /// Short name shown in `/Schemas` [default: the URN's last part that is neither a version
    /// nor the resource type].
    #[serde(default)]
    pub name: Option<String>,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// Its attributes (at least one).
    pub attributes: Vec<AttributeDef>,
}

/// One declared attribute (RFC 7643 §7), with the RFC's defaults for what it leaves out.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttributeDef {
    /// Its name: a letter, then letters, digits, `-` or `_` (RFC 7643 §2.1).
    pub name: String,
    /// Data type [default: `string`].
    #[serde(rename = "type", default = "string_type")]
    pub kind: AttrType,
    /// Whether it holds a list of values [default: false].
    #[serde(default)]
    pub multi_valued: bool,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// Whether a resource carrying the extension must give it a value [default: false].
    #[serde(default)]
    pub required: bool,
    /// Whether strings compare case-sensitively [default: false].
    #[serde(default)]
    pub case_exact: bool,
    /// When it may be written [default: `readWrite`].
    #[serde(default = "read_write")]
    pub mutability: Mutability,
    /// When it is returned [default: `default`].
    #[serde(default = "returned_default")]
    pub returned: Returned,
    /// Uniqueness [default: `none`; only `none` is enforced for declared attributes].
    #[serde(default = "no_uniqueness")]
    pub uniqueness: Uniqueness,
    /// Suggested values.
    #[serde(default)]
    pub canonical_values: Vec<String>,
    /// For `reference`: what a value may point to (`User`, `Group`, `external`, `uri`).
    #[serde(default)]
    pub reference_types: Vec<String>,
    /// For `complex`: its sub-attributes (which cannot be complex themselves).
    #[serde(default)]
    pub sub_attributes: Vec<AttributeDef>,
}

fn string_type() -> AttrType {
    AttrType::String
}
fn read_write() -> Mutability {
    Mutability::ReadWrite
}
fn returned_default() -> Returned {
    Returned::Default
}
fn no_uniqueness() -> Uniqueness {
    Uniqueness::None
}

/// Why a declaration was refused; each names the schema and, where it is one, the attribute.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeclareError {
    /// The URN is not one (`urn:` and no blanks), or it is a built-in schema's.
    #[error("schema '{0}': {1}")]
    Schema(String, String),
    /// An attribute definition is not valid.
    #[error("schema '{schema}', attribute '{attribute}': {why}")]
    Attribute {
        /// The schema's URN.
        schema: String,
        /// The attribute's path within it (`sub` as `parent.sub`).
        attribute: String,
        /// What is wrong.
        why: String,
    },
}

/// The schemas in use: the built-in tables plus the declared extensions.
#[derive(Debug)]
pub struct Registry {
    /// The declared schemas, in declaration order.
    declared: Vec<Schema>,
    /// Each resource type's extension URNs: the built-in ones first.
    user_extensions: Vec<&'static str>,
    group_extensions: Vec<&'static str>,
    /// The URNs of the extensions declared `required`.
    required: Vec<&'static str>,
    /// The resource types with a declared attribute returned only on request: their stored
    /// form is not their default response (see [`Registry::served_as_stored`]).
    on_request: Vec<ResourceKind>,
}

impl Registry {
    /// Checks `defs` whole and builds the registry they describe; nothing is installed.
    pub fn build(defs: &[ExtensionDef]) -> Result<Self, DeclareError> {
        let mut registry = Self {
            declared: Vec::new(),
            user_extensions: vec![ENTERPRISE_USER_SCHEMA],
            group_extensions: Vec::new(),
            required: Vec::new(),
            on_request: Vec::new(),
        };
        for def in defs {
            let schema = check_schema(def, &registry)?;
            let id = schema.id;
            match def.resource_type.as_str() {
                "User" => registry.user_extensions.push(id),
                _ => registry.group_extensions.push(id),
            }
            if def.required {
                registry.required.push(id);
            }
            let kind = match def.resource_type.as_str() {
                "User" => ResourceKind::User,
                _ => ResourceKind::Group,
            };
            let asked = |a: &Attribute| a.returned == Returned::Request;
            if schema
                .attributes
                .iter()
                .any(|a| asked(a) || a.sub_attributes.iter().any(asked))
            {
                registry.on_request.push(kind);
            }
            registry.declared.push(schema);
        }
        Ok(registry)
    }

    /// Every schema: the built-in ones, then the declared ones.
    pub(super) fn schemas(&'static self) -> impl Iterator<Item = &'static Schema> {
        SCHEMAS.iter().chain(self.declared.iter())
    }

    /// The extension URNs of `kind`.
    pub(super) fn extensions(&'static self, kind: ResourceKind) -> &'static [&'static str] {
        match kind {
            ResourceKind::User => &self.user_extensions,
            ResourceKind::Group => &self.group_extensions,
        }
    }

    /// Whether a stored resource of `kind` is its default response as it is (no attribute
    /// only returned on request), so that it may be served without being projected.
    pub(super) fn served_as_stored(&self, kind: ResourceKind) -> bool {
        !self.on_request.contains(&kind)
    }

    /// Whether the extension `urn` is required of its resource type.
    pub(super) fn required(&self, urn: &str) -> bool {
        self.required.iter().any(|r| r.eq_ignore_ascii_case(urn))
    }
}

static BUILT_IN: std::sync::LazyLock<&'static Registry> = std::sync::LazyLock::new(|| {
    Box::leak(Box::new(
        Registry::build(&[]).expect("the built-in tables alone are valid"),
    ))
});

/// The installed registry; null until [`install`] is first called (then the built-in one).
static CURRENT: AtomicPtr<Registry> = AtomicPtr::new(std::ptr::null_mut());

/// The registry in use.
pub(super) fn registry() -> &'static Registry {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() {
        *BUILT_IN
    } else {
        // SAFETY: every pointer stored in CURRENT comes from `Box::leak` and is never freed.
        unsafe { &*p }
    }
}

/// Makes `registry` the one in use, process-wide.
pub fn install(registry: Registry) {
    let leaked: &'static mut Registry = Box::leak(Box::new(registry));
    CURRENT.store(leaked, Ordering::Release);
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn check_schema(def: &ExtensionDef, so_far: &Registry) -> Result<Schema, DeclareError> {
    let refuse = |why: &str| Err(DeclareError::Schema(def.id.clone(), why.to_owned()));
    let id = def.id.as_str();
    let urn_ok = id.len() > 4
        && id[..4].eq_ignore_ascii_case("urn:")
        && !id.ends_with(':')
        && !id.contains("::")
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '[' | ']'));
    if !urn_ok {
        return refuse(
            "the id must be a URN: 'urn:' then printable ASCII without blanks, quotes \
             or brackets, not ending in ':'",
        );
    }
    let taken = SCHEMAS
        .iter()
        .chain(so_far.declared.iter())
        .any(|s| s.id.eq_ignore_ascii_case(id));
    if taken {
        return refuse("a schema with this id already exists");
    }
    if !matches!(def.resource_type.as_str(), "User" | "Group") {
        return refuse(&format!(
            "unknown resource type '{}' (use User or Group)",
            def.resource_type
        ));
    }
    if def.attributes.is_empty() {
        return refuse("an extension needs at least one attribute");
    }
    let attributes = check_attributes(id, "", &def.attributes, true)?;
    let name = match &def.name {
        Some(n) => n.clone(),
        // `…:extension:Contoso:2.0:User` is `Contoso`: the last part that is neither a
        // version nor the resource type's name.
        None => id
            .rsplit(':')
            .find(|part| {
                part.starts_with(|c: char| c.is_ascii_alphabetic())
                    && !part.eq_ignore_ascii_case(&def.resource_type)
            })
            .unwrap_or(id)
            .to_owned(),
    };
    Ok(Schema {
        id: leak(id),
        name: leak(&name),
        description: leak(&def.description),
        attributes: Box::leak(attributes.into_boxed_slice()),
    })
}

fn check_attributes(
    schema: &str,
    parent: &str,
    defs: &[AttributeDef],
    top: bool,
) -> Result<Vec<Attribute>, DeclareError> {
    let mut out: Vec<Attribute> = Vec::with_capacity(defs.len());
    for def in defs {
        let path = if parent.is_empty() {
            def.name.clone()
        } else {
            format!("{parent}.{}", def.name)
        };
        let refuse = |why: &str| {
            Err(DeclareError::Attribute {
                schema: schema.to_owned(),
                attribute: path.clone(),
                why: why.to_owned(),
            })
        };
        let mut chars = def.name.chars();
        let name_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return refuse("a name is a letter, then letters, digits, '-' or '_'");
        }
        if out.iter().any(|a| a.name.eq_ignore_ascii_case(&def.name)) {
            return refuse("the name is used twice (names are case-insensitive)");
        }
        let complex = def.kind == AttrType::Complex;
        if complex && !top {
            return refuse("a sub-attribute cannot be complex (RFC 7643 §2.3.8)");
        }
        if complex && def.sub_attributes.is_empty() {
            return refuse("a complex attribute needs subAttributes");
        }
        if !complex && !def.sub_attributes.is_empty() {
            return refuse("only a complex attribute has subAttributes");
        }
        if def.kind == AttrType::Reference && def.reference_types.is_empty() {
            return refuse("a reference needs referenceTypes (User, Group, external or uri)");
        }
        if def.kind != AttrType::Reference && !def.reference_types.is_empty() {
            return refuse("only a reference has referenceTypes");
        }
        if def.uniqueness != Uniqueness::None {
            return refuse(
                "only uniqueness 'none' can be declared: the gateway does not yet enforce \
                 uniqueness of declared attributes, and will not claim what it does not enforce",
            );
        }
        if def.returned == Returned::Never {
            return refuse(
                "returned 'never' cannot be declared: the gateway keeps no never-returned \
                 value but a password, and that only sealed",
            );
        }
        if def.required && def.mutability == Mutability::ReadOnly {
            return refuse("a readOnly attribute cannot be required: no client could set it");
        }
        let subs = check_attributes(schema, &path, &def.sub_attributes, false)?;
        let strings = |v: &[String]| -> &'static [&'static str] {
            Box::leak(
                v.iter()
                    .map(|s| leak(s))
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            )
        };
        out.push(Attribute {
            name: leak(&def.name),
            kind: def.kind,
            multi_valued: def.multi_valued,
            description: leak(&def.description),
            required: def.required,
            case_exact: def.case_exact,
            mutability: def.mutability,
            returned: def.returned,
            uniqueness: def.uniqueness,
            canonical_values: strings(&def.canonical_values),
            reference_types: strings(&def.reference_types),
            sub_attributes: Box::leak(subs.into_boxed_slice()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(toml_text: &str) -> Vec<ExtensionDef> {
        #[derive(Deserialize)]
        struct File {
            schemas: Vec<ExtensionDef>,
        }
        toml::from_str::<File>(toml_text).expect("parses").schemas
    }

    const CONTOSO: &str = r#"
        [[schemas]]
        id = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"
        resourceType = "User"
        attributes = [
          { name = "costCenter" },
          { name = "badge", type = "integer", required = true },
          { name = "site", type = "complex", multiValued = true, subAttributes = [
              { name = "code", caseExact = true }, { name = "primary", type = "boolean" } ] },
        ]
    "#;

    #[test]
    fn a_declaration_becomes_schema_data_with_the_rfcs_defaults() {
        let r = Registry::build(&def(CONTOSO)).expect("valid");
        let s = &r.declared[0];
        assert_eq!(s.name, "Contoso");
        assert_eq!(s.attributes.len(), 3);
        let cost = &s.attributes[0];
        assert_eq!(
            (cost.kind, cost.mutability, cost.returned, cost.multi_valued),
            (
                AttrType::String,
                Mutability::ReadWrite,
                Returned::Default,
                false
            )
        );
        assert!(s.attributes[1].required);
        assert_eq!(s.attributes[2].sub_attributes.len(), 2);
        assert!(s.attributes[2].sub_attributes[0].case_exact);
        assert_eq!(
            r.user_extensions,
            [
                ENTERPRISE_USER_SCHEMA,
                "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"
            ]
        );
        assert!(r.group_extensions.is_empty());
    }

    #[test]
    fn every_bad_declaration_is_refused_naming_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            (r#"id = "contoso""#, "must be a URN"),
            (r#"id = "urn:a:b:""#, "must be a URN"),
            (
                r#"id = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                "already exists",
            ),
            (r#"resourceType = "Device""#, "unknown resource type"),
            (r#"attributes = []"#, "at least one attribute"),
            (r#"attributes = [{ name = "1st" }]"#, "a name is a letter"),
            (
                r#"attributes = [{ name = "a" }, { name = "A" }]"#,
                "used twice",
            ),
            (
                r#"attributes = [{ name = "a", type = "complex" }]"#,
                "needs subAttributes",
            ),
            (
                r#"attributes = [{ name = "a", subAttributes = [{ name = "b" }] }]"#,
                "only a complex",
            ),
            (
                r#"attributes = [{ name = "a", type = "complex", subAttributes = [{ name = "b", type = "complex", subAttributes = [{ name = "c" }] }] }]"#,
                "cannot be complex",
            ),
            (
                r#"attributes = [{ name = "m", type = "reference" }]"#,
                "needs referenceTypes",
            ),
            (
                r#"attributes = [{ name = "u", uniqueness = "server" }]"#,
                "uniqueness",
            ),
            (
                r#"attributes = [{ name = "p", returned = "never" }]"#,
                "returned 'never'",
            ),
            (
                r#"attributes = [{ name = "r", required = true, mutability = "readOnly" }]"#,
                "cannot be required",
            ),
        ];
        for (fields, want) in cases {
            let mut text = String::from("[[schemas]]\n");
            for (key, default) in [
                ("id", r#"id = "urn:x:1""#),
                ("resourceType", r#"resourceType = "User""#),
                ("attributes", r#"attributes = [{ name = "a" }]"#),
            ] {
                if !fields.starts_with(&format!("{key} =")) {
                    text.push_str(default);
                    text.push('\n');
                }
            }
            text.push_str(fields);
            text.push('\n');
            let err = Registry::build(&def(&text)).expect_err(fields).to_string();
            assert!(err.contains(want), "{fields}: {err}");
        }
        let twice = format!("{CONTOSO}\n{}", CONTOSO.replace("Contoso", "contoso"));
        let err = Registry::build(&def(&twice))
            .expect_err("twice")
            .to_string();
        assert!(err.contains("already exists"), "{err}");
    }

    #[test]
    fn an_unknown_characteristic_is_a_parse_error() {
        let text = r#"
            [[schemas]]
            id = "urn:x:1"
            resourceType = "User"
            attributes = [{ name = "a", mutable = true }]
        "#;
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct File {
            schemas: Vec<ExtensionDef>,
        }
        assert!(toml::from_str::<File>(text).is_err());
    }
}
