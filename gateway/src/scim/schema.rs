//! SCIM schema definitions and everything the gateway does by schema.
//!
//! This module owns the User, Enterprise User and Group schemas of RFC 7643, their `/Schemas`
//! and `/ResourceTypes` representations, the [`AttrInfo`] answers that filtering and PATCH need,
//! the validation and normalisation of client input ([`prepare_input`]) and the shaping of
//! responses ([`project`]).
//!
//! The schemas are static data tables rather than code. One table drives discovery output,
//! attribute lookup, validation and projection, so what `/Schemas` advertises is exactly what the
//! gateway enforces, and changing a characteristic (a `mutability`, a `returned`) is a one-line
//! edit that every consumer picks up.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::attr::{AttrInfo, AttrPath, AttrType, Mutability};
use crate::model::ResourceKind;

/// URN of the core User schema (RFC 7643 section 4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the Enterprise User extension (RFC 7643 section 4.3).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the core Group schema (RFC 7643 section 4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// What the schemas say about each resource type: its core schema and extensions. (The type
/// itself is the model's; its tables are here.)
impl ResourceKind {
    /// URN of the resource type's core schema.
    pub fn core_schema(self) -> &'static str {
        match self {
            Self::User => USER_SCHEMA,
            Self::Group => GROUP_SCHEMA,
        }
    }

    /// URNs of the schema extensions this resource type accepts.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::User => &[ENTERPRISE_USER_SCHEMA],
            Self::Group => &[],
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::User => "User Account",
            Self::Group => "Group",
        }
    }

    /// The core schema definition.
    fn schema(self) -> &'static Schema {
        match self {
            Self::User => &SCHEMAS[0],
            Self::Group => &SCHEMAS[2],
        }
    }

    /// The core scope: the core schema's attributes plus the common ones.
    fn core_scope(self) -> Scope {
        Scope {
            schema: self.schema(),
            core: true,
        }
    }

    /// The extension scopes, in [`ResourceKind::extensions`] order.
    fn extension_scopes(self) -> impl Iterator<Item = Scope> {
        self.extensions()
            .iter()
            .filter_map(|urn| schema_by_id(urn))
            .map(|schema| Scope {
                schema,
                core: false,
            })
    }

    /// The extension schema with this URN (case-insensitive), if the kind accepts it.
    fn extension(self, urn: &str) -> Option<&'static Schema> {
        self.extension_scopes()
            .map(|scope| scope.schema)
            .find(|schema| schema.id.eq_ignore_ascii_case(urn))
    }
}

/// `returned` (RFC 7643 section 2.4): when an attribute appears in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always returned, whatever `attributes` or `excludedAttributes` say.
    Always,
    /// Never returned (passwords).
    Never,
    /// Returned unless `attributes` leaves it out or `excludedAttributes` names it.
    Default,
    /// Returned only when `attributes` names it.
    Request,
}

impl Returned {
    fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

/// `uniqueness` (RFC 7643 section 2.4): the scope in which a value must be unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No uniqueness constraint.
    None,
    /// Unique among this service provider's resources of the type.
    Server,
    /// Unique across all service providers.
    Global,
}

impl Uniqueness {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 section 7), as static data.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    /// Attribute name in its canonical case.
    pub name: &'static str,
    /// Data type.
    pub kind: AttrType,
    /// Whether the attribute holds a list of values.
    pub multi_valued: bool,
    /// Human-readable description.
    pub description: &'static str,
    /// Whether a resource must carry a value.
    pub required: bool,
    /// Whether string values compare case-sensitively.
    pub case_exact: bool,
    /// When the attribute may be written.
    pub mutability: Mutability,
    /// When the attribute is returned.
    pub returned: Returned,
    /// Uniqueness constraint on values.
    pub uniqueness: Uniqueness,
    /// Suggested values (for example `work`, `home` for a `type`); empty when none.
    pub canonical_values: &'static [&'static str],
    /// For references: the resource types or `external`/`uri` that a value may point to.
    pub reference_types: &'static [&'static str],
    /// For complex attributes: the sub-attributes; empty otherwise.
    pub sub_attributes: &'static [Attribute],
}

/// A schema definition (RFC 7643 section 7).
#[derive(Debug)]
pub struct Schema {
    /// Schema URN.
    pub id: &'static str,
    /// Short name (`User`, `EnterpriseUser`, `Group`).
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// Top-level attributes; the common attributes `id`, `externalId` and `meta` are not listed
    /// (RFC 7643 section 3.1 defines them for every resource, as section 8.7.1 shows).
    pub attributes: &'static [Attribute],
}

// ---------------------------------------------------------------------------------------------
// Definition tables
// ---------------------------------------------------------------------------------------------

/// A single-valued, optional, case-insensitive, read-write, default-returned attribute.
const fn attr(name: &'static str, kind: AttrType, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind,
        multi_valued: false,
        description,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

const fn string(name: &'static str, description: &'static str) -> Attribute {
    attr(name, AttrType::String, description)
}

const fn boolean(name: &'static str, description: &'static str) -> Attribute {
    attr(name, AttrType::Boolean, description)
}

const fn date_time(name: &'static str, description: &'static str) -> Attribute {
    attr(name, AttrType::DateTime, description)
}

const fn reference(
    name: &'static str,
    types: &'static [&'static str],
    description: &'static str,
) -> Attribute {
    Attribute {
        reference_types: types,
        ..attr(name, AttrType::Reference, description)
    }
}

const fn complex(
    name: &'static str,
    subs: &'static [Attribute],
    description: &'static str,
) -> Attribute {
    Attribute {
        sub_attributes: subs,
        ..attr(name, AttrType::Complex, description)
    }
}

impl Attribute {
    const fn multi(self) -> Self {
        Self {
            multi_valued: true,
            ..self
        }
    }
    const fn mandatory(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }
    const fn exact(self) -> Self {
        Self {
            case_exact: true,
            ..self
        }
    }
    const fn read_only(self) -> Self {
        Self {
            mutability: Mutability::ReadOnly,
            ..self
        }
    }
    const fn immutable(self) -> Self {
        Self {
            mutability: Mutability::Immutable,
            ..self
        }
    }
    const fn write_only(self) -> Self {
        Self {
            mutability: Mutability::WriteOnly,
            ..self
        }
    }
    const fn always(self) -> Self {
        Self {
            returned: Returned::Always,
            ..self
        }
    }
    const fn never(self) -> Self {
        Self {
            returned: Returned::Never,
            ..self
        }
    }
    const fn server_unique(self) -> Self {
        Self {
            uniqueness: Uniqueness::Server,
            ..self
        }
    }
    const fn canonical(self, values: &'static [&'static str]) -> Self {
        Self {
            canonical_values: values,
            ..self
        }
    }
}

/// The usual sub-attributes of a multi-valued attribute: the given `value`, then `display`,
/// `type` (with the given canonical values) and `primary`.
#[rustfmt::skip]
const fn plural(value: Attribute, types: &'static [&'static str]) -> [Attribute; 4] {
    [
        value,
        string("display", "A human-readable form of the value, for display only."),
        string("type", "A label saying what the value is used for.").canonical(types),
        boolean("primary", "Marks the preferred value; at most one value may be primary."),
    ]
}

const ADDRESS_TYPES: &[&str] = &["work", "home", "other"];
const PHONE_TYPES: &[&str] = &["work", "home", "mobile", "fax", "pager", "other"];
const IM_TYPES: &[&str] = &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"];

// The tables below are data: one attribute per line reads better than rustfmt's layout.

/// `id`, `externalId` and `meta` (RFC 7643 section 3.1): part of every resource, listed in no
/// schema's `attributes`.
#[rustfmt::skip]
static COMMON: [Attribute; 3] = [
    string("id", "The service provider's unique, stable identifier for the resource.")
        .exact().read_only().always().server_unique(),
    string("externalId", "The provisioning client's own identifier for the resource.").exact(),
    complex("meta", &[
        string("resourceType", "The name of the resource's type.").exact().read_only(),
        date_time("created", "When the resource was added.").read_only(),
        date_time("lastModified", "When the resource was last changed.").read_only(),
        reference("location", &["uri"], "The URI of the resource.").read_only(),
        string("version", "The resource's current version (its entity tag).").exact().read_only(),
    ], "Metadata the service provider keeps about the resource.").read_only(),
];

