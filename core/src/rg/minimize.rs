//! Riemannian L-BFGS on `SU(3)^N`.
//!
//! Points are link arrays; tangent vectors are su(3) components per link,
//! `U_l → exp(i Σ_a η p_{l,a} t^a) U_l`. The gradient components are the link
//! derivatives `D_{l,a} F`. Along a search curve `U(η) = exp(iηP)U` the
//! derivative is exactly `φ'(η) = D F(U(η)) · p` (the generator commutes with
//! itself), and vectors are transported by left translation (components are
//! compared as they are), as in gauge-fixing codes.
//!
//! The line search enforces the strong Wolfe conditions (Nocedal & Wright,
//! Alg. 3.5/3.6) with an Armijo slack at the rounding level of `F`: close to
//! the minimum, decreases of `F` fall below its rounding error while `φ'` is
//! still accurate, so the search is then driven by the derivative.
//! Convergence is declared when the largest per-link gradient norm
//! `max_l |D_l F|` falls below the tolerance.

use crate::real::Real;
use crate::su3::{exp_components, reunitarize, Mat3, Su3Alg};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// A function on `SU(3)^N` with link derivatives.
pub trait Objective {
    /// `F(links)`, writing `D_{l,a} F` to `grad`.
    fn eval(&mut self, links: &[Mat3<f64>], grad: &mut [Su3Alg<f64>]) -> f64;
}

/// Stopping rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinimizerSettings {
    /// Stop when `max_l |D_l F| < grad_tol`.
    pub grad_tol: f64,
    pub max_iterations: usize,
    /// Stop (unconverged) once this many evaluations of `F` have been spent: a
    /// minimisation whose line searches keep failing to make progress costs up to
    /// 80 evaluations per iteration, so an iteration limit alone does not bound the time.
    pub max_evaluations: usize,
    /// L-BFGS memory (pairs kept).
    pub memory: usize,
    /// Give up (unconverged) if `F` falls below this: an objective that should be
    /// bounded below but is not (e.g. a poor model as the FP right-hand side).
    pub lower_bound: f64,
}

impl Default for MinimizerSettings {
    fn default() -> Self {
        MinimizerSettings {
            grad_tol: 1e-9,
            max_iterations: 5000,
            max_evaluations: 20_000,
            memory: 12,
            lower_bound: f64::NEG_INFINITY,
        }
    }
}

/// What a minimisation did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinimizerReport {
    pub converged: bool,
    pub iterations: usize,
    pub evaluations: usize,
    pub value: f64,
    /// `max_l |D_l F|` at the end.
    pub max_gradient: f64,
    /// Why it stopped.
    pub reason: alloc::string::String,
    /// `(F, max_l |D_l F|)` at the start of every iteration and at the end.
    pub history: Vec<(f64, f64)>,
}

fn max_link_norm(g: &[Su3Alg<f64>]) -> f64 {
    Real::sqrt(g.iter().map(|d| d.iter().map(|x| x * x).sum::<f64>()).fold(0.0, f64::max))
}

fn dot(a: &[Su3Alg<f64>], b: &[Su3Alg<f64>]) -> f64 {
    crate::par::sum(a.len(), |l| (0..8).map(|c| a[l][c] * b[l][c]).sum::<f64>())
}

fn retract(x: &[Mat3<f64>], p: &[Su3Alg<f64>], eta: f64) -> Vec<Mat3<f64>> {
    crate::par::map_range(x.len(), |l| {
        let a: Su3Alg<f64> = core::array::from_fn(|c| eta * p[l][c]);
        exp_components(&a) * x[l]
    })
}

/// `(s, y, 1/(s·y))` of one L-BFGS update.
type CurvaturePair = (Vec<Su3Alg<f64>>, Vec<Su3Alg<f64>>, f64);

struct Point {
    x: Vec<Mat3<f64>>,
    f: f64,
    g: Vec<Su3Alg<f64>>,
    /// Step length along the search direction that led here.
    eta: f64,
}

