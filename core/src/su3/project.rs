//! Projections back to SU(3).
//!
//! * [`reunitarize`]: Gram–Schmidt on rows 1 and 2, row 3 = conj(row 1 × row 2).
//!   Cheap; removes rounding drift from links that are already in SU(3).
//! * [`project_su3`]: the SU(3) matrix `W*` that maximises `Re Tr(W Q†)` (the
//!   closest one in Frobenius norm) for an arbitrary `Q`, as needed for the
//!   normalisation `N(Q) = max_W Re Tr(W Q†)` of the blocking kernel.

use super::algebra::{antihermitian_components, Su3Alg};
use super::complex::Complex;
use super::expm::sqrtm;
use super::mat3::Mat3;
use super::su2::{block_quaternion, left_multiply, qconj, SUBGROUPS};
use crate::lanes::Lanes;
use crate::real::{Real, Ring};

/// Gram–Schmidt reunitarisation to SU(3) (determinant exactly 1 up to rounding).
/// Generic over [`Lanes`], so lane packs are reunitarised with the bits of one site.
#[inline(always)]
pub fn reunitarize<V: Lanes>(u: &Mat3<V>) -> Mat3<V> {
    let mut r = *u;
    let n0 = (r.m[0][0].norm_sqr() + r.m[0][1].norm_sqr() + r.m[0][2].norm_sqr()).lane_sqrt();
    let inv0 = V::one().lane_div(n0);
    for3!(c, {
        r.m[0][c] = r.m[0][c].scale(inv0);
    });
    // row1 -= (row0† · row1) row0
    let dot = r.m[0][0].conj_mul(r.m[1][0]) + r.m[0][1].conj_mul(r.m[1][1]) + r.m[0][2].conj_mul(r.m[1][2]);
    for3!(c, {
        let t = r.m[0][c] * dot;
        r.m[1][c] -= t;
    });
    let n1 = (r.m[1][0].norm_sqr() + r.m[1][1].norm_sqr() + r.m[1][2].norm_sqr()).lane_sqrt();
    let inv1 = V::one().lane_div(n1);
    for3!(c, {
        r.m[1][c] = r.m[1][c].scale(inv1);
    });
    r.m[2] = third_row(&r.m[0], &r.m[1]);
    r
}

/// `conj(a × b)`: the third row that completes two orthonormal rows to SU(3).
#[inline(always)]
pub fn third_row<T: Ring>(a: &[Complex<T>; 3], b: &[Complex<T>; 3]) -> [Complex<T>; 3] {
    [(a[1] * b[2] - a[2] * b[1]).conj(), (a[2] * b[0] - a[0] * b[2]).conj(), (a[0] * b[1] - a[1] * b[0]).conj()]
}

/// Result of [`project_su3`].
#[derive(Clone, Copy, Debug)]
pub struct Projection<T> {
    /// The maximiser `W*`.
    pub w: Mat3<T>,
    /// `max Re Tr(W Q†)`.
    pub value: T,
    /// Cabibbo–Marinari sweeps used.
    pub sweeps: usize,
    /// `‖[W* Q†]_TA‖`, zero at a stationary point.
    pub residual: f64,
}

/// `‖[W Q†]_TA‖` in su(3) components: the Riemannian gradient of
/// `Re Tr(W Q†)` at `W`, zero at the maximum.
pub fn projection_residual<T: Real>(w: &Mat3<T>, q: &Mat3<T>) -> f64 {
    let c: Su3Alg<T> = antihermitian_components(&w.mul_adj(q));
    c.iter().map(|x| x.to_f64() * x.to_f64()).sum::<f64>().sqrt()
}

/// The three SU(3) matrices `P c`, `c³ = 1/det P`, with `P = Q (Q†Q)^{-1/2}` the
/// polar unitary factor of `Q`, and their `Re Tr(W Q†)`, best first. They start
/// the three branches of local maxima of `Re Tr(W Q†)` over SU(3) (the phase of
/// `det Q` is shared among the eigenphases in three ways). `None` when `Q` is too
/// close to singular for the polar factor.
fn polar_candidates<T: Real>(q: &Mat3<T>) -> Option<[(Mat3<T>, T); 3]> {
    let h = q.adj_mul(q);
    let p = q * sqrtm(&h).and_then(|s| s.inverse())?;
    if !p.is_finite() {
        return None;
    }
    let root = p.det().cbrt().inv();
    let omega = Complex::from_phase(T::from_f64(core::f64::consts::TAU / 3.0));
    let mut c = root;
    let mut out = [(Mat3::identity(), T::zero()); 3];
    for slot in out.iter_mut() {
        let w = reunitarize(&p.scale_c(c));
        *slot = (w, w.re_tr_mul_adj(q));
        c *= omega;
    }
    // Stable sort, best first (the earlier candidate wins a tie).
    out.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(core::cmp::Ordering::Equal));
    Some(out)
}

/// The best of the [`polar_candidates`] (a fallback when `Q` is singular).
fn polar_start<T: Real>(q: &Mat3<T>) -> Mat3<T> {
    match polar_candidates(q) {
        Some(c) => c[0].0,
        None => reunitarize_or_identity(q),
    }
}

fn reunitarize_or_identity<T: Real>(q: &Mat3<T>) -> Mat3<T> {
    let r = reunitarize(q);
    if r.is_finite() {
        r
    } else {
        Mat3::identity()
    }
}

