//! The exponential map su(3) → SU(3) and its inverse.
//!
//! `exp(iQ)` for Hermitian traceless `Q` uses the Cayley–Hamilton theorem:
//! `Q³ = c₁Q + c₀` with `c₀ = det Q`, `c₁ = Tr(Q²)/2`, so every power
//! `Qⁿ = αₙ + βₙQ + γₙQ²` with the scalar recursion
//! `αₙ₊₁ = c₀γₙ, βₙ₊₁ = αₙ + c₁γₙ, γₙ₊₁ = βₙ`, and
//! `exp(iQ) = f₀ + f₁Q + f₂Q²`, `f_j = Σₙ iⁿ/n! (αₙ, βₙ, γₙ)_j`.
//! After scaling `Q → Q/2^k` so that its spectral radius is at most 1, the
//! scalar series is summed to 24 terms: every term past the last is below
//! `24²/24! < 1e-21` relative, so the result is exact to rounding. The matrix
//! is then squared `k` times. Unlike the eigenvalue (Morningstar–Peardon)
//! form, this has no branch at degenerate eigenvalues, so the same code gives
//! correct tangents for dual numbers.

use super::algebra::{hermitian, Su3Alg};
use super::complex::Complex;
use super::mat3::Mat3;
use crate::real::Real;

const TERMS: usize = 24;

/// `exp(iQ)` for Hermitian traceless `Q`.
pub fn exp_i_hermitian<T: Real>(q: &Mat3<T>) -> Mat3<T> {
    let q2 = q * q;
    let c1 = q2.re_tr() * T::from_f64(0.5);
    // Spectral radius ≤ ‖Q‖_F = sqrt(2 c₁); choose k with ‖Q‖_F / 2^k ≤ 1.
    let norm = (c1.to_f64() * 2.0).sqrt();
    let mut k = 0u32;
    let mut s = 1.0;
    while norm * s > 1.0 {
        s *= 0.5;
        k += 1;
    }
    let st = T::from_f64(s);
    let (qs, q2s) = (q.scale(st), q2.scale(st * st));
    let c1s = c1 * st * st;
    let c0s = q.det().re * st * st * st;

    // Σ iⁿ/n! (αₙ, βₙ, γₙ)
    let (mut al, mut be, mut ga) = (T::one(), T::zero(), T::zero());
    let mut f = [Complex::<T>::zero(); 3];
    let mut coef = T::one(); // 1/n!
    for n in 0..TERMS {
        let c = match n % 4 {
            0 => Complex::new(coef, T::zero()),
            1 => Complex::new(T::zero(), coef),
            2 => Complex::new(-coef, T::zero()),
            _ => Complex::new(T::zero(), -coef),
        };
        f[0] += c.scale(al);
        f[1] += c.scale(be);
        f[2] += c.scale(ga);
        let (a1, b1, g1) = (c0s * ga, al + c1s * ga, be);
        al = a1;
        be = b1;
        ga = g1;
        coef /= T::from_f64((n + 1) as f64);
    }
    let mut e = Mat3::scalar(f[0]);
    e.add_scaled_c(&qs, f[1]);
    e.add_scaled_c(&q2s, f[2]);
    for _ in 0..k {
        e = e * e;
    }
    e
}

/// `exp(i Σ_a a^a t^a)`.
#[inline]
pub fn exp_components<T: Real>(a: &Su3Alg<T>) -> Mat3<T> {
    exp_i_hermitian(&hermitian(a))
}

/// `exp(X)` for traceless anti-Hermitian `X` (`X = iQ`).
pub fn exp_anti_hermitian<T: Real>(x: &Mat3<T>) -> Mat3<T> {
    exp_i_hermitian(&x.scale_c(Complex::new(T::zero(), -T::one())))
}

/// The principal matrix square root by the Denman–Beavers iteration
/// `Y ← (Y + Z⁻¹)/2, Z ← (Z + Y⁻¹)/2` (Y → √A, Z → 1/√A). `None` when it does
/// not converge (an eigenvalue on the negative real axis).
pub fn sqrtm<T: Real>(a: &Mat3<T>) -> Option<Mat3<T>> {
    let mut y = *a;
    let mut z = Mat3::identity();
    let h = T::from_f64(0.5);
    let tol = 1e3 * T::EPSILON * (1.0 + a.norm_sqr().to_f64().sqrt());
    for _ in 0..60 {
        let yi = y.inverse()?;
        let zi = z.inverse()?;
        let y1 = (y + zi).scale(h);
        let z1 = (z + yi).scale(h);
        let change = y1.dist(&y);
        y = y1;
        z = z1;
        if !y.is_finite() {
            return None;
        }
        if change < tol {
            return Some(y);
        }
    }
    None
}