#[rustfmt::skip]
static SCHEMAS: [Schema; 3] = [
    Schema {
        id: USER_SCHEMA,
        name: "User",
        description: "User Account",
        attributes: &[
            string("userName", "The unique name the user signs in with; must not be empty.")
                .mandatory().server_unique(),
            complex("name", &[
                string("formatted", "The whole name as it should be displayed."),
                string("familyName", "The family (last) name."),
                string("givenName", "The given (first) name."),
                string("middleName", "The middle name or names."),
                string("honorificPrefix", "Titles placed before the name, such as 'Dr.'."),
                string("honorificSuffix", "Suffixes placed after the name, such as 'Jr.'."),
            ], "The parts of the user's real name."),
            string("displayName", "The name to show for the user."),
            string("nickName", "The informal name the user goes by."),
            reference("profileUrl", &["external"], "A URL of the user's online profile page."),
            string("title", "The user's job title."),
            string("userType", "The user's relationship to the organisation, such as 'Employee'."),
            string("preferredLanguage", "The language the user prefers, such as 'en-US'."),
            string("locale", "The locale for formatting dates, numbers and currency."),
            string("timezone", "The user's IANA time zone, such as 'Europe/Berlin'."),
            boolean("active", "Whether the account is enabled."),
            string("password", "A new clear-text password; accepted but never returned.")
                .write_only().never(),
            complex("emails", &plural(string("value", "An email address."), ADDRESS_TYPES),
                "The user's email addresses.").multi(),
            complex("phoneNumbers", &plural(string("value", "A phone number."), PHONE_TYPES),
                "The user's phone numbers.").multi(),
            complex("ims", &plural(string("value", "An instant messaging address."), IM_TYPES),
                "The user's instant messaging addresses.").multi(),
            complex("photos", &plural(
                reference("value", &["external"], "A URL of an image of the user."),
                &["photo", "thumbnail"],
            ), "URLs of images of the user.").multi(),
            complex("addresses", &[
                string("formatted", "The whole postal address as it should be displayed."),
                string("streetAddress", "The street, house number and similar lines."),
                string("locality", "The city or town."),
                string("region", "The state, province or region."),
                string("postalCode", "The postal or ZIP code."),
                string("country", "The country."),
                string("type", "A label saying what the address is used for.")
                    .canonical(ADDRESS_TYPES),
                boolean("primary", "Marks the preferred address; at most one may be primary."),
            ], "The user's postal addresses.").multi(),
            complex("groups", &[
                string("value", "The id of a group the user belongs to.").read_only(),
                reference("$ref", &["User", "Group"], "The URI of that group.").read_only(),
                string("display", "The group's display name.").read_only(),
                string("type", "Whether the membership is direct or through another group.")
                    .canonical(&["direct", "indirect"]).read_only(),
            ], "The groups the user belongs to; maintained through the groups themselves.")
                .multi().read_only(),
            complex("entitlements", &plural(string("value", "An entitlement."), &[]),
                "Things the user is entitled to.").multi(),
            complex("roles", &plural(string("value", "A role."), &[]),
                "Roles describing who the user is, such as 'Student'.").multi(),
            complex("x509Certificates", &plural(
                attr("value", AttrType::Binary, "A DER certificate, base64-encoded."),
                &[],
            ), "X.509 certificates issued to the user.").multi(),
        ],
    },
    Schema {
        id: ENTERPRISE_USER_SCHEMA,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attributes: &[
            string("employeeNumber", "The number the organisation identifies the user by."),
            string("costCenter", "The cost centre the user is charged to."),
            string("organization", "The organisation the user belongs to."),
            string("division", "The division the user belongs to."),
            string("department", "The department the user belongs to."),
            complex("manager", &[
                string("value", "The id of the manager's User resource."),
                reference("$ref", &["User"], "The URI of the manager's User resource."),
                string("displayName", "The manager's display name.").read_only(),
            ], "The user's manager."),
        ],
    },
    Schema {
        id: GROUP_SCHEMA,
        name: "Group",
        description: "Group",
        attributes: &[
            string("displayName", "The name of the group; must not be empty.").mandatory(),
            complex("members", &[
                string("value", "The id of a member resource.").immutable(),
                reference("$ref", &["User", "Group"], "The URI of the member resource.")
                    .immutable(),
                string("display", "The member's display name.").immutable(),
                string("type", "Whether the member is a User or a Group.")
                    .canonical(&["User", "Group"]).immutable(),
            ], "The users and groups in the group; members may be added and removed.").multi(),
        ],
    },
];

/// The schemas the gateway serves: User, Enterprise User and Group.
pub fn schemas() -> &'static [Schema] {
    &SCHEMAS
}

fn schema_by_id(id: &str) -> Option<&'static Schema> {
    SCHEMAS
        .iter()
        .find(|schema| schema.id.eq_ignore_ascii_case(id))
}

fn find(attrs: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The attributes that live at one level of a resource: the core schema's (plus the common
/// ones) at the top level, or one extension's inside its URN-keyed object.
#[derive(Clone, Copy)]
struct Scope {
    schema: &'static Schema,
    /// Whether this is the core scope (includes `id`, `externalId`, `meta`).
    core: bool,
}

impl Scope {
    fn attrs(self) -> impl Iterator<Item = &'static Attribute> {
        let common: &'static [Attribute] = if self.core { &COMMON } else { &[] };
        common.iter().chain(self.schema.attributes)
    }

    fn find(self, name: &str) -> Option<&'static Attribute> {
        self.attrs().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// How to name an attribute of this scope in messages.
    fn path(self, name: &str) -> String {
        if self.core {
            name.to_owned()
        } else {
            format!("{}:{name}", self.schema.id)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery representations
// ---------------------------------------------------------------------------------------------

fn type_name(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

fn mutability_name(mutability: Mutability) -> &'static str {
    match mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    }
}

fn attribute_json(a: &Attribute) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), a.name.into());
    m.insert("type".into(), type_name(a.kind).into());
    m.insert("multiValued".into(), a.multi_valued.into());
    m.insert("description".into(), a.description.into());
    m.insert("required".into(), a.required.into());
    m.insert("caseExact".into(), a.case_exact.into());
    if !a.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), a.canonical_values.into());
    }
    if !a.reference_types.is_empty() {
        m.insert("referenceTypes".into(), a.reference_types.into());
    }
    m.insert("mutability".into(), mutability_name(a.mutability).into());
    m.insert("returned".into(), a.returned.as_str().into());
    m.insert("uniqueness".into(), a.uniqueness.as_str().into());
    if !a.sub_attributes.is_empty() {
        let subs = a.sub_attributes.iter().map(attribute_json).collect();
        m.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(m)
}

/// The `/Schemas/{id}` representation of `schema` (RFC 7643 section 7). `base_url` is the SCIM
/// base URL the client used (a trailing slash is ignored).
pub fn schema_json(schema: &Schema, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let attributes: Vec<Value> = schema.attributes.iter().map(attribute_json).collect();
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", schema.id),
        },
    })
}

