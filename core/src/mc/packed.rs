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
//! The per-pack kernel is compiled for AVX-512 (one 512-bit register per
//! pack, explicit AVX-512F operations), for AVX2 (a pack as two halves, one
//! 256-bit register each, run one after the other), for NEON on aarch64 and
//! simd128 on wasm32 (a pack as four 128-bit quarters, [`quarter_pack!`]),
//! and portably on [`F64x8`] (SSE2 on x86-64, any other target); the best one
//! the CPU supports runs ([`crate::simd::kernel`], capped by `FPA_SIMD`).

use super::heatbath::{heatbath_hits, overrelax_hits, Update};
use super::su2_sampler::Su2Draws;
use crate::action::wilson::staple_in;
pub use crate::fused::Arithmetic;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use crate::fused::Fused;
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
/// on the packs in register form `P` (one part of the pack after the other), with
/// the staples from `f`. Lane `l` draws from the stream of its own site whatever
/// part it is in.
#[inline(always)]
fn new_pack<P: Pack + Su2Draws>(
    f: &PackedField,
    o: usize,
    mu: usize,
    draw: Option<HeatbathDraw>,
    out: &mut Mat3<F64x8>,
) {
    let mut rngs = draw.map(|d| {
        let layout = f.layout();
        let sites: [u64; PACK] = core::array::from_fn(|l| layout.global_site(o, l) as u64);
        d.key.lane_rngs(&sites, mu as u64)
    });
    for part in 0..P::PARTS {
        // The staples read U_mu only on the other parity, so the parts already
        // written into `out` do not enter the later ones.
        let k = staple_in(&f.view::<P>(part), PackedSite { outer: o as u32, flip: 0 }, mu);
        let link = load_mat::<P>(out, part, 0);
        let new = match (draw, rngs.as_mut()) {
            (Some(d), Some(rngs)) => heatbath_hits(link, &k, d.beta, &mut rngs[part * P::LANES..(part + 1) * P::LANES]),
            _ => overrelax_hits(link, &k),
        };
        store_mat(&new, out, part);
    }
}

