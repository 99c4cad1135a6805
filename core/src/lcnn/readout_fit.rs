//! Exact least-squares fit of the last bilinear layer.
//!
//! When the network ends in an L-CB layer with real weights followed by the
//! linear read-out of `Re Tr`, the action is linear in that layer's weights
//! once the earlier layers are fixed:
//!
//! `A = Σ_u h_u Σ_x Re Tr W'_u(x) = Σ_{v,w} c_{v,w} F_{v,w}`, with
//! `c_{v,w} = Σ_u h_u ω_{u,v,w}` and `F_{v,w} = Σ_x Re Tr(L_v(x) R_w(x))`
//! (minus its value on the trivial field when the model subtracts it), and
//! `L = (W, W†, 1)`, `R = (T W, (T W)†, 1)` the layer's factors built from its
//! input `W` and its transported copies `T W` (see [`super::lcb`]).
//! The link derivatives are linear in `c` too. So the correction `δc` that
//! minimises
//!
//! `Σ_i n_i [ w_A ((A_FP − A)/A_FP)² + w_D Σ_{x,μ,a} (D_FP − D)² / (64 V) ]`
//!
//! over the training configurations `i`, each counted `n_i` times ([`Sample::weight`]; the
//! relative action error is the measure the evaluation uses, so that smooth
//! configurations such as instantons count as much as rough ones) is the solution of linear normal equations. The derivative part is sketched: for `m` Gaussian link
//! directions `r` per configuration, `r·D = d/dε A[exp(iε r·t) U]` comes from
//! one forward pass on dual numbers, and `E[(r·x)²] = |x|²` makes the sketched
//! sum an unbiased estimate of the invariant loss. The correction is added to
//! every output channel in proportion to its read-out weight,
//! `ω_{u,v,w} += h_u δc_{v,w} / |h|²`, which changes `c` by exactly `δc`.
//!
//! This is one exact linear solve instead of thousands of gradient steps on
//! the last layer; gradient training of all layers continues from it.
//!
//! **Quadratic read-out.** With `head.quadratic` (and no hidden layers) the
//! action is no longer linear in the last layer's weights, but it is linear in
//! the read-out's own coefficients: `A = Σ_x [Σ_i h_i f_i + b + Σ_{i≤j} q_ij
//! f_i f_j]` with `f` the trace features of the final map. Then the fit solves
//! for `δh` and `δq` (all L-CB layers fixed) with the same objective; the
//! features are `F_i = Σ_x f_i` and `F_ij = Σ_x f_i f_j`.

use super::lcb::LcbShape;
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
    /// `w_A`, weight of the squared relative action error.
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
        FitSettings { directions: 16, value_weight: 100.0, derivative_weight: 10.0, ridge: 1e-9, seed: 1 }
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

/// What the fit solves for.
#[derive(Clone, Copy, Debug)]
enum Unknowns {
    /// `c_{v,w}` of the last L-CB layer `(index, shape)`.
    LastLayer(usize, LcbShape),
    /// The read-out's linear weights and quadratic coefficients.
    Head,
}

/// The unknowns of the model's fit, if it has the structure the fit needs.
fn unknowns(model: &Model) -> Result<Unknowns, SpecError> {
    if model.layers.iter().any(|l| matches!(l, Layer::Lexp(_))) {
        return Err(SpecError("the read-out fit needs a model without L-Exp layers".into()));
    }
    if !model.head.hidden.is_empty() {
        return Err(SpecError("the read-out fit needs a read-out without hidden layers (hidden = [])".into()));
    }
    if model.head.quadratic {
        return Ok(Unknowns::Head);
    }
    if model.head.imag {
        return Err(SpecError(
            "the read-out fit of the last layer needs a read-out of Re Tr only (imag = false)".into(),
        ));
    }
    let last = model.layers.len().checked_sub(1).ok_or_else(|| SpecError("the model has no layers".into()))?;
    match &model.layers[last] {
        Layer::Lcb(s) if !s.complex => Ok(Unknowns::LastLayer(last, *s)),
        other => Err(SpecError(alloc::format!(
            "the read-out fit needs a last L-CB/L-Bilin layer with real weights, not {other:?}"
        ))),
    }
}

impl Unknowns {
    /// The raw action and the features the action is linear in.
    fn sums<T: Real>(self, model: &Model, params: &[f64], u: &GaugeField<T>) -> (T, Vec<T>) {
        match self {
            Unknowns::LastLayer(layer, shape) => bilinear_sums(model, params, (layer, shape), u),
            Unknowns::Head => head_sums(model, params, u),
        }
    }

