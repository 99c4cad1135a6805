//! Forward-mode dual numbers `v + d·ε` with `ε² = 0`.
//!
//! Running a function on `Dual` inputs whose tangent parts carry a direction
//! `r` gives the function value and its directional derivative along `r`.
//! Running a hand-written backward pass on duals gives, in the tangent part,
//! the derivative of the gradient along `r` (forward-over-reverse): this is how
//! the weight gradient of the invariant loss `Σ r·D` is computed.

use crate::lanes::PACK;
use crate::real::{Real, Ring};
use core::iter::Sum;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A dual number: value `v`, tangent `d`, in that order in memory
/// (`repr(C)`), so a slice of duals is a slice of `T` with the two planes
/// interleaved (see [`as_interleaved`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Dual<T> {
    pub v: T,
    pub d: T,
}

impl<T: Real> Dual<T> {
    #[inline(always)]
    pub fn new(v: T, d: T) -> Self {
        Dual { v, d }
    }
    /// A constant (zero tangent).
    #[inline(always)]
    pub fn constant(v: T) -> Self {
        Dual { v, d: T::zero() }
    }
    /// Applies `f` with derivative `df` evaluated at the value.
    #[inline(always)]
    fn chain(self, f: T, df: T) -> Self {
        Dual { v: f, d: df * self.d }
    }
}

/// A slice of `n` dual numbers as the `2n` numbers `v₀ d₀ v₁ d₁ …`.
fn as_interleaved<T: Real>(x: &[Dual<T>]) -> &[T] {
    const { assert!(core::mem::size_of::<Dual<T>>() == 2 * core::mem::size_of::<T>()) };
    // SAFETY: `Dual<T>` is `repr(C)` with two fields of type `T` and no padding
    // (asserted above), so `n` duals are `2n` properly aligned `T`s.
    unsafe { core::slice::from_raw_parts(x.as_ptr() as *const T, 2 * x.len()) }
}

/// [`as_interleaved`] for a mutable slice.
fn as_interleaved_mut<T: Real>(x: &mut [Dual<T>]) -> &mut [T] {
    const { assert!(core::mem::size_of::<Dual<T>>() == 2 * core::mem::size_of::<T>()) };
    // SAFETY: as in `as_interleaved`; the borrow is exclusive.
    unsafe { core::slice::from_raw_parts_mut(x.as_mut_ptr() as *mut T, 2 * x.len()) }
}

/// The value and tangent planes of a slice of dual numbers.
fn planes<T: Real>(x: &[Dual<T>]) -> (alloc::vec::Vec<T>, alloc::vec::Vec<T>) {
    (x.iter().map(|d| d.v).collect(), x.iter().map(|d| d.d).collect())
}

impl<T: Real> PartialOrd for Dual<T> {
    /// Dual numbers are ordered by their values (branches follow the primal).
    #[inline(always)]
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        self.v.partial_cmp(&other.v)
    }
}

impl<T: Ring> Add for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Dual { v: self.v + o.v, d: self.d + o.d }
    }
}
impl<T: Ring> Sub for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Dual { v: self.v - o.v, d: self.d - o.d }
    }
}
impl<T: Ring> Mul for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Dual { v: self.v * o.v, d: self.d * o.v + self.v * o.d }
    }
}
impl<T: Real> Div for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        let inv = T::one() / o.v;
        let q = self.v * inv;
        Dual { v: q, d: (self.d - q * o.d) * inv }
    }
}
impl<T: Ring> Neg for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Dual { v: -self.v, d: -self.d }
    }
}
impl<T: Ring> AddAssign for Dual<T> {
    #[inline(always)]
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}
impl<T: Ring> SubAssign for Dual<T> {
    #[inline(always)]
    fn sub_assign(&mut self, o: Self) {
        *self = *self - o;
    }
}
impl<T: Ring> MulAssign for Dual<T> {
    #[inline(always)]
    fn mul_assign(&mut self, o: Self) {
        *self = *self * o;
    }
}
impl<T: Real> DivAssign for Dual<T> {
    #[inline(always)]
    fn div_assign(&mut self, o: Self) {
        *self = *self / o;
    }
}
impl<T: Real> Sum for Dual<T> {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

impl<T: Ring> Ring for Dual<T> {
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        Dual { v: T::from_f64(x), d: T::zero() }
    }
}