/// Lane-wise `+`, `−`, `·` and their assignments on a register wrapper
/// `$ty(register)` of the kernels below, from the intrinsics that do them (the
/// x86 ones are `unsafe`, the wasm32 and NEON ones are not).
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "sse2"),
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "aarch64", target_feature = "neon")
))]
macro_rules! register_ops {
    ($ty:ident, $add:ident, $sub:ident, $mul:ident) => {
        register_ops!(@op $ty, Add, add, $add, AddAssign, add_assign);
        register_ops!(@op $ty, Sub, sub, $sub, SubAssign, sub_assign);
        register_ops!(@op $ty, Mul, mul, $mul, MulAssign, mul_assign);
    };
    (@op $ty:ident, $tr:ident, $f:ident, $intr:ident, $atr:ident, $af:ident) => {
        impl $tr for $ty {
            type Output = $ty;
            #[inline(always)]
            #[allow(unused_unsafe)]
            fn $f(self, o: $ty) -> $ty {
                unsafe { $ty($intr(self.0, o.0)) }
            }
        }
        impl $atr for $ty {
            #[inline(always)]
            fn $af(&mut self, o: $ty) {
                *self = $tr::$f(*self, o);
            }
        }
    };
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
    /// inside [`new_pack_avx512`] and [`new_pack_avx512_fused`], which run only
    /// where AVX-512F was detected.
    #[derive(Clone, Copy, Debug)]
    #[repr(transparent)]
    pub struct Zmm(__m512d);

    register_ops!(Zmm, _mm512_add_pd, _mm512_sub_pd, _mm512_mul_pd);

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
            *self = Zmm::load(&a, 0, 0);
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

    impl Su2Draws for Zmm {
        /// All eight lanes' rejection loops in registers, the same bits.
        #[inline(always)]
        fn draw_su2(alpha: &[f64; PACK], wanted: &[bool; PACK], rngs: &mut [crate::rng::Rng]) -> [[f64; PACK]; 4] {
            // SAFETY: Zmm values, and so this call, exist only inside the AVX-512 kernel.
            unsafe {
                super::super::su2_vector::sample_su2_regs::<super::super::su2_vector::Avx512>(alpha, wanted, rngs)
            }
        }
    }

    impl Zmm {
        #[inline(always)]
        fn store(self) -> F64x8 {
            let mut r = F64x8::default();
            <Zmm as Pack>::store(self, &mut r, 0);
            r
        }
    }

    impl Pack for Zmm {
        const PARTS: usize = 1;
        #[inline(always)]
        fn load(p: &F64x8, _: usize, mask: u8) -> Self {
            // F64x8 is 64-byte aligned.
            let v = unsafe { _mm512_load_pd(p.0.as_ptr()) };
            if mask == 0 {
                return Zmm(v);
            }
            unsafe {
                let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
                let from = _mm512_xor_si512(lanes, _mm512_set1_epi64(mask as i64));
                Zmm(_mm512_permutexvar_pd(from, v))
            }
        }
        #[inline(always)]
        fn store(self, p: &mut F64x8, _: usize) {
            unsafe { _mm512_store_pd(p.0.as_mut_ptr(), self.0) };
        }
    }

    /// Half an [`F64x8`] (lanes `0..4` or `4..8`) in one 256-bit register: the
    /// AVX2 kernel runs a pack as its two halves one after the other, so that a
    /// matrix needs 18 of the 16 registers rather than 36 (with `F64x8` itself,
    /// two registers per pack, the compiler spilled most of the kernel and it
    /// ran 4x slower per link than the AVX-512 kernel). IEEE operations lane by
    /// lane, no FMA, as on the scalar path: the same bits.
    ///
    /// SAFETY (every `unsafe` block on this type): values of it exist only
    /// inside [`new_pack_avx2`] and [`new_pack_avx2_fused`], which run only
    /// where AVX2 (and, for the second, FMA) was detected.
    #[derive(Clone, Copy, Debug)]
    #[repr(transparent)]
    pub struct Ymm(__m256d);

    register_ops!(Ymm, _mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd);

    impl Su2Draws for Ymm {
        /// The four lanes' rejection loops in registers, the same bits.
        #[inline(always)]
        fn draw_su2(alpha: &[f64; PACK], wanted: &[bool; PACK], rngs: &mut [crate::rng::Rng]) -> [[f64; PACK]; 4] {
            // SAFETY: Ymm values, and so this call, exist only inside the AVX2 kernel.
            unsafe { super::super::su2_vector::sample_su2_regs::<super::super::su2_vector::Avx2>(alpha, wanted, rngs) }
        }
    }

    impl Neg for Ymm {
        type Output = Ymm;
        /// Flips the sign bit, as `-x` does on `f64`.
        #[inline(always)]
        fn neg(self) -> Ymm {
            unsafe { Ymm(_mm256_xor_pd(self.0, _mm256_set1_pd(-0.0))) }
        }
    }

    impl Ring for Ymm {
        #[inline(always)]
        fn from_f64(x: f64) -> Self {
            unsafe { Ymm(_mm256_set1_pd(x)) }
        }
    }

    impl Ymm {
        #[inline(always)]
        fn to_array(self) -> [f64; 4] {
            let mut a = [0.0; 4];
            unsafe { _mm256_storeu_pd(a.as_mut_ptr(), self.0) };
            a
        }
    }

    impl Lanes for Ymm {
        const LANES: usize = 4;
        type Scalar = f64;
        #[inline(always)]
        fn lane(&self, i: usize) -> f64 {
            self.to_array()[i]
        }
        #[inline(always)]
        fn set_lane(&mut self, i: usize, v: f64) {
            let mut a = self.to_array();
            a[i] = v;
            *self = Ymm::from_lanes(&a);
        }
        #[inline(always)]
        fn lane_sqrt(self) -> Self {
            unsafe { Ymm(_mm256_sqrt_pd(self.0)) }
        }
        #[inline(always)]
        fn lane_div(self, o: Self) -> Self {
            unsafe { Ymm(_mm256_div_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn from_lanes(v: &[f64]) -> Self {
            assert_eq!(v.len(), 4);
            unsafe { Ymm(_mm256_loadu_pd(v.as_ptr())) }
        }
        #[inline(always)]
        fn to_lanes(&self, out: &mut [f64]) {
            assert_eq!(out.len(), 4);
            unsafe { _mm256_storeu_pd(out.as_mut_ptr(), self.0) }
        }
    }

    impl Pack for Ymm {
        const PARTS: usize = 2;
        /// Lane `i` of part `h` is lane `(4h + i) ^ mask` of the pack: lane
        /// `i ^ (mask & 3)` of half `h ^ (mask >> 2)`.
        #[inline(always)]
        fn load(p: &F64x8, part: usize, mask: u8) -> Self {
            let half = part ^ (mask as usize >> 2);
            debug_assert!(half < 2);
            // F64x8 is 64-byte aligned, so each half is 32-byte aligned.
            unsafe {
                let v = _mm256_load_pd(p.0.as_ptr().add(4 * half));
                Ymm(match mask & 3 {
                    0 => v,
                    1 => _mm256_permute_pd::<0b0101>(v),
                    2 => _mm256_permute2f128_pd::<0x01>(v, v),
                    _ => _mm256_permute4x64_pd::<0b00_01_10_11>(v),
                })
            }
        }
        #[inline(always)]
        fn store(self, p: &mut F64x8, part: usize) {
            assert!(part < 2);
            unsafe { _mm256_store_pd(p.0.as_mut_ptr().add(4 * part), self.0) };
        }
    }

    /// `FusedMulAdd` for a register wrapper `$ty` from its `a·b + c` and
    /// `c − a·b` intrinsics. SAFETY: `Fused<Zmm>` and `Fused<Ymm>` values exist
    /// only inside [`new_pack_avx512_fused`] and [`new_pack_avx2_fused`], which
    /// run only where AVX-512F, respectively AVX2 and FMA, were detected.
    macro_rules! fused_ops {
        ($ty:ident, $fmadd:ident, $fnmadd:ident) => {
            impl crate::fused::FusedMulAdd for $ty {
                #[inline(always)]
                fn mul_add(a: $ty, b: $ty, c: $ty) -> $ty {
                    unsafe { $ty($fmadd(a.0, b.0, c.0)) }
                }
                #[inline(always)]
                fn neg_mul_add(a: $ty, b: $ty, c: $ty) -> $ty {
                    unsafe { $ty($fnmadd(a.0, b.0, c.0)) }
                }
            }
        };
    }
    fused_ops!(Zmm, _mm512_fmadd_pd, _mm512_fnmadd_pd);
    fused_ops!(Ymm, _mm256_fmadd_pd, _mm256_fnmadd_pd);

    /// `$name`: [`new_pack`] on the register form `$form`, compiled with `$features`.
    macro_rules! pack_kernel {
        ($name:ident, $features:literal, $form:ty) => {
            #[target_feature(enable = $features)]
            pub unsafe fn $name(f: &PackedField, o: usize, mu: usize, d: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
                new_pack::<$form>(f, o, mu, d, out)
            }
        };
    }
    pack_kernel!(new_pack_avx512, "avx512f", Zmm);
    pack_kernel!(new_pack_avx2, "avx2", Ymm);
    pack_kernel!(new_pack_avx512_fused, "avx512f", Fused<Zmm>);
    pack_kernel!(new_pack_avx2_fused, "avx2,fma", Fused<Ymm>);
}

/// A quarter of an [`F64x8`] (lanes `2q, 2q + 1`) in one 128-bit register
/// `$ty($reg)`: the wasm32 and aarch64 kernels run a pack as its four
/// quarters one after the other, so that a matrix needs 18 registers rather
/// than 72. `$add`, `$sub`, `$mul` are the register's lane-wise IEEE
/// operations; the caller has the others in scope as `q_neg`, `q_splat`,
/// `q_sqrt`, `q_div`, `q_lane::<I>`, `q_with_lane::<I>`, `q_pair`, `q_load`,
/// `q_store` and `q_swap` (the two lanes exchanged). Every operation is the
/// scalar one lane by lane: the same bits.
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "aarch64", target_feature = "neon")
))]
macro_rules! quarter_pack {
    ($ty:ident, $reg:ty, $add:ident, $sub:ident, $mul:ident) => {
        #[derive(Clone, Copy, Debug)]
        #[repr(transparent)]
        pub struct $ty($reg);

        register_ops!($ty, $add, $sub, $mul);

        impl Su2Draws for $ty {}

        impl Neg for $ty {
            type Output = $ty;
            #[inline(always)]
            fn neg(self) -> $ty {
                $ty(q_neg(self.0))
            }
        }

        impl Ring for $ty {
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                $ty(q_splat(x))
            }
        }

        impl Lanes for $ty {
            const LANES: usize = 2;
            type Scalar = f64;
            #[inline(always)]
            fn lane(&self, i: usize) -> f64 {
                if i == 0 {
                    q_lane::<0>(self.0)
                } else {
                    q_lane::<1>(self.0)
                }
            }
            #[inline(always)]
            fn set_lane(&mut self, i: usize, v: f64) {
                self.0 = if i == 0 { q_with_lane::<0>(self.0, v) } else { q_with_lane::<1>(self.0, v) };
            }
            #[inline(always)]
            fn lane_sqrt(self) -> Self {
                $ty(q_sqrt(self.0))
            }
            #[inline(always)]
            fn lane_div(self, o: Self) -> Self {
                $ty(q_div(self.0, o.0))
            }
            #[inline(always)]
            fn from_lanes(v: &[f64]) -> Self {
                $ty(q_pair(v[0], v[1]))
            }
            #[inline(always)]
            fn to_lanes(&self, out: &mut [f64]) {
                out[0] = self.lane(0);
                out[1] = self.lane(1);
            }
        }

        impl Pack for $ty {
            const PARTS: usize = 4;
            /// Lane `i` of quarter `q` is lane `(2q + i) ^ mask` of the pack: lane
            /// `i ^ (mask & 1)` of quarter `q ^ (mask >> 1)`.
            #[inline(always)]
            fn load(p: &F64x8, part: usize, mask: u8) -> Self {
                let q = part ^ (mask as usize >> 1);
                assert!(q < 4);
                // SAFETY: lanes 2q, 2q + 1 of the pack are in bounds (q < 4); the loads need no alignment.
                let v = unsafe { q_load(p.0.as_ptr().add(2 * q)) };
                $ty(if mask & 1 == 0 { v } else { q_swap(v) })
            }
            #[inline(always)]
            fn store(self, p: &mut F64x8, part: usize) {
                assert!(part < 4);
                // SAFETY: lanes 2·part, 2·part + 1 are in bounds; the stores need no alignment.
                unsafe { q_store(p.0.as_mut_ptr().add(2 * part), self.0) }
            }
        }
    };
}

