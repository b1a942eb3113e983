//! The `filter` fuzz target: see `harness::filter`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::filter(data));
