//! The fixed point action from the RG equation,
//!
//! `A_FP[V] = min_{U_1..U_n} { A[U_n] + T[U_n, U_{n−1}] + … + T[U_1, V] }`,
//!
//! where `U_i` lives on the lattice `2^i` times finer than `V` and `A` is the
//! action on the finest level (Wilson, a trained L-CNN, …). Depth `n = 1` is
//! the FP equation with `A` on its right-hand side; `n = 2` is one step of
//! "inception", which makes `A_FP` independent of the quality of `A` to a
//! much higher degree (the fields on the finest level are much smoother).
//!
//! All levels are minimised jointly with Riemannian L-BFGS (depth 1: with a step
//! onto kinks of the kernel's normalisation where the minimum lies on one; see
//! `FixedPoint::minimize_on_kinks`). The derivative
//! `D_FP[V]_{x,μ,a}` is, by the envelope theorem, the explicit `V` derivative
//! of `T[U_1, V]` at the minimiser: `−(κ/N_c) Re Tr(i t^a V Q†)`.

use super::kernel::{derivatives_from_gradients, Kernel, Kink, RidgeLink};
use super::minimize::{minimize, MinimizerReport, MinimizerSettings, Objective};
use super::params::Blocking;
use crate::action::Action;
use crate::lattice::{GaugeField, Geometry};
use crate::su3::{exp_components, log_su3, project_su3, sqrtm, Mat3, Su3Alg};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

/// How `A_FP` is computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixedPointSettings {
    pub blocking: Blocking,
    /// Number of finer levels (1 = plain FP equation, 2 = inception).
    pub depth: usize,
    pub minimizer: MinimizerSettings,
}

impl Default for FixedPointSettings {
    fn default() -> Self {
        FixedPointSettings { blocking: Blocking::default_4d(), depth: 1, minimizer: MinimizerSettings::default() }
    }
}

/// `A_FP[V]`, `D_FP[V]` and how they were obtained.
#[derive(Clone, Debug)]
pub struct FixedPointResult {
    /// `A_FP[V]`
    pub action: f64,
    /// `D_FP[V]_{x,μ,a}` per coarse link.
    pub derivative: Vec<Su3Alg<f64>>,
    /// The minimisers `U_1, …, U_n` (finer and finer).
    pub minimizers: Vec<GaugeField<f64>>,
    /// `A[U_n]` (the right-hand-side action on the finest level).
    pub rhs_action: f64,
    /// `T[U_i, U_{i−1}]` for `i = 1..n` (`U_0 = V`).
    pub kernel_values: Vec<f64>,
    pub report: MinimizerReport,
}

/// Why a fixed point computation was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum FixedPointError {
    Depth(usize),
    Blocking(String),
    NotFinite,
}

impl fmt::Display for FixedPointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixedPointError::Depth(d) => write!(f, "inception depth {d} is not supported (use 1, 2 or 3)"),
            FixedPointError::Blocking(e) => write!(f, "blocking parameters: {e}"),
            FixedPointError::NotFinite => write!(f, "the coarse configuration contains NaN or infinite entries"),
        }
    }
}
impl core::error::Error for FixedPointError {}

/// The levels, kernels and right-hand-side action of an FP computation on a
/// given coarse lattice.
pub struct FixedPoint<'a> {
    pub settings: FixedPointSettings,
    rhs: &'a dyn Action<f64>,
    /// `levels[0]` is the coarse lattice, `levels[i]` is `2^i` times finer.
    levels: Vec<Arc<Geometry>>,
    /// `kernels[i]` blocks `levels[i+1]` onto `levels[i]`.
    kernels: Vec<Kernel>,
}

