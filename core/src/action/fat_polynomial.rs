//! A classical parametrisation of the FP action of the APE type: a polynomial in the thin
//! plaquette and the plaquette of smeared ("fat") links, fitted to FP data (the form of the
//! APE444 / APE431 parametrisations of Niedermayer, Rüfenacht and Wenger, with one constant
//! smearing coefficient where theirs depends on the local fluctuations; their tables are not
//! available, see `physics.md` §3.2).
//!
//! `A[U] = (1/3) Σ_x Σ_{μ<ν} p(u_μν(x), w_μν(x))`, `p(u, w) = Σ_j c_j u^{k_j} w^{l_j}`,
//!
//! * `u_μν(x) = 3 − Re Tr U_μν(x)`, the thin plaquette `U_μ(x) U_ν(x+μ̂) U_μ(x+ν̂)† U_ν(x)†`;
//! * `w_μν(x) = 3 − Re Tr W_μν(x)`, the same plaquette of the fat links
//!   `W_μ(x) = (1 − 2(D−1)s) U_μ(x) + s Σ_{ν≠μ} [U_ν(x) U_μ(x+ν̂) U_ν(x+μ̂)† + U_ν(x−ν̂)† U_μ(x−ν̂) U_ν(x−ν̂+μ̂)]`
//!   (APE smearing with coefficient `s`, not projected back to SU(3), so `A` is a polynomial in
//!   the links; `W = U` on smooth fields).
//!
//! The Wilson action is `p = u` (`c_{(1,0)} = 1`). For smooth fields `u ≈ w`, so the action
//! agrees with the continuum (and with Wilson's) when `Σ_{k+l=1} c_{(k,l)} = 1`; [`fit`] imposes
//! that sum or, asked to, leaves it free.
//!
//! `A` is linear in the coefficients, so a fit to FP values and derivatives for a fixed `s`
//! is a linear least-squares problem ([`fit`]); [`FatPolynomial::basis`] gives every term's
//! value and link derivatives. The derivatives are hand-written reverse mode: gradients
//! `G` with `δf = Re Tr(G† δX)` on the fat plaquettes, through the smearing onto the thin links,
//! then `D_{x,μ,a} = Re Tr(i t^a U_μ(x) G_μ(x)†)`.

use super::{staple, Action};
use crate::lattice::GaugeField;
use crate::observe::plaquette::plaquette;
use crate::real::Real;
use crate::rg::kernel::derivatives_from_gradients;
use crate::su3::{Mat3, Su3Alg};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// An APE-type polynomial action (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct FatPolynomial {
    /// The smearing coefficient `s` of the fat links.
    pub smear: f64,
    /// The exponents `(k, l)` of `u^k w^l`, one per coefficient.
    pub terms: Vec<(u32, u32)>,
    /// The coefficients `c_j`.
    pub coeffs: Vec<f64>,
    /// A name for reports.
    pub label: String,
}

/// The exponents `(k, l)` with `1 ≤ k + l ≤ degree`, by total degree, then by falling `k`:
/// `(1,0), (0,1), (2,0), (1,1), (0,2), …` (14 terms for degree 4).
pub fn terms_up_to(degree: u32) -> Vec<(u32, u32)> {
    (1..=degree).flat_map(|n| (0..=n).rev().map(move |k| (k, n - k))).collect()
}

/// `x^n` for a small integer power.
fn powi<T: Real>(x: T, n: u32) -> T {
    let mut r = T::one();
    for _ in 0..n {
        r *= x;
    }
    r
}

/// The planes `(μ, ν)`, `μ < ν`, in the order the per-plaquette arrays use
/// (index `x·n_planes + plane`).
fn planes(nd: usize) -> Vec<(usize, usize)> {
    (0..nd).flat_map(|mu| (mu + 1..nd).map(move |nu| (mu, nu))).collect()
}

/// `3 − Re Tr P` for every plaquette of `u` (thin or fat links; index `x·n_planes + plane`).
fn plaquette_deficits<T: Real>(u: &GaugeField<T>) -> Vec<T> {
    let pl = planes(u.nd());
    let three = T::from_f64(3.0);
    crate::par::map_range(u.geometry().volume() * pl.len(), |i| {
        let (mu, nu) = pl[i % pl.len()];
        three - plaquette(u, i / pl.len(), mu, nu).re_tr()
    })
}

