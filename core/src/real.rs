//! The scalar trait every physics and learning routine is generic over.
//!
//! `Real` is implemented for `f32`, `f64` and for forward-mode dual numbers
//! [`Dual<T>`](crate::dual::Dual), so one function serves all three (the
//! second-order terms of the invariant loss run the same code on duals).
//!
//! Transcendental functions go through `libm` on every target, so a given
//! seed gives the same bits natively and on wasm32.

use crate::su3::Complex;
use core::fmt::Debug;
use core::iter::Sum;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// The arithmetic that matrix products need: `f32`, `f64`, dual numbers, and
/// packs of `f64` lanes ([`crate::lanes::F64x8`], one lane per lattice site) on
/// which the same code runs operation for operation.
pub trait Ring:
    Copy
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// `x` (in every lane of a lane pack).
    fn from_f64(x: f64) -> Self;
    #[inline(always)]
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    #[inline(always)]
    fn one() -> Self {
        Self::from_f64(1.0)
    }
    /// The complex sum `x₀y₀ + x₁y₁ + x₂y₂` (an entry of a 3×3 matrix product),
    /// with `x` conjugated when `CONJ == CONJ_X` and `y` when `CONJ == CONJ_Y`:
    /// each product rounded as [`Complex`]'s `*` (or `conj_mul`, `mul_conj`)
    /// rounds it, summed left to right. A register form with fused
    /// multiply–add ([`crate::fused::Fused`]) overrides it; every other type
    /// keeps these operations, so their bits do not depend on the CPU.
    #[inline(always)]
    fn complex_dot3<const CONJ: u8>(x: [Complex<Self>; 3], y: [Complex<Self>; 3]) -> Complex<Self> {
        x[0].mul_as::<CONJ>(y[0]) + x[1].mul_as::<CONJ>(y[1]) + x[2].mul_as::<CONJ>(y[2])
    }
    /// `acc + complex_dot3(x, y)` (a fused form may fold `acc` into the sum).
    #[inline(always)]
    fn complex_dot3_acc<const CONJ: u8>(
        acc: Complex<Self>,
        x: [Complex<Self>; 3],
        y: [Complex<Self>; 3],
    ) -> Complex<Self> {
        acc + Self::complex_dot3::<CONJ>(x, y)
    }
}

/// [`Ring::complex_dot3`] with neither factor conjugated.
pub const CONJ_NONE: u8 = 0;
/// [`Ring::complex_dot3`] with the left factors `x` conjugated.
pub const CONJ_X: u8 = 1;
/// [`Ring::complex_dot3`] with the right factors `y` conjugated.
pub const CONJ_Y: u8 = 2;

/// A real scalar: `f32`, `f64` or a dual number over one of them.
pub trait Real: Ring + Debug + Default + PartialEq + PartialOrd + Div<Output = Self> + DivAssign + Sum {
    /// Machine epsilon of the underlying float type.
    const EPSILON: f64;
    /// The value (the primal part of a dual number).
    fn to_f64(self) -> f64;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn acos(self) -> Self;
    fn atan2(self, x: Self) -> Self;
    fn abs(self) -> Self;

    /// `self · s` for a plain `f64` (network weights are `f64` constants).
    #[inline(always)]
    fn mul_f64(self, s: f64) -> Self {
        self * Self::from_f64(s)
    }
    #[inline(always)]
    fn powi(self, n: i32) -> Self {
        let mut acc = Self::one();
        let mut base = if n < 0 { Self::one() / self } else { self };
        let mut k = n.unsigned_abs();
        while k > 0 {
            if k & 1 == 1 {
                acc *= base;
            }
            base = base * base;
            k >>= 1;
        }
        acc
    }
    /// `c += a·b` for row-major `a` (`m × k`), `b` (`k × n`), `c` (`m × n`).
    fn gemm(m: usize, n: usize, k: usize, a: &[Self], b: &[Self], c: &mut [Self]) {
        crate::gemm::gemm_tiled(m, n, k, a, b, c)
    }
    /// `c += a·b` with plain `f64` weights `a` (row stride `lda`).
    fn gemm_weights(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[Self], c: &mut [Self]) {
        crate::gemm::gemm_weights_tiled(m, n, k, a, lda, b, c)
    }
    /// [`PACK`](crate::lanes::PACK) values, one per site, in the form whose
    /// lane-wise arithmetic the compiler vectorises best: a
    /// [`SitePack`](crate::lanes::SitePack) of `f32` or `f64`, and for a dual
    /// number the dual of its scalar's packs (value and tangent planes apart).
    /// Lane `i` of any expression of packs is the same expression of lanes
    /// `i`, bit for bit.
    type Pack: Ring;
    /// `v[0..PACK]` as one pack.
    fn pack(v: &[Self]) -> Self::Pack;
    /// The lanes of `p` into `out[0..PACK]`.
    fn unpack(p: &Self::Pack, out: &mut [Self]);
    /// `true` unless the value is NaN or infinite.
    #[inline(always)]
    fn is_finite(self) -> bool {
        self.to_f64().is_finite()
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
    #[inline(always)]
    fn min(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }
}

/// Correctly rounded `√x` from the hardware instruction on every target.
///
/// * x86-64: the SSE2 intrinsic, which the compiler encodes as `vsqrtsd`
///   wherever AVX is enabled. libm's x86 `sqrt` is inline assembly with the
///   legacy `sqrtsd`, and a legacy SSE instruction after AVX-512/AVX2 code
///   has left the upper register halves dirty pays an SSE/AVX transition on
///   every call: it made the 8^4 heatbath 3x slower (1.6 µs instead of
///   0.5 µs per link update, measured on the 2-core Xeon with AVX-512).
/// * wasm32: libm uses the instruction only with its nightly-only
///   `unstable-intrinsics` feature, falling back to a software routine, and
///   the scalar `f64.sqrt` intrinsic is unstable too, so wasm32 uses lane 0 of
///   the (stable) simd128 square root.
/// * elsewhere (ARM: the instruction; soft-float x86-64: software): libm.
///
/// IEEE 754 requires the square root to be correctly rounded, so every path
/// gives the same bits.
#[inline(always)]
pub fn sqrt_f64(x: f64) -> f64 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{f64x2_extract_lane, f64x2_splat, f64x2_sqrt};
        f64x2_extract_lane::<0>(f64x2_sqrt(f64x2_splat(x)))
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use core::arch::x86_64::{_mm_cvtsd_f64, _mm_set_sd, _mm_sqrt_pd};
        // SAFETY: SSE2 is enabled for this target (the x86-64 baseline; not on
        // soft-float targets such as x86_64-unknown-none, which take libm's path).
        unsafe { _mm_cvtsd_f64(_mm_sqrt_pd(_mm_set_sd(x))) }
    }
    #[cfg(not(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse2")
    )))]
    {
        libm::sqrt(x)
    }
}