/// The `/ResourceTypes/{name}` representation of `kind` (RFC 7643 section 6). `base_url` is the
/// SCIM base URL the client used (a trailing slash is ignored).
pub fn resource_type_json(kind: ResourceKind, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let mut m = Map::new();
    m.insert("schemas".into(), json!([RESOURCE_TYPE_SCHEMA]));
    m.insert("id".into(), kind.name().into());
    m.insert("name".into(), kind.name().into());
    m.insert("endpoint".into(), format!("/{}", kind.endpoint()).into());
    m.insert("description".into(), kind.description().into());
    m.insert("schema".into(), kind.core_schema().into());
    if !kind.extensions().is_empty() {
        let extensions: Vec<Value> = kind
            .extensions()
            .iter()
            .map(|urn| json!({ "schema": urn, "required": false }))
            .collect();
        m.insert("schemaExtensions".into(), Value::Array(extensions));
    }
    m.insert(
        "meta".into(),
        json!({
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", kind.name()),
        }),
    );
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Path resolution and AttrInfo
// ---------------------------------------------------------------------------------------------

/// What an [`AttrPath`] names.
#[derive(Clone, Copy)]
enum Target {
    /// An attribute (or one of its sub-attributes) of `schema`.
    Attr {
        schema: &'static Schema,
        attr: &'static Attribute,
        sub: Option<&'static Attribute>,
    },
    /// A whole extension object (the bare extension URN).
    Extension(&'static Schema),
}

/// Resolve `path` against `kind`'s schemas. Tolerates parsers that leave the URN in `name` or
/// the sub-attribute after a dot in `name`.
fn resolve(kind: ResourceKind, path: &AttrPath) -> Option<Target> {
    let mut urn = path.urn.as_deref();
    let mut name = path.name.as_str();
    let mut sub = path.sub.as_deref();
    if urn.is_none()
        && let Some((u, n)) = name.rsplit_once(':')
    {
        urn = Some(u);
        name = n;
    }
    if sub.is_none()
        && let Some((n, s)) = name.split_once('.')
    {
        name = n;
        sub = Some(s);
    }
    if sub.is_none() {
        let whole = match urn {
            Some(u) => format!("{u}:{name}"),
            None => name.to_owned(),
        };
        if let Some(ext) = kind.extension(&whole) {
            return Some(Target::Extension(ext));
        }
    }
    let scope = match urn {
        None => kind.core_scope(),
        Some(u) if u.eq_ignore_ascii_case(kind.core_schema()) => kind.core_scope(),
        Some(u) => Scope {
            schema: kind.extension(u)?,
            core: false,
        },
    };
    let attr = scope.find(name)?;
    let sub = match sub {
        Some(s) => Some(find(attr.sub_attributes, s)?),
        None => None,
    };
    Some(Target::Attr {
        schema: scope.schema,
        attr,
        sub,
    })
}

/// The top-level attribute a path names and, when it names one, the sub-attribute.
fn resolve_attr(
    kind: ResourceKind,
    path: &AttrPath,
) -> Option<(&'static Attribute, Option<&'static Attribute>)> {
    match resolve(kind, path)? {
        Target::Attr { attr, sub, .. } => Some((attr, sub)),
        Target::Extension(_) => None,
    }
}

impl AttrInfo for ResourceKind {
    fn attr_type(&self, path: &AttrPath) -> Option<AttrType> {
        let (attr, sub) = resolve_attr(*self, path)?;
        Some(sub.unwrap_or(attr).kind)
    }

    /// The table's `caseExact`; references and binary values always compare exactly
    /// (RFC 7643 sections 2.3.6 and 2.3.7), even where section 8.7.1 lists `caseExact: false`.
    fn case_exact(&self, path: &AttrPath) -> bool {
        resolve_attr(*self, path).is_some_and(|(attr, sub)| {
            let a = sub.unwrap_or(attr);
            a.case_exact || matches!(a.kind, AttrType::Reference | AttrType::Binary)
        })
    }

    fn multi_valued(&self, path: &AttrPath) -> bool {
        resolve_attr(*self, path).is_some_and(|(attr, _)| attr.multi_valued)
    }

    /// A sub-attribute of a read-only attribute is read-only whatever its own entry says.
    fn mutability(&self, path: &AttrPath) -> Option<Mutability> {
        let (attr, sub) = resolve_attr(*self, path)?;
        Some(match sub {
            Some(_) if attr.mutability == Mutability::ReadOnly => Mutability::ReadOnly,
            Some(sub) => sub.mutability,
            None => attr.mutability,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/// Why client input was rejected. Every variant is an HTTP 400 with the given `scimType`.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The request is not shaped like a SCIM resource (`invalidSyntax`).
    #[error("{0}")]
    InvalidSyntax(String),
    /// An attribute is unknown, missing, of the wrong type or otherwise unacceptable
    /// (`invalidValue`).
    #[error("{0}")]
    InvalidValue(String),
    /// The request tries to change an immutable attribute (`mutability`).
    #[error("{0}")]
    Mutability(String),
}

impl SchemaError {
    /// The RFC 7644 section 3.12 `scimType` for this error.
    pub fn scim_type(&self) -> &'static str {
        match self {
            Self::InvalidSyntax(_) => "invalidSyntax",
            Self::InvalidValue(_) => "invalidValue",
            Self::Mutability(_) => "mutability",
        }
    }
}

/// What [`prepare_input`] does with an attribute the schema does not define.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownAttributes {
    /// Refuse the request with `400 invalidValue` naming the attribute (the default).
    #[default]
    Reject,
    /// Drop the attribute and accept the rest (for clients that send extras).
    Ignore,
}

/// Validate and normalise a client-supplied resource (POST body, PUT body, or a PATCH result).
/// `existing` is the stored resource for PUT/PATCH (None for create). Returns the normalised JSON
/// object to store (without id/meta: the caller adds those).
///
/// The result uses canonical attribute names, lists `schemas` first (the core schema plus the
/// extensions that hold data), then the attributes in schema order. Read-only attributes are
/// dropped; `null` and empty values are removed. A write-only attribute (`password`) the body
/// does not mention is carried over from `existing`, since clients cannot read it back; an
/// immutable value already set is carried over when the body omits it.
pub fn prepare_input(
    kind: ResourceKind,
    body: &Value,
    existing: Option<&Value>,
    unknown: UnknownAttributes,
) -> Result<Map<String, Value>, SchemaError> {
    let Value::Object(input) = body else {
        return Err(SchemaError::InvalidSyntax(
            "the resource must be a JSON object".into(),
        ));
    };
    check_schemas(kind, input)?;

    let checker = Checker {
        resource: kind.name(),
        unknown,
    };
    let core = kind.core_scope();
    let extensions: Vec<Scope> = kind.extension_scopes().collect();
    let mut core_raw = Map::new();
    let mut ext_raw: Vec<Map<String, Value>> = vec![Map::new(); extensions.len()];

    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some((scope, raw)) = extensions
            .iter()
            .zip(ext_raw.iter_mut())
            .find(|(scope, _)| scope.schema.id.eq_ignore_ascii_case(key))
        {
            match value {
                Value::Null => {}
                Value::Object(obj) => {
                    for (k, v) in obj {
                        checker.put(*scope, raw, k, v)?;
                    }
                }
                _ => {
                    return Err(SchemaError::InvalidValue(format!(
                        "'{}' must be an object",
                        scope.schema.id
                    )));
                }
            }
            continue;
        }
        if let Some((scope, raw, rest)) = extensions
            .iter()
            .zip(ext_raw.iter_mut())
            .find_map(|(scope, raw)| strip_urn(key, scope.schema.id).map(|rest| (scope, raw, rest)))
        {
            checker.put(*scope, raw, rest, value)?;
            continue;
        }
        let name = strip_urn(key, core.schema.id).unwrap_or(key);
        checker.put(core, &mut core_raw, name, value)?;
    }

    let existing = existing.and_then(Value::as_object);
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Null); // placeholder that keeps `schemas` first
    let mut urns = vec![Value::from(core.schema.id)];
    out.extend(checker.prepare_scope(core, &core_raw, existing)?);
    for (scope, raw) in extensions.iter().zip(&ext_raw) {
        let old = existing
            .and_then(|e| get_ci(e, scope.schema.id))
            .and_then(Value::as_object);
        let prepared = checker.prepare_scope(*scope, raw, old)?;
        if !prepared.is_empty() {
            urns.push(scope.schema.id.into());
            out.insert(scope.schema.id.into(), Value::Object(prepared));
        }
    }
    out.insert("schemas".into(), Value::Array(urns));
    Ok(out)
}

/// `schemas` must be an array of strings naming the core schema and only known extensions.
fn check_schemas(kind: ResourceKind, input: &Map<String, Value>) -> Result<(), SchemaError> {
    let Some(value) = get_ci(input, "schemas") else {
        return Err(SchemaError::InvalidSyntax(
            "the 'schemas' attribute is missing".into(),
        ));
    };
    let Value::Array(items) = value else {
        return Err(SchemaError::InvalidSyntax(
            "'schemas' must be an array of schema URNs".into(),
        ));
    };
    let mut has_core = false;
    for item in items {
        let Value::String(urn) = item else {
            return Err(SchemaError::InvalidSyntax(
                "'schemas' must be an array of schema URNs".into(),
            ));
        };
        if urn.eq_ignore_ascii_case(kind.core_schema()) {
            has_core = true;
        } else if kind.extension(urn).is_none() {
            return Err(SchemaError::InvalidValue(format!(
                "schema '{urn}' is not supported for {} resources",
                kind.name()
            )));
        }
    }
    if has_core {
        Ok(())
    } else {
        Err(SchemaError::InvalidValue(format!(
            "'schemas' must include '{}'",
            kind.core_schema()
        )))
    }
}

/// What follows `urn` and a colon in `key`, when `key` starts that way (URN case-insensitive).
fn strip_urn<'a>(key: &'a str, urn: &str) -> Option<&'a str> {
    let head = key.get(..urn.len())?;
    let rest = key.get(urn.len()..)?.strip_prefix(':')?;
    (head.eq_ignore_ascii_case(urn) && !rest.is_empty()).then_some(rest)
}

/// Look `key` up in `map`, exactly first, then case-insensitively.
fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean",
        AttrType::Decimal => "a number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "an RFC 3339 date-time string",
        AttrType::Binary => "a base64 string",
        AttrType::Reference => "a URI string",
        AttrType::Complex => "an object",
    }
}

fn required_error(path: &str) -> SchemaError {
    SchemaError::InvalidValue(format!("attribute '{path}' is required"))
}

fn duplicate_error(path: &str) -> SchemaError {
    SchemaError::InvalidValue(format!("attribute '{path}' is given more than once"))
}

/// A required string must also be non-empty after trimming (RFC 7643 asks this of `userName`;
/// the gateway applies it to every required string).
fn check_not_blank(attr: &Attribute, value: &Value, path: &str) -> Result<(), SchemaError> {
    match value {
        Value::String(s) if attr.required && s.trim().is_empty() => Err(SchemaError::InvalidValue(
            format!("attribute '{path}' must not be empty"),
        )),
        _ => Ok(()),
    }
}

/// Whether two stored values are the same, comparing strings as the attribute's `caseExact` says.
fn same_value(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y))
            if !attr.case_exact && !matches!(attr.kind, AttrType::Reference | AttrType::Binary) =>
        {
            x.to_lowercase() == y.to_lowercase()
        }
        _ => a == b,
    }
}