/// Adds to `grad` the gradient of `f = Σ_p b_p Re Tr P_p` with respect to `links`
/// (`δf = Re Tr(G† δX)`): for `P = X₁ X₂ X₃† X₄†`,
/// `G₁ = b (X₂ X₃† X₄†)†`, `G₂ = b X₁† X₄ X₃`, `G₃ = b X₄† X₁ X₂`, `G₄ = b X₁ X₂ X₃†`.
/// Serial, so the sums have one order whatever the thread count.
fn add_plaquette_gradient<T: Real>(u: &GaugeField<T>, weights: &[T], grad: &mut [Mat3<T>]) {
    let (g, nd) = (u.geometry(), u.nd());
    let pl = planes(nd);
    for (i, &b) in weights.iter().enumerate() {
        if b == T::zero() {
            continue;
        }
        let x = i / pl.len();
        let (mu, nu) = pl[i % pl.len()];
        let (xmu, xnu) = (g.up(x, mu), g.up(x, nu));
        let (x1, x2, x3, x4) = (*u.link(x, mu), *u.link(xmu, nu), *u.link(xnu, mu), *u.link(x, nu));
        grad[x * nd + mu] += x2.mul_adj(&x3).mul_adj(&x4).adj().scale(b);
        grad[xmu * nd + nu] += (x1.adj_mul(&x4) * x3).scale(b);
        grad[xnu * nd + mu] += x4.adj_mul(&(x1 * x2)).scale(b);
        grad[x * nd + nu] += (x1 * x2).mul_adj(&x3).scale(b);
    }
}

/// The weights `(1 − 2(D−1)s, s)` of a link and of its staples in a fat link.
fn smearing_weights<T: Real>(nd: usize, smear: f64) -> (T, T) {
    (T::from_f64(1.0 - 2.0 * (nd as f64 - 1.0) * smear), T::from_f64(smear))
}

/// The fat links `W_μ(x)` of the module documentation. The APE staples are the adjoint of the
/// Wilson action's [`staple`] `K` (oriented so that `U_μ(x) K` closes the plaquettes).
pub fn fat_links<T: Real>(u: &GaugeField<T>, smear: f64) -> GaugeField<T> {
    let nd = u.nd();
    let (own, s) = smearing_weights::<T>(nd, smear);
    let links = crate::par::map_range(u.geometry().n_links(), |l| {
        let (x, mu) = (l / nd, l % nd);
        u.link(x, mu).scale(own) + staple(u, x, mu).adj().scale(s)
    });
    GaugeField::from_links(u.geometry().clone(), links)
}

/// Adds to `grad` (thin links) the gradient that `gw` (on the fat links) carries back through
/// the smearing. For a staple `A B C†` with gradient `Γ = s·G_W`: `G_A = Γ C B†`,
/// `G_B = A† Γ C`, `G_C = Γ† A B`; for `A† B C`: `G_A = B C Γ†`, `G_B = A Γ C†`, `G_C = B† A Γ`.
fn add_smearing_gradient<T: Real>(u: &GaugeField<T>, smear: f64, gw: &[Mat3<T>], grad: &mut [Mat3<T>]) {
    let (g, nd) = (u.geometry(), u.nd());
    let (own, s) = smearing_weights::<T>(nd, smear);
    for (l, gl) in gw.iter().enumerate() {
        let (x, mu) = (l / nd, l % nd);
        grad[l] += gl.scale(own);
        let gam = gl.scale(s);
        for nu in (0..nd).filter(|&nu| nu != mu) {
            let (xn, xm) = (g.up(x, nu), g.up(x, mu));
            let (a, b, c) = (*u.link(x, nu), *u.link(xn, mu), *u.link(xm, nu));
            grad[x * nd + nu] += (gam * c).mul_adj(&b);
            grad[xn * nd + mu] += a.adj_mul(&gam) * c;
            grad[xm * nd + nu] += gam.adj_mul(&(a * b));
            let y = g.dn(x, nu);
            let ym = g.up(y, mu);
            let (a, b, c) = (*u.link(y, nu), *u.link(y, mu), *u.link(ym, nu));
            grad[y * nd + nu] += (b * c).mul_adj(&gam);
            grad[y * nd + mu] += (a * gam).mul_adj(&c);
            grad[ym * nd + nu] += b.adj_mul(&(a * gam));
        }
    }
}

