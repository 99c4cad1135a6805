//! The npy reader (FP datasets) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fpa_core::io::npy::decode(data);
});
