//! What a plugin prints and logs: its stdout and stderr captured up to a byte cap (writes never
//! fail), written to the gateway's log after the call, and the lines of one call kept, capped,
//! for its caller.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::model::is_invisible;
use crate::runtime::sandbox::{CALL_LOG_BYTES, CALL_LOG_LINES, HostState};

/// The log lines of one call kept for its caller, capped in lines and bytes; what does not fit
/// is counted and noted in a last line.
#[derive(Debug, Default)]
pub(crate) struct CallLog {
    /// The lines kept, each prefixed with its level or stream.
    lines: Vec<String>,
    /// Their total length in bytes.
    bytes: usize,
    /// Lines that did not fit.
    dropped: usize,
}

impl CallLog {
    /// Keeps `line` if it fits.
    pub(super) fn push(&mut self, line: String) {
        if self.lines.len() >= CALL_LOG_LINES || self.bytes + line.len() > CALL_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += line.len();
        self.lines.push(line);
    }

    /// The lines kept (and a note of the ones dropped), emptying the log.
    fn take(&mut self) -> Vec<String> {
        let mut lines = std::mem::take(&mut self.lines);
        if self.dropped > 0 {
            lines.push(format!("({} more lines not kept)", self.dropped));
        }
        self.bytes = 0;
        self.dropped = 0;
        lines
    }
}

impl HostState {
    /// The lines this call logged, for its caller (call after [`flush_output`](Self::flush_output)).
    pub(crate) fn take_call_log(&mut self) -> Vec<String> {
        self.call_log.take()
    }

    /// Writes what the guest printed, and the count of dropped log lines, to the log.
    pub(crate) fn flush_output(&mut self) {
        let name = &self.sandbox.name;
        let (text, dropped) = self.output.take();
        let max = self.sandbox.limits.max_log_line_bytes;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line = log_text(line, max);
            let limit = self.sandbox.limits.max_log_lines_per_minute;
            if self.sandbox.log_budget.admit(limit, name) {
                tracing::warn!(connector = %name, stream = "stdio", "{line}");
            }
            self.call_log.push(format!("stdio: {line}"));
        }
        if dropped > 0 {
            tracing::warn!(connector = %name, "plugin output over the cap: {dropped} bytes dropped");
        }
        if self.log_dropped > 0 {
            tracing::warn!(
                connector = %name,
                "plugin logged more than {} lines: {} dropped",
                self.sandbox.limits.max_log_lines,
                self.log_dropped
            );
            self.log_dropped = 0;
        }
    }

    /// The last lines the guest printed (a panic's message), if any.
    pub(crate) fn output_tail(&self) -> Option<String> {
        self.output.tail()
    }
}

/// The guest's stdout and stderr: kept up to a cap, the rest counted and dropped. Writes never
/// fail (a failing stderr would make a Rust guest's `eprintln!` panic).
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    /// The bytes kept and the count dropped.
    inner: Arc<Mutex<(Vec<u8>, usize)>>,
    /// How many bytes to keep.
    cap: usize,
}

impl CapturedOutput {
    /// An empty capture keeping up to `cap` bytes.
    pub(super) fn new(cap: usize) -> Self {
        CapturedOutput {
            inner: Arc::new(Mutex::new((Vec::new(), 0))),
            cap,
        }
    }

    /// Keeps what fits.
    fn push(&self, bytes: &[u8]) {
        if let Ok(mut inner) = self.inner.lock() {
            let room = self.cap.saturating_sub(inner.0.len());
            let kept = room.min(bytes.len());
            inner.0.extend_from_slice(&bytes[..kept]);
            inner.1 += bytes.len() - kept;
        }
    }

    /// The text kept and the count dropped, emptying the capture.
    fn take(&self) -> (String, usize) {
        match self.inner.lock() {
            Ok(mut inner) => {
                let text = String::from_utf8_lossy(&inner.0).into_owned();
                inner.0.clear();
                let dropped = std::mem::take(&mut inner.1);
                (text, dropped)
            }
            Err(_) => (String::new(), 0),
        }
    }

    /// The last three meaningful lines kept, joined (a Rust panic prints its location, its
    /// message, then a note about backtraces, which is dropped).
    fn tail(&self) -> Option<String> {
        let inner = self.inner.lock().ok()?;
        let text = String::from_utf8_lossy(&inner.0);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with"))
            .collect();
        let tail = &lines[lines.len().saturating_sub(3)..];
        (!tail.is_empty()).then(|| tail.join(" / "))
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A plugin's line as the gateway logs and records it: control and invisible characters
/// ([`is_invisible`]: line separators, bidirectional overrides, zero-width ones) escaped (`\n`,
/// `\u{202e}`), so the line cannot end early, start a forged line of the gateway's own or hide
/// its text; then cut to `max` bytes.
pub(super) fn log_text(line: &str, max: usize) -> String {
    let mut out = String::with_capacity(line.len().min(max) + 16);
    for c in line.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_invisible(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
        if out.len() > max {
            break;
        }
    }
    truncate(out, max)
}

/// How many plugin lines one instance may still write to the gateway's log this minute,
/// shared by its calls: a chatty plugin, or a hostile one, floods neither the log nor the disk
/// under it. The lines over the budget are counted, and the count is logged with the first line
/// after the minute.
#[derive(Debug)]
pub(crate) struct LogBudget {
    /// (when the current minute began, lines logged in it, lines dropped in it).
    window: Mutex<(Instant, usize, usize)>,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self {
            window: Mutex::new((Instant::now(), 0, 0)),
        }
    }
}

impl LogBudget {
    /// Whether one more line of connector `name` may be logged, at most `per_minute` a minute.
    pub(crate) fn admit(&self, per_minute: usize, name: &str) -> bool {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0.elapsed() >= Duration::from_secs(60) {
            if w.2 > 0 {
                tracing::warn!(connector = %name, dropped = w.2,
                    "plugin log lines over {per_minute} a minute were not logged");
            }
            *w = (Instant::now(), 0, 0);
        }
        if w.1 < per_minute {
            w.1 += 1;
            true
        } else {
            w.2 += 1;
            false
        }
    }
}

/// Cuts a string to at most `max` bytes on a character boundary, marking the cut.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("… (truncated)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_no_line_can_be_forged() {
        let forged =
            "ok\n2026-12-06T00:00:00Z  INFO scim_gateway: admin token rotated\r\x1b[2K\u{202e}x";
        let line = log_text(forged, 4096);
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        assert_eq!(
            line,
            "ok\\n2026-12-06T00:00:00Z  INFO scim_gateway: admin token rotated\\r\\u{1b}[2K\\u{202e}x"
        );
        assert_eq!(
            log_text("café – naïve", 4096),
            "café – naïve",
            "other text is kept"
        );
    }

    #[test]
    fn an_escaped_line_is_still_capped() {
        let line = log_text(&"\n".repeat(10_000), 100);
        assert!(line.len() <= 100 + "… (truncated)".len(), "{}", line.len());
        assert!(line.ends_with("… (truncated)"));
    }

    #[test]
    fn the_log_budget_admits_so_many_lines_a_minute() {
        let budget = LogBudget::default();
        let admitted = (0..1000).filter(|_| budget.admit(600, "c")).count();
        assert_eq!(admitted, 600);
        // A new minute starts a new budget.
        budget.window.lock().unwrap().0 -= Duration::from_secs(61);
        assert!(budget.admit(600, "c"));
    }
}