/// The wasm32 kernel: packs as four simd128 quarters ([`quarter_pack!`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::*;
    use crate::lanes::Lanes;
    use crate::real::Ring;
    use core::arch::wasm32::*;
    use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

    #[inline(always)]
    fn q_neg(v: v128) -> v128 {
        f64x2_neg(v)
    }
    #[inline(always)]
    fn q_splat(x: f64) -> v128 {
        f64x2_splat(x)
    }
    #[inline(always)]
    fn q_sqrt(v: v128) -> v128 {
        f64x2_sqrt(v)
    }
    #[inline(always)]
    fn q_div(a: v128, b: v128) -> v128 {
        f64x2_div(a, b)
    }
    #[inline(always)]
    fn q_lane<const I: usize>(v: v128) -> f64 {
        f64x2_extract_lane::<I>(v)
    }
    #[inline(always)]
    fn q_with_lane<const I: usize>(v: v128, x: f64) -> v128 {
        f64x2_replace_lane::<I>(v, x)
    }
    #[inline(always)]
    fn q_pair(a: f64, b: f64) -> v128 {
        f64x2(a, b)
    }
    #[inline(always)]
    unsafe fn q_load(p: *const f64) -> v128 {
        v128_load(p as *const v128)
    }
    #[inline(always)]
    unsafe fn q_store(p: *mut f64, v: v128) {
        v128_store(p as *mut v128, v)
    }
    #[inline(always)]
    fn q_swap(v: v128) -> v128 {
        i64x2_shuffle::<1, 0>(v, v)
    }

    quarter_pack!(V128, v128, f64x2_add, f64x2_sub, f64x2_mul);

    pub fn new_pack_simd128(f: &PackedField, o: usize, mu: usize, d: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
        new_pack::<V128>(f, o, mu, d, out)
    }
}

