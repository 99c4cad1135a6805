//! The blocking kernel `T_∞[U,V]` in its β → ∞ (fixed point) form and its
//! exact gradients with respect to the fine links `U` and the coarse links `V`:
//!
//! `T_∞ = (κ/N_c) Σ_{x_B,μ} [ N(Q_μ(x_B)) − Re Tr(V_μ(x_B) Q_μ(x_B)†) ]`,
//! `N(Q) = max_{W∈SU(3)} Re Tr(W Q†)`.
//!
//! By the envelope theorem `δN = Re Tr(W* δQ†)` at the maximiser `W*`, so the
//! gradient matrix of `T` with respect to `Q` is `G_Q = (κ/N_c)(W* − V)`; it
//! is pushed through `Q = S_μ(2x_B) S_μ(2x_B+μ̂)` and the smearing. The coarse
//! link derivative is `D_{x_B,μ,a} T = −(κ/N_c) Re Tr(i t^a V Q†)` (the
//! normalisation does not depend on `V`).

use super::params::Blocking;
use super::smear::{BoxLinks, SlotGrad};
use super::stencil::StencilTable;
use super::tape::{SmearProgram, TapeScratch};
use crate::lattice::{GaugeField, Geometry};
use crate::real::Real;
use crate::su3::{link_derivative, project_su3, project_su3_branches, Mat3, Projection, Su3Alg};
use alloc::sync::Arc;
use alloc::vec::Vec;

const NC: f64 = 3.0;

/// Every climb to a maximum of `Re Tr(W Q†)` in the kernel stops when the
/// Riemannian gradient is below `100 ε` (f64: 2.2e-14; never below 1e-14), or
/// after [`CLIMB_SWEEPS`] Cabibbo–Marinari sweeps.
fn climb_tol<T: Real>() -> f64 {
    (100.0 * T::EPSILON).max(1e-14)
}
const CLIMB_SWEEPS: usize = 10_000;

/// One RG blocking step from a fine lattice (extents `2L`) onto a coarse one (`L`).
#[derive(Clone, Debug)]
pub struct Kernel {
    pub params: Blocking,
    fine: Arc<Geometry>,
    coarse: Arc<Geometry>,
    table: StencilTable,
    /// The compiled smearing of a box, per direction μ.
    programs: Vec<SmearProgram>,
}

/// What [`Kernel::eval`] returns.
#[derive(Clone, Debug)]
pub struct KernelEval<T> {
    /// `T_∞[U,V]`
    pub value: T,
    /// Gradient matrices per fine link, `δT = Σ Re Tr(G† δU)` (empty unless asked for).
    pub fine_grad: Vec<Mat3<T>>,
    /// `D_{x_B,μ,a} T` per coarse link (empty unless asked for).
    pub coarse_deriv: Vec<Su3Alg<T>>,
    /// Largest Riemannian gradient left in the projections `W*`.
    pub projection_residual: f64,
}

/// A coarse link whose normalisation is taken as the mixture
/// `N_λ(Q) = λ n_A(Q) + (1 − λ) n_B(Q)` of two branches of maxima of `Re Tr(W Q†)`
/// instead of their maximum (see [`Kernel::kinks`]): `n_A` and `n_B` are the maxima
/// reached by climbing from `w_a` and `w_b`. For fixed λ this is smooth where
/// `max(n_A, n_B)` has its kink, and equals it where `n_A = n_B`.
#[derive(Clone, Copy, Debug)]
pub struct RidgeLink<T> {
    pub link: usize,
    pub lambda: f64,
    pub w_a: Mat3<T>,
    pub w_b: Mat3<T>,
}

impl<T: Real> RidgeLink<T> {
    /// The two branch maxima `[A, B]` of `Re Tr(W Q†)` at `q`, climbed from `w_a` and `w_b`.
    pub fn branches(&self, q: &Mat3<T>) -> [Projection<T>; 2] {
        let tol = climb_tol::<T>();
        [project_su3(q, Some(&self.w_a), tol, CLIMB_SWEEPS), project_su3(q, Some(&self.w_b), tol, CLIMB_SWEEPS)]
    }
}

