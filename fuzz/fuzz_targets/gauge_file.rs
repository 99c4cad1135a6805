//! Every gauge-file reader on arbitrary bytes: an error or a field, never a
//! panic, a hang or an allocation far beyond the input's size.
#![no_main]
use fpa_core::io::{gauge_file, ildg, milc, nersc, openqcd};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gauge_file::detect(data);
    if let Ok(d) = gauge_file::decode(data) {
        assert!(d.field.is_finite());
    }
    // Each reader directly, whatever the detection says.
    let _ = nersc::decode(data);
    let _ = ildg::decode(data);
    let _ = openqcd::decode(data);
    let _ = milc::decode(data);
    let _ = fpa_core::io::lime::parse(data);
});