struct LineSearch<'a, O: Objective> {
    obj: &'a mut O,
    base: &'a Point,
    p: &'a [Su3Alg<f64>],
    dphi0: f64,
    evals: usize,
}

impl<O: Objective> LineSearch<'_, O> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;

    fn at(&mut self, eta: f64) -> (Point, f64) {
        let x = retract(&self.base.x, self.p, eta);
        let mut g = alloc::vec![[0.0; 8]; x.len()];
        let f = self.obj.eval(&x, &mut g);
        self.evals += 1;
        let dphi = dot(&g, self.p);
        (Point { x, f, g, eta }, dphi)
    }

    fn noise(&self) -> f64 {
        1e-13 * (1.0 + self.base.f.abs())
    }

    fn sufficient(&self, eta: f64, f: f64) -> bool {
        f <= self.base.f + Self::C1 * eta * self.dphi0 + self.noise()
    }

    /// A step satisfying the strong Wolfe conditions, or the best point seen.
    fn search(&mut self, eta0: f64) -> Option<Point> {
        let (mut lo, mut f_lo, mut d_lo) = (0.0, self.base.f, self.dphi0);
        let mut eta = eta0;
        for _ in 0..40 {
            let (pt, d) = self.at(eta);
            if !pt.f.is_finite() {
                return self.zoom(lo, f_lo, d_lo, eta, f64::INFINITY, f64::NAN);
            }
            if !self.sufficient(eta, pt.f) || (lo > 0.0 && pt.f > f_lo + self.noise()) {
                return self.zoom(lo, f_lo, d_lo, eta, pt.f, d);
            }
            if d.abs() <= -Self::C2 * self.dphi0 {
                return Some(pt);
            }
            if d >= 0.0 {
                return self.zoom(eta, pt.f, d, lo, f_lo, d_lo).or(Some(pt));
            }
            (lo, f_lo, d_lo) = (eta, pt.f, d);
            eta *= 2.5;
        }
        None
    }

    fn zoom(
        &mut self,
        mut lo: f64,
        mut f_lo: f64,
        mut d_lo: f64,
        mut hi: f64,
        mut f_hi: f64,
        mut d_hi: f64,
    ) -> Option<Point> {
        let mut best: Option<Point> = None;
        for _ in 0..40 {
            let eta = interpolate(lo, f_lo, d_lo, hi, f_hi, d_hi);
            let (pt, d) = self.at(eta);
            if !self.sufficient(eta, pt.f) || pt.f > f_lo + self.noise() {
                (hi, f_hi, d_hi) = (eta, pt.f, d);
            } else {
                if d.abs() <= -Self::C2 * self.dphi0 {
                    return Some(pt);
                }
                if d * (hi - lo) >= 0.0 {
                    (hi, f_hi, d_hi) = (lo, f_lo, d_lo);
                }
                (lo, f_lo, d_lo) = (eta, pt.f, d);
                best = Some(pt);
            }
            if (hi - lo).abs() < 1e-16 * lo.abs().max(1e-300) {
                break;
            }
        }
        best
    }
}

/// Minimiser of the cubic through `(a, fa, da)` and `(b, fb, db)`, kept inside
/// the interval away from its ends; bisection when that fails.
fn interpolate(a: f64, fa: f64, da: f64, b: f64, fb: f64, db: f64) -> f64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let w = hi - lo;
    let mid = 0.5 * (a + b);
    if !(fb.is_finite() && db.is_finite()) {
        return mid;
    }
    let d1 = da + db - 3.0 * (fa - fb) / (a - b);
    let disc = d1 * d1 - da * db;
    if disc < 0.0 {
        return mid;
    }
    let d2 = disc.sqrt() * (b - a).signum();
    let t = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2);
    if t.is_finite() && t > lo + 0.1 * w && t < hi - 0.1 * w {
        t
    } else {
        mid
    }
}

