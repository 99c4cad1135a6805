//! Exact least-squares fit of the last bilinear layer.
//!
//! When the network ends in an L-CB layer without transport (kernel 1, real
//! weights) followed by the linear read-out of `Re Tr`, the action is linear
//! in that layer's weights once the earlier layers are fixed:
//!
//! `A = Σ_u h_u Σ_x Re Tr W'_u(x) = Σ_{v,w} c_{v,w} F_{v,w}`, with
//! `c_{v,w} = Σ_u h_u ω_{u,v,w}` and `F_{v,w} = Σ_x Re Tr(L_v(x) R_w(x))`
//! (minus its value on the trivial field when the model subtracts it), and
//! `L = R = (W, W†, 1)` the factors built from the layer's input `W`.
//! The link derivatives are linear in `c` too. So the correction `δc` that
//! minimises
//!
//! `Σ_i [ w_A ((A_FP − A)/V)² + w_D Σ_{x,μ,a} (D_FP − D)² / (64 V) ]`
//!
//! over the training configurations is the solution of linear normal
//! equations. The derivative part is sketched: for `m` Gaussian link
//! directions `r` per configuration, `r·D = d/dε A[exp(iε r·t) U]` comes from
//! one forward pass on dual numbers, and `E[(r·x)²] = |x|²` makes the sketched
//! sum an unbiased estimate of the invariant loss. The correction is added to
//! every output channel in proportion to its read-out weight,
//! `ω_{u,v,w} += h_u δc_{v,w} / |h|²`, which changes `c` by exactly `δc`.
//!
//! This is one exact linear solve instead of thousands of gradient steps on
//! the last layer; gradient training of all layers continues from it.

use super::model::{Layer, Model, SpecError};
use super::train::{tangent_field, Sample, L2_NORM};
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::rng::{domain, Rng};
use crate::su3::Mat3;
use alloc::vec::Vec;

/// Settings of the fit.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitSettings {
    /// Random link directions per configuration for the derivative equations.
    pub directions: usize,
    /// `w_A`, weight of the squared action-density error.
    pub value_weight: f64,
    /// `w_D`, weight of the invariant loss.
    pub derivative_weight: f64,
    /// Tikhonov term, relative to the mean diagonal of the normal matrix (the
    /// features are redundant: `Re Tr(XY) = Re Tr(YX)`).
    pub ridge: f64,
    pub seed: u64,
}

impl Default for FitSettings {
    fn default() -> Self {
        FitSettings { directions: 16, value_weight: 100.0, derivative_weight: 1.0, ridge: 1e-9, seed: 1 }
    }
}

/// What the fit did.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitReport {
    pub unknowns: usize,
    pub equations: usize,
    /// The sketched objective before and after the correction.
    pub objective_before: f64,
    pub objective_after: f64,
}

/// The index of the last layer if the model has the structure the fit needs.
fn fitted_layer(model: &Model) -> Result<usize, SpecError> {
    let last = model.layers.len().checked_sub(1).ok_or_else(|| SpecError("the model has no layers".into()))?;
    match &model.layers[last] {
        Layer::Lcb(s) if s.kernel == 1 && !s.complex => {}
        other => {
            return Err(SpecError(alloc::format!(
                "the read-out fit needs a last L-CB/L-Bilin layer with kernel 1 and real weights, not {other:?}"
            )))
        }
    }
    if !model.head.hidden.is_empty() || model.head.imag {
        return Err(SpecError("the read-out fit needs a linear read-out of Re Tr (hidden = [], imag = false)".into()));
    }
    Ok(last)
}