/// [`sqrt_f64`] for `f32`.
#[inline(always)]
pub fn sqrt_f32(x: f32) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{f32x4_extract_lane, f32x4_splat, f32x4_sqrt};
        f32x4_extract_lane::<0>(f32x4_sqrt(f32x4_splat(x)))
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use core::arch::x86_64::{_mm_cvtss_f32, _mm_set_ss, _mm_sqrt_ps};
        // SAFETY: as in sqrt_f64 (SSE2 enabled for this target).
        unsafe { _mm_cvtss_f32(_mm_sqrt_ps(_mm_set_ss(x))) }
    }
    #[cfg(not(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse2")
    )))]
    {
        libm::sqrtf(x)
    }
}

macro_rules! impl_real {
    ($t:ty, $sqrt:path, $exp:path, $ln:path, $sin:path, $cos:path, $acos:path, $atan2:path $(, $extra:item)*) => {
        impl Ring for $t {
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
        }
        impl Real for $t {
            $($extra)*
            const EPSILON: f64 = <$t>::EPSILON as f64;
            type Pack = crate::lanes::SitePack<$t>;
            #[inline(always)]
            fn pack(v: &[Self]) -> Self::Pack {
                crate::lanes::Lanes::from_lanes(&v[..crate::lanes::PACK])
            }
            #[inline(always)]
            fn unpack(p: &Self::Pack, out: &mut [Self]) {
                crate::lanes::Lanes::to_lanes(p, &mut out[..crate::lanes::PACK])
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                $sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                $cos(self)
            }
            #[inline(always)]
            fn acos(self) -> Self {
                $acos(self)
            }
            #[inline(always)]
            fn atan2(self, x: Self) -> Self {
                $atan2(self, x)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                if self < 0.0 {
                    -self
                } else {
                    self
                }
            }
        }
    };
}

// f64 products go through the run-time selected SIMD kernels.
impl_real!(
    f64,
    sqrt_f64,
    libm::exp,
    libm::log,
    libm::sin,
    libm::cos,
    libm::acos,
    libm::atan2,
    fn gemm(m: usize, n: usize, k: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
        crate::simd::gemm_f64(m, n, k, a, k, b, c)
    },
    fn gemm_weights(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f64], c: &mut [f64]) {
        crate::simd::gemm_f64(m, n, k, a, lda, b, c)
    }
);
// f32 products too; the f64 weights are rounded to f32 first (a copy of m·k
// numbers against m·k·n multiply-adds).
impl_real!(
    f32,
    sqrt_f32,
    libm::expf,
    libm::logf,
    libm::sinf,
    libm::cosf,
    libm::acosf,
    libm::atan2f,
    fn gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        crate::simd::gemm_f32(m, n, k, a, b, c)
    },
    fn gemm_weights(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f32], c: &mut [f32]) {
        // Row by row (`extend` over a slice vectorises; a flat_map did not: 6 % of a training step).
        let mut a32: alloc::vec::Vec<f32> = alloc::vec::Vec::with_capacity(m * k);
        for row in a.chunks(lda).take(m) {
            a32.extend(row[..k].iter().map(|&x| x as f32));
        }
        crate::simd::gemm_f32(m, n, k, &a32, b, c)
    }
);
