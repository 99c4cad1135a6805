//! Complex numbers over any [`Real`] scalar.

use crate::real::{Real, Ring, CONJ_X, CONJ_Y};
use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// `re + i·im`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Complex<T> {
    pub re: T,
    pub im: T,
}

impl<T: Ring> Complex<T> {
    #[inline(always)]
    pub fn new(re: T, im: T) -> Self {
        Complex { re, im }
    }
    #[inline(always)]
    pub fn zero() -> Self {
        Complex { re: T::zero(), im: T::zero() }
    }
    #[inline(always)]
    pub fn one() -> Self {
        Complex { re: T::one(), im: T::zero() }
    }
    #[inline(always)]
    pub fn i() -> Self {
        Complex { re: T::zero(), im: T::one() }
    }
    #[inline(always)]
    pub fn real(re: T) -> Self {
        Complex { re, im: T::zero() }
    }
    #[inline(always)]
    pub fn conj(self) -> Self {
        Complex { re: self.re, im: -self.im }
    }
    /// `|z|²`
    #[inline(always)]
    pub fn norm_sqr(self) -> T {
        self.re * self.re + self.im * self.im
    }
    #[inline(always)]
    pub fn scale(self, s: T) -> Self {
        Complex { re: self.re * s, im: self.im * s }
    }
    /// `i·z`
    #[inline(always)]
    pub fn mul_i(self) -> Self {
        Complex { re: -self.im, im: self.re }
    }
    /// `conj(self) · o`
    #[inline(always)]
    pub fn conj_mul(self, o: Self) -> Self {
        Complex { re: self.re * o.re + self.im * o.im, im: self.re * o.im - self.im * o.re }
    }
    /// `self · conj(o)`
    #[inline(always)]
    pub fn mul_conj(self, o: Self) -> Self {
        Complex { re: self.re * o.re + self.im * o.im, im: self.im * o.re - self.re * o.im }
    }
    /// `self · o` with the conjugation [`Ring::complex_dot3`] names (`CONJ_X`:
    /// `conj(self)·o`, `CONJ_Y`: `self·conj(o)`, else `self·o`).
    #[inline(always)]
    pub fn mul_as<const CONJ: u8>(self, o: Self) -> Self {
        match CONJ {
            CONJ_X => self.conj_mul(o),
            CONJ_Y => self.mul_conj(o),
            _ => self * o,
        }
    }
}

impl<T: Real> Complex<T> {
    #[inline(always)]
    pub fn abs(self) -> T {
        self.norm_sqr().sqrt()
    }
    #[inline(always)]
    pub fn arg(self) -> T {
        self.im.atan2(self.re)
    }
    #[inline(always)]
    pub fn inv(self) -> Self {
        let n = self.norm_sqr();
        Complex { re: self.re / n, im: -self.im / n }
    }
    /// `e^{iφ}`
    #[inline(always)]
    pub fn from_phase(phi: T) -> Self {
        Complex { re: phi.cos(), im: phi.sin() }
    }
    /// Principal cube root.
    pub fn cbrt(self) -> Self {
        let r = self.abs();
        if r == T::zero() {
            return Self::zero();
        }
        let third = T::from_f64(1.0 / 3.0);
        let m = (r.ln() * third).exp();
        Self::from_phase(self.arg() * third).scale(m)
    }
    /// Converts the scalar type through `f64`.
    #[inline(always)]
    pub fn cast<S: Real>(self) -> Complex<S> {
        Complex { re: S::from_f64(self.re.to_f64()), im: S::from_f64(self.im.to_f64()) }
    }
}

impl<T: Ring> Add for Complex<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Complex { re: self.re + o.re, im: self.im + o.im }
    }
}
impl<T: Ring> Sub for Complex<T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Complex { re: self.re - o.re, im: self.im - o.im }
    }
}
impl<T: Ring> Mul for Complex<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Complex { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
}
impl<T: Ring> Neg for Complex<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Complex { re: -self.re, im: -self.im }
    }
}
impl<T: Ring> AddAssign for Complex<T> {
    #[inline(always)]
    fn add_assign(&mut self, o: Self) {
        self.re += o.re;
        self.im += o.im;
    }
}
impl<T: Ring> SubAssign for Complex<T> {
    #[inline(always)]
    fn sub_assign(&mut self, o: Self) {
        self.re -= o.re;
        self.im -= o.im;
    }
}
impl<T: Ring> MulAssign for Complex<T> {
    #[inline(always)]
    fn mul_assign(&mut self, o: Self) {
        *self = *self * o;
    }
}
