//! The words every layer shares, and nothing else: which resource a change is about
//! ([`ResourceKind`]), what happened to it ([`Operation`]), how a connector knows it
//! ([`RemoteRef`]), which members a group's change added and removed ([`MemberDelta`]), why a delivery failed ([`Failure`], [`FailureKind`]), a page read from a
//! target ([`Page`]) and the clock.
//!
//! This module imports nothing else of the crate. Everything above it (the SCIM protocol, the
//! store, delivery, the runtime) speaks these types at its seams, so that no layer has to
//! import another one's internals to name a resource or an outcome.

mod change;
mod chars;
mod clock;
mod failure;
mod kind;
mod members;
pub mod private;

pub use change::{Operation, Page, RemoteRef};
pub use chars::is_invisible;
pub use clock::{now_ms, timestamp};
pub use failure::{Failure, FailureKind};
pub use kind::{KINDS, ResourceKind};
pub use members::{MemberDelta, MemberRef};
