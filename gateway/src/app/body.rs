//! Response bodies, whole or produced a piece at a time.
//!
//! # Why stream
//! A group's members are stored one row each, so a membership change costs the same for any
//! group size; a response that shows the members must not undo that by holding them all. The
//! text of a 100,000-member group is some 13 MB, and as decoded values several times that; eight
//! clients reading it at once would hold hundreds of megabytes. So such a response is written
//! by a blocking task, a page of members at a time, into [`Chunks`], which hands each filled
//! chunk to the HTTP body through a channel of [`QUEUED`] chunks: at most about
//! `(QUEUED + 1) × CHUNK` bytes of a response exist at any moment, whatever the group's size.
//!
//! # Why it gives up on a stalled reader
//! The producer holds a store snapshot (so the response shows the group as of one commit), and
//! a snapshot keeps its pages allocated. A client that stops reading would hold it, and a
//! blocking thread, forever; so a chunk the client has not taken within [`STALL`] ends the
//! response, which the client sees as a cut connection. A store failure mid-way ends it the same
//! way: once the status line is sent, cutting the body is the only honest answer left.

use std::io::{self, Write};
use std::time::Duration;

use tokio::sync::mpsc;

/// A response body.
pub enum Body {
    /// All of it.
    Whole(Vec<u8>),
    /// Chunks in order; an `Err` ends the body unfinished.
    Streamed(mpsc::Receiver<io::Result<Vec<u8>>>),
}

/// Bytes per chunk handed to the HTTP body.
const CHUNK: usize = 64 * 1024;

/// Chunks written but not yet taken by the HTTP body.
const QUEUED: usize = 4;

/// How long a chunk may wait for the client to take it before the response is abandoned.
const STALL: Duration = Duration::from_secs(30);

/// A writer that sends what it is given on, a [`CHUNK`] at a time, blocking while
/// [`QUEUED`] chunks wait (so it must run on a blocking thread).
pub struct Chunks {
    /// What is written but not yet sent.
    buf: Vec<u8>,
    /// Where chunks go.
    tx: mpsc::Sender<io::Result<Vec<u8>>>,
    /// The runtime the channel belongs to, to wait on it with a timeout.
    runtime: tokio::runtime::Handle,
}

impl Chunks {
    fn send(&mut self, chunk: io::Result<Vec<u8>>) -> io::Result<()> {
        let sent = self
            .runtime
            .block_on(tokio::time::timeout(STALL, self.tx.send(chunk)));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + CHUNK / 4));
        self.send(Ok(chunk))
    }
}

/// A body that `produce` writes on a blocking thread. Must be called within the runtime.
pub fn streamed<F>(produce: F) -> Body
where
    F: FnOnce(&mut Chunks) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(QUEUED);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = Chunks {
            buf: Vec::with_capacity(CHUNK + CHUNK / 4),
            tx,
            runtime,
        };
        let done = produce(&mut out).and_then(|()| out.flush());
        if let Err(e) = done
            && !matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::TimedOut
            )
        {
            tracing::error!(error = %e, "a streamed response failed part way");
            // The client gets a cut body, never a well-formed partial one.
            let _ = out.send(Err(e));
        }
    });
    Body::Streamed(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole body, collected.
    async fn collect(body: Body) -> io::Result<Vec<u8>> {
        match body {
            Body::Whole(bytes) => Ok(bytes),
            Body::Streamed(mut chunks) => {
                let mut out = Vec::new();
                while let Some(chunk) = chunks.recv().await {
                    out.extend(chunk?);
                }
                Ok(out)
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_arrive_in_order_and_whole() {
        let body = streamed(|out| {
            for i in 0..50_000u32 {
                write!(out, "{i},")?;
            }
            Ok(())
        });
        let Body::Streamed(mut rx) = body else {
            panic!("not streamed");
        };
        let mut chunks = 0;
        let mut text = Vec::new();
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.expect("no failure");
            assert!(
                chunk.len() <= CHUNK + 16,
                "a chunk of {} bytes",
                chunk.len()
            );
            text.extend(chunk);
            chunks += 1;
        }
        let expected: String = (0..50_000u32).map(|i| format!("{i},")).collect();
        assert_eq!(String::from_utf8(text).unwrap(), expected);
        assert!(chunks > 1, "{chunks} chunk(s)");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failure_part_way_cuts_the_body() {
        let body = streamed(|out| {
            out.write_all(&[b'x'; CHUNK])?;
            Err(io::Error::other("the store failed"))
        });
        let collected = collect(body).await;
        assert!(collected.is_err(), "a cut body reads as a failure");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_that_went_away_stops_the_producer() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let body = streamed(move |out| {
            let result = (0..1_000).try_for_each(|_| out.write_all(&[b'x'; CHUNK]));
            let _ = done_tx.send(result.is_err());
            result
        });
        drop(body);
        let stopped =
            tokio::task::spawn_blocking(move || done_rx.recv_timeout(Duration::from_secs(60)))
                .await
                .unwrap();
        assert_eq!(stopped, Ok(true), "the producer learnt the reader was gone");
    }
}