/// The aarch64 kernel: packs as four NEON quarters ([`quarter_pack!`]), one
/// `float64x2_t` each (NEON's `f64` operations are IEEE with the default
/// floating-point control register: no flush to zero).
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon {
    use super::*;
    use crate::lanes::Lanes;
    use crate::real::Ring;
    use core::arch::aarch64::*;
    use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

    #[inline(always)]
    fn q_neg(v: float64x2_t) -> float64x2_t {
        unsafe { vnegq_f64(v) }
    }
    #[inline(always)]
    fn q_splat(x: f64) -> float64x2_t {
        unsafe { vdupq_n_f64(x) }
    }
    #[inline(always)]
    fn q_sqrt(v: float64x2_t) -> float64x2_t {
        unsafe { vsqrtq_f64(v) }
    }
    #[inline(always)]
    fn q_div(a: float64x2_t, b: float64x2_t) -> float64x2_t {
        unsafe { vdivq_f64(a, b) }
    }
    #[inline(always)]
    fn q_lane<const I: i32>(v: float64x2_t) -> f64 {
        unsafe { vgetq_lane_f64::<I>(v) }
    }
    #[inline(always)]
    fn q_with_lane<const I: i32>(v: float64x2_t, x: f64) -> float64x2_t {
        unsafe { vsetq_lane_f64::<I>(x, v) }
    }
    #[inline(always)]
    fn q_pair(a: f64, b: f64) -> float64x2_t {
        // SAFETY: two f64 in bounds.
        unsafe { vld1q_f64([a, b].as_ptr()) }
    }
    #[inline(always)]
    unsafe fn q_load(p: *const f64) -> float64x2_t {
        vld1q_f64(p)
    }
    #[inline(always)]
    unsafe fn q_store(p: *mut f64, v: float64x2_t) {
        vst1q_f64(p, v)
    }
    #[inline(always)]
    fn q_swap(v: float64x2_t) -> float64x2_t {
        unsafe { vextq_f64::<1>(v, v) }
    }

    quarter_pack!(Q128, float64x2_t, vaddq_f64, vsubq_f64, vmulq_f64);

    pub fn new_pack_neon(f: &PackedField, o: usize, mu: usize, d: Option<HeatbathDraw>, out: &mut Mat3<F64x8>) {
        new_pack::<Q128>(f, o, mu, d, out)
    }
}

