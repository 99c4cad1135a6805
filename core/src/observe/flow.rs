//! Gradient flow (Lüscher, JHEP 08 (2010) 071) driven by any gauge action, and
//! the energy densities and scales measured along it.
//!
//! The flow equation is `∂_t V_mu(x) = −g₀² (∂_{x,mu} S[V]) V_mu(x)` with
//! `S = β A`, `β = 6/g₀²`, so `g₀² S = 6 A` for every action normalised like
//! Wilson's. With `∂^a = D_a` (the crate's link derivative, generators
//! `T^a = i t^a`) this reads
//!
//! `∂_t V = exp-generator Z V`, `Z = i Σ_a z^a t^a`, `z^a = −6 D_a A[V]`.
//!
//! For `A = A_W` this is the Wilson flow; for the tree-level Symanzik action it
//! is the Symanzik (LW) flow; [`FlowKind::Zeuthen`] adds the Ramos–Sint
//! correction `(1 + ∇*_mu ∇_mu / 12)` (Eur. Phys. J. C 76 (2016) 15) to the LW
//! force; and for a fixed point action it is the classically perfect flow.
//!
//! Integration: Lüscher's third-order Runge–Kutta scheme (his eq. C.1),
//!
//! `W₁ = exp(¼ Z₀) W₀`, `W₂ = exp(8/9 Z₁ − 17/36 Z₀) W₁`,
//! `V(t+ε) = exp(¾ Z₂ − 8/9 Z₁ + 17/36 Z₀) W₂`, `Zᵢ = ε Z(Wᵢ)`.
//!
//! Energy densities (lattice units, averaged over sites):
//! `E_plaq = 2 Σ_{mu<nu} Re Tr(1 − P_mu,nu) = 6 A_W / V`,
//! `E_clov = Σ_{mu<nu} Tr F_mu,nu²` with the clover `F` of
//! [`super::instanton::clover`], and for an action-driven flow the action's
//! own density `E_act = 6 A / V` (equal to `E_plaq` for the Wilson action).

use super::instanton::{clover, topological_charge};
use crate::action::{Action, Improved, Wilson};
use crate::lattice::GaugeField;
use crate::su3::algebra::{components, hermitian};
use crate::su3::{exp_components, Su3Alg};
use alloc::vec::Vec;

/// What drives the flow.
#[derive(Clone, Copy)]
pub enum FlowKind<'a> {
    /// The gradient flow of an action (`Wilson`: the Wilson flow; an L-CNN:
    /// the fixed point flow).
    Action(&'a dyn Action<f64>),
    /// The Zeuthen flow: the tree-level Symanzik force times `1 + ∇*∇/12`.
    Zeuthen,
}

impl FlowKind<'_> {
    /// The action whose density the flow measures as `E_act` (`None` for the
    /// Zeuthen flow, whose force is not the gradient of an action).
    pub fn action(&self) -> Option<&dyn Action<f64>> {
        match self {
            FlowKind::Action(a) => Some(*a),
            FlowKind::Zeuthen => None,
        }
    }

    pub fn name(&self) -> alloc::string::String {
        match self {
            FlowKind::Action(a) => a.name(),
            FlowKind::Zeuthen => "zeuthen".into(),
        }
    }
}

/// The flow generator `z^a` of every link (`∂_t V = i z^a t^a V`).
pub fn flow_generator(kind: FlowKind<'_>, v: &GaugeField<f64>) -> Vec<Su3Alg<f64>> {
    let scale = |d: &mut Vec<Su3Alg<f64>>| {
        for z in d.iter_mut() {
            for c in z.iter_mut() {
                *c *= -6.0;
            }
        }
    };
    match kind {
        FlowKind::Action(a) => {
            let mut d = a.derivative(v);
            scale(&mut d);
            d
        }
        FlowKind::Zeuthen => {
            let mut d = zeuthen_force(v);
            scale(&mut d);
            d
        }
    }
}

/// `(1 + ∇*_mu ∇_mu / 12) D A_LW` on every link, where for the adjoint field
/// `X_mu(x) = Σ_a D_a t^a` (which transforms as `Ω(x) X Ω(x)†`)
/// `∇*_mu ∇_mu X(x) = U_mu(x) X(x+mu) U_mu(x)† + U_mu(x−mu)† X(x−mu) U_mu(x−mu) − 2 X(x)`.
pub fn zeuthen_force(v: &GaugeField<f64>) -> Vec<Su3Alg<f64>> {
    let d = Improved::SYMANZIK.derivative(v);
    let g = v.geometry();
    let nd = v.nd();
    crate::par::map_range(d.len(), |l| {
        let (x, mu) = (l / nd, l % nd);
        let (xp, xm) = (g.up(x, mu), g.dn(x, mu));
        let here = hermitian(&d[l]);
        let up = v.link(x, mu);
        let dn = v.link(xm, mu);
        let fwd = (*up * hermitian(&d[xp * nd + mu])).mul_adj(up);
        let bwd = dn.adj_mul(&(hermitian(&d[xm * nd + mu]) * *dn));
        let lap = fwd + bwd - here.scale(2.0);
        components(&(here + lap.scale(1.0 / 12.0)))
    })
}

/// `V ← exp(i Σ_a c z^a t^a) V` for every link.
fn apply(v: &mut GaugeField<f64>, z: &[Su3Alg<f64>]) {
    let nd = v.nd();
    v.for_each_link_mut(|x, mu, link| *link = exp_components(&z[x * nd + mu]) * *link);
}

