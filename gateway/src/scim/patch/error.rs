//! Why a PATCH request fails: [`PatchError`], its `scimType`, and shorthands for building one.

use std::fmt;

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

/// An `invalidSyntax` error.
pub(super) fn syntax(message: impl Into<String>) -> PatchError {
    PatchError::InvalidSyntax(message.into())
}

/// An `invalidPath` error.
pub(super) fn invalid_path(message: impl Into<String>) -> PatchError {
    PatchError::InvalidPath(message.into())
}

/// The `invalidPath` error for an attribute the schema does not define.
pub(super) fn unknown_attr(path: impl fmt::Display) -> PatchError {
    invalid_path(format!("`{path}` is not an attribute of this resource"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