/// [`new_pack`] compiled for `kernel` with `arithmetic` (fused only on the
/// kernels with FMA: AVX-512 and AVX2+FMA).
#[inline(always)]
fn new_pack_with(
    kernel: Kernel,
    arithmetic: Arithmetic,
    f: &PackedField,
    o: usize,
    mu: usize,
    d: Option<HeatbathDraw>,
    out: &mut Mat3<F64x8>,
) {
    // (Only the x86 kernels have a fused form; elsewhere `arithmetic` is not read.)
    let _ = arithmetic;
    match kernel {
        // SAFETY: `kernel` comes from `simd::kernel()` or was checked with `Kernel::available`.
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx512 if arithmetic == Arithmetic::Fused => unsafe { x86::new_pack_avx512_fused(f, o, mu, d, out) },
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx512 => unsafe { x86::new_pack_avx512(f, o, mu, d, out) },
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx2Fma if arithmetic == Arithmetic::Fused => unsafe { x86::new_pack_avx2_fused(f, o, mu, d, out) },
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Kernel::Avx2Fma => unsafe { x86::new_pack_avx2(f, o, mu, d, out) },
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        Kernel::Neon => neon::new_pack_neon(f, o, mu, d, out),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        _ => wasm::new_pack_simd128(f, o, mu, d, out),
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        _ => new_pack::<F64x8>(f, o, mu, d, out),
    }
}