impl<'a> FixedPoint<'a> {
    pub fn new(
        coarse: Arc<Geometry>,
        settings: FixedPointSettings,
        rhs: &'a dyn Action<f64>,
    ) -> Result<Self, FixedPointError> {
        if !(1..=3).contains(&settings.depth) {
            return Err(FixedPointError::Depth(settings.depth));
        }
        settings.blocking.validate().map_err(|e| FixedPointError::Blocking(e.0))?;
        let mut levels = alloc::vec![coarse];
        for _ in 0..settings.depth {
            let dims: Vec<usize> = levels.last().unwrap().dims().iter().map(|l| 2 * l).collect();
            levels.push(Arc::new(Geometry::new(&dims).expect("finer lattice")));
        }
        let kernels = (0..settings.depth)
            .map(|i| Kernel::new(levels[i + 1].clone(), levels[i].clone(), settings.blocking))
            .collect();
        Ok(FixedPoint { settings, rhs, levels, kernels })
    }

    pub fn coarse(&self) -> &Arc<Geometry> {
        &self.levels[0]
    }

    /// The kernel blocking level `i + 1` onto level `i` (`0` blocks onto the coarse lattice).
    pub fn kernel(&self, i: usize) -> &Kernel {
        &self.kernels[i]
    }

    /// The standard starting field for every level below `v`.
    pub fn start(&self, v: &GaugeField<f64>) -> Vec<GaugeField<f64>> {
        let mut fields: Vec<GaugeField<f64>> = Vec::new();
        for i in 0..self.settings.depth {
            let coarse = if i == 0 { v } else { &fields[i - 1] };
            fields.push(refine(coarse, self.levels[i + 1].clone()));
        }
        fields
    }

    /// The start for depth `n > 1`: the minimisers of the depth `n − 1`
    /// problem (itself started this way), refined once more. Starting all
    /// levels from [`Self::start`] at once can end in a local minimum on
    /// fields with flux; refining a converged, smooth level avoids that.
    fn continuation_start(&self, v: &GaugeField<f64>) -> Vec<GaugeField<f64>> {
        let n = self.settings.depth;
        if n == 1 {
            return self.start(v);
        }
        let shallower =
            FixedPoint::new(self.levels[0].clone(), FixedPointSettings { depth: n - 1, ..self.settings }, self.rhs)
                .expect("valid settings");
        let mut fields = match shallower.solve(v, None) {
            Ok(r) => r.minimizers,
            Err(_) => return self.start(v),
        };
        let last = refine(fields.last().unwrap(), self.levels[n].clone());
        fields.push(last);
        fields
    }

    /// `A_FP[V]` and `D_FP[V]`, starting from `start` (or, for depth 1,
    /// [`Self::start`]; for deeper problems, the continuation from the
    /// depth-1 solution).
    pub fn solve(
        &self,
        v: &GaugeField<f64>,
        start: Option<Vec<GaugeField<f64>>>,
    ) -> Result<FixedPointResult, FixedPointError> {
        assert_eq!(**v.geometry(), *self.levels[0], "V is not on the coarse lattice");
        if !v.is_finite() {
            return Err(FixedPointError::NotFinite);
        }
        let fields = match start {
            Some(f) => f,
            None => self.continuation_start(v),
        };
        let mut flat: Vec<Mat3<f64>> = fields.iter().flat_map(|f| f.links().iter().copied()).collect();
        let mut obj = LevelObjective { fp: self, v, ridge: Vec::new() };
        // A ≥ 0 and T ≥ 0: a minimum far below zero means the right-hand-side
        // action is not bounded below (a poor parametrisation), not an FP value.
        let mut ms = self.settings.minimizer;
        if ms.lower_bound == f64::NEG_INFINITY {
            let mut g = alloc::vec![[0.0; 8]; flat.len()];
            let f0 = obj.eval(&flat, &mut g);
            ms.lower_bound = -0.5 * f0.abs() - 1.0;
        }
        let report = self.minimize_levels(v, &mut flat, &ms);
        // Final evaluation at the minimiser: split the terms, and D_FP.
        let minimizers = obj.unflatten(&flat);
        let n = self.settings.depth;
        let mut kernel_values = Vec::with_capacity(n);
        let mut derivative = Vec::new();
        for i in 0..n {
            let coarse = if i == 0 { v } else { &minimizers[i - 1] };
            let e = self.kernels[i].eval(&minimizers[i], coarse, false, i == 0);
            if i == 0 {
                derivative = e.coarse_deriv;
            }
            kernel_values.push(e.value);
        }
        let rhs_action = self.rhs.value(&minimizers[n - 1]);
        let action = rhs_action + kernel_values.iter().sum::<f64>();
        Ok(FixedPointResult { action, derivative, minimizers, rhs_action, kernel_values, report })
    }

