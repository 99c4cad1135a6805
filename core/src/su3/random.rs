//! Random SU(3) and SU(2) elements.

use super::algebra::Su3Alg;
use super::complex::Complex;
use super::expm::exp_components;
use super::mat3::Mat3;
use super::project::reunitarize;
use crate::real::Real;
use crate::rng::Rng;

/// A Haar-distributed SU(3) matrix: Gram–Schmidt of a complex Gaussian matrix
/// is Haar on U(3); dividing by the principal cube root of the determinant
/// (a function of the determinant only, which left multiplication by SU(3)
/// does not change) keeps left invariance and lands in SU(3).
pub fn haar_su3<T: Real>(rng: &mut Rng) -> Mat3<T> {
    let mut g = Mat3::<f64>::zero();
    for row in g.m.iter_mut() {
        for z in row.iter_mut() {
            *z = Complex::new(rng.gaussian(), rng.gaussian());
        }
    }
    // Gram–Schmidt on all three rows (U(3)), then fix the determinant.
    let mut u = g;
    for i in 0..3 {
        for j in 0..i {
            let dot = (0..3).fold(Complex::zero(), |s, c| s + u.m[j][c].conj_mul(u.m[i][c]));
            for c in 0..3 {
                let t = u.m[j][c] * dot;
                u.m[i][c] -= t;
            }
        }
        let n = (0..3).map(|c| u.m[i][c].norm_sqr()).sum::<f64>().sqrt();
        for c in 0..3 {
            u.m[i][c] = u.m[i][c].scale(1.0 / n);
        }
    }
    let root = u.det().cbrt().inv();
    reunitarize(&u.scale_c(root)).cast()
}

/// `exp(i ε Σ_a g^a t^a)` with standard normal `g^a`: a random element near 1.
pub fn near_identity<T: Real>(rng: &mut Rng, eps: f64) -> Mat3<T> {
    let a: Su3Alg<f64> = core::array::from_fn(|_| eps * rng.gaussian());
    exp_components(&a).cast()
}

/// A random su(3) direction with standard normal components.
pub fn gaussian_algebra(rng: &mut Rng) -> Su3Alg<f64> {
    core::array::from_fn(|_| rng.gaussian())
}

/// A Haar-random SU(2) element (uniform on the 3-sphere).
pub fn haar_su2(rng: &mut Rng) -> [f64; 4] {
    let mut a: [f64; 4] = core::array::from_fn(|_| rng.gaussian());
    let n = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for x in a.iter_mut() {
        *x /= n;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::domain;

    /// Haar moments: ⟨Tr U⟩ = 0, ⟨|Tr U|²⟩ = 1, ⟨(Re Tr U)²⟩ = 1/2.
    #[test]
    fn haar_moments() {
        let mut rng = Rng::stream(3, &[domain::TEST]);
        let n = 40_000;
        let (mut m1, mut m2, mut m3) = (Complex::<f64>::zero(), 0.0, 0.0);
        for _ in 0..n {
            let u = haar_su3::<f64>(&mut rng);
            let t = u.trace();
            m1 += t;
            m2 += t.norm_sqr();
            m3 += t.re * t.re;
            assert!((u.det().re - 1.0).abs() < 1e-13);
        }
        let nf = n as f64;
        assert!(m1.abs() / nf < 0.02, "<Tr U> = {:?}", m1.scale(1.0 / nf));
        assert!((m2 / nf - 1.0).abs() < 0.03, "<|Tr U|^2> = {}", m2 / nf);
        assert!((m3 / nf - 0.5).abs() < 0.02, "<(Re Tr U)^2> = {}", m3 / nf);
    }
}
