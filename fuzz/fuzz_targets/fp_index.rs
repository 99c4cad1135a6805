//! FP-data indexes (`index.json` of `fpa fp-data`) on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = fpa_cli::dataset::parse_index(text);
    }
});