    /// Minimises `F` over all levels (`flat`), stepping onto a kink of `N(Q)` when the
    /// minimum lies on one: a depth-1 minimisation that has not converged after
    /// [`KINK_CHECK_ITERATIONS`] iterations or [`KINK_CHECK_EVALUATIONS`] evaluations
    /// (or whose line search failed) checks the coarsest kernel's blocked links with
    /// [`Kernel::kinks`]; with none, it goes on from where it is (L-BFGS restarted).
    fn minimize_levels(
        &self,
        v: &GaugeField<f64>,
        flat: &mut Vec<Mat3<f64>>,
        ms: &MinimizerSettings,
    ) -> MinimizerReport {
        let mut obj = LevelObjective { fp: self, v, ridge: Vec::new() };
        if self.settings.depth != 1 {
            return minimize(&mut obj, flat, ms);
        }
        let first = MinimizerSettings {
            max_iterations: ms.max_iterations.min(KINK_CHECK_ITERATIONS),
            max_evaluations: ms.max_evaluations.min(KINK_CHECK_EVALUATIONS),
            ..*ms
        };
        let mut report = minimize(&mut obj, flat, &first);
        let stopped = !report.converged && report.value.is_finite() && report.value >= ms.lower_bound;
        if !stopped {
            return report;
        }
        let u = obj.unflatten(flat).swap_remove(0);
        let kinks = self.kernels[0].kinks(&u, KINK_GAP);
        if !kinks.is_empty() {
            self.minimize_on_kinks(v, flat, &kinks, ms, &mut report);
        } else if report.iterations < ms.max_iterations && report.evaluations < ms.max_evaluations {
            let rest = remaining(ms, &report);
            let more = minimize(&mut obj, flat, &rest);
            absorb(&mut report, more);
        }
        report
    }

