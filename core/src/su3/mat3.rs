//! 3x3 complex matrices: SU(3) links and the gauge-covariant channels `W` of
//! the L-CNN (which need not be unitary).

use super::complex::Complex;
use crate::real::{Real, Ring, CONJ_NONE, CONJ_X, CONJ_Y};
use core::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};

/// A 3x3 complex matrix, row-major: `m[row][col]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mat3<T> {
    pub m: [[Complex<T>; 3]; 3],
}

impl<T: Ring> Mat3<T> {
    #[inline(always)]
    pub fn zero() -> Self {
        Mat3 { m: [[Complex::zero(); 3]; 3] }
    }
    #[inline(always)]
    pub fn identity() -> Self {
        Self::scalar(Complex::one())
    }
    /// `c·1`
    #[inline(always)]
    pub fn scalar(c: Complex<T>) -> Self {
        let mut r = Self::zero();
        for3!(i, {
            r.m[i][i] = c;
        });
        r
    }
    /// Builds a matrix from its rows of `(re, im)` pairs.
    pub fn from_f64_rows(rows: [[(f64, f64); 3]; 3]) -> Self {
        let mut r = Self::zero();
        for3!(i, {
            for3!(j, {
                r.m[i][j] = Complex::new(T::from_f64(rows[i][j].0), T::from_f64(rows[i][j].1));
            });
        });
        r
    }
    /// `A†`
    #[inline(always)]
    pub fn adj(&self) -> Self {
        let mut r = Self::zero();
        for3!(i, {
            for3!(j, {
                r.m[i][j] = self.m[j][i].conj();
            });
        });
        r
    }
    /// `A·B†`
    #[inline(always)]
    pub fn mul_adj(&self, b: &Self) -> Self {
        let mut r = Self::zero();
        for3!(i, {
            for3!(j, {
                r.m[i][j] = T::complex_dot3::<CONJ_Y>(self.m[i], b.m[j]);
            });
        });
        r
    }
    /// `A†·B`
    #[inline(always)]
    pub fn adj_mul(&self, b: &Self) -> Self {
        let mut r = Self::zero();
        for3!(i, {
            for3!(j, {
                r.m[i][j] = T::complex_dot3::<CONJ_X>(self.column(i), b.column(j));
            });
        });
        r
    }
    /// Column `j`.
    #[inline(always)]
    pub fn column(&self, j: usize) -> [Complex<T>; 3] {
        [self.m[0][j], self.m[1][j], self.m[2][j]]
    }
    /// `self += A·B†`, entry by entry (the bits of `self += a.mul_adj(b)`).
    #[inline(always)]
    pub fn add_mul_adj(&mut self, a: &Self, b: &Self) {
        for3!(i, {
            for3!(j, {
                self.m[i][j] = T::complex_dot3_acc::<CONJ_Y>(self.m[i][j], a.m[i], b.m[j]);
            });
        });
    }
    /// `self += A†·B`, entry by entry (the bits of `self += a.adj_mul(b)`).
    #[inline(always)]
    pub fn add_adj_mul(&mut self, a: &Self, b: &Self) {
        for3!(i, {
            for3!(j, {
                self.m[i][j] = T::complex_dot3_acc::<CONJ_X>(self.m[i][j], a.column(i), b.column(j));
            });
        });
    }
    #[inline(always)]
    pub fn trace(&self) -> Complex<T> {
        self.m[0][0] + self.m[1][1] + self.m[2][2]
    }
    /// `Re Tr A`
    #[inline(always)]
    pub fn re_tr(&self) -> T {
        self.m[0][0].re + self.m[1][1].re + self.m[2][2].re
    }
    /// `Re Tr(A·B)` without forming the product.
    #[inline(always)]
    pub fn re_tr_mul(&self, b: &Self) -> T {
        let mut s = T::zero();
        for3!(i, {
            for3!(k, {
                s += self.m[i][k].re * b.m[k][i].re - self.m[i][k].im * b.m[k][i].im;
            });
        });
        s
    }
    /// `Re Tr(A·B†)` = the real Frobenius inner product of A and B.
    #[inline(always)]
    pub fn re_tr_mul_adj(&self, b: &Self) -> T {
        let mut s = T::zero();
        for3!(i, {
            for3!(j, {
                s += self.m[i][j].re * b.m[i][j].re + self.m[i][j].im * b.m[i][j].im;
            });
        });
        s
    }
    pub fn det(&self) -> Complex<T> {
        let m = &self.m;
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    }
    /// `‖A‖_F² = Re Tr(A A†)`
    #[inline(always)]
    pub fn norm_sqr(&self) -> T {
        self.re_tr_mul_adj(self)
    }
    /// Multiplies by a real number.
    #[inline(always)]
    pub fn scale(&self, s: T) -> Self {
        let mut r = *self;
        for row in r.m.iter_mut() {
            for z in row.iter_mut() {
                *z = z.scale(s);
            }
        }
        r
    }
    /// Multiplies by a complex number.
    #[inline(always)]
    pub fn scale_c(&self, c: Complex<T>) -> Self {
        let mut r = *self;
        for row in r.m.iter_mut() {
            for z in row.iter_mut() {
                *z *= c;
            }
        }
        r
    }
    /// `self += s·b`
    #[inline(always)]
    pub fn add_scaled(&mut self, b: &Self, s: T) {
        for3!(i, {
            for3!(j, {
                self.m[i][j] += b.m[i][j].scale(s);
            });
        });
    }
    /// `self += c·b`
    #[inline(always)]
    pub fn add_scaled_c(&mut self, b: &Self, c: Complex<T>) {
        for3!(i, {
            for3!(j, {
                self.m[i][j] += b.m[i][j] * c;
            });
        });
    }
}

