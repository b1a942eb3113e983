//! Plain-text output for people: aligned tables, aligned field lists, and how JSON values read
//! in them.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Columns are separated by this.
const GAP: &str = "  ";

/// A table: a header row and rows of cells, each column as wide as its widest cell.
#[derive(Debug, Default)]
pub struct Table {
    /// The column names.
    headers: Vec<String>,
    /// The rows, each with one cell per column.
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank, extra ones dropped).
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines of text, each ending in a newline, without trailing blanks.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str(GAP);
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - width(cell)));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Field names and values, one per line, the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let pad = " ".repeat(w - width(key));
        out.push_str(format!("{key}:{pad} {value}").trim_end());
        out.push('\n');
    }
    out
}

/// The width of `s` on a terminal, counted in characters.
fn width(s: &str) -> usize {
    s.chars().count()
}

/// A JSON value as a cell: strings as they are, `null` as `-`, lists joined by commas, objects
/// as compact JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => one_line(s),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A time in ms since the Unix epoch as RFC 3339 (UTC, whole seconds); `-` when absent.
pub fn time(v: &Value) -> String {
    let Some(ms) = v.as_u64() else {
        return "-".to_owned();
    };
    OffsetDateTime::from_unix_timestamp(i64::try_from(ms / 1000).unwrap_or(i64::MAX))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// `s` on one line and at most `max` characters (cut with `…`).
pub fn short(s: &str, max: usize) -> String {
    let s = one_line(s);
    if width(&s) <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `s` with line breaks and tabs turned into spaces, so that a cell stays on its row.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r', '\t'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_aligned_and_lines_not_padded() {
        let mut t = Table::new(&["NAME", "ENABLED", "PLUGIN"]);
        t.row(vec!["crm".into(), "true".into(), "scim2".into()]);
        t.row(vec!["directory-é".into(), "false".into()]);
        assert_eq!(
            t.render(),
            "NAME         ENABLED  PLUGIN\n\
             crm          true     scim2\n\
             directory-é  false\n"
        );
        assert!(!t.is_empty());
        assert!(Table::new(&["A"]).is_empty());
    }

    #[test]
    fn fields_align_their_values() {
        let out = fields(&[("name", "crm".into()), ("plugin id", "-".into())]);
        assert_eq!(out, "name:      crm\nplugin id: -\n");
    }

    #[test]
    fn values_read_as_cells() {
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!("")), "-");
        assert_eq!(text(&json!(["User", "Group"])), "User, Group");
        assert_eq!(text(&json!(false)), "false");
        assert_eq!(text(&json!("two\nlines")), "two lines");
        assert_eq!(text(&json!({"a": 1})), r#"{"a":1}"#);
        assert_eq!(time(&json!(1_738_324_800_123_u64)), "2025-01-31T12:00:00Z");
        assert_eq!(time(&json!(null)), "-");
        assert_eq!(short("abcdef", 4), "abc…");
        assert_eq!(short("abc", 4), "abc");
    }
}
