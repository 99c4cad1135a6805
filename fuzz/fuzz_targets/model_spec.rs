//! Model specs (the JSON of `fpa train --model spec.json`) on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = fpa_core::lcnn::model::Model::from_json(text);
    }
});
