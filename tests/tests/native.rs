//! The checks of `fpa-tests`, run natively: every portable check, and the
//! long Monte Carlo, minimisation and training checks.

macro_rules! native {
    ($($module:ident :: $check:ident),* $(,)?) => {
        $( #[test] fn $check() { fpa_tests::$module::$check() } )*
    };
}

fpa_tests::portable_checks!(native);

native! {
    mc::plaquette_matches_reference_4x4x4x4,
    mc::plaquette_matches_reference_8x8x8x8,
    fixed_point::fp_derivative_is_the_derivative_of_the_minimum,
    fixed_point::fp_action_is_classically_perfect_on_constant_flux,
    fixed_point::fp_minimiser_converges_on_wilson_ensembles,
    fixed_point::fp_minimum_on_a_kink_of_the_normalisation,
    training::wilson_loop_regression_generalises_to_larger_lattices,
    training::training_on_fp_data_lowers_both_losses,
    instanton::instanton_action_and_charge,
    instanton::instanton_fp_keeps_the_lower_minimum,
    hmc::hmc_creutz_identity_and_plaquette,
}