impl RidgeLink<f64> {
    /// The mixture `λ n_A + (1 − λ) n_B` at a kink, with `A` its global maximum.
    pub fn at(kink: &Kink, lambda: f64) -> Self {
        let [a, b] = &kink.maxima;
        RidgeLink { link: kink.link, lambda, w_a: a.w, w_b: b.w }
    }
}

/// A coarse link where `N(Q)` is at or near a kink (see [`Kernel::kinks`]).
#[derive(Clone, Copy, Debug)]
pub struct Kink {
    /// The coarse link.
    pub link: usize,
    /// `n₁ − n₂ ≥ 0`: how far the second maximum lies below the global one.
    pub gap: f64,
    /// The global maximum and the second one, in another branch of the determinant phase.
    pub maxima: [Projection<f64>; 2],
}

struct LinkOut<T> {
    value: T,
    contributions: Vec<(u32, Mat3<T>)>,
    coarse: Su3Alg<T>,
    residual: f64,
}

impl Kernel {
    /// The kernel blocking `fine` (twice `coarse` in every direction) onto `coarse`.
    pub fn new(fine: Arc<Geometry>, coarse: Arc<Geometry>, params: Blocking) -> Self {
        let table = StencilTable::new(&fine, &coarse);
        let nd = fine.nd();
        let programs = (0..nd).map(|mu| SmearProgram::new(nd, mu, table.origin(mu))).collect();
        Kernel { params, fine, coarse, table, programs }
    }

    pub fn fine(&self) -> &Arc<Geometry> {
        &self.fine
    }
    pub fn coarse(&self) -> &Arc<Geometry> {
        &self.coarse
    }

    fn box_links<'a, T: Real>(&'a self, u: &'a GaugeField<T>, l: usize) -> BoxLinks<'a, T> {
        BoxLinks { links: u.links(), slots: self.table.slots(l), nd: self.table.nd() }
    }

    /// The blocked links `Q_μ(x_B)` for every coarse link.
    pub fn blocked_links<T: Real>(&self, u: &GaugeField<T>) -> Vec<Mat3<T>> {
        assert_eq!(**u.geometry(), *self.fine, "field is not on the fine lattice of this kernel");
        let nd = self.fine.nd();
        crate::par::map_range_init(self.coarse.n_links(), TapeScratch::default, |scratch, l| {
            let [s0, s1] = self.programs[l % nd].forward(&self.box_links(u, l), &self.params, scratch);
            s0 * s1
        })
    }

    /// The coarse links where `N(Q) = max_W Re Tr(W Q†)` is at or near a kink:
    /// `Re Tr(W Q†)` has a second local maximum over SU(3), in another branch of the
    /// determinant phase, within `gap` of the global one. `N` is the larger of the two
    /// branch values there, so it has a ridge (a `|x|`-like minimum) where they cross:
    /// at `arg det Q = π` when the singular values of `Q` are close enough that the
    /// phase cannot sit on the smallest one (`σ₃ > σ₁σ₂/(σ₁+σ₂)`). A minimisation of
    /// `T` that ends on the ridge has a gradient that jumps across it and does not go
    /// to zero.
    /// Returns the kinks in link order, each with its two maxima.
    pub fn kinks(&self, u: &GaugeField<f64>, gap: f64) -> Vec<Kink> {
        self.blocked_links(u)
            .iter()
            .enumerate()
            .filter_map(|(link, q)| {
                let b = project_su3_branches(q, climb_tol::<f64>(), CLIMB_SWEEPS, f64::INFINITY);
                let second = b.second?;
                let d = b.best.value - second.value;
                (d <= gap).then_some(Kink { link, gap: d, maxima: [b.best, second] })
            })
            .collect()
    }

    /// The two branch maxima `[A, B]` of every ridge link at `u` ([`RidgeLink::branches`]).
    pub fn ridge_branches(&self, u: &GaugeField<f64>, ridge: &[RidgeLink<f64>]) -> Vec<[Projection<f64>; 2]> {
        let q = self.blocked_links(u);
        ridge.iter().map(|r| r.branches(&q[r.link])).collect()
    }

