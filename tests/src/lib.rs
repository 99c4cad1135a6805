//! Physics checks of `fpa-core`, written once and run natively (`tests/native.rs`)
//! and on wasm32. Every check panics with a message that names what failed.
//!
//! The checks are the project's evidence: finite-difference tests of every
//! derivative, random-gauge-transformation tests of every covariant or
//! invariant function, and Monte Carlo results against published values or
//! exact identities.

pub mod action;
pub mod blockspin;
pub mod charged;
pub mod classical;
pub mod fixed_point;
pub mod flow;
pub mod gauge;
pub mod gauge_files;
pub mod hmc;
pub mod instanton;
pub mod lcnn;
pub mod lcnn_layers;
pub mod mc;
pub mod nersc;
pub mod phi4;
pub mod rg;
pub mod symmetry;
pub mod training;
pub mod util;

/// Hands the list of checks that run on every target (natively and on
/// wasm32) to the harness macro `$harness`, which turns each
/// `module::check` into a test. The longest Monte Carlo, minimisation and
/// training checks are listed in `tests/native.rs` only.
#[macro_export]
macro_rules! portable_checks {
    ($harness:ident) => {
        $harness! {
            action::wilson_derivative_matches_finite_differences,
            action::wilson_value_identities,
            action::improved_derivatives_match_finite_differences,
            action::improved_action_values,
            classical::fat_polynomial_derivatives_match_finite_differences,
            classical::fat_polynomial_is_gauge_invariant,
            classical::fat_polynomial_identities,
            classical::fat_polynomial_fit_recovers_known_coefficients,
            flow::flow_lowers_its_action_at_the_gradient_rate,
            flow::flow_integrator_is_third_order,
            flow::flow_is_gauge_covariant,
            flow::lcnn_flow_at_the_wilson_start_is_the_wilson_flow,
            flow::flow_scales_from_a_known_curve,
            flow::zeuthen_force_on_an_abelian_field,
            gauge::improved_action_is_invariant_and_force_covariant,
            hmc::hmc_integrators_are_reversible,
            hmc::hmc_energy_violation_scales_as_step_squared,
            hmc::hmc_chain_is_thread_count_and_resume_invariant,
            hmc::hmc_with_wilson_start_lcnn_is_wilson_hmc,
            gauge::observables_are_gauge_invariant,
            gauge::path_products_are_covariant,
            gauge::wilson_derivative_is_covariant,
            gauge::landau_gauge_fixing,
            mc::su2_heatbath_matches_target_distribution,
            mc::lane_su2_draws_are_the_one_stream_draws,
            mc::overrelaxation_conserves_action,
            mc::checkerboard_write_back_sets_one_parity,
            mc::packed_updates_are_the_one_site_updates_bit_for_bit,
            mc::fused_updates_are_the_exact_updates_to_rounding,
            lcnn::portable_gemm_is_the_tiled_product_bit_for_bit,
            phi4::phi4_action_is_the_lattice_action,
            phi4::phi4_gaussian_theory_is_exact,
            phi4::phi4_wolff_update_keeps_the_distribution,
            blockspin::convolutions_are_adjoint_and_equivariant,
            blockspin::autoencoder_gradients_and_symmetries,
            blockspin::svd_recovers_known_singular_values,
            blockspin::autoencoder_learns_phi4_configurations,
            blockspin::cnn_gradients_invariances_and_flux_violations,
            charged::charged_weights_are_exact,
            charged::worm_matches_the_free_theory_at_finite_mu,
            charged::worm_matches_the_direct_simulation_at_zero_mu,
            mc::plaquette_limits,
            mc::chain_is_thread_count_and_resume_invariant,
            nersc::nersc_roundtrip,
            nersc::nersc_rejects_damaged_files,
            gauge_files::crc32_check_values,
            gauge_files::gauge_formats_roundtrip_bit_exact,
            gauge_files::ildg_layout_and_checksum,
            gauge_files::ildg_rejects_damaged_files,
            gauge_files::openqcd_layout,
            gauge_files::openqcd_rejects_damaged_files,
            gauge_files::milc_reads_and_refuses,
            gauge_files::enormous_headers_are_refused_cheaply,
            rg::kernel_derivatives_match_finite_differences,
            rg::kernel_is_gauge_covariant,
            rg::kernel_vanishes_on_flat_abelian_fields,
            rg::normalisation_branches_tie_at_det_phase_pi,
            rg::kernel_kinks_are_gauge_invariant,
            fixed_point::fp_minimiser_respects_its_evaluation_limit,
            fixed_point::fp_action_is_gauge_invariant,
            symmetry::hypercubic_group_laws,
            symmetry::wilson_action_is_hypercubic_invariant,
            symmetry::fp_action_is_hypercubic_invariant,
            symmetry::symmetrized_wilson_is_wilson,
            symmetry::symmetrized_lcnn_is_invariant,
            symmetry::augmentation_keeps_the_losses_of_a_symmetric_model,
            fixed_point::fp_action_exact_values,
            lcnn::lcnn_backward_matches_finite_differences,
            lcnn::lcnn_is_gauge_and_translation_invariant,
            lcnn::lcnn_parameter_counts_and_trivial_field,
            lcnn::lcnn_second_order_term_matches_finite_differences,
            lcnn::lcnn_hessian_columns_are_exact_and_local,
            lcnn::lcnn_training_gradient_assembly,
            lcnn::lcnn_training_in_f32_matches_f64,
            lcnn::lcnn_wilson_start_is_the_wilson_action,
            lcnn::lcnn_widening_preserves_the_action,
            lcnn::lcnn_deepening_preserves_the_action,
            lcnn::lcnn_quadratic_readout,
            lcnn_layers::plaq_layer_gradients_and_covariance,
            lcnn_layers::poly_layer_gradients_and_covariance,
            lcnn_layers::lcb_layer_gradients_and_covariance,
            lcnn_layers::lbilin_layer_gradients_and_covariance,
            lcnn_layers::lconv_layer_gradients_and_covariance,
            lcnn_layers::lact_layer_gradients_and_covariance,
            lcnn_layers::lexp_layer_gradients_and_covariance,
            training::readout_fit_recovers_a_teacher_exactly,
            training::weighted_configurations_count_as_repeats,
        }
    };
}
