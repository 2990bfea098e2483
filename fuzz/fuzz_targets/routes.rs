#![no_main]
//! See gantry_fuzz_harness::routes for what the bytes are.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gantry_fuzz_harness::routes(data));
