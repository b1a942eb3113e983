//! The Prometheus text exposition format, version 0.0.4: family headers, samples and the
//! escaping of label values. Writes into a `String`; nothing here can fail.

use std::fmt::Write;

/// The media type of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (reset by a restart).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted in cumulative buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count.
    Int(u64),
    /// A measurement (seconds).
    Float(f64),
}

/// Builds one exposition. Every family's samples must follow its header without other families
/// in between, as the format requires.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The text so far.
    out: String,
}

impl Encoder {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.name());
    }

    /// One sample line: `name{label="value",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_into(&mut self.out, text);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = match value {
            Value::Int(n) => writeln!(self.out, " {n}"),
            Value::Float(x) => writeln!(self.out, " {}", float(x)),
        };
    }

    /// The finished exposition.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A float as the format spells it (`+Inf`, `-Inf`, `NaN` for the special values).
pub fn float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "+Inf".into()
    } else if x == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        x.to_string()
    }
}

/// Appends a label value with `\`, `"` and line feeds escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaping() {
        let mut e = Encoder::default();
        e.family("jobs_total", Kind::Counter, "Jobs.\nAll of them \\ really.");
        e.sample("jobs_total", &[], Value::Int(3));
        e.sample(
            "jobs_total",
            &[("connector", "a\"b\\c\nd"), ("state", "dead")],
            Value::Float(0.25),
        );
        assert_eq!(
            e.finish(),
            "# HELP jobs_total Jobs.\\nAll of them \\\\ really.\n\
             # TYPE jobs_total counter\n\
             jobs_total 3\n\
             jobs_total{connector=\"a\\\"b\\\\c\\nd\",state=\"dead\"} 0.25\n"
        );
    }

    #[test]
    fn special_floats_are_spelled_as_the_format_wants() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.0005), "0.0005");
        assert_eq!(float(10.0), "10");
    }
}
