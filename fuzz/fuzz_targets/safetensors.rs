//! The safetensors reader on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fpa_core::io::safetensors::decode(data);
});
