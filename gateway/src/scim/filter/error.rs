//! The filter module's error type and how its messages quote input and name positions.

use super::{MAX_INPUT_LEN, MAX_QUOTE_LEN};

/// A filter or path that could not be parsed; the message says what and where.
///
/// The HTTP edge maps it to 400 with `scimType` `invalidFilter` (or `invalidPath` for PATCH).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// `message at position N`, with N the 0-based character offset of byte `pos` in `input`.
pub(super) fn error_at(input: &str, pos: usize, message: &str) -> FilterError {
    let chars = input
        .get(..pos)
        .map_or(pos, |prefix| prefix.chars().count());
    FilterError(format!("{message} at position {chars}"))
}

/// `text` in double quotes, shortened if long.
pub(super) fn quote(text: &str) -> String {
    if text.chars().count() > MAX_QUOTE_LEN {
        let head: String = text.chars().take(MAX_QUOTE_LEN).collect();
        format!("\"{head}…\"")
    } else {
        format!("\"{text}\"")
    }
}

/// Rejects inputs longer than [`MAX_INPUT_LEN`].
pub(super) fn check_length(input: &str) -> Result<(), FilterError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(FilterError(format!(
            "filter too long ({} bytes; the limit is {MAX_INPUT_LEN})",
            input.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::scim::filter::tests::err;

    #[test]
    fn positions_count_characters() {
        assert_eq!(err("é eq 1"), "invalid attribute path \"é\" at position 0");
        assert_eq!(
            err("a eq \"é\" b"),
            "expected \"and\", \"or\" or the end of the filter, found \"b\" at position 9"
        );
    }
}
