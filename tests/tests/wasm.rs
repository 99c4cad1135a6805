//! The cross-platform checks of `fpa-tests` on wasm32 (Node or headless
//! Chromium via wasm-bindgen-test-runner): the list in
//! `fpa_tests::portable_checks!`. The longest Monte Carlo and training checks
//! run natively only.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test;

macro_rules! wasm {
    ($($module:ident :: $check:ident),* $(,)?) => {
        $( #[wasm_bindgen_test] fn $check() { fpa_tests::$module::$check() } )*
    };
}

fpa_tests::portable_checks!(wasm);

/// The same seed gives the same bits as the native build: the checksum of a
/// short heatbath chain, computed natively by `cargo xtask` and passed in.
#[wasm_bindgen_test]
fn heatbath_bits_match_native() {
    if let Some(want) = option_env!("FPA_NATIVE_CHECKSUM") {
        assert_eq!(fpa_tests::mc::short_chain_checksum(), want);
    }
}
