//! The su(3) Lie algebra with generators `t^a = λ^a/2`, `Tr(t^a t^b) = δ^{ab}/2`.
//!
//! An algebra element is stored as its 8 real components `a` of the Hermitian
//! matrix `H = Σ_a a^a t^a`; the group element it generates is `exp(iH)`.
//! The link derivative of a function `f` (see `DESIGN.md`) is
//! `D_a f = d/dε f(exp(iε t^a) U)`, and for `f = Re Tr(U M)` it equals
//! `Re Tr(i t^a U M)`: [`link_derivative`] maps `X = U M` to these 8 numbers.

use super::complex::Complex;
use super::mat3::Mat3;
use crate::real::Real;

/// Eight real components of an su(3) element (or of a link derivative).
pub type Su3Alg<T> = [T; 8];

const INV_SQRT3: f64 = 0.577_350_269_189_625_8;

/// `Tr(λ^a M)` for all eight Gell-Mann matrices.
#[inline(always)]
pub fn gell_mann_traces<T: Real>(m: &Mat3<T>) -> [Complex<T>; 8] {
    let x = &m.m;
    let s3 = T::from_f64(INV_SQRT3);
    [
        x[1][0] + x[0][1],
        (x[0][1] - x[1][0]).mul_i(),
        x[0][0] - x[1][1],
        x[2][0] + x[0][2],
        (x[0][2] - x[2][0]).mul_i(),
        x[2][1] + x[1][2],
        (x[1][2] - x[2][1]).mul_i(),
        (x[0][0] + x[1][1] - x[2][2] - x[2][2]).scale(s3),
    ]
}

/// `D_a = Re Tr(i t^a X) = −½ Im Tr(λ^a X)`, the link derivative of `Re Tr(X)`
/// when `X = U M` starts with the link being varied.
#[inline(always)]
pub fn link_derivative<T: Real>(x: &Mat3<T>) -> Su3Alg<T> {
    let tr = gell_mann_traces(x);
    let h = T::from_f64(-0.5);
    core::array::from_fn(|a| tr[a].im * h)
}

/// `H = Σ_a a^a t^a` (Hermitian, traceless).
#[inline(always)]
pub fn hermitian<T: Real>(a: &Su3Alg<T>) -> Mat3<T> {
    let h = T::from_f64(0.5);
    let s3 = T::from_f64(0.5 * INV_SQRT3);
    let z = T::zero();
    let c = Complex::new;
    Mat3 {
        m: [
            [c(a[2] * h + a[7] * s3, z), c(a[0] * h, -a[1] * h), c(a[3] * h, -a[4] * h)],
            [c(a[0] * h, a[1] * h), c(-a[2] * h + a[7] * s3, z), c(a[5] * h, -a[6] * h)],
            [c(a[3] * h, a[4] * h), c(a[5] * h, a[6] * h), c(-(a[7] * s3) - a[7] * s3, z)],
        ],
    }
}

/// `a^a = 2 Re Tr(t^a H) = Re Tr(λ^a H)`: the components of the Hermitian part
/// of `H` (exact inverse of [`hermitian`] on traceless Hermitian matrices).
#[inline(always)]
pub fn components<T: Real>(h: &Mat3<T>) -> Su3Alg<T> {
    let tr = gell_mann_traces(h);
    core::array::from_fn(|a| tr[a].re)
}

/// `X = i Σ_a a^a t^a` (anti-Hermitian, traceless).
#[inline(always)]
pub fn anti_hermitian<T: Real>(a: &Su3Alg<T>) -> Mat3<T> {
    hermitian(a).scale_c(Complex::i())
}

/// `[M]_TA = (M − M†)/2 − Tr(M − M†)/6`: the traceless anti-Hermitian part.
#[inline(always)]
pub fn traceless_antihermitian<T: Real>(m: &Mat3<T>) -> Mat3<T> {
    let h = T::from_f64(0.5);
    let mut r = Mat3::zero();
    for i in 0..3 {
        for j in 0..3 {
            r.m[i][j] = (m.m[i][j] - m.m[j][i].conj()).scale(h);
        }
    }
    let t = r.trace().scale(T::from_f64(1.0 / 3.0));
    for i in 0..3 {
        r.m[i][i] -= t;
    }
    r
}

/// Components `a` with `[M]_TA = i Σ a^a t^a`, i.e. `a^a = Im Tr(λ^a M)`.
/// For `M = U M'` this is `−2 D_a` of `Re Tr(M)`.
#[inline(always)]
pub fn antihermitian_components<T: Real>(m: &Mat3<T>) -> Su3Alg<T> {
    let tr = gell_mann_traces(m);
    core::array::from_fn(|a| tr[a].im)
}

/// `Σ_a a^a b^a`
#[inline(always)]
pub fn dot<T: Real>(a: &Su3Alg<T>, b: &Su3Alg<T>) -> T {
    let mut s = T::zero();
    for i in 0..8 {
        s += a[i] * b[i];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(a: usize) -> Mat3<f64> {
        let mut c = [0.0; 8];
        c[a] = 1.0;
        hermitian(&c)
    }

    #[test]
    fn generators_are_orthonormal() {
        for a in 0..8 {
            let ta = generator(a);
            assert!(ta.trace().abs() < 1e-15);
            assert!(ta.dist(&ta.adj()) < 1e-15, "t^{a} Hermitian");
            for b in 0..8 {
                let tr = (ta * generator(b)).trace();
                let want = if a == b { 0.5 } else { 0.0 };
                assert!((tr.re - want).abs() < 1e-15 && tr.im.abs() < 1e-15, "Tr(t^{a} t^{b})");
            }
        }
    }

    #[test]
    fn components_roundtrip() {
        let a = [0.3, -1.2, 0.7, 0.1, 2.0, -0.4, 0.9, -1.5];
        let back = components(&hermitian(&a));
        for i in 0..8 {
            assert!((a[i] - back[i]).abs() < 1e-14);
        }
        let x = anti_hermitian(&a);
        let back = antihermitian_components(&traceless_antihermitian(&x));
        for i in 0..8 {
            assert!((a[i] - back[i]).abs() < 1e-14);
        }
    }

    /// `D_a = Re Tr(i t^a X)` computed from the explicit generator.
    #[test]
    fn link_derivative_matches_definition() {
        let x = Mat3::<f64>::from_f64_rows([
            [(0.3, 0.1), (-0.2, 0.5), (0.7, -0.3)],
            [(0.1, 0.9), (0.4, -0.6), (-0.8, 0.2)],
            [(0.6, 0.6), (-0.1, -0.4), (0.2, 0.3)],
        ]);
        let d = link_derivative(&x);
        for a in 0..8 {
            let want = (generator(a).scale_c(Complex::i()) * x).re_tr();
            assert!((d[a] - want).abs() < 1e-14);
        }
    }
}
