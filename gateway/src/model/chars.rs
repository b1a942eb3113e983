//! Characters that show nothing, shared by the checks of identifiers (`scim::text`) and the
//! escaping of plugin log lines (`runtime::sandbox::output`).

/// Whether `c` is a control character or one that shows nothing: zero-width spaces and
/// joiners, line and paragraph separators, bidirectional controls, the byte order mark, the
/// soft hyphen, variation selectors, invisible operators, fillers.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{180e}'
            | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
            | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
            | '\u{fff9}'..='\u{fffb}')
}
