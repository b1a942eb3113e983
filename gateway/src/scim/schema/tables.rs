//! The definition tables: the attribute builders, the common attributes (`id`, `externalId`,
//! `meta`) and the User, Enterprise User and Group schemas as static data, with lookups into them.

use super::{
    Attribute, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, Returned, Schema, USER_SCHEMA, Uniqueness,
};
use crate::scim::attr::{AttrType, Mutability};

/// A single-valued, optional, case-insensitive, read-write, default-returned attribute.
pub(super) const fn attr(
    name: &'static str,
    kind: AttrType,
    description: &'static str,
) -> Attribute {
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

pub(super) const fn string(name: &'static str, description: &'static str) -> Attribute {
    attr(name, AttrType::String, description)
}

pub(super) const fn boolean(name: &'static str, description: &'static str) -> Attribute {
    attr(name, AttrType::Boolean, description)
}

pub(super) const fn date_time(name: &'static str, description: &'static str) -> Attribute {
    attr(name, AttrType::DateTime, description)
}

pub(super) const fn reference(
    name: &'static str,
    types: &'static [&'static str],
    description: &'static str,
) -> Attribute {
    Attribute {
        reference_types: types,
        ..attr(name, AttrType::Reference, description)
    }
}

pub(super) const fn complex(
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
    pub(super) const fn multi(self) -> Self {
        Self {
            multi_valued: true,
            ..self
        }
    }
    pub(super) const fn mandatory(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }
    pub(super) const fn exact(self) -> Self {
        Self {
            case_exact: true,
            ..self
        }
    }
    pub(super) const fn read_only(self) -> Self {
        Self {
            mutability: Mutability::ReadOnly,
            ..self
        }
    }
    pub(super) const fn immutable(self) -> Self {
        Self {
            mutability: Mutability::Immutable,
            ..self
        }
    }
    pub(super) const fn write_only(self) -> Self {
        Self {
            mutability: Mutability::WriteOnly,
            ..self
        }
    }
    pub(super) const fn always(self) -> Self {
        Self {
            returned: Returned::Always,
            ..self
        }
    }
    pub(super) const fn never(self) -> Self {
        Self {
            returned: Returned::Never,
            ..self
        }
    }
    pub(super) const fn server_unique(self) -> Self {
        Self {
            uniqueness: Uniqueness::Server,
            ..self
        }
    }
    pub(super) const fn canonical(self, values: &'static [&'static str]) -> Self {
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
pub(super) static COMMON: [Attribute; 3] = [
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
pub(super) static SCHEMAS: [Schema; 3] = [
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

/// The schemas the gateway serves: User, Enterprise User and Group, then the declared
/// extensions.
pub fn schemas() -> impl Iterator<Item = &'static Schema> {
    super::declared::registry().schemas()
}

pub(super) fn schema_by_id(id: &str) -> Option<&'static Schema> {
    schemas().find(|schema| schema.id.eq_ignore_ascii_case(id))
}

pub(super) fn find(attrs: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_all(attrs: &[Attribute]) -> usize {
        attrs.len()
            + attrs
                .iter()
                .map(|a| count_all(a.sub_attributes))
                .sum::<usize>()
    }

    #[test]
    fn schemas_are_all_present_with_expected_sizes() {
        let ids: Vec<&str> = schemas().map(|s| s.id).collect();
        assert_eq!(ids, [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA]);
        let user = &SCHEMAS[0];
        assert_eq!(user.attributes.len(), 21);
        assert_eq!(count_all(user.attributes), 21 + 6 + 4 * 7 + 8 + 4);
        assert_eq!(SCHEMAS[1].attributes.len(), 6);
        assert_eq!(SCHEMAS[2].attributes.len(), 2);
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
}
