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
//! register per pack, explicit AVX-512F operations), for AVX2 (two 256-bit registers), and for the build
//! target (SSE2 on x86-64, simd128 on wasm32, NEON on aarch64); the best one
//! the CPU supports runs ([`crate::simd::kernel`], capped by `FPA_SIMD`).

use super::heatbath::{heatbath_hits, overrelax_hits, Update};
use crate::action::wilson::staple_in;
use crate::lanes::{load_mat, store_mat, F64x8, Pack, PACK};
use crate::lattice::packed::{PackedField, PackedLayout, PackedSite};
use crate::lattice::GaugeField;
use crate::rng::{domain, StreamKey};
use crate::simd::Kernel;
use crate::su3::Mat3;

/// What the heatbath hits of one sweep draw with: the coupling, and the key prefix
/// `(seed, HEATBATH, sweep)` of the links' random streams `(seed, HEATBATH, sweep, site, mu)`.
#[derive(Clone, Copy, Debug)]
pub struct HeatbathDraw {
    pub beta: f64,
    pub key: StreamKey,
}

impl HeatbathDraw {
    pub fn new(beta: f64, seed: u64, sweep: u64) -> Self {
        HeatbathDraw { beta, key: StreamKey::new(seed).with(domain::HEATBATH).with(sweep) }
    }
}

/// New `U_mu(o)` for the eight lanes of outer site `o`, in place of the old one in
/// `link`: a heatbath hit (with `draw`) or an overrelaxation step (`None`), computed
/// on the packs in register form `P`, with the staples from `f`.
#[inline(always)]
fn new_pack<P: Pack>(f: &PackedField, o: usize, mu: usize, draw: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
    let k = staple_in(&f.view::<P>(), PackedSite { outer: o as u32, flip: 0 }, mu);
    let link = load_mat::<P>(out, 0);
    let new = match draw {
        Some(HeatbathDraw { beta, key }) => {
            let layout = f.layout();
            let sites: [u64; PACK] = core::array::from_fn(|l| layout.global_site(o, l) as u64);
            heatbath_hits(link, &k, beta, &mut key.lane_rngs(&sites, mu as u64))
        }
        None => overrelax_hits(link, &k),
    };
    *out = store_mat(&new);
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod x86 {
    use super::*;
    use crate::lanes::Lanes;
    use crate::real::Ring;
    use core::arch::x86_64::*;
    use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

    /// An [`F64x8`] in one 512-bit register. With `target-cpu=native` on an
    /// AVX-512 machine the compiler's vectoriser splits `[f64; 8]` into two
    /// 256-bit halves (its tuning prefers 256-bit vectors), and a matrix of
    /// such packs no longer fits the register file; explicit 512-bit
    /// operations keep one register per pack. Every operation is the IEEE
    /// operation of the scalar path, lane by lane (no FMA), so the bits do
    /// not change.
    ///
    /// SAFETY (every `unsafe` block on this type): values of it exist only
    /// inside [`new_pack_avx512`], which runs only where AVX-512F was detected.
    #[derive(Clone, Copy, Debug)]
    #[repr(transparent)]
    pub struct Zmm(__m512d);

    macro_rules! zmm_op {
        ($tr:ident, $f:ident, $intr:ident, $atr:ident, $af:ident) => {
            impl $tr for Zmm {
                type Output = Zmm;
                #[inline(always)]
                fn $f(self, o: Zmm) -> Zmm {
                    unsafe { Zmm($intr(self.0, o.0)) }
                }
            }
            impl $atr for Zmm {
                #[inline(always)]
                fn $af(&mut self, o: Zmm) {
                    *self = $tr::$f(*self, o);
                }
            }
        };
    }
    zmm_op!(Add, add, _mm512_add_pd, AddAssign, add_assign);
    zmm_op!(Sub, sub, _mm512_sub_pd, SubAssign, sub_assign);
    zmm_op!(Mul, mul, _mm512_mul_pd, MulAssign, mul_assign);

    impl Neg for Zmm {
        type Output = Zmm;
        /// Flips the sign bit, as `-x` does on `f64`.
        #[inline(always)]
        fn neg(self) -> Zmm {
            unsafe {
                Zmm(_mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(self.0), _mm512_set1_epi64(i64::MIN))))
            }
        }
    }

    impl Ring for Zmm {
        #[inline(always)]
        fn from_f64(x: f64) -> Self {
            unsafe { Zmm(_mm512_set1_pd(x)) }
        }
    }

    impl Lanes for Zmm {
        const LANES: usize = PACK;
        type Scalar = f64;
        #[inline(always)]
        fn lane(&self, i: usize) -> f64 {
            self.store().0[i]
        }
        #[inline(always)]
        fn set_lane(&mut self, i: usize, v: f64) {
            let mut a = self.store();
            a.0[i] = v;
            *self = Zmm::load(&a);
        }
        #[inline(always)]
        fn lane_sqrt(self) -> Self {
            unsafe { Zmm(_mm512_sqrt_pd(self.0)) }
        }
        #[inline(always)]
        fn lane_div(self, o: Self) -> Self {
            unsafe { Zmm(_mm512_div_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn from_lanes(v: &[f64]) -> Self {
            assert_eq!(v.len(), PACK);
            unsafe { Zmm(_mm512_loadu_pd(v.as_ptr())) }
        }
        #[inline(always)]
        fn to_lanes(&self, out: &mut [f64]) {
            assert_eq!(out.len(), PACK);
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), self.0) }
        }
    }

    impl Pack for Zmm {
        #[inline(always)]
        fn load(p: &F64x8) -> Self {
            // F64x8 is 64-byte aligned.
            unsafe { Zmm(_mm512_load_pd(p.0.as_ptr())) }
        }
        #[inline(always)]
        fn store(self) -> F64x8 {
            let mut r = F64x8::default();
            unsafe { _mm512_store_pd(r.0.as_mut_ptr(), self.0) };
            r
        }
        #[inline(always)]
        fn flip(self, mask: u8) -> Self {
            if mask == 0 {
                return self;
            }
            unsafe {
                let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
                let from = _mm512_xor_si512(lanes, _mm512_set1_epi64(mask as i64));
                Zmm(_mm512_permutexvar_pd(from, self.0))
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn new_pack_avx512(
        f: &PackedField,
        o: usize,
        mu: usize,
        d: Option<HeatbathDraw>,
        out: &mut Mat3<F64x8>,
    ) {
        new_pack::<Zmm>(f, o, mu, d, out)
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn new_pack_avx2(f: &PackedField, o: usize, mu: usize, d: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
        new_pack::<F64x8>(f, o, mu, d, out)
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
        _ => new_pack::<F64x8>(f, o, mu, d, out),
    }
}

/// Applies `updates` in order to the packed field (`sweep` numbers the
/// compound sweep whose heatbath streams are drawn), with `kernel`.
pub fn apply_updates(
    f: &mut PackedField,
    updates: impl IntoIterator<Item = Update>,
    beta: f64,
    seed: u64,
    sweep: u64,
    kernel: Kernel,
) {
    assert!(kernel.available(), "kernel {} does not run on this machine", kernel.name());
    for Update { heatbath, mu, parity } in updates {
        let draw = heatbath.then_some(HeatbathDraw::new(beta, seed, sweep));
        f.update_packs_of_parity(mu, parity, |field, o, pack| new_pack_with(kernel, field, o, mu, draw, pack));
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
    let mut f = PackedField::pack(&alloc::sync::Arc::new(layout), u);
    apply_updates(&mut f, updates, beta, seed, sweep, kernel);
    f.unpack_into(u);
    true
}