/// `F_{v,w} = Σ_x Re Tr(L_v R_w)` of the last layer's input, and the raw action.
fn bilinear_sums<T: Real>(model: &Model, params: &[f64], layer: usize, u: &GaugeField<T>) -> (T, Vec<T>) {
    let (a, tape) = model.forward_raw(params, u);
    let w = model.layer_input(&tape, layer);
    let n = w.channels;
    let nl = 2 * n + 1;
    let per_site: Vec<Vec<T>> = crate::par::map_range(w.volume(), |x| {
        let site = w.site(x);
        let mut f: Vec<Mat3<T>> = Vec::with_capacity(nl);
        f.extend_from_slice(site);
        f.extend(site.iter().map(|m| m.adj()));
        f.push(Mat3::identity());
        let mut out = alloc::vec![T::zero(); nl * nl];
        for v in 0..nl {
            for r in 0..nl {
                out[v * nl + r] = re_tr_product(&f[v], &f[r]);
            }
        }
        out
    });
    let mut sums = alloc::vec![T::zero(); nl * nl];
    for s in &per_site {
        for (a, b) in sums.iter_mut().zip(s) {
            *a += *b;
        }
    }
    (a, sums)
}

/// `Re Tr(A B)`.
fn re_tr_product<T: Real>(a: &Mat3<T>, b: &Mat3<T>) -> T {
    let mut s = T::zero();
    for i in 0..3 {
        for j in 0..3 {
            s += a.m[i][j].re * b.m[j][i].re - a.m[i][j].im * b.m[j][i].im;
        }
    }
    s
}

/// Normal equations `M δc = b` and the objective `Σ y²` of one configuration.
fn normal_equations(
    model: &Model,
    params: &[f64],
    layer: usize,
    index: usize,
    s: &Sample,
    trivial: &(f64, Vec<f64>),
    set: &FitSettings,
) -> (Vec<f64>, Vec<f64>, f64) {
    let vol = s.links.geometry().volume() as f64;
    let sub = model.spec.subtract_trivial;
    let mut rows: Vec<(Vec<f64>, f64)> = Vec::with_capacity(set.directions + 1);
    let d_scale = crate::real::sqrt_f64(set.derivative_weight / (L2_NORM * vol * set.directions as f64));
    for j in 0..set.directions.max(1) {
        let mut rng = Rng::stream(set.seed, &[domain::SKETCH, index as u64, j as u64]);
        let r: Vec<[f64; 8]> = (0..s.links.links().len()).map(|_| core::array::from_fn(|_| rng.gaussian())).collect();
        let (a, f) = bilinear_sums(model, params, layer, &tangent_field(&s.links, &r));
        if j == 0 {
            // The value equation, from the values of the dual numbers.
            let scale = crate::real::sqrt_f64(set.value_weight) / vol;
            let a_now = if sub { a.v - trivial.0 * vol } else { a.v };
            let mut row: Vec<f64> = f.iter().map(|x| x.v).collect();
            if sub {
                for (x, t) in row.iter_mut().zip(&trivial.1) {
                    *x -= t * vol;
                }
            }
            rows.push((row.iter().map(|x| x * scale).collect(), (s.a_fp - a_now) * scale));
        }
        if set.directions > 0 {
            let target: f64 =
                r.iter().zip(&s.d_fp).map(|(ri, di)| ri.iter().zip(di).map(|(x, y)| x * y).sum::<f64>()).sum();
            rows.push((f.iter().map(|x| x.d * d_scale).collect(), (target - a.d) * d_scale));
        }
    }
    let k = rows[0].0.len();
    let mut m = alloc::vec![0.0; k * k];
    let mut b = alloc::vec![0.0; k];
    let mut obj = 0.0;
    for (row, y) in &rows {
        obj += y * y;
        for p in 0..k {
            b[p] += row[p] * y;
            let rp = row[p];
            for q in p..k {
                m[p * k + q] += rp * row[q];
            }
        }
    }
    (m, b, obj)
}

