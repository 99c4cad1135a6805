//! The three SU(2) subgroups of SU(3) used by Cabibbo–Marinari updates.
//!
//! An SU(2) element is a unit quaternion `a = (a₀, a₁, a₂, a₃)` standing for
//! `a₀ + i a·σ`, i.e. the 2x2 matrix `[[a₀ + i a₃, a₂ + i a₁], [−a₂ + i a₁, a₀ − i a₃]]`.
//! Subgroup `(p, q)` acts on rows/columns `p` and `q` of a 3x3 matrix.

use super::complex::Complex;
use super::mat3::Mat3;
use crate::real::{Ring, CONJ_NONE};

/// Rows/columns of the three SU(2) subgroups.
pub const SUBGROUPS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];

/// A quaternion `a₀ + i a·σ` (unit norm for SU(2) elements).
pub type Quaternion<T> = [T; 4];

/// The quaternion part of the 2x2 block `(p, q)` of `m`: for any SU(2) `r`,
/// `Re Tr(r·w) = Re Tr(r·(a₀ + i a·σ))`; the rest of the block does not
/// contribute.
#[inline(always)]
pub fn block_quaternion<T: Ring>(m: &Mat3<T>, p: usize, q: usize) -> Quaternion<T> {
    let h = T::from_f64(0.5);
    let (w11, w12, w21, w22) = (m.m[p][p], m.m[p][q], m.m[q][p], m.m[q][q]);
    [(w11.re + w22.re) * h, (w12.im + w21.im) * h, (w12.re - w21.re) * h, (w11.im - w22.im) * h]
}

/// The 2x2 block `(p, q)` of `u·k`, as a quaternion, without forming `u·k`.
#[inline(always)]
pub fn product_block_quaternion<T: Ring>(u: &Mat3<T>, k: &Mat3<T>, p: usize, q: usize) -> Quaternion<T> {
    // (an inner function, not a closure: closures are not always inlined into the packed kernels)
    #[inline(always)]
    fn entry<T: Ring>(u: &Mat3<T>, k: &Mat3<T>, r: usize, c: usize) -> Complex<T> {
        T::complex_dot3::<CONJ_NONE>(u.m[r], k.column(c))
    }
    let h = T::from_f64(0.5);
    let (w11, w12, w21, w22) = (entry(u, k, p, p), entry(u, k, p, q), entry(u, k, q, p), entry(u, k, q, q));
    [(w11.re + w22.re) * h, (w12.im + w21.im) * h, (w12.re - w21.re) * h, (w11.im - w22.im) * h]
}

/// Quaternion product `a·b` (as 2x2 matrices).
#[inline(always)]
pub fn qmul<T: Ring>(a: &Quaternion<T>, b: &Quaternion<T>) -> Quaternion<T> {
    // (a₀ + i a·σ)(b₀ + i b·σ) = a₀b₀ − a·b + i(a₀b + b₀a − a×b)·σ
    [
        a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
        a[0] * b[1] + b[0] * a[1] - (a[2] * b[3] - a[3] * b[2]),
        a[0] * b[2] + b[0] * a[2] - (a[3] * b[1] - a[1] * b[3]),
        a[0] * b[3] + b[0] * a[3] - (a[1] * b[2] - a[2] * b[1]),
    ]
}

/// `a†` (the conjugate quaternion).
#[inline(always)]
pub fn qconj<T: Ring>(a: &Quaternion<T>) -> Quaternion<T> {
    [a[0], -a[1], -a[2], -a[3]]
}

/// The 2x2 complex matrix of a quaternion, row-major.
#[inline(always)]
pub fn quaternion_matrix<T: Ring>(a: &Quaternion<T>) -> [[Complex<T>; 2]; 2] {
    [[Complex::new(a[0], a[3]), Complex::new(a[2], a[1])], [Complex::new(-a[2], a[1]), Complex::new(a[0], -a[3])]]
}

/// `u ← R·u` where `R` is `r` embedded in subgroup `(p, q)`.
#[inline(always)]
pub fn left_multiply<T: Ring>(r: &Quaternion<T>, u: &mut Mat3<T>, p: usize, q: usize) {
    let m = quaternion_matrix(r);
    for3!(c, {
        let (up, uq) = (u.m[p][c], u.m[q][c]);
        u.m[p][c] = m[0][0] * up + m[0][1] * uq;
        u.m[q][c] = m[1][0] * up + m[1][1] * uq;
    });
}

/// `r` embedded in subgroup `(p, q)` of SU(3).
pub fn embed<T: Ring>(r: &Quaternion<T>, p: usize, q: usize) -> Mat3<T> {
    let mut e = Mat3::identity();
    left_multiply(r, &mut e, p, q);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qmul_is_matrix_product() {
        let a = [0.3, -0.5, 0.7, 0.1];
        let b = [-0.2, 0.4, 0.9, -0.6];
        let ab = embed(&qmul(&a, &b), 0, 1);
        let prod = embed(&a, 0, 1) * embed(&b, 0, 1);
        assert!(ab.dist(&prod) < 1e-14);
        let c = qmul(&a, &qconj(&a));
        let n = a.iter().map(|x| x * x).sum::<f64>();
        assert!((c[0] - n).abs() < 1e-15 && c[1].abs() + c[2].abs() + c[3].abs() < 1e-15);
    }

    #[test]
    fn block_quaternion_gives_re_tr() {
        let m = Mat3::<f64>::from_f64_rows([
            [(0.3, 0.1), (-0.2, 0.5), (0.7, -0.3)],
            [(0.1, 0.9), (0.4, -0.6), (-0.8, 0.2)],
            [(0.6, 0.6), (-0.1, -0.4), (0.2, 0.3)],
        ]);
        let r = [0.5f64, 0.5, -0.5, 0.5];
        for &(p, q) in &SUBGROUPS {
            let a = block_quaternion(&m, p, q);
            // Re Tr over the 2x2 block of (R m) equals 2 (r · a)  in the quaternion inner product
            // sense: Re Tr(r a) = 2 (r₀a₀ − r·a).
            let rm = embed(&r, p, q) * m;
            let block = rm.m[p][p].re + rm.m[q][q].re;
            let want = 2.0 * (r[0] * a[0] - r[1] * a[1] - r[2] * a[2] - r[3] * a[3]);
            assert!((block - want).abs() < 1e-14);
            let k = Mat3::identity();
            let a2 = product_block_quaternion(&m, &k, p, q);
            assert_eq!(a, a2);
        }
    }
}
