//! Pipeline configs (`fpa pipeline --config FILE`, TOML) on arbitrary text: parsed and checked,
//! never a panic or an allocation of a lattice the config merely names.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(cfg) = fpa_cli::pipeline::PipelineConfig::from_toml(text) {
            let _ = cfg.check();
        }
    }
});
