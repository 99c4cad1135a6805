//! Heatbath and overrelaxation eight sites at a time, on the lane-packed
//! layout ([`crate::lattice::packed`]).
//!
//! Each pack holds eight sites of one parity, so one (direction, parity)
//! update runs the staple sum, the SU(2) subgroup products and rotations on
//! [`F64x8`] lanes; only the SU(2) draws (rejection loops, one random stream
//! per link as on the scalar path) and the reunitarisation go lane by lane.
//! The arithmetic is the scalar path's operation for operation
//! ([`super::heatbath::heatbath_hits`] is the same function for both), so the
//! chain is bit-identical to the one-site-at-a-time chain, on any thread count
//! and whichever kernel runs.
//!
//! The per-pack kernel is compiled three times: for AVX-512 (one 512-bit
//! register per `F64x8`), for AVX2 (two 256-bit registers), and for the build
//! target (SSE2 on x86-64, simd128 on wasm32, NEON on aarch64); the best one
//! the CPU supports runs ([`crate::simd::kernel`], capped by `FPA_SIMD`).

use super::heatbath::{heatbath_hits, overrelax_hits, Update};
use crate::action::wilson::staple_in;
use crate::lanes::{F64x8, PACK};
use crate::lattice::packed::{PackedField, PackedLayout, PackedSite};
use crate::lattice::GaugeField;
use crate::rng::{domain, Rng};
use crate::simd::Kernel;
use crate::su3::Mat3;
use alloc::vec::Vec;

/// The heatbath's random streams for `U_mu` on the eight sites of outer site `o`.
#[derive(Clone, Copy, Debug)]
pub struct HeatbathDraw {
    pub beta: f64,
    pub seed: u64,
    pub sweep: u64,
}

/// New `U_mu(o)` for the eight lanes of outer site `o`, into `out`: a heatbath
/// hit (with `draw`) or an overrelaxation step (`None`).
#[inline(always)]
fn new_pack(f: &PackedField, o: usize, mu: usize, draw: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
    let k = staple_in(f, PackedSite { outer: o as u32, flip: 0 }, mu);
    let link = *f.pack_at(o, mu);
    *out = match draw {
        Some(HeatbathDraw { beta, seed, sweep }) => {
            let layout = f.layout();
            let mut rngs: [Rng; PACK] = core::array::from_fn(|l| {
                Rng::stream(seed, &[domain::HEATBATH, sweep, layout.global_site(o, l) as u64, mu as u64])
            });
            heatbath_hits(link, &k, beta, &mut rngs)
        }
        None => overrelax_hits(link, &k),
    };
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod x86 {
    use super::*;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn new_pack_avx512(
        f: &PackedField,
        o: usize,
        mu: usize,
        d: Option<HeatbathDraw>,
        out: &mut Mat3<F64x8>,
    ) {
        new_pack(f, o, mu, d, out)
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn new_pack_avx2(f: &PackedField, o: usize, mu: usize, d: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
        new_pack(f, o, mu, d, out)
    }
}

/// [`new_pack`] compiled for `kernel`.
#[inline(always)]
fn new_pack_with(kernel: Kernel, f: &PackedField, o: usize, mu: usize, d: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
    match kernel {
        // SAFETY: `kernel` comes from `simd::kernel()` or was checked with `Kernel::available`.
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx512 => unsafe { x86::new_pack_avx512(f, o, mu, d, out) },
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx2Fma => unsafe { x86::new_pack_avx2(f, o, mu, d, out) },
        _ => new_pack(f, o, mu, d, out),
    }
}

/// Applies `updates` in order to the packed field (`sweep` numbers the
/// compound sweep whose heatbath streams are drawn), with `kernel`.
pub fn apply_updates(
    f: &mut PackedField,
    scratch: &mut Vec<Mat3<F64x8>>,
    updates: impl IntoIterator<Item = Update>,
    beta: f64,
    seed: u64,
    sweep: u64,
    kernel: Kernel,
) {
    assert!(kernel.available(), "kernel {} does not run on this machine", kernel.name());
    let layout = f.layout();
    scratch.resize(layout.outer_sites_of_parity(0).len(), Mat3::zero());
    for Update { heatbath, mu, parity } in updates {
        let sites = layout.outer_sites_of_parity(parity);
        let draw = heatbath.then_some(HeatbathDraw { beta, seed, sweep });
        let field: &PackedField = f;
        crate::par::for_each_mut(scratch, |i, out| new_pack_with(kernel, field, sites[i] as usize, mu, draw, out));
        f.set_packs_of_parity(mu, parity, scratch);
    }
}

/// Packs `u` (if its lattice has a [`PackedLayout`]), applies `updates`, and
/// unpacks. Returns `false`, leaving `u` alone, when the lattice has no layout.
pub fn run_packed(
    u: &mut GaugeField<f64>,
    updates: impl IntoIterator<Item = Update>,
    beta: f64,
    seed: u64,
    sweep: u64,
    kernel: Kernel,
) -> bool {
    let Some(layout) = PackedLayout::new(u.geometry()) else {
        return false;
    };
    let mut f = PackedField::pack(&layout, u);
    apply_updates(&mut f, &mut Vec::new(), updates, beta, seed, sweep, kernel);
    f.unpack_into(u);
    true
}