    /// The minimum of `F` on the kinks of `N(Q)` at the coarsest kernel's blocked links
    /// `kinks`, from `flat` (depth 1). With `N = max(n_A, n_B)` there,
    /// `min_U F = max_λ min_U F_λ`, where `F_λ` takes `N_λ = λ n_A + (1−λ) n_B` on those
    /// links ([`RidgeLink`]): `F_λ` is smooth, so L-BFGS converges on it, and
    /// `∂_λ min_U F_λ = (κ/3)(n_A − n_B)` at its minimiser decreases with λ. The λ of
    /// every kink is found by regula falsi (Illinois) on `h = n_A − n_B`, one smooth
    /// minimisation per step, warm started. Converged when `F_λ`'s gradient and every
    /// `|h|` are below the gradient tolerance: there `F_λ = F` to `(κ/3)|h|` per kink
    /// and its gradient is a convex combination of the one-sided gradients of `F`
    /// (a stationary point of the non-smooth `F`).
    fn minimize_on_kinks(
        &self,
        v: &GaugeField<f64>,
        flat: &mut Vec<Mat3<f64>>,
        kinks: &[Kink],
        ms: &MinimizerSettings,
        report: &mut MinimizerReport,
    ) {
        let mut ridge: Vec<RidgeLink<f64>> = kinks.iter().map(|k| RidgeLink::at(k, 0.0)).collect();
        // Start from the λ that makes the gradient smallest here (on the kinks the
        // minimum's λ does): ∇F_λ = g₀ + Σ_r λ_r d_r is affine in λ, with `g₀` the
        // gradient at λ = 0 and `d_r` the change when λ_r goes to 1 alone; each λ_r
        // minimises |g₀ + λ_r d_r| (exact for kinks whose boxes do not overlap).
        // Far from it the minimum of F_λ moves far from the kink, where a branch can
        // cease to exist.
        let gradient = |ridge: &[RidgeLink<f64>]| {
            let mut g = alloc::vec![[0.0; 8]; flat.len()];
            LevelObjective { fp: self, v, ridge: ridge.to_vec() }.eval(flat, &mut g);
            g
        };
        let g0 = gradient(&ridge);
        report.evaluations += 1 + ridge.len();
        let mut starts = Vec::with_capacity(ridge.len());
        for i in 0..ridge.len() {
            let mut one = ridge.clone();
            one[i].lambda = 1.0;
            let g1 = gradient(&one);
            let (mut gd, mut dd) = (0.0, 0.0);
            for (a, b) in g0.iter().zip(&g1) {
                for c in 0..8 {
                    let d = b[c] - a[c];
                    gd += a[c] * d;
                    dd += d * d;
                }
            }
            starts.push(if dd > 0.0 { (-gd / dd).clamp(0.0, 1.0) } else { 0.5 });
        }
        let mut brackets = alloc::vec![Bracket::new(); ridge.len()];
        for (r, &l) in ridge.iter_mut().zip(&starts) {
            r.lambda = l;
        }
        for _ in 0..KINK_STEPS {
            let mut obj = LevelObjective { fp: self, v, ridge: ridge.clone() };
            let inner = minimize(&mut obj, flat, &remaining(ms, report));
            let converged = inner.converged;
            absorb(report, inner);
            if !converged {
                report.reason = alloc::format!("{} (minimising on a kink of N(Q))", report.reason);
                return;
            }
            let u = obj.unflatten(flat).swap_remove(0);
            let mut on_kinks = true;
            for ((r, [a, b]), br) in
                ridge.iter_mut().zip(self.kernels[0].ridge_branches(&u, &obj.ridge)).zip(&mut brackets)
            {
                if a.w.dist(&b.w) <= 1e-3 {
                    report.reason = "the two maxima of N(Q) on a kink merged".into();
                    return;
                }
                let h = a.value - b.value;
                // At λ = 1 with n_A > n_B (or λ = 0 with n_B > n_A) F_λ = F near the
                // minimum: it is off the kink, on the side of the larger maximum.
                let off_kink = (r.lambda == 1.0 && h > 0.0) || (r.lambda == 0.0 && h < 0.0);
                on_kinks &= h.abs() < ms.grad_tol || off_kink;
                (r.w_a, r.w_b) = (a.w, b.w);
                br.record(r.lambda, h);
                r.lambda = br.next();
            }
            if on_kinks {
                report.converged = true;
                report.reason =
                    alloc::format!("gradient below tolerance, on a kink of N(Q) at {} blocked link(s)", ridge.len());
                return;
            }
        }
        report.converged = false;
        report.reason = "no mixture of the two maxima of N(Q) put the minimum on the kink".into();
    }

    /// `F` and its gradient over all levels (what the minimiser sees).
    fn objective(
        &self,
        v: &GaugeField<f64>,
        fields: &[GaugeField<f64>],
        ridge: &[RidgeLink<f64>],
        grads: &mut [&mut [Su3Alg<f64>]],
    ) -> f64 {
        let n = self.settings.depth;
        let mut total = 0.0;
        for g in grads.iter_mut() {
            g.iter_mut().for_each(|d| *d = [0.0; 8]);
        }
        for i in 0..n {
            let coarse = if i == 0 { v } else { &fields[i - 1] };
            let e = self.kernels[i].eval_on_ridge(&fields[i], coarse, true, i > 0, if i == 0 { ridge } else { &[] });
            total += e.value;
            let d = derivatives_from_gradients(&fields[i], &e.fine_grad);
            add_into(grads[i], &d);
            if i > 0 {
                add_into(grads[i - 1], &e.coarse_deriv);
            }
        }
        let mut d = alloc::vec![[0.0; 8]; fields[n - 1].links().len()];
        total += self.rhs.value_and_derivative(&fields[n - 1], &mut d);
        add_into(grads[n - 1], &d);
        total
    }
}