/// Minimises `obj` starting from `links` (updated in place).
pub fn minimize<O: Objective>(
    obj: &mut O,
    links: &mut Vec<Mat3<f64>>,
    settings: &MinimizerSettings,
) -> MinimizerReport {
    let n = links.len();
    let mut g = alloc::vec![[0.0; 8]; n];
    let f = obj.eval(links, &mut g);
    let mut cur = Point { x: core::mem::take(links), f, g, eta: 0.0 };
    let mut report = MinimizerReport { evaluations: 1, ..Default::default() };
    let mut mem: VecDeque<CurvaturePair> = VecDeque::new();
    let mut fails = 0;
    loop {
        let gmax = max_link_norm(&cur.g);
        report.max_gradient = gmax;
        report.value = cur.f;
        report.history.push((cur.f, gmax));
        if !cur.f.is_finite() {
            report.reason = "the objective is not finite".into();
            break;
        }
        if cur.f < settings.lower_bound {
            report.reason =
                alloc::format!("the objective fell to {:.3e}, below its bound {:.3e}", cur.f, settings.lower_bound);
            break;
        }
        if gmax < settings.grad_tol {
            report.converged = true;
            report.reason = "gradient below tolerance".into();
            break;
        }
        if report.iterations >= settings.max_iterations {
            report.reason = "iteration limit".into();
            break;
        }
        if report.evaluations >= settings.max_evaluations {
            report.reason = "evaluation limit".into();
            break;
        }
        // Two-loop recursion: p = −H g.
        let mut q: Vec<Su3Alg<f64>> = cur.g.iter().map(|d| d.map(|x| -x)).collect();
        let mut alphas = Vec::with_capacity(mem.len());
        for (s, y, rho) in mem.iter().rev() {
            let a = rho * dot(s, &q);
            for (qi, yi) in q.iter_mut().zip(y) {
                for c in 0..8 {
                    qi[c] -= a * yi[c];
                }
            }
            alphas.push(a);
        }
        let gamma = match mem.back() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 0.1 / gmax.max(1e-300),
        };
        for qi in q.iter_mut() {
            for x in qi.iter_mut() {
                *x *= gamma;
            }
        }
        for ((s, y, rho), a) in mem.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            for (qi, si) in q.iter_mut().zip(s) {
                for c in 0..8 {
                    qi[c] += (a - b) * si[c];
                }
            }
        }
        let mut dphi0 = dot(&cur.g, &q);
        let mut eta0 = 1.0;
        if dphi0 >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            mem.clear();
            q = cur.g.iter().map(|d| d.map(|x| -x)).collect();
            dphi0 = dot(&cur.g, &q);
            eta0 = 0.1 / gmax;
        }
        let mut ls = LineSearch { obj, base: &cur, p: &q, dphi0, evals: 0 };
        let found = ls.search(eta0);
        report.evaluations += ls.evals;
        match found {
            Some(next) => {
                fails = 0;
                let eta = next.eta;
                let s: Vec<Su3Alg<f64>> = q.iter().map(|d| d.map(|x| eta * x)).collect();
                let y: Vec<Su3Alg<f64>> =
                    next.g.iter().zip(&cur.g).map(|(a, b)| core::array::from_fn(|c| a[c] - b[c])).collect();
                let sy = dot(&s, &y);
                if sy > 1e-300 {
                    if mem.len() == settings.memory {
                        mem.pop_front();
                    }
                    mem.push_back((s, y, 1.0 / sy));
                }
                cur = next;
                report.iterations += 1;
                if report.iterations.is_multiple_of(200) {
                    // Remove rounding drift from SU(3); F and its gradient change at
                    // the rounding level, so they are evaluated again.
                    crate::par::for_each_mut(&mut cur.x, |_, u| *u = reunitarize(u));
                    cur.f = obj.eval(&cur.x, &mut cur.g);
                    report.evaluations += 1;
                    mem.clear();
                }
            }
            None => {
                fails += 1;
                mem.clear();
                if fails >= 2 {
                    report.reason = "line search failed (rounding limit reached)".into();
                    break;
                }
            }
        }
    }
    *links = cur.x;
    report
}