impl<T: Real> Mat3<T> {
    /// The inverse by cofactors (`None` if the determinant vanishes).
    pub fn inverse(&self) -> Option<Self> {
        let m = &self.m;
        let d = self.det();
        if d.norm_sqr() == T::zero() {
            return None;
        }
        let inv_d = d.inv();
        let mut r = Self::zero();
        for3!(i, {
            for3!(j, {
                // r[i][j] = cofactor(j, i) / det
                let (a, b) = ((j + 1) % 3, (j + 2) % 3);
                let (c, e) = ((i + 1) % 3, (i + 2) % 3);
                r.m[i][j] = (m[a][c] * m[b][e] - m[a][e] * m[b][c]) * inv_d;
            });
        });
        Some(r)
    }
    /// `Σ_ij |A_ij − B_ij|` — a cheap distance for tests.
    pub fn dist(&self, b: &Self) -> f64 {
        let mut s = 0.0;
        for3!(i, {
            for3!(j, {
                s += (self.m[i][j] - b.m[i][j]).abs().to_f64();
            });
        });
        s
    }
    /// `true` when every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.m.iter().flatten().all(|z| z.re.is_finite() && z.im.is_finite())
    }
    /// Converts the scalar type through `f64`.
    pub fn cast<S: Real>(&self) -> Mat3<S> {
        let mut r = Mat3::<S>::zero();
        for3!(i, {
            for3!(j, {
                r.m[i][j] = self.m[i][j].cast();
            });
        });
        r
    }
}

impl<T: Ring> Mul for Mat3<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        let mut r = Mat3::zero();
        for3!(i, {
            for3!(j, {
                r.m[i][j] = T::complex_dot3::<CONJ_NONE>(self.m[i], b.column(j));
            });
        });
        r
    }
}
impl<T: Ring> Mul for &Mat3<T> {
    type Output = Mat3<T>;
    #[inline(always)]
    fn mul(self, b: &Mat3<T>) -> Mat3<T> {
        *self * *b
    }
}
impl<T: Ring> Mul<&Mat3<T>> for Mat3<T> {
    type Output = Mat3<T>;
    #[inline(always)]
    fn mul(self, b: &Mat3<T>) -> Mat3<T> {
        self * *b
    }
}
impl<T: Ring> Mul<Mat3<T>> for &Mat3<T> {
    type Output = Mat3<T>;
    #[inline(always)]
    fn mul(self, b: Mat3<T>) -> Mat3<T> {
        *self * b
    }
}
impl<T: Ring> Add for Mat3<T> {
    type Output = Self;
    #[inline(always)]
    fn add(mut self, b: Self) -> Self {
        self += b;
        self
    }
}
impl<T: Ring> Sub for Mat3<T> {
    type Output = Self;
    #[inline(always)]
    fn sub(mut self, b: Self) -> Self {
        self -= b;
        self
    }
}
impl<T: Ring> Neg for Mat3<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.scale(-T::one())
    }
}
impl<T: Ring> AddAssign for Mat3<T> {
    #[inline(always)]
    fn add_assign(&mut self, b: Self) {
        for3!(i, {
            for3!(j, {
                self.m[i][j] += b.m[i][j];
            });
        });
    }
}
impl<T: Ring> SubAssign for Mat3<T> {
    #[inline(always)]
    fn sub_assign(&mut self, b: Self) {
        for3!(i, {
            for3!(j, {
                self.m[i][j] -= b.m[i][j];
            });
        });
    }
}