/// Solves `M x = b` for symmetric positive definite `M` (upper triangle given) by Cholesky.
fn cholesky_solve(m: &mut [f64], b: &mut [f64]) -> Result<(), SpecError> {
    let n = b.len();
    // Lower factor in the lower triangle: M = L Lᵀ.
    for j in 0..n {
        let mut d = m[j * n + j];
        for k in 0..j {
            d -= m[j * n + k] * m[j * n + k];
        }
        if d.is_nan() || d <= 0.0 {
            return Err(SpecError("the read-out fit's normal matrix is not positive definite".into()));
        }
        let d = crate::real::sqrt_f64(d);
        m[j * n + j] = d;
        for i in j + 1..n {
            let mut s = m[j * n + i];
            for k in 0..j {
                s -= m[i * n + k] * m[j * n + k];
            }
            m[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= m[i * n + k] * b[k];
        }
        b[i] = s / m[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= m[k * n + i] * b[k];
        }
        b[i] = s / m[i * n + i];
    }
    Ok(())
}

/// The per-site bilinear sums on the trivial field (`F_{v,w}[1] / V`).
fn trivial_sums(model: &Model, params: &[f64], layer: usize, g: &GaugeField<f64>) -> (f64, Vec<f64>) {
    let cold = GaugeField::<f64>::cold(g.geometry().clone());
    let vol = g.geometry().volume() as f64;
    let (a, f) = bilinear_sums(model, params, layer, &cold);
    (a / vol, f.iter().map(|x| x / vol).collect())
}

/// Fits the last layer (see the module documentation) and updates `params`.
pub fn fit_last_layer(
    model: &Model,
    params: &mut [f64],
    samples: &[&Sample],
    set: &FitSettings,
) -> Result<FitReport, SpecError> {
    let layer = fitted_layer(model)?;
    if samples.is_empty() {
        return Err(SpecError("the read-out fit needs configurations".into()));
    }
    let first = &samples[0].links;
    if samples.iter().any(|s| s.links.geometry().dims() != first.geometry().dims()) {
        return Err(SpecError("the read-out fit needs configurations of one lattice size".into()));
    }
    let trivial = trivial_sums(model, params, layer, first);
    let idx: Vec<usize> = (0..samples.len()).collect();
    let parts = crate::par::map_slice(&idx, |&i| normal_equations(model, params, layer, i, samples[i], &trivial, set));
    let k = parts[0].1.len();
    let mut m = alloc::vec![0.0; k * k];
    let mut b = alloc::vec![0.0; k];
    let mut before = 0.0;
    for (pm, pb, po) in &parts {
        for (x, y) in m.iter_mut().zip(pm) {
            *x += y;
        }
        for (x, y) in b.iter_mut().zip(pb) {
            *x += y;
        }
        before += po;
    }
    let mean_diag = (0..k).map(|p| m[p * k + p]).sum::<f64>() / k as f64;
    if mean_diag.is_nan() || mean_diag <= 0.0 || mean_diag.is_infinite() {
        return Err(SpecError("the read-out fit's features vanish or are not finite".into()));
    }
    // Keep the upper triangle for the objective after the solve.
    let upper = m.clone();
    for p in 0..k {
        m[p * k + p] += set.ridge * mean_diag;
    }
    let rhs = b.clone();
    cholesky_solve(&mut m, &mut b)?;
    let dc = b;
    // Σ (y − a·δc)² = Σ y² − 2 δc·b + δcᵀ M δc.
    let mut quad = 0.0;
    for p in 0..k {
        quad += upper[p * k + p] * dc[p] * dc[p];
        for q in p + 1..k {
            quad += 2.0 * upper[p * k + q] * dc[p] * dc[q];
        }
    }
    let after = before - 2.0 * dc.iter().zip(&rhs).map(|(x, y)| x * y).sum::<f64>() + quad;
    // Spread δc over the output channels by their read-out weights.
    let Layer::Lcb(shape) = &model.layers[layer] else { unreachable!() };
    let head = model.layer_offset(model.layers.len());
    let h: Vec<f64> = params[head..head + shape.n_out].to_vec();
    let h2: f64 = h.iter().map(|x| x * x).sum();
    if h2 == 0.0 || !h2.is_finite() {
        return Err(SpecError("the read-out weights are all zero: nothing to scale the fit onto".into()));
    }
    let off = model.layer_offset(layer);
    for (u, hu) in h.iter().enumerate() {
        for (vw, c) in dc.iter().enumerate() {
            params[off + u * k + vw] += hu * c / h2;
        }
    }
    Ok(FitReport {
        unknowns: k,
        equations: samples.len() * (set.directions + 1),
        objective_before: before,
        objective_after: after,
    })
}