impl FatPolynomial {
    /// The action with these exponents and coefficients.
    pub fn new(smear: f64, terms: Vec<(u32, u32)>, coeffs: Vec<f64>, label: impl Into<String>) -> Self {
        assert_eq!(terms.len(), coeffs.len(), "one coefficient per term");
        FatPolynomial { smear, terms, coeffs, label: label.into() }
    }

    /// The thin and fat plaquette deficits `u_p`, `w_p`, and the fat links.
    fn deficits<T: Real>(&self, u: &GaugeField<T>) -> (Vec<T>, Vec<T>, GaugeField<T>) {
        let w = fat_links(u, self.smear);
        (plaquette_deficits(u), plaquette_deficits(&w), w)
    }

    /// `p(u, w)` with coefficients `coeffs`, and its partial derivatives `∂p/∂u`, `∂p/∂w`.
    fn polynomial<T: Real>(&self, coeffs: &[f64], u: T, w: T) -> (T, T, T) {
        let (mut p, mut du, mut dw) = (T::zero(), T::zero(), T::zero());
        for (&(k, l), &c) in self.terms.iter().zip(coeffs) {
            let c = T::from_f64(c);
            p += c * powi(u, k) * powi(w, l);
            if k > 0 {
                du += c * T::from_f64(k as f64) * powi(u, k - 1) * powi(w, l);
            }
            if l > 0 {
                dw += c * T::from_f64(l as f64) * powi(u, k) * powi(w, l - 1);
            }
        }
        (p, du, dw)
    }

    /// `A` and its link derivatives for the polynomial with coefficients `coeffs`, from the
    /// deficits and fat links of `deficits` (one backward pass).
    fn value_and_gradient<T: Real>(
        &self,
        u: &GaugeField<T>,
        (up, wp, fat): &(Vec<T>, Vec<T>, GaugeField<T>),
        coeffs: &[f64],
    ) -> (T, Vec<Su3Alg<T>>) {
        let third = T::from_f64(1.0 / 3.0);
        let mut value = T::zero();
        // ∂A/∂Re Tr U_p = −(1/3) ∂p/∂u, and likewise for W_p.
        let mut thin = Vec::with_capacity(up.len());
        let mut thick = Vec::with_capacity(up.len());
        for (&uu, &ww) in up.iter().zip(wp) {
            let (p, du, dw) = self.polynomial(coeffs, uu, ww);
            value += p * third;
            thin.push(-du * third);
            thick.push(-dw * third);
        }
        let g = u.geometry();
        let mut gw = alloc::vec![Mat3::zero(); g.n_links()];
        add_plaquette_gradient(fat, &thick, &mut gw);
        let mut gu = alloc::vec![Mat3::zero(); g.n_links()];
        add_plaquette_gradient(u, &thin, &mut gu);
        add_smearing_gradient(u, self.smear, &gw, &mut gu);
        (value, derivatives_from_gradients(u, &gu))
    }

    /// Every term's value and link derivatives on `u` (the action is `Σ_j c_j` times them).
    pub fn basis<T: Real>(&self, u: &GaugeField<T>) -> Vec<(T, Vec<Su3Alg<T>>)> {
        let d = self.deficits(u);
        (0..self.terms.len())
            .map(|j| {
                let mut unit = alloc::vec![0.0; self.terms.len()];
                unit[j] = 1.0;
                self.value_and_gradient(u, &d, &unit)
            })
            .collect()
    }

    /// `Σ_{k+l=1} c_{(k,l)}`: 1 for the continuum normalisation.
    pub fn leading_sum(&self) -> f64 {
        self.terms.iter().zip(&self.coeffs).filter(|((k, l), _)| k + l == 1).map(|(_, c)| c).sum()
    }
}

impl<T: Real> Action<T> for FatPolynomial {
    fn value(&self, u: &GaugeField<T>) -> T {
        let (up, wp, _) = self.deficits(u);
        let mut a = T::zero();
        for (&uu, &ww) in up.iter().zip(&wp) {
            a += self.polynomial(&self.coeffs, uu, ww).0;
        }
        a * T::from_f64(1.0 / 3.0)
    }

