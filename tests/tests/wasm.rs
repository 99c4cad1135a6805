//! The cross-platform checks of `fpa-tests` on wasm32 (Node or headless
//! Chromium via wasm-bindgen-test-runner). The longest Monte Carlo and
//! training checks run natively only; everything else runs here too.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test;

macro_rules! wasm {
    ($($module:ident :: $check:ident),* $(,)?) => {
        $( #[wasm_bindgen_test] fn $check() { fpa_tests::$module::$check() } )*
    };
}

wasm! {
    action::wilson_derivative_matches_finite_differences,
    action::wilson_value_identities,
    gauge::observables_are_gauge_invariant,
    gauge::path_products_are_covariant,
    gauge::wilson_derivative_is_covariant,
    gauge::landau_gauge_fixing,
    mc::su2_heatbath_matches_target_distribution,
    mc::overrelaxation_conserves_action,
    mc::plaquette_limits,
    mc::chain_is_thread_count_and_resume_invariant,
    nersc::nersc_roundtrip,
    nersc::nersc_rejects_damaged_files,
    rg::kernel_derivatives_match_finite_differences,
    rg::kernel_is_gauge_covariant,
    rg::kernel_vanishes_on_flat_abelian_fields,
    fixed_point::fp_action_is_gauge_invariant,
    fixed_point::fp_action_exact_values,
    lcnn::lcnn_backward_matches_finite_differences,
    lcnn::lcnn_is_gauge_and_translation_invariant,
    lcnn::lcnn_parameter_counts_and_trivial_field,
    lcnn::lcnn_second_order_term_matches_finite_differences,
    lcnn::lcnn_hessian_columns_are_exact_and_local,
}

/// The same seed gives the same bits as the native build: the checksum of a
/// short heatbath chain, computed natively by `cargo xtask` and passed in.
#[wasm_bindgen_test]
fn heatbath_bits_match_native() {
    if let Some(want) = option_env!("FPA_NATIVE_CHECKSUM") {
        assert_eq!(fpa_tests::mc::short_chain_checksum(), want);
    }
}
