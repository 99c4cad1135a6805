//! The architecture-dependent checks of `fpa-tests` on aarch64 (`cargo xtask
//! test` cross-builds them and runs them under qemu-user on x86-64; on an
//! aarch64 machine `cargo test -p fpa-tests --test aarch64` runs them
//! natively): the NEON GEMM and heatbath kernels against the portable path,
//! and the bits of a heatbath chain and of an L-CNN training step against
//! those of the x86-64 build, computed there and passed in at build time. The
//! other portable checks do not depend on the architecture's kernels; under
//! emulation they would take too long for CI (the HMC checks alone 17 min),
//! and the bits of the training step cover the `f32` passes exactly.
#![cfg(target_arch = "aarch64")]

macro_rules! aarch64 {
    ($($module:ident :: $check:ident),* $(,)?) => {
        $( #[test] fn $check() { fpa_tests::$module::$check() } )*
    };
}

aarch64! {
    mc::packed_updates_are_the_one_site_updates_bit_for_bit,
    mc::fused_updates_are_the_exact_updates_to_rounding,
    mc::lane_su2_draws_are_the_one_stream_draws,
    mc::chain_is_thread_count_and_resume_invariant,
    lcnn::portable_gemm_is_the_tiled_product_bit_for_bit,
    lcnn::lcnn_backward_matches_finite_differences,
}

/// The NEON kernels run here: the dispatch picked them.
#[test]
fn neon_kernels_are_chosen() {
    if std::env::var("FPA_SIMD").is_err() {
        assert_eq!(fpa_core::simd::kernel(), fpa_core::simd::Kernel::Neon);
    }
}

/// The same seed gives the same chain as the x86-64 build.
#[test]
fn heatbath_bits_match_native() {
    if let Some(want) = option_env!("FPA_NATIVE_CHECKSUM") {
        assert_eq!(fpa_tests::mc::short_chain_checksum(), want);
    }
}

/// The NEON GEMM gives an L-CNN training step the bits of the x86-64 FMA
/// kernels (set only where the building machine runs AVX2 or AVX-512).
#[test]
fn lcnn_bits_match_native() {
    if let Some(want) = option_env!("FPA_NATIVE_LCNN_CHECKSUM") {
        assert_eq!(fpa_tests::lcnn::lcnn_training_step_checksum().as_deref(), Some(want));
    }
}
