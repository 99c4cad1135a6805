//! The check every layer gets, in isolation: its backward pass against
//! central differences, and its gauge covariance.
//!
//! The layer is probed through the scalar
//! `f(θ, U, W) = Σ_{x,c} Re Tr(R_{x,c}† W'_{x,c}) + Σ_{x,μ} Re Tr(S_{x,μ}† U'_μ(x))`
//! with `(W', U') = layer(θ, U, W)` (`U' = U` except for L-Exp) and fixed
//! random complex matrices `R`, `S`. Its gradients are what the backward pass
//! returns when started from `G_out = R` and link gradient `S`:
//! * `∂f/∂θ_i` against `[f(θ + h e_i) − f(θ − h e_i)] / 2h`;
//! * `D_{x,μ,a} f` (from `G_U` as in [`derivatives_from_gradients`]) against
//!   differences in `U_μ(x) → exp(±i h t^a) U_μ(x)`;
//! * `Re Tr(G_W† E)` against differences in `W_{x,c} → W_{x,c} ± h E`, `E` random.
//!
//! Covariance: for a random gauge transformation `Ω`, the layer applied to
//! `(U^Ω, Ω W Ω†)` must give `Ω W' Ω†` (and `U'^Ω`).

use super::features::Features;
use super::layer::{BackwardInput, LayerOp};
use crate::action::check::moved_link;
use crate::lattice::{GaugeField, GaugeTransform};
use crate::rg::kernel::derivatives_from_gradients;
use crate::rng::{domain, Rng};
use crate::su3::{Complex, Mat3};
use alloc::vec::Vec;

/// Worst deviations found by [`check_layer`]; each is relative, `|exact − fd| / (1 + |fd|)`
/// for the differences and `|a − b| / (1 + |b|)` (Frobenius) for covariance.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerCheck {
    pub weights: f64,
    pub links: f64,
    pub features: f64,
    pub covariance: f64,
}

impl LayerCheck {
    /// The largest of the four.
    pub fn worst(&self) -> f64 {
        self.weights.max(self.links).max(self.features).max(self.covariance)
    }
}

/// A matrix of independent standard normal complex entries.
pub fn random_matrix(rng: &mut Rng) -> Mat3<f64> {
    let mut m = Mat3::zero();
    for row in m.m.iter_mut() {
        for z in row.iter_mut() {
            *z = Complex::new(rng.gaussian(), rng.gaussian());
        }
    }
    m
}

/// Random feature map: `channels` random complex matrices per site.
pub fn random_features(volume: usize, channels: usize, seed: u64) -> Features<f64> {
    let mut rng = Rng::stream(seed, &[domain::TEST, 1]);
    let mut w = Features::zeros(volume, channels);
    for m in w.iter_mut() {
        *m = random_matrix(&mut rng);
    }
    w
}

/// `Σ Re Tr(R† W')` + `Σ Re Tr(S† U')` for one forward pass.
fn probe<L: LayerOp>(
    layer: &L,
    p: &[f64],
    u: &GaugeField<f64>,
    w: &Features<f64>,
    r: &[Mat3<f64>],
    s: &[Mat3<f64>],
) -> f64 {
    let step = layer.forward(p, u, w);
    let links = step.links.as_ref().unwrap_or(u);
    let a: f64 = step.features.iter().zip(r).map(|(x, r)| r.re_tr_mul_adj(x)).sum();
    a + links.links().iter().zip(s).map(|(x, s)| s.re_tr_mul_adj(x)).sum::<f64>()
}

/// Checks `layer` with weights `params` on links `u` and input features `w`
/// (with `w.channels == layer.n_in()`), differences of step `h`; `samples`
/// entries of each kind are probed (spread over the vectors, ends included).
pub fn check_layer<L: LayerOp>(
    layer: &L,
    params: &[f64],
    u: &GaugeField<f64>,
    w: &Features<f64>,
    seed: u64,
    h: f64,
    samples: usize,
) -> LayerCheck {
    assert_eq!(w.channels, layer.n_in(), "input channels");
    assert_eq!(params.len(), layer.n_params(), "weights");
    let geom = u.geometry().clone();
    let vol = geom.volume();
    let mut rng = Rng::stream(seed, &[domain::TEST, 2]);
    let r: Vec<Mat3<f64>> = (0..vol * layer.n_out()).map(|_| random_matrix(&mut rng)).collect();
    let s: Vec<Mat3<f64>> = (0..u.links().len()).map(|_| random_matrix(&mut rng)).collect();
    let f = |p: &[f64], u: &GaugeField<f64>, w: &Features<f64>| probe(layer, p, u, w, &r, &s);
    let rel = |exact: f64, fd: f64| (exact - fd).abs() / (1.0 + fd.abs());
    // `samples` indices spread over 0..n.
    let spread = |n: usize| -> Vec<usize> {
        if n == 0 {
            return Vec::new();
        }
        let k = samples.clamp(1, n);
        (0..k).map(|i| if k == 1 { 0 } else { i * (n - 1) / (k - 1) }).collect()
    };

    let step = layer.forward(params, u, w);
    let g_out = Features::from_site_major(layer.n_out(), r.clone());
    let mut g_u = s.clone();
    let input =
        BackwardInput { params, links: u, input: w, tape: step.tape.as_deref(), g_out: &g_out, need_params: true };
    let (g_w, g_p) = layer.backward(input, &mut g_u);

    let mut out = LayerCheck::default();
    for i in spread(params.len()) {
        let (mut a, mut b) = (params.to_vec(), params.to_vec());
        a[i] += h;
        b[i] -= h;
        out.weights = out.weights.max(rel(g_p[i], (f(&a, u, w) - f(&b, u, w)) / (2.0 * h)));
    }
    let d = derivatives_from_gradients(u, &g_u);
    let nd = u.nd();
    for l in spread(u.links().len()) {
        let (x, mu) = (l / nd, l % nd);
        for a in 0..8 {
            let moved = |e: f64| moved_link(u, x, mu, a, e);
            let fd = (f(params, &moved(h), w) - f(params, &moved(-h), w)) / (2.0 * h);
            out.links = out.links.max(rel(d[l][a], fd));
        }
    }
    for k in spread(w.len()) {
        let e = random_matrix(&mut rng);
        let moved = |t: f64| {
            let mut v = w.clone();
            v.at_mut(k / w.channels, k % w.channels).add_scaled(&e, t);
            v
        };
        let fd = (f(params, u, &moved(h)) - f(params, u, &moved(-h))) / (2.0 * h);
        out.features = out.features.max(rel(g_w.at(k / w.channels, k % w.channels).re_tr_mul_adj(&e), fd));
    }

    let om = GaugeTransform::random(geom, seed ^ 0x9e37_79b9);
    let mut w_om = w.clone();
    for (k, m) in w_om.iter_mut().enumerate() {
        *m = om.apply_site(k / w.channels.max(1), m);
    }
    let moved = layer.forward(params, &om.apply(u), &w_om);
    let n_out = layer.n_out();
    for (k, (m, before)) in moved.features.iter().zip(step.features.iter()).enumerate() {
        let want = om.apply_site(k / n_out, before);
        out.covariance = out.covariance.max(m.dist(&want) / (1.0 + crate::real::sqrt_f64(want.norm_sqr())));
    }
    if let (Some(new), Some(old)) = (&moved.links, &step.links) {
        for (a, b) in new.links().iter().zip(om.apply(old).links()) {
            out.covariance = out.covariance.max(a.dist(b));
        }
    }
    out
}