fn add_into(acc: &mut [Su3Alg<f64>], d: &[Su3Alg<f64>]) {
    for (a, b) in acc.iter_mut().zip(d) {
        for c in 0..8 {
            a[c] += b[c];
        }
    }
}

struct LevelObjective<'a, 'b> {
    fp: &'a FixedPoint<'b>,
    v: &'a GaugeField<f64>,
    /// Blocked links of the coarsest kernel held on a kink of `N(Q)`.
    ridge: Vec<RidgeLink<f64>>,
}

impl LevelObjective<'_, '_> {
    fn unflatten(&self, flat: &[Mat3<f64>]) -> Vec<GaugeField<f64>> {
        let mut off = 0;
        self.fp.levels[1..]
            .iter()
            .map(|g| {
                let n = g.n_links();
                let f = GaugeField::from_links(g.clone(), flat[off..off + n].to_vec());
                off += n;
                f
            })
            .collect()
    }
}

impl Objective for LevelObjective<'_, '_> {
    fn eval(&mut self, links: &[Mat3<f64>], grad: &mut [Su3Alg<f64>]) -> f64 {
        let fields = self.unflatten(links);
        let mut parts: Vec<&mut [Su3Alg<f64>]> = Vec::new();
        let mut rest = grad;
        for f in &fields {
            let (head, tail) = rest.split_at_mut(f.links().len());
            parts.push(head);
            rest = tail;
        }
        self.fp.objective(self.v, &fields, &self.ridge, &mut parts)
    }
}

/// Unconverged iterations or evaluations after which a depth-1 minimisation looks for
/// kinks of `N(Q)`. Converged 4⁴ and 8⁴ minimisations of Wilson ensembles needed at
/// most 336 iterations and 374 evaluations, so these leave them bit for bit as they
/// were; on a kink L-BFGS spends about four evaluations per iteration.
pub const KINK_CHECK_ITERATIONS: usize = 500;
pub const KINK_CHECK_EVALUATIONS: usize = 600;

/// Largest gap between the two maxima of `Re Tr(W Q†)` that counts as a kink.
pub const KINK_GAP: f64 = 1e-3;

/// Smooth minimisations allowed for finding the λ of the kinks.
const KINK_STEPS: usize = 60;

/// What is left of the iteration and evaluation limits after `done`.
fn remaining(ms: &MinimizerSettings, done: &MinimizerReport) -> MinimizerSettings {
    MinimizerSettings {
        max_iterations: ms.max_iterations.saturating_sub(done.iterations),
        max_evaluations: ms.max_evaluations.saturating_sub(done.evaluations),
        ..*ms
    }
}

/// Appends a continuation's counts, history and end state to `report`.
fn absorb(report: &mut MinimizerReport, more: MinimizerReport) {
    report.iterations += more.iterations;
    report.evaluations += more.evaluations;
    report.history.extend(more.history);
    report.converged = more.converged;
    report.value = more.value;
    report.max_gradient = more.max_gradient;
    report.reason = more.reason;
}

/// Regula falsi with the Illinois modification for a root of a decreasing `h(λ)` on
/// `[0, 1]`, from a first guess (the first λ recorded): until both signs have been
/// seen, steps of growing size (0.02, 0.04, …) from the last λ in the direction `h`
/// points to.
#[derive(Clone, Copy, Debug)]
struct Bracket {
    lo: (f64, Option<f64>),
    hi: (f64, Option<f64>),
    /// +1 if `lo` moved last, −1 if `hi` did.
    last: i8,
    step: f64,
}

impl Bracket {
    fn new() -> Self {
        Bracket { lo: (0.0, None), hi: (1.0, None), last: 0, step: 0.01 }
    }

    fn record(&mut self, lambda: f64, h: f64) {
        if h > 0.0 {
            self.lo = (lambda, Some(h));
            if self.last == 1 {
                self.hi.1 = self.hi.1.map(|x| 0.5 * x);
            }
            self.last = 1;
        } else {
            self.hi = (lambda, Some(h));
            if self.last == -1 {
                self.lo.1 = self.lo.1.map(|x| 0.5 * x);
            }
            self.last = -1;
        }
    }