/// Apply immutability: a value already set may not change; when the input omits it (or sends
/// `null`), the stored value stays. Handles an immutable top-level attribute and immutable
/// sub-attributes of a single-valued complex attribute; multi-valued attributes (Group
/// `members`) are left alone so that values can be added and removed.
fn keep_immutable(
    attr: &Attribute,
    old: Option<&Value>,
    new: Option<Value>,
    path: &str,
) -> Result<Option<Value>, SchemaError> {
    if attr.mutability == Mutability::Immutable {
        return match (old, new) {
            (Some(o), Some(n)) if !same_value(attr, o, &n) => Err(SchemaError::Mutability(
                format!("attribute '{path}' is immutable and cannot be changed"),
            )),
            (Some(o), _) => Ok(Some(o.clone())),
            (None, n) => Ok(n),
        };
    }
    let has_immutable_subs = attr
        .sub_attributes
        .iter()
        .any(|s| s.mutability == Mutability::Immutable);
    if attr.kind != AttrType::Complex || attr.multi_valued || !has_immutable_subs {
        return Ok(new);
    }
    let Some(Value::Object(old_obj)) = old else {
        return Ok(new);
    };
    let mut obj = match new {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for sub in attr.sub_attributes {
        if sub.mutability != Mutability::Immutable {
            continue;
        }
        let o = get_ci(old_obj, sub.name).filter(|v| !v.is_null());
        let n = obj.get(sub.name).cloned();
        if let Some(v) = keep_immutable(sub, o, n, &format!("{path}.{}", sub.name))? {
            obj.insert(sub.name.to_owned(), v);
        }
    }
    Ok((!obj.is_empty()).then_some(Value::Object(obj)))
}

/// Validation context: the resource type named in messages.
struct Checker {
    /// The resource type's name, for messages.
    resource: &'static str,
    /// What to do with attributes the schema does not define.
    unknown: UnknownAttributes,
}

impl Checker {
    /// The one place that decides what happens to an attribute the schema does not define:
    /// an error by default, so that a misspelt attribute is refused rather than silently lost;
    /// dropped (`Ok`) when the operator chose [`UnknownAttributes::Ignore`].
    fn unknown(&self, path: &str) -> Result<(), SchemaError> {
        if self.unknown == UnknownAttributes::Ignore {
            return Ok(());
        }
        Err(SchemaError::InvalidValue(format!(
            "unknown attribute '{path}' for {}",
            self.resource
        )))
    }

    /// Record the raw input `value` for attribute `name` (which may be `attr.sub` for a
    /// single-valued complex attribute) of `scope` under its canonical name in `raw`.
    fn put(
        &self,
        scope: Scope,
        raw: &mut Map<String, Value>,
        name: &str,
        value: &Value,
    ) -> Result<(), SchemaError> {
        let (top, sub) = match name.split_once('.') {
            Some((top, sub)) => (top, Some(sub)),
            None => (name, None),
        };
        let Some(attr) = scope.find(top) else {
            return self.unknown(&scope.path(name));
        };
        let Some(sub) = sub else {
            if raw.contains_key(attr.name) {
                return Err(duplicate_error(&scope.path(attr.name)));
            }
            raw.insert(attr.name.to_owned(), value.clone());
            return Ok(());
        };
        let Some(sub_attr) = find(attr.sub_attributes, sub) else {
            return self.unknown(&scope.path(&format!("{}.{sub}", attr.name)));
        };
        let path = scope.path(&format!("{}.{}", attr.name, sub_attr.name));
        if attr.multi_valued {
            return Err(SchemaError::InvalidValue(format!(
                "'{path}' cannot be set on its own; set '{}' instead",
                attr.name
            )));
        }
        let entry = raw
            .entry(attr.name)
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(obj) = entry else {
            return Err(duplicate_error(&path));
        };
        if obj.keys().any(|k| k.eq_ignore_ascii_case(sub_attr.name)) {
            return Err(duplicate_error(&path));
        }
        obj.insert(sub_attr.name.to_owned(), value.clone());
        Ok(())
    }

    /// Validate the raw attributes of one scope (keyed by canonical name) into their stored
    /// form, in schema order.
    fn prepare_scope(
        &self,
        scope: Scope,
        raw: &Map<String, Value>,
        existing: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, SchemaError> {
        let mut out = Map::new();
        for attr in scope.attrs() {
            if attr.mutability == Mutability::ReadOnly {
                continue;
            }
            let path = scope.path(attr.name);
            let given = raw.get(attr.name);
            let old = existing
                .and_then(|e| get_ci(e, attr.name))
                .filter(|v| !v.is_null());
            let new = match given {
                Some(v) => self.normalise(attr, v, &path)?,
                None => None,
            };
            let value = if attr.mutability == Mutability::WriteOnly && given.is_none() {
                old.cloned()
            } else {
                keep_immutable(attr, old, new, &path)?
            };
            match value {
                Some(v) => {
                    check_not_blank(attr, &v, &path)?;
                    out.insert(attr.name.to_owned(), v);
                }
                None if attr.required => return Err(required_error(&path)),
                None => {}
            }
        }
        Ok(out)
    }

    /// Check and normalise one attribute's value; `None` means "unassigned".
    fn normalise(
        &self,
        attr: &Attribute,
        value: &Value,
        path: &str,
    ) -> Result<Option<Value>, SchemaError> {
        if attr.mutability == Mutability::ReadOnly || value.is_null() {
            return Ok(None);
        }
        if !attr.multi_valued {
            return self.normalise_single(attr, value, path);
        }
        // Be tolerant: a lone value stands for a one-element list.
        let items = match value {
            Value::Array(items) => items.as_slice(),
            single => std::slice::from_ref(single),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = self.normalise_single(attr, item, path)? {
                out.push(v);
            }
        }
        let primaries = out
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(SchemaError::InvalidValue(format!(
                "at most one value of '{path}' may be primary"
            )));
        }
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    /// Check one (non-list) value against the attribute's type.
    fn normalise_single(
        &self,
        attr: &Attribute,
        value: &Value,
        path: &str,
    ) -> Result<Option<Value>, SchemaError> {
        let ok = |v: Value| Ok(Some(v));
        match (attr.kind, value) {
            (_, Value::Null) => Ok(None),
            (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_))
            | (AttrType::Boolean, Value::Bool(_))
            | (AttrType::Decimal, Value::Number(_)) => ok(value.clone()),
            (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
                ok(Value::Bool(true))
            }
            (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
                ok(Value::Bool(false))
            }
            (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => ok(value.clone()),
            (AttrType::Integer, Value::Number(n))
                if n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) =>
            {
                ok(Value::from(n.as_f64().map_or(0, |f| f as i64)))
            }
            (AttrType::DateTime, Value::String(s))
                if OffsetDateTime::parse(s, &Rfc3339).is_ok() =>
            {
                ok(value.clone())
            }
            (AttrType::Complex, Value::Object(obj)) => self.normalise_complex(attr, obj, path),
            // Entra ID sends a single-valued complex attribute such as `manager` as a bare id.
            (AttrType::Complex, Value::String(s))
                if !attr.multi_valued && find(attr.sub_attributes, "value").is_some() =>
            {
                let mut obj = Map::new();
                obj.insert("value".into(), Value::String(s.clone()));
                self.normalise_complex(attr, &obj, path)
            }
            _ => Err(SchemaError::InvalidValue(format!(
                "attribute '{path}' must be {}, not {}",
                expected(attr.kind),
                json_type(value)
            ))),
        }
    }

    /// Check a complex value's sub-attributes; output in schema order with canonical names.
    fn normalise_complex(
        &self,
        attr: &Attribute,
        obj: &Map<String, Value>,
        path: &str,
    ) -> Result<Option<Value>, SchemaError> {
        let mut given: Vec<Option<&Value>> = vec![None; attr.sub_attributes.len()];
        for (key, value) in obj {
            let found = attr
                .sub_attributes
                .iter()
                .zip(given.iter_mut())
                .find(|(sub, _)| sub.name.eq_ignore_ascii_case(key));
            let Some((sub, slot)) = found else {
                self.unknown(&format!("{path}.{key}"))?;
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(duplicate_error(&format!("{path}.{}", sub.name)));
            }
        }
        let mut out = Map::new();
        for (sub, value) in attr.sub_attributes.iter().zip(given) {
            let sub_path = format!("{path}.{}", sub.name);
            let normalised = match value {
                Some(v) => self.normalise(sub, v, &sub_path)?,
                None => None,
            };
            if let Some(v) = normalised {
                check_not_blank(sub, &v, &sub_path)?;
                out.insert(sub.name.to_owned(), v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        if let Some(missing) = attr.sub_attributes.iter().find(|s| {
            s.required && s.mutability != Mutability::ReadOnly && !out.contains_key(s.name)
        }) {
            return Err(required_error(&format!("{path}.{}", missing.name)));
        }
        Ok(Some(Value::Object(out)))
    }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// The resolved `attributes` and `excludedAttributes` of a request.
struct Selection {
    include: Vec<Target>,
    exclude: Vec<Target>,
}

/// Whether `list` names `attr` of `schema` as a whole (or its whole extension).
fn names_whole(list: &[Target], schema: &Schema, attr: &Attribute) -> bool {
    list.iter().any(|t| match t {
        Target::Extension(s) => s.id == schema.id,
        Target::Attr {
            schema: s,
            attr: a,
            sub: None,
        } => s.id == schema.id && a.name == attr.name,
        Target::Attr { .. } => false,
    })
}

/// The sub-attributes of `attr` that `list` names.
fn named_subs(list: &[Target], schema: &Schema, attr: &Attribute) -> Vec<&'static str> {
    list.iter()
        .filter_map(|t| match t {
            Target::Attr {
                schema: s,
                attr: a,
                sub: Some(sub),
            } if s.id == schema.id && a.name == attr.name => Some(sub.name),
            _ => None,
        })
        .collect()
}

impl Selection {
    /// The output form of `value`, the value of `attr` of `schema`, or `None` to leave it out.
    fn project_attr(&self, schema: &Schema, attr: &Attribute, value: &Value) -> Option<Value> {
        match attr.returned {
            Returned::Never => return None,
            Returned::Always => return filter_value(attr, value, None, &[]),
            Returned::Default | Returned::Request => {}
        }
        let only = if self.include.is_empty() {
            if attr.returned == Returned::Request {
                return None;
            }
            None
        } else if names_whole(&self.include, schema, attr) {
            None
        } else {
            let subs = named_subs(&self.include, schema, attr);
            if subs.is_empty() {
                return None;
            }
            Some(subs)
        };
        if names_whole(&self.exclude, schema, attr) {
            return None;
        }
        let excluded = named_subs(&self.exclude, schema, attr);
        filter_value(attr, value, only.as_deref(), &excluded)
    }

    /// Project one scope's attributes (the top level or an extension object).
    fn project_scope(&self, scope: Scope, src: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in src {
            // Stored data outside the schema is never shown.
            let Some(attr) = scope.find(key) else {
                continue;
            };
            if let Some(v) = self.project_attr(scope.schema, attr, value) {
                out.insert(attr.name.to_owned(), v);
            }
        }
        out
    }
}

/// Keep the sub-attributes of a complex value (each element, for a list) that should be
/// returned: named in `only` (all non-`request` ones when `None`), not in `excluded`; `always`
/// ones are kept and `never` ones dropped regardless. Elements left empty are dropped.
fn filter_value(
    attr: &Attribute,
    value: &Value,
    only: Option<&[&str]>,
    excluded: &[&str],
) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    if attr.kind != AttrType::Complex {
        return Some(value.clone());
    }
    let filter_object = |item: &Value| -> Option<Value> {
        let Value::Object(obj) = item else {
            return Some(item.clone());
        };
        let mut out = Map::new();
        for (key, v) in obj {
            let Some(sub) = find(attr.sub_attributes, key) else {
                continue;
            };
            let keep = match sub.returned {
                Returned::Never => false,
                Returned::Always => true,
                returned => {
                    let wanted = match only {
                        Some(names) => names.contains(&sub.name),
                        None => returned != Returned::Request,
                    };
                    wanted && !excluded.contains(&sub.name)
                }
            };
            if keep && !v.is_null() {
                out.insert(sub.name.to_owned(), v.clone());
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(filter_object).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => filter_object(other),
    }
}

/// Removes the top-level attributes that are never returned (`password`) from a stored
/// resource, in place. With no `attributes` / `excludedAttributes` in the request this is all
/// that [`project`] would change: a stored resource is already canonical, since
/// [`prepare_input`] made it so. It is the cheap path of every plain GET.
pub fn strip_never_returned(kind: ResourceKind, resource: &mut Value) {
    if let Some(obj) = resource.as_object_mut() {
        for name in never_returned(kind) {
            // `shift_remove` keeps the other attributes in the order `project` gives them.
            obj.shift_remove(name);
        }
    }
}

/// The top-level attributes of `kind` that are never returned (`password`).
pub fn never_returned(kind: ResourceKind) -> impl Iterator<Item = &'static str> {
    kind.schema()
        .attributes
        .iter()
        .filter(|a| a.returned == Returned::Never)
        .map(|a| a.name)
}

/// Shape a stored resource (with id, meta, and for users the computed `groups`) for output.
///
/// Applies `returned` and the request's `attributes` / `excludedAttributes` (RFC 7644 sections
/// 3.4.2.5 and 3.9). Paths the schema does not know are ignored; when every path in
/// `attributes` is unknown the default set is returned. `schemas` comes first and lists the core
/// schema plus the extensions that still hold data.
pub fn project(
    kind: ResourceKind,
    resource: &Value,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Value {
    let Value::Object(src) = resource else {
        return resource.clone();
    };
    let selection = Selection {
        include: attributes.iter().filter_map(|p| resolve(kind, p)).collect(),
        exclude: excluded.iter().filter_map(|p| resolve(kind, p)).collect(),
    };
    let mut urns = vec![Value::from(kind.core_schema())];
    let mut extensions = Vec::new();
    for (key, value) in src {
        if let (Some(ext), Value::Object(obj)) = (kind.extension(key), value) {
            let scope = Scope {
                schema: ext,
                core: false,
            };
            let projected = selection.project_scope(scope, obj);
            if !projected.is_empty() {
                urns.push(ext.id.into());
                extensions.push((ext.id.to_owned(), Value::Object(projected)));
            }
        }
    }
    // `schemas` first, then core attributes, then extension objects.
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(urns));
    // Keys that are not core attributes (`schemas`, extension URNs) are skipped here.
    out.extend(selection.project_scope(kind.core_scope(), src));
    out.extend(extensions);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://scim.example.com/scim/v2/";

    fn path(s: &str) -> AttrPath {
        // Mirror what a path parser produces: URN before the last colon, sub after a dot.
        let (urn, rest) = match s.rsplit_once(':') {
            Some((u, r)) => (Some(u.to_owned()), r),
            None => (None, s),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, sub)) => (n.to_owned(), Some(sub.to_owned())),
            None => (rest.to_owned(), None),
        };
        AttrPath { urn, name, sub }
    }

    fn user(extra: Value) -> Value {
        let mut body = json!({ "schemas": [USER_SCHEMA], "userName": "bjensen" });
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        body
    }

    fn prep_user(extra: Value) -> Result<Map<String, Value>, SchemaError> {
        prepare_input(
            ResourceKind::User,
            &user(extra),
            None,
            UnknownAttributes::Reject,
        )
    }

    fn err(result: Result<Map<String, Value>, SchemaError>) -> SchemaError {
        match result {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    fn count_all(attrs: &[Attribute]) -> usize {
        attrs.len()
            + attrs
                .iter()
                .map(|a| count_all(a.sub_attributes))
                .sum::<usize>()
    }

    // --- definitions -------------------------------------------------------------------------

    #[test]
    fn schemas_are_all_present_with_expected_sizes() {
        let ids: Vec<&str> = schemas().iter().map(|s| s.id).collect();
        assert_eq!(ids, [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA]);
        let user = &schemas()[0];
        assert_eq!(user.attributes.len(), 21);
        assert_eq!(count_all(user.attributes), 21 + 6 + 4 * 7 + 8 + 4);
        assert_eq!(schemas()[1].attributes.len(), 6);
        assert_eq!(schemas()[2].attributes.len(), 2);
        let addresses = find(user.attributes, "addresses").expect("addresses");
        assert_eq!(addresses.sub_attributes.len(), 8);
        assert!(
            find(user.attributes, "id").is_none(),
            "common attributes are not listed"
        );
        for s in schemas() {
            for a in s.attributes {
                assert_eq!(
                    a.kind == AttrType::Complex,
                    !a.sub_attributes.is_empty(),
                    "{}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn resource_kind_basics() {
        assert_eq!(ResourceKind::User.name(), "User");
        assert_eq!(ResourceKind::Group.endpoint(), "Groups");
        assert_eq!(ResourceKind::Group.core_schema(), GROUP_SCHEMA);
        assert_eq!(ResourceKind::User.extensions(), [ENTERPRISE_USER_SCHEMA]);
        assert!(ResourceKind::Group.extensions().is_empty());
    }

    #[test]
    fn schema_json_shape() {
        let v = schema_json(&schemas()[0], BASE);
        assert_eq!(v["schemas"], json!([SCHEMA_SCHEMA]));
        assert_eq!(v["id"], USER_SCHEMA);
        assert_eq!(v["name"], "User");
        assert_eq!(v["meta"]["resourceType"], "Schema");
        assert_eq!(
            v["meta"]["location"],
            format!("https://scim.example.com/scim/v2/Schemas/{USER_SCHEMA}")
        );
        let attrs = v["attributes"].as_array().expect("attributes");
        assert_eq!(attrs.len(), 21);
        let user_name = &attrs[0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["type"], "string");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["mutability"], "readWrite");
        assert_eq!(user_name["returned"], "default");
        assert_eq!(user_name["uniqueness"], "server");
        assert!(user_name.get("subAttributes").is_none());
        let password = attrs
            .iter()
            .find(|a| a["name"] == "password")
            .expect("password");
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(password["returned"], "never");
        let emails = attrs
            .iter()
            .find(|a| a["name"] == "emails")
            .expect("emails");
        assert_eq!(emails["multiValued"], true);
        let subs = emails["subAttributes"].as_array().expect("subs");
        let names: Vec<&str> = subs.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["value", "display", "type", "primary"]);
        assert_eq!(subs[2]["canonicalValues"], json!(["work", "home", "other"]));
        let groups = attrs
            .iter()
            .find(|a| a["name"] == "groups")
            .expect("groups");
        assert_eq!(groups["mutability"], "readOnly");
        assert_eq!(
            groups["subAttributes"][1]["referenceTypes"],
            json!(["User", "Group"])
        );

        let group = schema_json(&schemas()[2], "http://h");
        assert_eq!(
            group["meta"]["location"],
            format!("http://h/Schemas/{GROUP_SCHEMA}")
        );
        assert_eq!(
            group["attributes"][1]["subAttributes"][0]["mutability"],
            "immutable"
        );
    }

    #[test]
    fn resource_type_json_shape() {
        let v = resource_type_json(ResourceKind::User, BASE);
        assert_eq!(
            v,
            json!({
                "schemas": [RESOURCE_TYPE_SCHEMA],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "User Account",
                "schema": USER_SCHEMA,
                "schemaExtensions": [{ "schema": ENTERPRISE_USER_SCHEMA, "required": false }],
                "meta": {
                    "resourceType": "ResourceType",
                    "location": "https://scim.example.com/scim/v2/ResourceTypes/User",
                },
            })
        );
        let g = resource_type_json(ResourceKind::Group, "http://h");
        assert_eq!(g["endpoint"], "/Groups");
        assert_eq!(g["schema"], GROUP_SCHEMA);
        assert!(g.get("schemaExtensions").is_none());
        assert_eq!(g["meta"]["location"], "http://h/ResourceTypes/Group");
    }

    // --- AttrInfo ----------------------------------------------------------------------------

    #[test]
    fn attr_info_case_exactness() {
        let u = ResourceKind::User;
        assert!(!u.case_exact(&path("userName")));
        assert!(!u.case_exact(&path("USERNAME")));
        assert!(u.case_exact(&path("externalId")));
        assert!(u.case_exact(&path("id")));
        assert!(!u.case_exact(&path("emails.value")));
        assert!(u.case_exact(&path("x509Certificates.value")), "binary");
        assert!(u.case_exact(&path("profileUrl")), "reference");
        assert!(!u.case_exact(&path("nope")));
        let g = ResourceKind::Group;
        assert!(
            !g.case_exact(&path("members.value")),
            "RFC 8.7.1: caseExact false"
        );
        assert!(g.case_exact(&path("externalId")));
    }

    #[test]
    fn attr_info_types_and_multiplicity() {
        let u = ResourceKind::User;
        assert_eq!(
            u.attr_type(&path("meta.lastModified")),
            Some(AttrType::DateTime)
        );
        assert_eq!(u.attr_type(&path("meta.created")), Some(AttrType::DateTime));
        assert_eq!(u.attr_type(&path("active")), Some(AttrType::Boolean));
        assert_eq!(u.attr_type(&path("name")), Some(AttrType::Complex));
        assert_eq!(u.attr_type(&path("Name.GivenName")), Some(AttrType::String));
        assert_eq!(
            u.attr_type(&path(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value"))),
            Some(AttrType::String)
        );
        let upper = ENTERPRISE_USER_SCHEMA.to_uppercase();
        assert_eq!(
            u.attr_type(&path(&format!("{upper}:department"))),
            Some(AttrType::String)
        );
        assert_eq!(
            u.attr_type(&path(&format!("{USER_SCHEMA}:userName"))),
            Some(AttrType::String)
        );
        // URN left inside `name` by a lenient parser.
        let whole = AttrPath::new(format!("{USER_SCHEMA}:name.familyName"));
        assert_eq!(u.attr_type(&whole), Some(AttrType::String));
        assert_eq!(
            u.attr_type(&path("department")),
            None,
            "extension needs its URN"
        );
        assert_eq!(
            u.attr_type(&path(&format!("{GROUP_SCHEMA}:userName"))),
            None
        );
        assert_eq!(u.attr_type(&path("emails.nope")), None);
        assert_eq!(u.attr_type(&path(ENTERPRISE_USER_SCHEMA)), None);
        assert!(u.multi_valued(&path("emails")));
        assert!(u.multi_valued(&path("emails.value")));
        assert!(!u.multi_valued(&path("name.givenName")));
        assert!(!u.multi_valued(&path("nope")));
        let g = ResourceKind::Group;
        assert!(g.multi_valued(&path("members")));
        assert_eq!(g.attr_type(&path("externalId")), Some(AttrType::String));
        assert_eq!(g.attr_type(&path("userName")), None);
    }

    #[test]
    fn attr_info_mutability() {
        let u = ResourceKind::User;
        assert_eq!(u.mutability(&path("id")), Some(Mutability::ReadOnly));
        assert_eq!(
            u.mutability(&path("externalId")),
            Some(Mutability::ReadWrite)
        );
        assert_eq!(
            u.mutability(&path("meta.version")),
            Some(Mutability::ReadOnly)
        );
        assert_eq!(u.mutability(&path("password")), Some(Mutability::WriteOnly));
        assert_eq!(
            u.mutability(&path("groups.value")),
            Some(Mutability::ReadOnly)
        );
        assert_eq!(
            u.mutability(&path(&format!(
                "{ENTERPRISE_USER_SCHEMA}:manager.displayName"
            ))),
            Some(Mutability::ReadOnly)
        );
        assert_eq!(u.mutability(&path("bogus")), None);
        let g = ResourceKind::Group;
        assert_eq!(g.mutability(&path("members")), Some(Mutability::ReadWrite));
        assert_eq!(
            g.mutability(&path("members.value")),
            Some(Mutability::Immutable)
        );
    }

    // --- prepare_input -----------------------------------------------------------------------

    #[test]
    fn error_scim_types() {
        assert_eq!(
            SchemaError::InvalidSyntax(String::new()).scim_type(),
            "invalidSyntax"
        );
        assert_eq!(
            SchemaError::InvalidValue(String::new()).scim_type(),
            "invalidValue"
        );
        assert_eq!(
            SchemaError::Mutability(String::new()).scim_type(),
            "mutability"
        );
    }

    #[test]
    fn body_and_schemas_are_checked() {
        let u = ResourceKind::User;
        let e = err(prepare_input(
            u,
            &json!([1]),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidSyntax");
        let e = err(prepare_input(
            u,
            &json!({ "userName": "a" }),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidSyntax");
        let e = err(prepare_input(
            u,
            &json!({ "schemas": USER_SCHEMA, "userName": "a" }),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidSyntax");
        let e = err(prepare_input(
            u,
            &json!({ "schemas": [GROUP_SCHEMA], "userName": "a" }),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidValue");
        let body = json!({ "schemas": [USER_SCHEMA, "urn:example:custom"], "userName": "a" });
        let e = err(prepare_input(u, &body, None, UnknownAttributes::Reject));
        assert_eq!(e.scim_type(), "invalidValue");
        assert!(e.to_string().contains("urn:example:custom"), "{e}");
        // Extension URN on a Group is unknown.
        let body = json!({ "schemas": [GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA], "displayName": "g" });
        assert_eq!(
            err(prepare_input(
                ResourceKind::Group,
                &body,
                None,
                UnknownAttributes::Reject
            ))
            .scim_type(),
            "invalidValue"
        );
        // Case-insensitive schema URNs are accepted and re-spelt.
        let body = json!({ "schemas": [USER_SCHEMA.to_uppercase()], "userName": "a" });
        let out = prepare_input(u, &body, None, UnknownAttributes::Reject).expect("ok");
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn names_are_canonicalised_and_ordered() {
        let body = json!({
            "SCHEMAS": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA.to_uppercase()],
            "NAME": { "GIVENNAME": "Barbara", "familyname": "Jensen" },
            "USERNAME": "bjensen",
            "Emails": [{ "VALUE": "b@example.com", "Type": "work" }],
            ENTERPRISE_USER_SCHEMA.to_uppercase(): { "EmployeeNumber": "42" },
        });
        let out =
            prepare_input(ResourceKind::User, &body, None, UnknownAttributes::Reject).expect("ok");
        assert_eq!(
            Value::Object(out.clone()),
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "bjensen",
                "name": { "familyName": "Jensen", "givenName": "Barbara" },
                "emails": [{ "value": "b@example.com", "type": "work" }],
                ENTERPRISE_USER_SCHEMA: { "employeeNumber": "42" },
            })
        );
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "schemas",
                "userName",
                "name",
                "emails",
                ENTERPRISE_USER_SCHEMA
            ]
        );
    }

    #[test]
    fn unknown_attributes_can_be_ignored() {
        let body = user(
            json!({ "adreses": [{ "country": "DE" }], "emails": [{ "value": "a@b", "kind": "x" }] }),
        );
        let out =
            prepare_input(ResourceKind::User, &body, None, UnknownAttributes::Ignore).expect("ok");
        assert!(out.get("adreses").is_none());
        assert_eq!(out["emails"], json!([{ "value": "a@b" }]));
        assert_eq!(out["userName"], body["userName"]);
    }

    #[test]
    fn unknown_attributes_are_rejected() {
        let e = err(prep_user(json!({ "foo": 1 })));
        assert_eq!(e.scim_type(), "invalidValue");
        assert_eq!(e.to_string(), "unknown attribute 'foo' for User");
        let e = err(prep_user(
            json!({ "emails": [{ "value": "a@b", "kind": "x" }] }),
        ));
        assert!(e.to_string().contains("emails.kind"), "{e}");
        let e = err(prep_user(
            json!({ ENTERPRISE_USER_SCHEMA: { "floor": "3" } }),
        ));
        assert!(e.to_string().contains("floor"), "{e}");
        let e = err(prep_user(json!({ "department": "x" })));
        assert_eq!(
            e.scim_type(),
            "invalidValue",
            "extension attributes need their URN"
        );
        let e = err(prep_user(json!({ "userName": "dup", "USERNAME": "dup" })));
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn urn_qualified_keys_are_folded_in() {
        let out = prep_user(json!({
            format!("{ENTERPRISE_USER_SCHEMA}:department"): "Sales",
            format!("{ENTERPRISE_USER_SCHEMA}:manager.value"): "m-1",
            ENTERPRISE_USER_SCHEMA: { "costCenter": "cc" },
            format!("{USER_SCHEMA}:displayName"): "Babs",
        }))
        .expect("ok");
        assert_eq!(out["displayName"], "Babs");
        assert_eq!(out["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA],
            json!({ "costCenter": "cc", "department": "Sales", "manager": { "value": "m-1" } })
        );
        let e = err(prep_user(json!({
            format!("{ENTERPRISE_USER_SCHEMA}:department"): "a",
            ENTERPRISE_USER_SCHEMA: { "department": "b" },
        })));
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn read_only_attributes_are_dropped() {
        let out = prep_user(json!({
            "id": "abc",
            "meta": { "resourceType": "User" },
            "groups": [{ "value": "g1" }],
            ENTERPRISE_USER_SCHEMA: { "manager": { "value": "m", "displayName": "Boss" } },
        }))
        .expect("ok");
        assert!(out.get("id").is_none());
        assert!(out.get("meta").is_none());
        assert!(out.get("groups").is_none());
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA],
            json!({ "manager": { "value": "m" } })
        );
        // Nothing but a read-only value left: the extension disappears.
        let out = prep_user(json!({
            ENTERPRISE_USER_SCHEMA: { "manager": { "displayName": "Boss" } },
        }))
        .expect("ok");
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn boolean_strings_are_converted() {
        let out = prep_user(json!({
            "active": "True",
            "emails": [{ "value": "a@b", "primary": "FALSE" }],
        }))
        .expect("ok");
        assert_eq!(out["active"], true);
        assert_eq!(out["emails"][0]["primary"], false);
        let out = prep_user(json!({ "active": "false" })).expect("ok");
        assert_eq!(out["active"], false);
        assert_eq!(
            err(prep_user(json!({ "active": "yes" }))).scim_type(),
            "invalidValue"
        );
        assert_eq!(
            err(prep_user(json!({ "active": 1 }))).scim_type(),
            "invalidValue"
        );
    }

    #[test]
    fn wrong_types_are_rejected() {
        for (attr, value) in [
            ("userName", json!(5)),
            ("displayName", json!(true)),
            ("name", json!("Barbara Jensen")),
            ("name", json!(["x"])),
            ("emails", json!(["a@b"])),
            ("emails", json!([{ "value": 7 }])),
            ("profileUrl", json!({ "href": "x" })),
            ("x509Certificates", json!([{ "value": [1, 2] }])),
        ] {
            let mut body = json!({ "schemas": [USER_SCHEMA], "userName": "u" });
            body[attr] = value;
            let e = err(prepare_input(
                ResourceKind::User,
                &body,
                None,
                UnknownAttributes::Reject,
            ));
            assert_eq!(e.scim_type(), "invalidValue", "{attr}");
            assert!(e.to_string().contains(attr), "{e}");
        }
        let e = err(prep_user(json!({ "displayName": 3 })));
        assert_eq!(
            e.to_string(),
            "attribute 'displayName' must be a string, not a number"
        );
    }

    #[test]
    fn scalar_type_rules() {
        let checker = Checker {
            resource: "Test",
            unknown: UnknownAttributes::Reject,
        };
        let check = |a: Attribute, v: Value| checker.normalise(&a, &v, a.name);
        let int = attr("n", AttrType::Integer, "");
        assert_eq!(check(int, json!(5)).ok().flatten(), Some(json!(5)));
        assert_eq!(check(int, json!(5.0)).ok().flatten(), Some(json!(5)));
        assert!(check(int, json!(5.5)).is_err());
        assert!(check(int, json!("5")).is_err());
        let dec = attr("d", AttrType::Decimal, "");
        assert_eq!(check(dec, json!(1.5)).ok().flatten(), Some(json!(1.5)));
        assert!(check(dec, json!("1.5")).is_err());
        let dt = date_time("t", "");
        assert!(check(dt, json!("2024-05-01T10:00:00Z")).is_ok());
        assert!(check(dt, json!("2024-05-01T10:00:00.123+02:00")).is_ok());
        assert!(check(dt, json!("yesterday")).is_err());
        assert!(check(dt, json!(1_700_000_000)).is_err());
    }

    #[test]
    fn nulls_and_empties_are_removed() {
        let out = prep_user(json!({
            "displayName": null,
            "emails": [],
            "name": {},
            "phoneNumbers": [null, { "value": null }],
            "addresses": [{ "locality": "Oslo", "region": null }],
            ENTERPRISE_USER_SCHEMA: {},
        }))
        .expect("ok");
        assert_eq!(
            Value::Object(out),
            json!({
                "schemas": [USER_SCHEMA],
                "userName": "bjensen",
                "addresses": [{ "locality": "Oslo" }],
            })
        );
        let out = prep_user(json!({ ENTERPRISE_USER_SCHEMA: null })).expect("ok");
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn required_attributes() {
        let body = json!({ "schemas": [USER_SCHEMA], "displayName": "x" });
        let e = err(prepare_input(
            ResourceKind::User,
            &body,
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.to_string(), "attribute 'userName' is required");
        let e = err(prep_user(json!({ "userName": null })));
        assert_eq!(e.to_string(), "attribute 'userName' is required");
        let e = err(prep_user(json!({ "userName": "   " })));
        assert_eq!(e.scim_type(), "invalidValue");
        assert!(e.to_string().contains("must not be empty"), "{e}");
        // No trimming of values that are kept.
        let out = prep_user(json!({ "userName": " padded " })).expect("ok");
        assert_eq!(out["userName"], " padded ");

        let group =
            |v: Value| prepare_input(ResourceKind::Group, &v, None, UnknownAttributes::Reject);
        let e = err(group(json!({ "schemas": [GROUP_SCHEMA], "members": [] })));
        assert_eq!(e.to_string(), "attribute 'displayName' is required");
        let out = group(json!({
            "schemas": [GROUP_SCHEMA],
            "displayName": "Admins",
            "members": [{ "value": "u1", "display": "Babs", "type": "User" }],
        }))
        .expect("ok");
        assert_eq!(out["members"][0]["value"], "u1");
    }

    #[test]
    fn required_sub_attributes() {
        static SUBS: [Attribute; 2] = [string("value", "").mandatory(), string("label", "")];
        let checker = Checker {
            resource: "Test",
            unknown: UnknownAttributes::Reject,
        };
        let a = complex("thing", &SUBS, "");
        let e = checker.normalise(&a, &json!({ "label": "x" }), "thing");
        assert_eq!(
            err(e.map(|_| Map::new())).to_string(),
            "attribute 'thing.value' is required"
        );
        assert_eq!(
            checker
                .normalise(&a, &json!({ "label": null }), "thing")
                .ok(),
            Some(None)
        );
    }

    static IMMUTABLE_ATTRS: [Attribute; 3] = [
        string("code", "").immutable(),
        complex(
            "badge",
            &[string("serial", "").immutable(), string("label", "")],
            "",
        ),
        string("note", ""),
    ];
    static IMMUTABLE_SCHEMA: Schema = Schema {
        id: "urn:example:test",
        name: "Test",
        description: "",
        attributes: &IMMUTABLE_ATTRS,
    };

    fn prepare_immutable(raw: Value, existing: Value) -> Result<Map<String, Value>, SchemaError> {
        let scope = Scope {
            schema: &IMMUTABLE_SCHEMA,
            core: false,
        };
        let checker = Checker {
            resource: "Test",
            unknown: UnknownAttributes::Reject,
        };
        let raw = raw.as_object().cloned().unwrap_or_default();
        checker.prepare_scope(scope, &raw, existing.as_object())
    }

    #[test]
    fn immutable_values_cannot_change() {
        let existing = json!({ "code": "A1", "badge": { "serial": "S1", "label": "old" } });
        let e = err(prepare_immutable(json!({ "code": "B2" }), existing.clone()));
        assert_eq!(e.scim_type(), "mutability");
        assert!(e.to_string().contains("code"), "{e}");
        let e = err(prepare_immutable(
            json!({ "code": "A1", "badge": { "serial": "S2" } }),
            existing.clone(),
        ));
        assert_eq!(e.scim_type(), "mutability");
        assert!(e.to_string().contains("badge.serial"), "{e}");
        // Unchanged (or case-only for a case-insensitive string) is fine; omitted keeps the value.
        let out = prepare_immutable(
            json!({ "code": "a1", "badge": { "label": "new" }, "note": "n" }),
            existing.clone(),
        )
        .expect("ok");
        assert_eq!(
            Value::Object(out),
            json!({ "code": "A1", "badge": { "serial": "S1", "label": "new" }, "note": "n" })
        );
        let out = prepare_immutable(json!({ "code": null }), existing).expect("ok");
        assert_eq!(out["code"], "A1");
        // Still unassigned: may be set.
        let out = prepare_immutable(json!({ "code": "C3" }), json!({})).expect("ok");
        assert_eq!(out["code"], "C3");
    }

    #[test]
    fn group_members_may_change_despite_immutable_sub_attributes() {
        let existing = json!({
            "schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G",
            "members": [{ "value": "u1" }],
        });
        let body = json!({
            "schemas": [GROUP_SCHEMA], "displayName": "G",
            "members": [{ "value": "u2" }, { "value": "u3" }],
        });
        let out = prepare_input(
            ResourceKind::Group,
            &body,
            Some(&existing),
            UnknownAttributes::Reject,
        )
        .expect("ok");
        assert_eq!(
            out["members"],
            json!([{ "value": "u2" }, { "value": "u3" }])
        );
    }

    #[test]
    fn password_is_kept_and_carried_over() {
        let out = prep_user(json!({ "password": "s3cret!" })).expect("ok");
        assert_eq!(out["password"], "s3cret!");
        let existing =
            json!({ "schemas": [USER_SCHEMA], "userName": "bjensen", "password": "old" });
        let put = user(json!({ "displayName": "B" }));
        let out = prepare_input(
            ResourceKind::User,
            &put,
            Some(&existing),
            UnknownAttributes::Reject,
        )
        .expect("ok");
        assert_eq!(out["password"], "old");
        let put = user(json!({ "password": null }));
        let out = prepare_input(
            ResourceKind::User,
            &put,
            Some(&existing),
            UnknownAttributes::Reject,
        )
        .expect("ok");
        assert!(out.get("password").is_none());
    }

    #[test]
    fn two_primaries_are_rejected() {
        let e = err(prep_user(json!({
            "emails": [
                { "value": "a@b", "primary": true },
                { "value": "c@d", "primary": "True" },
            ],
        })));
        assert_eq!(e.scim_type(), "invalidValue");
        assert!(e.to_string().contains("emails"), "{e}");
        let ok = prep_user(json!({
            "emails": [{ "value": "a@b", "primary": true }, { "value": "c@d", "primary": false }],
        }));
        assert!(ok.is_ok());
    }

    #[test]
    fn single_values_are_wrapped_into_lists() {
        let out = prep_user(json!({ "emails": { "value": "a@b", "type": "work" } })).expect("ok");
        assert_eq!(out["emails"], json!([{ "value": "a@b", "type": "work" }]));
        let body = json!({
            "schemas": [GROUP_SCHEMA], "displayName": "G", "members": { "value": "u1" },
        });
        let out =
            prepare_input(ResourceKind::Group, &body, None, UnknownAttributes::Reject).expect("ok");
        assert_eq!(out["members"], json!([{ "value": "u1" }]));
    }

    #[test]
    fn manager_string_becomes_object() {
        let out =
            prep_user(json!({ ENTERPRISE_USER_SCHEMA: { "manager": "boss-id" } })).expect("ok");
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({ "value": "boss-id" })
        );
        let out =
            prep_user(json!({ format!("{ENTERPRISE_USER_SCHEMA}:manager"): "m2" })).expect("ok");
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({ "value": "m2" })
        );
        let e = err(prep_user(json!({ ENTERPRISE_USER_SCHEMA: "x" })));
        assert_eq!(e.scim_type(), "invalidValue");
    }

    // --- project -----------------------------------------------------------------------------

    fn stored_user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "2819c223",
            "externalId": "ext-1",
            "userName": "bjensen",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "password": "secret",
            "emails": [
                { "value": "b@work", "type": "work", "primary": true },
                { "value": "b@home", "type": "home" },
            ],
            ENTERPRISE_USER_SCHEMA: { "department": "Sales", "costCenter": "42" },
            "groups": [{ "value": "g1", "display": "Admins" }],
            "meta": {
                "resourceType": "User",
                "created": "2024-01-01T00:00:00Z",
                "lastModified": "2024-01-02T00:00:00Z",
                "version": "W/\"1\"",
            },
        })
    }

    fn proj(attributes: &[&str], excluded: &[&str]) -> Value {
        let a: Vec<AttrPath> = attributes.iter().map(|s| path(s)).collect();
        let e: Vec<AttrPath> = excluded.iter().map(|s| path(s)).collect();
        project(ResourceKind::User, &stored_user(), &a, &e)
    }

    #[test]
    fn default_projection_hides_password_only() {
        let out = proj(&[], &[]);
        let mut expected = stored_user();
        if let Some(obj) = expected.as_object_mut() {
            obj.remove("password");
        }
        assert_eq!(out, expected);
        let keys: Vec<&str> = out
            .as_object()
            .map_or(vec![], |o| o.keys().map(String::as_str).collect());
        assert_eq!(keys.first(), Some(&"schemas"));
        assert_eq!(
            keys.last(),
            Some(&ENTERPRISE_USER_SCHEMA),
            "extensions come last"
        );
        // Even when asked for.
        assert!(proj(&["password"], &[]).get("password").is_none());
    }

    #[test]
    fn attributes_select_with_sub_attributes() {
        assert_eq!(
            proj(&["name.givenName"], &[]),
            json!({ "schemas": [USER_SCHEMA], "id": "2819c223", "name": { "givenName": "Barbara" } })
        );
        assert_eq!(
            proj(&["emails.value", "userName"], &[]),
            json!({
                "schemas": [USER_SCHEMA],
                "id": "2819c223",
                "userName": "bjensen",
                "emails": [{ "value": "b@work" }, { "value": "b@home" }],
            })
        );
        let out = proj(&["EMAILS", "meta.lastModified"], &[]);
        assert_eq!(out["emails"], stored_user()["emails"]);
        assert_eq!(
            out["meta"],
            json!({ "lastModified": "2024-01-02T00:00:00Z" })
        );
        assert!(out.get("userName").is_none());
        // Unknown names are ignored; all unknown means the default set.
        assert_eq!(proj(&["userName", "nonsense"], &[])["userName"], "bjensen");
        assert_eq!(proj(&["nonsense"], &[]), proj(&[], &[]));
    }

    #[test]
    fn excluded_attributes() {
        let out = proj(&[], &["emails", "name.familyName", "id", "bogus"]);
        assert!(out.get("emails").is_none());
        assert_eq!(out["name"], json!({ "givenName": "Barbara" }));
        assert_eq!(out["id"], "2819c223", "id is returned always");
        assert_eq!(out["userName"], "bjensen");
        let out = proj(&[], &["meta", "groups.display"]);
        assert!(out.get("meta").is_none());
        assert_eq!(out["groups"], json!([{ "value": "g1" }]));
    }

    #[test]
    fn urn_qualified_projection() {
        let out = proj(&[&format!("{USER_SCHEMA}:userName")], &[]);
        assert_eq!(
            out,
            json!({ "schemas": [USER_SCHEMA], "id": "2819c223", "userName": "bjensen" })
        );
        let out = proj(&[&format!("{ENTERPRISE_USER_SCHEMA}:department")], &[]);
        assert_eq!(
            out,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "id": "2819c223",
                ENTERPRISE_USER_SCHEMA: { "department": "Sales" },
            })
        );
        let out = proj(&[ENTERPRISE_USER_SCHEMA], &[]);
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA],
            json!({ "department": "Sales", "costCenter": "42" })
        );
        // Excluding the whole extension drops its URN from `schemas`.
        let out = proj(&[], &[&ENTERPRISE_USER_SCHEMA.to_lowercase()]);
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
        let out = proj(&[], &[&format!("{ENTERPRISE_USER_SCHEMA}:department")]);
        assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({ "costCenter": "42" }));
    }

    #[test]
    fn group_projection() {
        let group = json!({
            "schemas": [GROUP_SCHEMA],
            "id": "g1",
            "displayName": "Admins",
            "members": [{ "value": "u1", "display": "Babs", "type": "User" }],
            "meta": { "resourceType": "Group" },
        });
        assert_eq!(project(ResourceKind::Group, &group, &[], &[]), group);
        let out = project(ResourceKind::Group, &group, &[], &[path("members")]);
        assert!(out.get("members").is_none());
        let out = project(ResourceKind::Group, &group, &[path("displayName")], &[]);
        assert_eq!(
            out,
            json!({ "schemas": [GROUP_SCHEMA], "id": "g1", "displayName": "Admins" })
        );
    }
}
