//! The time budget of one request: how long the gateway works on it before it answers `503`.
//!
//! Every request is linear (or n log n) in its size and in the data it must read, but a
//! request may still be costly (a filter no index answers, over 100,000 users) and a machine
//! may be loaded. A worker should not spend minutes on one request while its client has given
//! up. So the HTTP edge gives each SCIM request a budget ([`within`], `[http]
//! request_budget_ms`), and the work checks it ([`check`]) where it can stop cleanly:
//!
//! - a scan of the store, between resources (nothing was changed yet);
//! - a change, before it is delivered to blocking connectors and committed: a change either
//!   commits whole, however late, or is not made at all, so a `503` never hides a write;
//! - `/Bulk`, before each operation (each is a change): the operations run until the budget
//!   is spent, and each one after it is answered `503` in the `BulkResponse`.
//!
//! The budget is a task-local value, so the layers below need no extra parameter, and a
//! request outside the HTTP edge (a test, a reconcile) has no budget at all.

use std::future::Future;
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::scim::ScimError;

/// A request's budget: when it runs out, and how long it was.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// When the work must stop.
    deadline: Instant,
    /// The whole budget (for the message).
    length: Duration,
}

tokio::task_local! {
    /// The budget of the request this task serves.
    static BUDGET: Budget;
}

/// Runs `work` with a budget of `length`, counted from now.
pub async fn within<F: Future>(length: Duration, work: F) -> F::Output {
    let budget = Budget {
        deadline: Instant::now() + length,
        length,
    };
    BUDGET.scope(budget, work).await
}

/// `503` if the current request's budget is spent; `Ok` when it is not, or it has none.
pub fn check() -> Result<(), ScimError> {
    match BUDGET.try_with(|b| *b) {
        Ok(b) if Instant::now() >= b.deadline => Err(spent(b.length)),
        _ => Ok(()),
    }
}

/// The error of a request whose budget ran out.
fn spent(length: Duration) -> ScimError {
    ScimError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the request ran past its time budget of {} ms and was stopped before it changed \
             anything more; try again, or ask for less at once",
            length.as_millis()
        ),
    )
}

/// A check for loops over many items: looks at the clock once every `EVERY` calls.
pub(crate) struct Meter {
    /// Calls since the last look.
    calls: u32,
}

impl Meter {
    /// How many calls one look at the clock covers.
    const EVERY: u32 = 256;

    /// A meter that looks at the clock on its first call.
    pub(crate) fn new() -> Self {
        Meter { calls: 0 }
    }

    /// [`check`], once every [`Meter::EVERY`] calls.
    pub(crate) fn tick(&mut self) -> Result<(), ScimError> {
        self.calls += 1;
        if self.calls % Self::EVERY == 1 {
            check()
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spent_budget_is_a_503_and_no_budget_never_is() {
        assert!(check().is_ok(), "no budget outside a request");
        within(Duration::from_secs(60), async {
            assert!(check().is_ok());
        })
        .await;
        within(Duration::ZERO, async {
            let e = check().expect_err("spent");
            assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
            let mut meter = Meter::new();
            assert!(meter.tick().is_err(), "the first tick looks");
            assert!(meter.tick().is_ok(), "the next ones do not");
        })
        .await;
    }
}
