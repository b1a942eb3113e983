//! Which index probes answer a filter.
//!
//! A filter is answered in two steps: [`plan`] picks index probes whose union is guaranteed to
//! contain every match (an `eq` on an indexed attribute, anywhere an `and` allows it, on both
//! sides of an `or`), then the full filter is evaluated on those candidates only. A filter with no
//! usable probe scans. Either way the filter itself decides, so the index can never change the
//! answer, only its cost.

use super::index::Index;
use crate::model::ResourceKind;
use crate::scim::attr::AttrPath;
use crate::scim::filter::{CompareOp, Filter, Literal};

/// One way to find candidates without scanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The resource with this id.
    Id(String),
    /// The resources whose indexed attribute equals the value.
    Index(Index, String),
}

/// The probes whose union contains every resource of `kind` that `f` matches, or `None` when
/// the filter has no indexable part and the caller must scan.
pub fn plan(kind: ResourceKind, f: &Filter) -> Option<Vec<Probe>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Literal::String(v),
        } => probe_for(kind, path, None).map(|p| vec![p(v.clone())]),
        Filter::ValuePath { path, filter } => match filter.as_ref() {
            Filter::Compare {
                path: inner,
                op: CompareOp::Eq,
                value: Literal::String(v),
            } => probe_for(kind, path, Some(inner)).map(|p| vec![p(v.clone())]),
            Filter::And(a, b) => plan(
                kind,
                &Filter::ValuePath {
                    path: path.clone(),
                    filter: a.clone(),
                },
            )
            .or_else(|| {
                plan(
                    kind,
                    &Filter::ValuePath {
                        path: path.clone(),
                        filter: b.clone(),
                    },
                )
            }),
            _ => None,
        },
        Filter::And(a, b) => plan(kind, a).or_else(|| plan(kind, b)),
        Filter::Or(a, b) => {
            let mut probes = plan(kind, a)?;
            probes.extend(plan(kind, b)?);
            Some(probes)
        }
        _ => None,
    }
}

/// Whether [`plan`]'s probes select exactly what `f` matches, no more, so that candidates need
/// not be checked against the filter: a lone `eq` on `id` or on a single-valued indexed
/// attribute, since an index normalises values just as the filter compares them (see
/// [`Index`]).
pub fn is_exact(kind: ResourceKind, f: &Filter) -> bool {
    let Filter::Compare {
        path,
        op: CompareOp::Eq,
        value: Literal::String(_),
    } = f
    else {
        return false;
    };
    matches!(
        probe_for(kind, path, None).map(|probe| probe(String::new())),
        Some(
            Probe::Id(_)
                | Probe::Index(Index::UserName | Index::ExternalId | Index::DisplayName, _)
        )
    )
}

type ProbeMaker = fn(String) -> Probe;

/// Which probe answers `eq` on `path` (with `inner` the sub-attribute named inside a value path).
fn probe_for(kind: ResourceKind, path: &AttrPath, inner: Option<&AttrPath>) -> Option<ProbeMaker> {
    if path
        .urn
        .as_deref()
        .is_some_and(|u| !u.eq_ignore_ascii_case(kind.core_schema()))
    {
        return None;
    }
    let sub = match (inner, &path.sub) {
        (Some(i), None) if i.urn.is_none() && i.sub.is_none() => Some(i.name.as_str()),
        (None, sub) => sub.as_deref(),
        _ => return None,
    };
    let name = path.name.to_ascii_lowercase();
    match (
        kind,
        name.as_str(),
        sub.map(str::to_ascii_lowercase).as_deref(),
    ) {
        (_, "id", None) => Some(Probe::Id),
        (_, "externalid", None) => Some(|v| Probe::Index(Index::ExternalId, v)),
        (ResourceKind::User, "username", None) => Some(|v| Probe::Index(Index::UserName, v)),
        (ResourceKind::User, "emails", None | Some("value")) => {
            Some(|v| Probe::Index(Index::Email, v))
        }
        (ResourceKind::Group, "displayname", None) => Some(|v| Probe::Index(Index::DisplayName, v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter;

    fn plan_of(kind: ResourceKind, f: &str) -> Option<Vec<Probe>> {
        plan(kind, &filter::parse(f).unwrap())
    }

    #[test]
    fn plans_use_indexes_where_they_are_sound() {
        let user = ResourceKind::User;
        assert_eq!(
            plan_of(user, r#"userName eq "Ann""#),
            Some(vec![Probe::Index(Index::UserName, "Ann".into())])
        );
        assert_eq!(
            plan_of(
                user,
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#
            ),
            Some(vec![Probe::Index(Index::UserName, "a".into())])
        );
        assert_eq!(
            plan_of(user, r#"emails[type eq "work" and value eq "a@x"]"#),
            Some(vec![Probe::Index(Index::Email, "a@x".into())])
        );
        assert_eq!(
            plan_of(user, r#"active eq true and emails.value eq "a@x""#),
            Some(vec![Probe::Index(Index::Email, "a@x".into())])
        );
        assert_eq!(
            plan_of(user, r#"id eq "1" or externalId eq "2""#),
            Some(vec![
                Probe::Id("1".into()),
                Probe::Index(Index::ExternalId, "2".into())
            ])
        );
        assert_eq!(
            plan_of(ResourceKind::Group, r#"displayName eq "Sales""#),
            Some(vec![Probe::Index(Index::DisplayName, "Sales".into())])
        );
        // Not sound or not indexed: scan.
        assert_eq!(plan_of(user, r#"userName eq "a" or title eq "b""#), None);
        assert_eq!(plan_of(user, r#"not (userName eq "a")"#), None);
        assert_eq!(plan_of(user, r#"userName co "a""#), None);
        assert_eq!(plan_of(user, r#"displayName eq "a""#), None);
        assert_eq!(
            plan_of(
                user,
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "a""#
            ),
            None
        );
    }
}