    fn value_and_derivative(&self, u: &GaugeField<T>, out: &mut [Su3Alg<T>]) -> T {
        assert_eq!(out.len(), u.geometry().n_links());
        let d = self.deficits(u);
        let (a, der) = self.value_and_gradient(u, &d, &self.coeffs);
        out.copy_from_slice(&der);
        a
    }

    fn name(&self) -> String {
        self.label.clone()
    }
}

/// One configuration for [`fit`]: links, `A_FP`, `D_FP` and its weight.
pub struct FitConfig<'a> {
    pub links: &'a GaugeField<f64>,
    pub a_fp: f64,
    pub d_fp: &'a [Su3Alg<f64>],
    pub weight: f64,
}

/// The result of [`fit`].
#[derive(Clone, Debug)]
pub struct FitResult {
    pub action: FatPolynomial,
    /// The objective at the fitted coefficients (and at Wilson's, `c_{(1,0)} = 1`).
    pub objective: f64,
    pub objective_wilson: f64,
}

/// Householder reduction of a row-major `m × k` matrix to its `k × k` upper triangle `R`
/// (`AᵀA = RᵀR`; `m ≥ k` not required: missing rows stay zero).
fn triangle(mut a: Vec<f64>, k: usize) -> Vec<f64> {
    let m = a.len() / k;
    for j in 0..k.min(m) {
        let norm = (j..m).map(|i| a[i * k + j] * a[i * k + j]).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if a[j * k + j] > 0.0 { -norm } else { norm };
        // v = x − α e₁ (stored in column j), H = 1 − 2 v vᵀ / vᵀv.
        a[j * k + j] -= alpha;
        let vv = (j..m).map(|i| a[i * k + j] * a[i * k + j]).sum::<f64>();
        for q in j + 1..k {
            let dot = (j..m).map(|i| a[i * k + j] * a[i * k + q]).sum::<f64>();
            let f = 2.0 * dot / vv;
            for i in j..m {
                a[i * k + q] -= f * a[i * k + j];
            }
        }
        a[j * k + j] = alpha;
        for i in j + 1..m {
            a[i * k + j] = 0.0;
        }
    }
    a.resize(k * k.max(m), 0.0);
    a.truncate(k * k);
    a
}

