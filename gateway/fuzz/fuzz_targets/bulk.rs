//! The `bulk` fuzz target: see `harness::bulk`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::bulk(data));