/// One step `t → t + eps` of Lüscher's third-order Runge–Kutta integrator.
pub fn rk3_step(kind: FlowKind<'_>, v: &mut GaugeField<f64>, eps: f64) {
    let comb = |terms: &[(f64, &Vec<Su3Alg<f64>>)]| -> Vec<Su3Alg<f64>> {
        crate::par::map_range(terms[0].1.len(), |l| {
            core::array::from_fn(|a| terms.iter().map(|(c, z)| c * eps * z[l][a]).sum::<f64>())
        })
    };
    let z0 = flow_generator(kind, v);
    apply(v, &comb(&[(0.25, &z0)]));
    let z1 = flow_generator(kind, v);
    apply(v, &comb(&[(8.0 / 9.0, &z1), (-17.0 / 36.0, &z0)]));
    let z2 = flow_generator(kind, v);
    apply(v, &comb(&[(0.75, &z2), (-8.0 / 9.0, &z1), (17.0 / 36.0, &z0)]));
    v.reunitarize();
}

/// The energy densities and the charge at one flow time.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowPoint {
    pub t: f64,
    /// `2 Σ_{mu<nu} Re Tr(1 − P)`, per site.
    pub e_plaq: f64,
    /// `Σ_{mu<nu} Tr F²` with the clover `F`, per site.
    pub e_clover: f64,
    /// `6 A / V` for the action that drives the flow (`None` for Zeuthen).
    pub e_action: Option<f64>,
    /// The clover topological charge (4D lattices).
    pub q: Option<f64>,
}

/// `E_plaq` per site.
pub fn energy_plaquette(v: &GaugeField<f64>) -> f64 {
    6.0 * Action::<f64>::value(&Wilson, v) / v.geometry().volume() as f64
}

/// `E_clov = Σ_{mu<nu} Tr F_mu,nu²` per site (4D).
pub fn energy_clover(v: &GaugeField<f64>) -> f64 {
    let g = v.geometry();
    let nd = v.nd();
    crate::par::sum(g.volume(), |x| {
        let mut s = 0.0;
        for mu in 0..nd {
            for nu in mu + 1..nd {
                let f = clover(v, x, mu, nu);
                s += (f * f).re_tr();
            }
        }
        s
    }) / g.volume() as f64
}

/// The densities of `v` at flow time `t`.
pub fn measure(kind: FlowKind<'_>, v: &GaugeField<f64>, t: f64) -> FlowPoint {
    FlowPoint {
        t,
        e_plaq: energy_plaquette(v),
        e_clover: energy_clover(v),
        e_action: kind.action().map(|a| 6.0 * a.value(v) / v.geometry().volume() as f64),
        q: (v.nd() == 4).then(|| topological_charge(v, false)),
    }
}

/// Flows `v` from `t = 0` to `t_max` in steps of `eps` (the last step is
/// shortened to end exactly at `t_max`), measuring every `measure_every`
/// steps and at the end. `progress(t)` is called after every step.
pub fn flow(
    kind: FlowKind<'_>,
    v: &mut GaugeField<f64>,
    t_max: f64,
    eps: f64,
    measure_every: usize,
    mut progress: impl FnMut(f64),
) -> Vec<FlowPoint> {
    let mut out = alloc::vec![measure(kind, v, 0.0)];
    let n = libm::ceil(t_max / eps - 1e-9) as usize;
    let mut t = 0.0;
    for i in 1..=n {
        let h = if i == n { t_max - t } else { eps };
        rk3_step(kind, v, h);
        t = if i == n { t_max } else { i as f64 * eps };
        if i % measure_every.max(1) == 0 || i == n {
            out.push(measure(kind, v, t));
        }
        progress(t);
    }
    out
}

/// `t² E(t)` and `W(t) = t d/dt [t² E(t)]` on the grid `t`, the derivative by
/// second-order finite differences (one-sided at the ends).
pub fn t2e_and_w(t: &[f64], e: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let y: Vec<f64> = t.iter().zip(e).map(|(t, e)| t * t * e).collect();
    let n = y.len();
    let w = (0..n)
        .map(|i| {
            if n < 2 {
                return f64::NAN;
            }
            let (a, b) = if i == 0 {
                (0, 1)
            } else if i == n - 1 {
                (n - 2, n - 1)
            } else {
                (i - 1, i + 1)
            };
            t[i] * (y[b] - y[a]) / (t[b] - t[a])
        })
        .collect();
    (y, w)
}

/// The first `t` where `y(t)` crosses `target` upwards, by linear
/// interpolation between grid points; `None` when it never does.
pub fn crossing(t: &[f64], y: &[f64], target: f64) -> Option<f64> {
    (1..t.len()).find_map(|i| {
        let (y0, y1) = (y[i - 1], y[i]);
        (y0 < target && y1 >= target).then(|| t[i - 1] + (target - y0) * (t[i] - t[i - 1]) / (y1 - y0))
    })
}

/// The scales of one `E(t)` curve: `t₀` (`t² E = 0.3`) and `w₀`
/// (`W(w₀²) = 0.3`), each `None` when the flow did not reach it.
pub fn scales(t: &[f64], e: &[f64], reference: f64) -> (Option<f64>, Option<f64>) {
    let (y, w) = t2e_and_w(t, e);
    (crossing(t, &y, reference), crossing(t, &w, reference).map(crate::real::sqrt_f64))
}
