//! The `patch` fuzz target: see `harness::patch`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::patch(data));