/// The SU(3) matrix maximising `Re Tr(W Q†)`.
///
/// Starts from `start` (a previous maximiser, for warm starts) or from the
/// polar factor of `Q`, then applies Cabibbo–Marinari sweeps: in each SU(2)
/// subgroup, `W ← v† W` where `v` is the normalised quaternion part of the
/// block of `W Q†` (the β → ∞ limit of the heatbath). Stops when the
/// Riemannian gradient `‖[W Q†]_TA‖ ≤ tol·(1 + ‖Q‖)` or after `max_sweeps`.
pub fn project_su3<T: Real>(q: &Mat3<T>, start: Option<&Mat3<T>>, tol: f64, max_sweeps: usize) -> Projection<T> {
    let mut w = match start {
        Some(s) => *s,
        None => polar_start(q),
    };
    let scale = 1.0 + q.norm_sqr().to_f64().sqrt();
    let mut residual = projection_residual(&w, q);
    let mut sweeps = 0;
    while residual > tol * scale && sweeps < max_sweeps {
        for &(p, r) in &SUBGROUPS {
            let m = w.mul_adj(q);
            let a = block_quaternion(&m, p, r);
            let k = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + a[3] * a[3]).sqrt();
            if k.to_f64() > 0.0 {
                let inv = T::one() / k;
                let v = [a[0] * inv, a[1] * inv, a[2] * inv, a[3] * inv];
                left_multiply(&qconj(&v), &mut w, p, r);
            }
        }
        sweeps += 1;
        if sweeps % 8 == 0 {
            w = reunitarize(&w);
        }
        residual = projection_residual(&w, q);
    }
    Projection { w, value: w.re_tr_mul_adj(q), sweeps, residual }
}

/// The global maximum of `Re Tr(W Q†)` over SU(3) and, where it exists and comes
/// close, the best local maximum of another branch (the candidates of the
/// polar form `Q = P H`, one per branch of `Σ θ_k`).
#[derive(Clone, Copy, Debug)]
pub struct Branches<T> {
    pub best: Projection<T>,
    pub second: Option<Projection<T>>,
}

/// [`project_su3`] from the best polar candidate and, when the second candidate's
/// `Re Tr(W Q†)` is within `margin·(1 + ‖Q‖)` of the best one's, from that one
/// too. Where the two climbs end at different maxima (`‖W₁ − W₂‖ > 10⁻³`) the
/// better one is `best`. Where the two values cross, `N(Q) = max_W Re Tr(W Q†)`
/// has a kink: [`crate::rg::Kernel::kinks`] finds it and the FP minimiser
/// follows both branches there ([`crate::rg::RidgeLink`]). Without a second
/// branch, `best` is bit for bit `project_su3(q, None, tol, max_sweeps)`.
pub fn project_su3_branches<T: Real>(q: &Mat3<T>, tol: f64, max_sweeps: usize, margin: f64) -> Branches<T> {
    let Some(cands) = polar_candidates(q) else {
        return Branches { best: project_su3(q, None, tol, max_sweeps), second: None };
    };
    let best = project_su3(q, Some(&cands[0].0), tol, max_sweeps);
    let scale = 1.0 + q.norm_sqr().to_f64().sqrt();
    if (cands[0].1 - cands[1].1).to_f64() > margin * scale {
        return Branches { best, second: None };
    }
    let other = project_su3(q, Some(&cands[1].0), tol, max_sweeps);
    if other.w.dist(&best.w) <= 1e-3 {
        Branches { best, second: None }
    } else if other.value > best.value {
        Branches { best: other, second: Some(best) }
    } else {
        Branches { best, second: Some(other) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{domain, Rng};
    use crate::su3::random::{haar_su3, near_identity};

    #[test]
    fn reunitarize_gives_su3() {
        let mut rng = Rng::stream(1, &[domain::TEST]);
        let u = haar_su3::<f64>(&mut rng);
        let noisy = u.scale(1.01) + near_identity::<f64>(&mut rng, 0.01).scale(0.001);
        let r = reunitarize(&noisy);
        assert!((r * r.adj()).dist(&Mat3::identity()) < 1e-14);
        let d = r.det();
        assert!((d.re - 1.0).abs() < 1e-14 && d.im.abs() < 1e-14);
        assert!(reunitarize(&u).dist(&u) < 1e-13);
    }

    /// The projection of `c·U` (c > 0, U ∈ SU(3)) is U, and on random `Q` the
    /// result beats many random SU(3) trial matrices near it.
    #[test]
    fn projection_is_the_maximum() {
        let mut rng = Rng::stream(2, &[domain::TEST]);
        for _ in 0..20 {
            let u = haar_su3::<f64>(&mut rng);
            let p = project_su3(&u.scale(0.37), None, 1e-14, 200);
            assert!(p.w.dist(&u) < 1e-12, "scaled SU(3) projects to itself");
            // A general matrix.
            let mut q = Mat3::zero();
            for i in 0..3 {
                for j in 0..3 {
                    q.m[i][j] = Complex::new(rng.gaussian(), rng.gaussian());
                }
            }
            let p = project_su3(&q, None, 1e-13, 2000);
            assert!(p.residual < 1e-12 * (1.0 + q.norm_sqr().sqrt()), "converged: {}", p.residual);
            for _ in 0..50 {
                let trial = near_identity::<f64>(&mut rng, 0.05) * p.w;
                assert!(trial.re_tr_mul_adj(&q) <= p.value + 1e-12);
            }
            // W* is in SU(3)
            assert!((p.w * p.w.adj()).dist(&Mat3::identity()) < 1e-12);
            assert!((p.w.det().re - 1.0).abs() < 1e-12);
        }
    }
}