    fn next(&mut self) -> f64 {
        self.step *= 2.0;
        match (self.lo.1, self.hi.1) {
            (Some(a), Some(b)) => self.lo.0 + (self.hi.0 - self.lo.0) * a / (a - b),
            (Some(_), None) => (self.lo.0 + self.step).min(1.0),
            (None, Some(_)) => (self.hi.0 - self.step).max(0.0),
            (None, None) => 0.5,
        }
    }
}

/// `V^{1/2}` in SU(3): the principal root `exp(log(V)/2)`, or the SU(3)
/// projection of the Denman–Beavers root where the logarithm is undefined.
pub fn su3_sqrt(v: &Mat3<f64>) -> Mat3<f64> {
    if let Some(a) = log_su3(v) {
        return exp_components(&a.map(|x| 0.5 * x));
    }
    match sqrtm(v) {
        Some(s) if s.is_finite() => project_su3(&s, None, 1e-14, 1000).w,
        _ => Mat3::identity(),
    }
}

/// A fine field whose blocked links reproduce `coarse` for smooth fields.
///
/// `coarse` is first brought to Landau gauge by `Ω` (so its links are as close
/// to 1 as the field allows and the principal square roots below are the
/// smooth ones); in that gauge `U_μ(2x_B) = U_μ(2x_B+μ̂) = V_μ(x_B)^{1/2}` and
/// every other link is 1; finally the fine field is transformed back with the
/// piecewise-constant extension `Ω'(2x_B + b) = Ω(x_B)`, `b ∈ {0,1}^D`, so
/// that its blocked links approximate the original `V` (the construction is
/// gauge covariant).
pub fn refine(coarse: &GaugeField<f64>, fine: Arc<Geometry>) -> GaugeField<f64> {
    let (omega, fixed, _) = crate::lattice::gauge_fix::landau_gauge(coarse, 1.7, 500, 1e-10);
    let r = refine_in_gauge(&fixed, fine.clone());
    let cg = coarse.geometry();
    let nd = cg.nd();
    let ext: Vec<Mat3<f64>> = (0..fine.volume())
        .map(|y| {
            let c = fine.coords(y);
            omega.at(cg.index(&c.map(|x| x / 2)[..nd])).adj()
        })
        .collect();
    crate::lattice::GaugeTransform::from_matrices(fine, ext).apply(&r)
}

/// Every fine link of the block `2x_B + b` (`b ∈ {0,1}^D`) in direction μ
/// is `V_μ(x_B)^{1/2}`: two consecutive fine links reproduce the coarse link,
/// and neighbouring parallel links (which the smearing averages over) agree.
pub fn refine_in_gauge(coarse: &GaugeField<f64>, fine: Arc<Geometry>) -> GaugeField<f64> {
    let cg = coarse.geometry();
    let nd = cg.nd();
    let roots: Vec<Mat3<f64>> = crate::par::map_range(coarse.links().len(), |l| su3_sqrt(&coarse.links()[l]));
    let mut u = GaugeField::cold(fine.clone());
    u.for_each_link_mut(|z, mu, l| {
        let c = fine.coords(z);
        *l = roots[cg.index(&c.map(|x| x / 2)[..nd]) * nd + mu];
    });
    u
}

impl Action<f64> for FixedPoint<'_> {
    /// `A_FP[V]` by minimisation (from the standard start).
    fn value(&self, v: &GaugeField<f64>) -> f64 {
        self.solve(v, None).map(|r| r.action).unwrap_or(f64::NAN)
    }

    fn value_and_derivative(&self, v: &GaugeField<f64>, out: &mut [Su3Alg<f64>]) -> f64 {
        match self.solve(v, None) {
            Ok(r) => {
                out.copy_from_slice(&r.derivative);
                r.action
            }
            Err(_) => {
                out.iter_mut().for_each(|d| *d = [f64::NAN; 8]);
                f64::NAN
            }
        }
    }

    fn name(&self) -> String {
        alloc::format!("fp(depth {}, rhs {})", self.settings.depth, self.rhs.name())
    }
}