impl<T: Real> Real for Dual<T> {
    const EPSILON: f64 = T::EPSILON;
    type Pack = Dual<T::Pack>;
    #[inline(always)]
    fn pack(x: &[Self]) -> Self::Pack {
        let v: [T; PACK] = core::array::from_fn(|i| x[i].v);
        let d: [T; PACK] = core::array::from_fn(|i| x[i].d);
        Dual { v: T::pack(&v), d: T::pack(&d) }
    }
    #[inline(always)]
    fn unpack(p: &Self::Pack, out: &mut [Self]) {
        let (mut v, mut d) = ([T::zero(); PACK], [T::zero(); PACK]);
        T::unpack(&p.v, &mut v);
        T::unpack(&p.d, &mut d);
        for (o, (v, d)) in out[..PACK].iter_mut().zip(v.into_iter().zip(d)) {
            *o = Dual { v, d };
        }
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self.v.to_f64()
    }
    #[inline(always)]
    fn mul_f64(self, s: f64) -> Self {
        Dual { v: self.v.mul_f64(s), d: self.d.mul_f64(s) }
    }
    /// `(a + εa')(b + εb') = ab + ε(a'b + ab')`, each plane product in `T`.
    fn gemm(m: usize, n: usize, k: usize, a: &[Self], b: &[Self], c: &mut [Self]) {
        let (av, ad) = planes(&a[..m * k]);
        let (bv, bd) = planes(&b[..k * n]);
        let mut cv = alloc::vec![T::zero(); m * n];
        let mut cd = alloc::vec![T::zero(); m * n];
        T::gemm(m, n, k, &av, &bv, &mut cv);
        T::gemm(m, n, k, &ad, &bv, &mut cd);
        T::gemm(m, n, k, &av, &bd, &mut cd);
        for (ci, (v, d)) in c.iter_mut().zip(cv.into_iter().zip(cd)) {
            ci.v += v;
            ci.d += d;
        }
    }
    /// Real weights act on both planes alike: with the planes interleaved,
    /// `b` is a `k × 2n` matrix of `T` and `c` an `m × 2n` one, so this is
    /// one product of `T` (each entry the same chain over `k` as a product
    /// per plane, without copying the planes apart and back).
    fn gemm_weights(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[Self], c: &mut [Self]) {
        T::gemm_weights(m, 2 * n, k, a, lda, as_interleaved(&b[..k * n]), as_interleaved_mut(&mut c[..m * n]));
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        self.chain(s, T::from_f64(0.5) / s)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        self.chain(self.v.ln(), T::one() / self.v)
    }
    #[inline(always)]
    fn sin(self) -> Self {
        self.chain(self.v.sin(), self.v.cos())
    }
    #[inline(always)]
    fn cos(self) -> Self {
        self.chain(self.v.cos(), -self.v.sin())
    }
    #[inline(always)]
    fn acos(self) -> Self {
        let s = (T::one() - self.v * self.v).sqrt();
        self.chain(self.v.acos(), -T::one() / s)
    }
    #[inline(always)]
    fn atan2(self, x: Self) -> Self {
        // d atan2(y, x) = (x dy - y dx) / (x² + y²)
        let r2 = x.v * x.v + self.v * self.v;
        Dual { v: self.v.atan2(x.v), d: (x.v * self.d - self.v * x.d) / r2 }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        if self.v < T::zero() {
            -self
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each elementary function's tangent equals a central finite difference.
    type Unary = fn(Dual<f64>) -> Dual<f64>;

    #[test]
    fn tangents_match_finite_differences() {
        let fs: [(&str, Unary); 8] = [
            ("sqrt", |x| x.sqrt()),
            ("exp", |x| x.exp()),
            ("ln", |x| x.ln()),
            ("sin", |x| x.sin()),
            ("cos", |x| x.cos()),
            ("acos", |x| (x * Dual::from_f64(0.3)).acos()),
            ("atan2", |x| x.atan2(x * x - Dual::from_f64(0.2))),
            ("div", |x| (x * x + Dual::from_f64(1.0)) / (x - Dual::from_f64(3.0))),
        ];
        for (name, f) in fs {
            for &x0 in &[0.4, 1.1, 2.3] {
                let t = f(Dual::new(x0, 1.0)).d;
                let h = 1e-6;
                let fd = (f(Dual::constant(x0 + h)).v - f(Dual::constant(x0 - h)).v) / (2.0 * h);
                assert!((t - fd).abs() < 1e-7 * (1.0 + fd.abs()), "{name} at {x0}: {t} vs {fd}");
            }
        }
    }
}