/// Fits the coefficients for the smearing `smear` and the exponents `terms` by least squares on
/// the objective of `fpa train --value-loss relative-squared`,
///
/// `L = Σ_i w_i [w₁ (A_i/A_FP,i − 1)² + w₂ Σ_{x,μ,a} (D_i − D_FP,i)² / (64 V_i)] / Σ_i w_i`,
///
/// with a ridge of `ridge` times the mean squared column norm; with `normalised`, subject to
/// `c_(1,0) + c_(0,1) = 1` (the continuum normalisation). The polynomial terms are nearly
/// collinear (condition numbers of 1e9 for the normal matrix), so the normal equations would lose too many
/// digits: every configuration's rows `[basis | target]` are reduced to a triangle by Householder
/// reflections (in parallel), the triangles are stacked and reduced in configuration order (so
/// the result does not depend on the thread count), and `R c = r` is solved by back substitution.
pub fn fit(
    configs: &[FitConfig<'_>],
    smear: f64,
    terms: &[(u32, u32)],
    w1: f64,
    w2: f64,
    ridge: f64,
    normalised: bool,
) -> Result<FitResult, String> {
    if configs.is_empty() {
        return Err("the fit needs configurations".into());
    }
    // With the normalisation imposed, c_(0,1) = 1 − c_(1,0): the (0,1) term moves into the
    // target and the (1,0) column becomes T_(1,0) − T_(0,1).
    let pair = match (terms.iter().position(|&t| t == (1, 0)), terms.iter().position(|&t| t == (0, 1))) {
        (Some(a), Some(b)) if normalised => Some((a, b)),
        _ if normalised => return Err("the normalisation needs the terms (1,0) and (0,1)".into()),
        _ => None,
    };
    let free: Vec<usize> = (0..terms.len()).filter(|&j| pair.is_none_or(|(_, b)| j != b)).collect();
    let n = free.len();
    let k = n + 1;
    let proto = FatPolynomial::new(smear, terms.to_vec(), alloc::vec![0.0; terms.len()], "fit");
    let parts = crate::par::map_slice(configs, |c| {
        if !(c.a_fp.is_finite() && c.a_fp > 0.0) {
            return Err(format!("A_FP = {} cannot scale a relative error", c.a_fp));
        }
        if !(c.weight.is_finite() && c.weight >= 0.0) {
            return Err(format!("weight {} is not a finite non-negative number", c.weight));
        }
        let basis = proto.basis(c.links);
        let sv = (w1 * c.weight).sqrt() / c.a_fp;
        let sd = (w2 * c.weight / (64.0 * c.links.geometry().volume() as f64)).sqrt();
        // Row entries of the free terms and the target, for the value (`None`) or one derivative.
        let row = |at: Option<(usize, usize)>, target: f64, rows: &mut Vec<f64>| {
            let t = |j: usize| at.map_or(basis[j].0, |(l, a)| basis[j].1[l][a]);
            let fixed = pair.map_or(0.0, |(_, b)| t(b));
            rows.extend(free.iter().map(|&j| if pair.is_some_and(|(a, _)| a == j) { t(j) - fixed } else { t(j) }));
            rows.push(target - fixed);
        };
        let mut rows = Vec::with_capacity(k * (1 + 8 * c.d_fp.len()));
        row(None, c.a_fp, &mut rows);
        for (l, target) in c.d_fp.iter().enumerate() {
            for (a, t) in target.iter().enumerate() {
                row(Some((l, a)), *t, &mut rows);
            }
        }
        let scale_row = |i: usize| if i < k { sv } else { sd };
        rows.iter_mut().enumerate().for_each(|(i, x)| *x *= scale_row(i));
        if rows.iter().any(|x| !x.is_finite()) {
            return Err("the fit's rows are not finite (NaN in the data?)".into());
        }
        Ok((triangle(rows, k), c.weight))
    });
    let mut r = alloc::vec![0.0; k * k];
    let mut wsum = 0.0;
    for part in parts {
        let (t, w) = part?;
        r.extend_from_slice(&t);
        r = triangle(r, k);
        wsum += w;
    }
    if wsum <= 0.0 {
        return Err("the configurations' weights sum to zero".into());
    }
    let mean_sq = (0..n).map(|q| (0..k).map(|i| r[i * k + q] * r[i * k + q]).sum::<f64>()).sum::<f64>() / n as f64;
    if !(mean_sq.is_finite() && mean_sq > 0.0) {
        return Err("the fit's terms vanish on these configurations".into());
    }
    // ‖[A y] v‖² = ‖R v‖² for v = [c; −1] (c: the free coefficients): the objective of any coefficients.
    let r_data = r.clone();
    let objective_at = |all: &[f64]| {
        let v: Vec<f64> = free.iter().map(|&j| all[j]).chain([-1.0]).collect();
        (0..k).map(|i| (0..k).map(|q| r_data[i * k + q] * v[q]).sum::<f64>().powi(2)).sum::<f64>() / wsum
    };
    if ridge > 0.0 {
        let lam = (ridge * mean_sq).sqrt();
        for q in 0..n {
            r.extend((0..k).map(|j| if j == q { lam } else { 0.0 }));
        }
        r = triangle(r, k);
    }
    let mut cf = alloc::vec![0.0; n];
    for i in (0..n).rev() {
        let diag = r[i * k + i];
        if diag == 0.0 || !diag.is_finite() {
            return Err(format!("term {:?} is not determined by these configurations (give a ridge)", terms[free[i]]));
        }
        let s = r[i * k + n] - (i + 1..n).map(|q| r[i * k + q] * cf[q]).sum::<f64>();
        cf[i] = s / diag;
    }
    let mut c = alloc::vec![0.0; terms.len()];
    free.iter().zip(&cf).for_each(|(&j, &x)| c[j] = x);
    if let Some((a, b)) = pair {
        c[b] = 1.0 - c[a];
    }
    let wilson: Vec<f64> = terms.iter().map(|&t| if t == (1, 0) { 1.0 } else { 0.0 }).collect();
    let label = format!("fat-polynomial s={smear}");
    Ok(FitResult {
        objective: objective_at(&c),
        objective_wilson: objective_at(&wilson),
        action: FatPolynomial::new(smear, terms.to_vec(), c, label),
    })
}