/// Applies `updates` in order to the packed field (`sweep` numbers the
/// compound sweep whose heatbath streams are drawn), with `kernel` and the
/// exact arithmetic (the same bits whatever the kernel).
pub fn apply_updates(
    f: &mut PackedField,
    updates: impl IntoIterator<Item = Update>,
    beta: f64,
    seed: u64,
    sweep: u64,
    kernel: Kernel,
) {
    apply_updates_with(f, updates, beta, seed, sweep, kernel, Arithmetic::Exact)
}

/// [`apply_updates`] with the given [`Arithmetic`].
pub fn apply_updates_with(
    f: &mut PackedField,
    updates: impl IntoIterator<Item = Update>,
    beta: f64,
    seed: u64,
    sweep: u64,
    kernel: Kernel,
    arithmetic: Arithmetic,
) {
    assert!(kernel.available(), "kernel {} does not run on this machine", kernel.name());
    for Update { heatbath, mu, parity } in updates {
        let draw = heatbath.then_some(HeatbathDraw::new(beta, seed, sweep));
        f.update_packs_of_parity(mu, parity, |field, o, pack| {
            new_pack_with(kernel, arithmetic, field, o, mu, draw, pack)
        });
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

#[cfg(all(test, target_arch = "x86_64", target_feature = "sse2"))]
mod tests {
    use super::x86::Ymm;
    use crate::lanes::{F64x8, Lanes, Pack};
    use crate::simd::Kernel;

    /// Every part and lane mask of a half-pack load is the flipped pack's half,
    /// and stores write exactly their half.
    #[target_feature(enable = "avx2")]
    unsafe fn check_half_packs() {
        let p = crate::lanes::SitePack(core::array::from_fn(|i| 10.0 + i as f64));
        for mask in 0..8u8 {
            let flipped = p.flip(mask);
            for part in 0..2 {
                let mut got = [0.0; 4];
                Ymm::load(&p, part, mask).to_lanes(&mut got);
                assert_eq!(got[..], flipped.0[4 * part..4 * part + 4], "mask {mask} part {part}");
                let mut q = F64x8::default();
                Ymm::load(&p, part, mask).store(&mut q, part);
                assert_eq!(q.0[4 * part..4 * part + 4], flipped.0[4 * part..4 * part + 4]);
                assert!(q.0[4 * (1 - part)..4 * (2 - part)].iter().all(|&x| x == 0.0));
            }
        }
    }

    #[test]
    fn half_packs_are_the_halves_of_the_permuted_pack() {
        if Kernel::Avx2Fma.available() {
            // SAFETY: AVX2 was detected.
            unsafe { check_half_packs() }
        }
    }
}
