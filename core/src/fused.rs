//! Fused multiply–add arithmetic for the packed gauge updates, by choice.
//!
//! By default every kernel of the heatbath and overrelaxation does in each
//! lane exactly what `f64` does (no FMA), so a chain is the same bits on
//! every CPU and on wasm32. [`Fused<P>`] is a register form `P` whose 3×3
//! complex matrix products ([`Ring::complex_dot3`], the staple sum and the
//! subgroup blocks of `U·K`) round once per multiply–add instead:
//!
//! `re(x₀y₀ + x₁y₁ + x₂y₂) = fnma(x₂ⁱ, y₂ⁱ, fma(x₂ʳ, y₂ʳ, fnma(x₁ⁱ, y₁ⁱ, fma(x₁ʳ, y₁ʳ, re(x₀y₀)))))`
//!
//! with `fma(a, b, c) = a·b + c` and `fnma(a, b, c) = c − a·b` rounded once
//! and `x₀y₀` the rounded complex product; the imaginary part likewise, its
//! two cross products in the order of the exact operation's (`x·y`, `x̄·y`:
//! `xʳyⁱ` first; `x·ȳ`: `xⁱyʳ` first). An accumulated product
//! `acc + Σ_k x_k y_k` (the staple sum) starts the chain from `acc`, term 0
//! fused too. Everything else (SU(2) draws, rotations, reunitarisation) is
//! the exact arithmetic. The chain is then still the same for any number
//! of threads, but its bits depend on the kernel ([`Arithmetic::Fused`]).

use crate::lanes::{F64x8, Lanes, Pack};
use crate::mc::su2_sampler::Su2Draws;
use crate::real::{Ring, CONJ_NONE, CONJ_X};
use crate::rng::Rng;
use crate::su3::Complex;
use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// The arithmetic of the packed heatbath and overrelaxation kernels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Arithmetic {
    /// Each lane does what `f64` does: the same bits on every CPU, kernel
    /// and target (the default).
    #[default]
    Exact,
    /// Matrix products with fused multiply–add where the kernel has it
    /// (AVX-512, AVX2+FMA); kernels without FMA run [`Arithmetic::Exact`].
    /// Faster; the bits depend on the kernel.
    Fused,
}

/// A register form with a fused multiply–add, lane by lane.
pub trait FusedMulAdd: Pack + Su2Draws {
    /// `a·b + c`, rounded once.
    fn mul_add(a: Self, b: Self, c: Self) -> Self;
    /// `c − a·b`, rounded once.
    fn neg_mul_add(a: Self, b: Self, c: Self) -> Self;
}

/// `P` with fused matrix products (see the module documentation).
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub struct Fused<P>(pub P);

macro_rules! delegate_op {
    ($tr:ident, $f:ident, $atr:ident, $af:ident) => {
        impl<P: FusedMulAdd> $tr for Fused<P> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                Fused($tr::$f(self.0, o.0))
            }
        }
        impl<P: FusedMulAdd> $atr for Fused<P> {
            #[inline(always)]
            fn $af(&mut self, o: Self) {
                $atr::$af(&mut self.0, o.0)
            }
        }
    };
}
delegate_op!(Add, add, AddAssign, add_assign);
delegate_op!(Sub, sub, SubAssign, sub_assign);
delegate_op!(Mul, mul, MulAssign, mul_assign);

impl<P: FusedMulAdd> Neg for Fused<P> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Fused(-self.0)
    }
}