/// The principal logarithm of an SU(3) matrix, as the components `a` with
/// `U = exp(i Σ a^a t^a)`. Defined when no eigenvalue is −1 and the principal
/// eigenphases sum to zero (otherwise the principal log is not traceless and
/// `None` is returned).
///
/// Inverse scaling and squaring: take square roots until `‖A − 1‖ ≤ 1/4`,
/// then `log A = 2 atanh Z = 2 Σ Z^{2j+1}/(2j+1)`, `Z = (A − 1)(A + 1)⁻¹`.
pub fn log_su3<T: Real>(u: &Mat3<T>) -> Option<Su3Alg<T>> {
    let one = Mat3::identity();
    let mut a = *u;
    let mut k = 0;
    while (a - one).norm_sqr().to_f64() > 1.0 / 16.0 {
        a = sqrtm(&a)?;
        k += 1;
        if k > 50 {
            return None;
        }
    }
    let z = (a - one) * (a + one).inverse()?;
    let z2 = z * z;
    let mut term = z;
    let mut sum = z;
    for j in 1..30 {
        term = term * z2;
        sum.add_scaled(&term, T::from_f64(1.0 / (2 * j + 1) as f64));
    }
    let log = sum.scale(T::from_f64(2.0 * (1u64 << k) as f64));
    // log = i H with H Hermitian; a traceless result is required.
    if log.trace().abs().to_f64() > 1e-8 {
        return None;
    }
    let h = log.scale_c(Complex::new(T::zero(), -T::one()));
    Some(super::algebra::components(&h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::su3::algebra::anti_hermitian;

    /// Plain Taylor series of exp(X), summed with many terms after scaling
    /// (an independent reference).
    fn exp_reference(x: &Mat3<f64>) -> Mat3<f64> {
        let xs = x.scale(1.0 / 64.0);
        let mut sum = Mat3::identity();
        let mut term = Mat3::identity();
        for n in 1..40 {
            term = (term * xs).scale(1.0 / n as f64);
            sum += term;
        }
        for _ in 0..6 {
            sum = sum * sum;
        }
        sum
    }

    fn sample(scale: f64, seed: u64) -> Su3Alg<f64> {
        let mut s = seed;
        core::array::from_fn(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 * scale
        })
    }

    #[test]
    fn exp_matches_series_and_is_su3() {
        for (i, &scale) in [1e-9, 1e-3, 0.3, 1.0, 2.5, 6.0].iter().enumerate() {
            for seed in 0..5 {
                let a = sample(scale, 17 * seed + i as u64);
                let e = exp_components(&a);
                let r = exp_reference(&anti_hermitian(&a));
                assert!(e.dist(&r) < 5e-13, "scale {scale}: {}", e.dist(&r));
                assert!((e * e.adj()).dist(&Mat3::identity()) < 1e-13);
                let d = e.det();
                assert!((d.re - 1.0).abs() < 1e-13 && d.im.abs() < 1e-13);
            }
        }
    }

    #[test]
    fn exp_degenerate_eigenvalues() {
        // λ⁸ direction: two equal eigenvalues.
        let mut a = [0.0; 8];
        a[7] = 1.7;
        let e = exp_components(&a);
        let r = exp_reference(&anti_hermitian(&a));
        assert!(e.dist(&r) < 1e-13);
    }

    #[test]
    fn exp_of_sum_of_commuting() {
        // exp(X) exp(-X) = 1
        let a = sample(1.3, 99);
        let na: Su3Alg<f64> = core::array::from_fn(|i| -a[i]);
        let p = exp_components(&a) * exp_components(&na);
        assert!(p.dist(&Mat3::identity()) < 1e-13);
    }

    #[test]
    fn log_inverts_exp() {
        for (i, &scale) in [1e-6, 0.1, 0.8, 1.5].iter().enumerate() {
            for seed in 0..5 {
                let a = sample(scale, 31 * seed + i as u64);
                let back = log_su3(&exp_components(&a)).expect("log defined");
                for c in 0..8 {
                    assert!((a[c] - back[c]).abs() < 1e-11, "scale {scale} comp {c}: {} vs {}", a[c], back[c]);
                }
            }
        }
    }

    #[test]
    fn sqrtm_squares_back() {
        let a = sample(1.2, 5);
        let u = exp_components(&a);
        let s = sqrtm(&u).unwrap();
        assert!((s * s).dist(&u) < 1e-13);
    }

    #[test]
    fn exp_tangent_with_duals_matches_finite_difference() {
        use crate::dual::Dual;
        let a = sample(0.9, 3);
        let dir = sample(1.0, 4);
        let ad: Su3Alg<Dual<f64>> = core::array::from_fn(|i| Dual::new(a[i], dir[i]));
        let e = exp_components(&ad);
        let h = 1e-6;
        let ep = exp_components(&core::array::from_fn(|i| a[i] + h * dir[i]));
        let em = exp_components(&core::array::from_fn(|i| a[i] - h * dir[i]));
        for i in 0..3 {
            for j in 0..3 {
                let fd = (ep.m[i][j] - em.m[i][j]).scale(0.5 / h);
                assert!((e.m[i][j].re.d - fd.re).abs() < 1e-8);
                assert!((e.m[i][j].im.d - fd.im).abs() < 1e-8);
            }
        }
    }
}
