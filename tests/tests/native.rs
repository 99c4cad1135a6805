//! The cross-platform checks of `fpa-tests`, run natively.

macro_rules! native {
    ($($module:ident :: $check:ident),* $(,)?) => {
        $( #[test] fn $check() { fpa_tests::$module::$check() } )*
    };
}

native! {
    action::wilson_derivative_matches_finite_differences,
    action::wilson_value_identities,
    gauge::observables_are_gauge_invariant,
    gauge::path_products_are_covariant,
    gauge::wilson_derivative_is_covariant,
    gauge::landau_gauge_fixing,
    mc::su2_heatbath_matches_target_distribution,
    mc::overrelaxation_conserves_action,
    mc::plaquette_limits,
    mc::plaquette_matches_reference_4x4x4x4,
    mc::plaquette_matches_reference_8x8x8x8,
    mc::chain_is_thread_count_and_resume_invariant,
    nersc::nersc_roundtrip,
    nersc::nersc_rejects_damaged_files,
}

native! {
    rg::kernel_derivatives_match_finite_differences,
    rg::kernel_is_gauge_covariant,
    rg::kernel_vanishes_on_flat_abelian_fields,
}

native! {
    fixed_point::fp_derivative_is_the_derivative_of_the_minimum,
    fixed_point::fp_action_is_gauge_invariant,
    fixed_point::fp_action_exact_values,
    fixed_point::fp_action_is_classically_perfect_on_constant_flux,
    fixed_point::fp_minimiser_converges_on_wilson_ensembles,
}

native! {
    lcnn::lcnn_backward_matches_finite_differences,
    lcnn::lcnn_is_gauge_and_translation_invariant,
    lcnn::lcnn_parameter_counts_and_trivial_field,
}
native! { lcnn::lcnn_second_order_term_matches_finite_differences }
native! { training::wilson_loop_regression_generalises_to_larger_lattices }
native! { training::training_on_fp_data_lowers_both_losses }
native! { instanton::instanton_action_and_charge }
native! { lcnn::lcnn_hessian_columns_are_exact_and_local }
native! { lcnn::lcnn_training_gradient_assembly }