    /// Adds the solved correction `δc` to the parameters.
    fn apply(self, model: &Model, params: &mut [f64], dc: &[f64]) -> Result<(), SpecError> {
        let head = model.layer_offset(model.layers.len());
        match self {
            Unknowns::Head => {
                // δh for the linear weights, then δq (after the dense layers' bias).
                let nf = model.head.n_features();
                let q = head + model.head.n_dense_params();
                for (k, c) in dc.iter().enumerate() {
                    params[if k < nf { head + k } else { q + k - nf }] += c;
                }
            }
            Unknowns::LastLayer(layer, shape) => {
                // Spread δc over the output channels by their read-out weights.
                let h: Vec<f64> = params[head..head + shape.n_out].to_vec();
                let h2: f64 = h.iter().map(|x| x * x).sum();
                if h2 == 0.0 || !h2.is_finite() {
                    return Err(SpecError("the read-out weights are all zero: nothing to scale the fit onto".into()));
                }
                let (off, k) = (model.layer_offset(layer), dc.len());
                for (u, hu) in h.iter().enumerate() {
                    for (vw, c) in dc.iter().enumerate() {
                        params[off + u * k + vw] += hu * c / h2;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `(M, M†, 1)` of the matrices at one site.
fn factors<T: Real>(site: &[Mat3<T>]) -> Vec<Mat3<T>> {
    let mut f: Vec<Mat3<T>> = Vec::with_capacity(2 * site.len() + 1);
    f.extend_from_slice(site);
    f.extend(site.iter().map(|m| m.adj()));
    f.push(Mat3::identity());
    f
}

/// `F_{v,w} = Σ_x Re Tr(L_v R_w)` of the last layer (`v` major), and the raw
/// action `Σ_{v,w} c_{v,w} F_{v,w} + V b` (`b` the read-out bias), without
/// running the last layer itself.
fn bilinear_sums<T: Real>(
    model: &Model,
    params: &[f64],
    (layer, shape): (usize, LcbShape),
    u: &GaugeField<T>,
) -> (T, Vec<T>) {
    let w = model.features_before(params, u, layer);
    let (blocks, _) = shape.shifts().forward(u, &w);
    let (nl, nr) = (shape.n_left(), shape.n_right());
    let per_site: Vec<Vec<T>> = crate::par::map_range(w.volume(), |x| {
        let (l, r) = (factors(w.site(x)), factors(blocks.site(x)));
        let mut out = alloc::vec![T::zero(); nl * nr];
        for v in 0..nl {
            for k in 0..nr {
                out[v * nr + k] = re_tr_product(&l[v], &r[k]);
            }
        }
        out
    });
    let mut sums = alloc::vec![T::zero(); nl * nr];
    for s in &per_site {
        for (a, b) in sums.iter_mut().zip(s) {
            *a += *b;
        }
    }
    let c = current_coefficients(model, params, (layer, shape));
    let head = model.layer_offset(model.layers.len());
    let mut a = T::from_f64(params[head + shape.n_out] * w.volume() as f64);
    for (f, ck) in sums.iter().zip(&c) {
        a += f.mul_f64(*ck);
    }
    (a, sums)
}

/// `c_{v,w} = Σ_u h_u ω_{u,v,w}` of the current parameters.
fn current_coefficients(model: &Model, params: &[f64], (layer, shape): (usize, LcbShape)) -> Vec<f64> {
    let k = shape.n_left() * shape.n_right();
    let (off, head) = (model.layer_offset(layer), model.layer_offset(model.layers.len()));
    let mut c = alloc::vec![0.0; k];
    for u in 0..shape.n_out {
        let h = params[head + u];
        for (ck, w) in c.iter_mut().zip(&params[off + u * k..off + (u + 1) * k]) {
            *ck += h * w;
        }
    }
    c
}

/// `F_i = Σ_x f_i` then `F_ij = Σ_x f_i f_j` (`i ≤ j`, the packing of the
/// quadratic coefficients) of the final trace features, and the raw action
/// `Σ_x head(x)`.
fn head_sums<T: Real>(model: &Model, params: &[f64], u: &GaugeField<T>) -> (T, Vec<T>) {
    let h = &model.head;
    let w = model.features_before(params, u, model.layers.len());
    let nf = h.n_features();
    let per_site: Vec<Vec<T>> = crate::par::map_range(w.volume(), |x| {
        let f = super::head::features(h, w.site(x));
        let mut out = f.clone();
        for i in 0..nf {
            for j in i..nf {
                out.push(f[i] * f[j]);
            }
        }
        out
    });
    let mut sums = alloc::vec![T::zero(); nf + h.n_quadratic()];
    for s in &per_site {
        for (a, b) in sums.iter_mut().zip(s) {
            *a += *b;
        }
    }
    let head = model.layer_offset(model.layers.len());
    let mut a = T::from_f64(params[head + nf] * w.volume() as f64);
    let coefficients = params[head..head + nf].iter().chain(&params[head + h.n_dense_params()..]);
    for (f, c) in sums.iter().zip(coefficients) {
        a += f.mul_f64(*c);
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

/// One equation `a·δc = y` of the least-squares problem.
type Row = (Vec<f64>, f64);

/// The equations of one configuration: its action value, then one per sketch direction.
fn equations(
    model: &Model,
    params: &[f64],
    fit: Unknowns,
    index: usize,
    s: &Sample,
    trivial: &(f64, Vec<f64>),
    set: &FitSettings,
) -> Vec<Row> {
    let vol = s.links.geometry().volume() as f64;
    let sub = model.spec.subtract_trivial;
    let mut rows: Vec<(Vec<f64>, f64)> = Vec::with_capacity(set.directions + 1);
    // A configuration of weight w counts w times: its rows times √w (exact for w = 1).
    let counted = crate::real::sqrt_f64(s.weight);
    let d_scale = crate::real::sqrt_f64(set.derivative_weight / (L2_NORM * vol * set.directions as f64)) * counted;
    for j in 0..set.directions.max(1) {
        let mut rng = Rng::stream(set.seed, &[domain::SKETCH, index as u64, j as u64]);
        let r: Vec<[f64; 8]> = (0..s.links.links().len()).map(|_| core::array::from_fn(|_| rng.gaussian())).collect();
        let (a, f) = fit.sums(model, params, &tangent_field(&s.links, &r));
        if j == 0 && s.a_fp.abs() > 1e-12 * vol {
            // The value equation, from the values of the dual numbers.
            let scale = crate::real::sqrt_f64(set.value_weight) / s.a_fp.abs() * counted;
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
    rows
}

/// The upper triangle of `M = Σ a aᵀ` (row `p` of `M` built by one worker from
/// all equations in order, so the sums do not depend on the thread count).
fn normal_matrix(rows: &[Row], k: usize) -> Vec<f64> {
    let mut m = alloc::vec![0.0; k * k];
    crate::par::for_each_chunk_mut(&mut m, k, |p, mp| {
        for (a, _) in rows {
            let ap = a[p];
            if ap != 0.0 {
                for (x, y) in mp[p..].iter_mut().zip(&a[p..]) {
                    *x += ap * y;
                }
            }
        }
    });
    m
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `M x = b` for symmetric positive definite `M` (upper triangle given) by Cholesky.
fn cholesky_solve(m: &mut [f64], b: &mut [f64]) -> Result<(), SpecError> {
    let n = b.len();
    // Lower factor in the lower triangle, row by row: M = L Lᵀ,
    // L_ij = (M_ji − Σ_{k<j} L_ik L_jk) / L_jj.
    for i in 0..n {
        let (done, rest) = m.split_at_mut(i * n);
        let row = &mut rest[..n];
        let done = &*done;
        for j in 0..i {
            let lj = &done[j * n..j * n + j];
            row[j] = (done[j * n + i] - dot(&row[..j], lj)) / done[j * n + j];
        }
        let d = row[i] - dot(&row[..i], &row[..i]);
        if d.is_nan() || d <= 0.0 {
            return Err(SpecError("the read-out fit's normal matrix is not positive definite".into()));
        }
        row[i] = crate::real::sqrt_f64(d);
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

/// The per-site features on the trivial field (`F[1] / V`).
fn trivial_sums(model: &Model, params: &[f64], fit: Unknowns, g: &GaugeField<f64>) -> (f64, Vec<f64>) {
    let cold = GaugeField::<f64>::cold(g.geometry().clone());
    let vol = g.geometry().volume() as f64;
    let (a, f) = fit.sums(model, params, &cold);
    (a / vol, f.iter().map(|x| x / vol).collect())
}

/// Fits the last layer, or a quadratic read-out (see the module
/// documentation), and updates `params`.
pub fn fit_last_layer(
    model: &Model,
    params: &mut [f64],
    samples: &[&Sample],
    set: &FitSettings,
) -> Result<FitReport, SpecError> {
    let fit = unknowns(model)?;
    if samples.is_empty() {
        return Err(SpecError("the read-out fit needs configurations".into()));
    }
    // Per site, the trivial-field values do not depend on the lattice size.
    let trivial = trivial_sums(model, params, fit, &samples[0].links);
    let idx: Vec<usize> = (0..samples.len()).collect();
    let rows: Vec<Row> = crate::par::map_slice(&idx, |&i| equations(model, params, fit, i, samples[i], &trivial, set))
        .into_iter()
        .flatten()
        .collect();
    let k = rows[0].0.len();
    let mut m = normal_matrix(&rows, k);
    let mut b = alloc::vec![0.0; k];
    let mut before = 0.0;
    for (a, y) in &rows {
        before += y * y;
        for (x, ai) in b.iter_mut().zip(a) {
            *x += ai * y;
        }
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
    fit.apply(model, params, &dc)?;
    Ok(FitReport {
        unknowns: k,
        equations: samples.len() * (set.directions + 1),
        objective_before: before,
        objective_after: after,
    })
}