    /// `T_∞[U,V]` and, on request, its gradients.
    pub fn eval<T: Real>(&self, u: &GaugeField<T>, v: &GaugeField<T>, fine: bool, coarse: bool) -> KernelEval<T> {
        self.eval_on_ridge(u, v, fine, coarse, &[])
    }

    /// [`Self::eval`] with the normalisation of the `ridge` links replaced by
    /// [`RidgeLink`]'s mixture `N_λ`; its gradient matrix is `λ W_A + (1 − λ) W_B`.
    pub fn eval_on_ridge<T: Real>(
        &self,
        u: &GaugeField<T>,
        v: &GaugeField<T>,
        fine: bool,
        coarse: bool,
        ridge: &[RidgeLink<T>],
    ) -> KernelEval<T> {
        assert_eq!(**u.geometry(), *self.fine, "U is not on the fine lattice of this kernel");
        assert_eq!(**v.geometry(), *self.coarse, "V is not on the coarse lattice of this kernel");
        let nd = self.fine.nd();
        let c = T::from_f64(self.params.kappa / NC);
        let outs: Vec<LinkOut<T>> = crate::par::map_range_init(
            self.coarse.n_links(),
            || (SlotGrad::<T>::new(self.table.n_slots()), TapeScratch::default()),
            |(grad, scratch), l| {
                let program = &self.programs[l % nd];
                let b = self.box_links(u, l);
                let [s0, s1] = program.forward(&b, &self.params, scratch);
                let q = s0 * s1;
                let (norm, w, residual) = match ridge.iter().find(|r| r.link == l) {
                    None => {
                        let p = project_su3(&q, None, climb_tol::<T>(), CLIMB_SWEEPS);
                        (p.value, p.w, p.residual)
                    }
                    Some(r) => {
                        let [a, b] = r.branches(&q);
                        let (la, lb) = (T::from_f64(r.lambda), T::from_f64(1.0 - r.lambda));
                        (a.value * la + b.value * lb, a.w.scale(la) + b.w.scale(lb), a.residual.max(b.residual))
                    }
                };
                let vl = v.links()[l];
                let value = c * (norm - vl.re_tr_mul_adj(&q));
                let mut contributions = Vec::new();
                if fine {
                    let gq = (w - vl).scale(c);
                    grad.clear();
                    program.backward(&b, &self.params, &[gq.mul_adj(&s1), s0.adj_mul(&gq)], scratch, grad);
                    for (slot, (g, &t)) in grad.g.iter().zip(&grad.touched).enumerate() {
                        if t {
                            contributions.push((b.slots[slot], *g));
                        }
                    }
                }
                let coarse_d = if coarse {
                    let d = link_derivative(&vl.mul_adj(&q));
                    core::array::from_fn(|a| -(c * d[a]))
                } else {
                    [T::zero(); 8]
                };
                LinkOut { value, contributions, coarse: coarse_d, residual }
            },
        );
        let mut value = T::zero();
        let mut fine_grad = if fine { alloc::vec![Mat3::zero(); self.fine.n_links()] } else { Vec::new() };
        let mut coarse_deriv = Vec::with_capacity(if coarse { outs.len() } else { 0 });
        let mut residual: f64 = 0.0;
        for o in outs {
            value += o.value;
            for (i, g) in o.contributions {
                fine_grad[i as usize] += g;
            }
            if coarse {
                coarse_deriv.push(o.coarse);
            }
            residual = residual.max(o.residual);
        }
        KernelEval { value, fine_grad, coarse_deriv, projection_residual: residual }
    }

    /// `T_∞[U,V]`.
    pub fn value<T: Real>(&self, u: &GaugeField<T>, v: &GaugeField<T>) -> T {
        self.eval(u, v, false, false).value
    }
}

/// Link derivatives `D_{x,μ,a} f = Re Tr(i t^a U G†)` from gradient matrices `G`.
pub fn derivatives_from_gradients<T: Real>(u: &GaugeField<T>, g: &[Mat3<T>]) -> Vec<Su3Alg<T>> {
    crate::par::map_range(g.len(), |l| link_derivative(&u.links()[l].mul_adj(&g[l])))
}