/// Term `k` of a fused complex dot product, added to `(re, im)`:
/// `re += xʳyʳ ∓ xⁱyⁱ`, `im += (the two cross products)`, as the conjugation says.
#[inline(always)]
fn add_term<P: FusedMulAdd, const CONJ: u8>(re: P, im: P, x: Complex<P>, y: Complex<P>) -> (P, P) {
    let re = P::mul_add(x.re, y.re, re);
    match CONJ {
        // x·y: re − xⁱyⁱ, im + xʳyⁱ + xⁱyʳ
        CONJ_NONE => (P::neg_mul_add(x.im, y.im, re), P::mul_add(x.im, y.re, P::mul_add(x.re, y.im, im))),
        // x̄·y: re + xⁱyⁱ, im + xʳyⁱ − xⁱyʳ
        CONJ_X => (P::mul_add(x.im, y.im, re), P::neg_mul_add(x.im, y.re, P::mul_add(x.re, y.im, im))),
        // x·ȳ: re + xⁱyⁱ, im + xⁱyʳ − xʳyⁱ
        _ => (P::mul_add(x.im, y.im, re), P::neg_mul_add(x.re, y.im, P::mul_add(x.im, y.re, im))),
    }
}

#[inline(always)]
fn unwrap<P: Copy>(z: Complex<Fused<P>>) -> Complex<P> {
    Complex { re: z.re.0, im: z.im.0 }
}

impl<P: FusedMulAdd> Ring for Fused<P> {
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        Fused(P::from_f64(x))
    }
    #[inline(always)]
    fn complex_dot3<const CONJ: u8>(x: [Complex<Self>; 3], y: [Complex<Self>; 3]) -> Complex<Self> {
        // Term 0 from its products, then terms 1 and 2 fused onto it.
        let first = unwrap(x[0]).mul_as::<CONJ>(unwrap(y[0]));
        let (mut re, mut im) = (first.re, first.im);
        for k in 1..3 {
            (re, im) = add_term::<P, CONJ>(re, im, unwrap(x[k]), unwrap(y[k]));
        }
        Complex { re: Fused(re), im: Fused(im) }
    }
    #[inline(always)]
    fn complex_dot3_acc<const CONJ: u8>(
        acc: Complex<Self>,
        x: [Complex<Self>; 3],
        y: [Complex<Self>; 3],
    ) -> Complex<Self> {
        let (mut re, mut im) = (acc.re.0, acc.im.0);
        for k in 0..3 {
            (re, im) = add_term::<P, CONJ>(re, im, unwrap(x[k]), unwrap(y[k]));
        }
        Complex { re: Fused(re), im: Fused(im) }
    }
}

impl<P: FusedMulAdd> Lanes for Fused<P> {
    const LANES: usize = P::LANES;
    type Scalar = f64;
    #[inline(always)]
    fn lane(&self, i: usize) -> f64 {
        self.0.lane(i)
    }
    #[inline(always)]
    fn set_lane(&mut self, i: usize, v: f64) {
        self.0.set_lane(i, v)
    }
    #[inline(always)]
    fn lane_sqrt(self) -> Self {
        Fused(self.0.lane_sqrt())
    }
    #[inline(always)]
    fn lane_div(self, o: Self) -> Self {
        Fused(self.0.lane_div(o.0))
    }
    #[inline(always)]
    fn from_lanes(v: &[f64]) -> Self {
        Fused(P::from_lanes(v))
    }
    #[inline(always)]
    fn to_lanes(&self, out: &mut [f64]) {
        self.0.to_lanes(out)
    }
}

impl<P: FusedMulAdd> Pack for Fused<P> {
    const PARTS: usize = P::PARTS;
    #[inline(always)]
    fn load(p: &F64x8, part: usize, mask: u8) -> Self {
        Fused(P::load(p, part, mask))
    }
    #[inline(always)]
    fn store(self, p: &mut F64x8, part: usize) {
        self.0.store(p, part)
    }
}

impl<P: FusedMulAdd> Su2Draws for Fused<P> {
    #[inline(always)]
    fn draw_su2(
        alpha: &[f64; crate::lanes::PACK],
        wanted: &[bool; crate::lanes::PACK],
        rngs: &mut [Rng],
    ) -> [[f64; crate::lanes::PACK]; 4] {
        P::draw_su2(alpha, wanted, rngs)
    }
}
