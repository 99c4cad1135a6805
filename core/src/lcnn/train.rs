//! Training an L-CNN on fixed point action data.
//!
//! Losses per configuration (HIMW, Lattice 2023, §3), with `V = L⁴` sites:
//! * `L₁ = |A_FP − A_LCNN| / V` (action density);
//! * `L₂ = Σ_{x,μ,a} (D_FP − D_LCNN)² / (8 (N_c²−1) V)` ("invariant loss").
//!
//! The training loss is `w₁ ⟨L₁⟩ + w₂ ⟨L₂⟩` over a batch. The weight gradient
//! of `L₂` needs `∂/∂θ Σ r·D_LCNN` with the residual `r = D_LCNN − D_FP` held
//! fixed; since `Σ r·D = d/dε A[exp(iε r) U]`, it is obtained forward-over-
//! reverse: the same forward and backward passes run on dual numbers whose
//! tangent carries the link perturbation `i r·t U`, and the tangent part of
//! the weight gradient is the term wanted.

use super::model::Model;
use crate::dual::Dual;
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::rg::kernel::derivatives_from_gradients;
use crate::rng::{domain, Rng};
use crate::su3::algebra::anti_hermitian;
use crate::su3::{Complex, Mat3, Su3Alg};
use alloc::vec::Vec;

/// `8 (N_c² − 1)` of the invariant loss normalisation.
pub const L2_NORM: f64 = 64.0;

/// The invariant loss `Σ_{x,μ,a} (D − D_FP)² / (64 V)` of derivatives `d` against `d_fp`.
pub fn invariant_loss(d: &[Su3Alg<f64>], d_fp: &[Su3Alg<f64>], vol: f64) -> f64 {
    d.iter().zip(d_fp).flat_map(|(a, b)| (0..8).map(move |c| (a[c] - b[c]) * (a[c] - b[c]))).sum::<f64>()
        / (L2_NORM * vol)
}

/// One training example: a coarse configuration and its FP data.
#[derive(Clone, Debug)]
pub struct Sample {
    pub links: GaugeField<f64>,
    pub a_fp: f64,
    /// `D_FP[V]_{x,μ,a}` per link.
    pub d_fp: Vec<Su3Alg<f64>>,
    pub beta: f64,
    /// How many times the configuration counts (`≥ 0`, finite; 1 for plain data): it
    /// multiplies the configuration's loss and gradient in a batch, its share of the
    /// epoch and validation means ([`super::trainer::mean_losses`]) and its equations in
    /// the read-out fit (rows times `√weight`), as if it were in the data `weight` times
    /// (`fpa train --data DIR@W`).
    pub weight: f64,
}

/// The value term `L₁` of one configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueLoss {
    /// `|A − A_FP| / V`, the absolute error of the action density (HIMW's `L₁`).
    #[default]
    Density,
    /// `((A − A_FP) / A_FP)²`, the squared relative error (the measure the
    /// evaluation reports; smooth in the weights, and smooth configurations
    /// count as much as rough ones). Needs `A_FP > 0`.
    RelativeSquared,
}

impl ValueLoss {
    /// By name: `density` or `relative-squared` (also `relative_squared`).
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "density" => Some(ValueLoss::Density),
            "relative-squared" | "relative_squared" => Some(ValueLoss::RelativeSquared),
            _ => None,
        }
    }

    /// Whether this form can use a configuration with FP action `a_fp`: the
    /// relative form divides by it and needs `A_FP > 0` (false for NaN too).
    pub fn accepts(self, a_fp: f64) -> bool {
        self != ValueLoss::RelativeSquared || a_fp > 0.0
    }

    /// The loss for a prediction `a` against `a_fp` on `vol` sites, and its
    /// derivative with respect to `a`.
    pub fn eval(self, a: f64, a_fp: f64, vol: f64) -> (f64, f64) {
        match self {
            ValueLoss::Density => {
                let sign = if a > a_fp {
                    1.0
                } else if a < a_fp {
                    -1.0
                } else {
                    0.0
                };
                ((a - a_fp).abs() / vol, sign / vol)
            }
            ValueLoss::RelativeSquared => {
                let r = (a - a_fp) / a_fp;
                (r * r, 2.0 * r / a_fp)
            }
        }
    }
}

/// Weights of the two loss terms, and the form of the value term.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossWeights {
    pub w1: f64,
    pub w2: f64,
    /// Absent in files written before it existed: [`ValueLoss::Density`].
    #[serde(default)]
    pub value: ValueLoss,
}

impl LossWeights {
    /// HIMW's loss `w₁ L₁ + w₂ L₂` with `L₁` the action-density error.
    pub const fn new(w1: f64, w2: f64) -> Self {
        LossWeights { w1, w2, value: ValueLoss::Density }
    }

    /// `w₁ L₁ + w₂ L₂`.
    pub fn total(&self, (l1, l2): (f64, f64)) -> f64 {
        self.w1 * l1 + self.w2 * l2
    }
}

/// Losses and prediction for one configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleLoss {
    /// The value term, in the form of [`LossWeights::value`].
    pub l1: f64,
    pub l2: f64,
    pub a_pred: f64,
    pub a_true: f64,
}

/// The model's action, its parameter gradient and link derivatives at `u`
/// (`A[1]` subtracted when the spec asks for it).
pub fn action_and_gradients<T: Real>(
    model: &Model,
    params: &[f64],
    trivial: &(f64, Vec<f64>),
    u: &GaugeField<T>,
) -> (f64, Vec<f64>, Vec<Su3Alg<f64>>) {
    let (a_raw, tape) = model.forward_raw(params, u);
    let (gp, gu) = model.backward(params, &tape, T::one());
    let vol = u.geometry().volume() as f64;
    let mut a = a_raw.to_f64();
    let mut gp: Vec<f64> = gp.into_iter().map(|g| g.to_f64()).collect();
    if model.spec.subtract_trivial {
        a -= trivial.0 * vol;
        for (g, t) in gp.iter_mut().zip(&trivial.1) {
            *g -= t * vol;
        }
    }
    (a, gp, to_f64(derivatives_from_gradients(u, &gu)))
}

fn to_f64<T: Real>(d: Vec<Su3Alg<T>>) -> Vec<Su3Alg<f64>> {
    d.into_iter().map(|x| x.map(|c| c.to_f64())).collect()
}

/// `∂/∂θ Σ_l r_l · D_l` (with `r` fixed) by forward-over-reverse dual numbers.
pub fn directional_weight_gradient(model: &Model, params: &[f64], u: &GaugeField<f64>, r: &[Su3Alg<f64>]) -> Vec<f64> {
    directional_pass(model, params, u, r).into_iter().map(|g| g.d).collect()
}

/// The field `exp(iε r·t) U` as dual numbers: values `U`, tangents `i (r·t) U`,
/// so that any function evaluated on it carries `Σ_l r_l · D_l f` as its tangent.
pub fn tangent_field<T: Real>(u: &GaugeField<T>, r: &[Su3Alg<f64>]) -> GaugeField<Dual<T>> {
    let mut links: Vec<Mat3<Dual<T>>> = Vec::with_capacity(u.links().len());
    for (l, m) in u.links().iter().enumerate() {
        // d/dε exp(iε r·t) U = i (r·t) U
        let r_l: Su3Alg<T> = r[l].map(T::from_f64);
        let t = anti_hermitian(&r_l) * *m;
        let mut d = Mat3::zero();
        for i in 0..3 {
            for j in 0..3 {
                d.m[i][j] = Complex::new(Dual::new(m.m[i][j].re, t.m[i][j].re), Dual::new(m.m[i][j].im, t.m[i][j].im));
            }
        }
        links.push(d);
    }
    GaugeField::from_links(u.geometry().clone(), links)
}

/// The dual-number pass: values are `∂A_raw/∂θ`, tangents `∂/∂θ Σ r·D`.
fn directional_pass<T: Real>(model: &Model, params: &[f64], u: &GaugeField<T>, r: &[Su3Alg<f64>]) -> Vec<Dual<T>> {
    let (_, tape) = model.forward_raw(params, &tangent_field(u, r));
    model.backward(params, &tape, Dual::constant(T::one())).0
}

/// The scalar the training passes run in. The data, the weights, the
/// optimiser and the losses that select the model (initial and validation)
/// stay in `f64`; in `f32` the passes that give the training gradient move
/// half the bytes and use twice the SIMD lanes. Their result only steers the
/// optimiser: relative rounding ~1e-7 against loss terms of 1e-3 or more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F64,
    F32,
}

impl Precision {
    /// By name: `f64` or `f32`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "f64" => Some(Precision::F64),
            "f32" => Some(Precision::F32),
            _ => None,
        }
    }
}

/// Losses of one sample and, if asked, the gradient of `w₁L₁ + w₂L₂` (passes in `f64`).
pub fn sample_loss(
    model: &Model,
    params: &[f64],
    trivial: &(f64, Vec<f64>),
    s: &Sample,
    w: LossWeights,
    want_grad: bool,
) -> (SampleLoss, Option<Vec<f64>>) {
    sample_loss_in(model, params, trivial, s, &s.links, w, want_grad)
}

/// [`sample_loss`] with the passes run in `T` on `links` (the sample's links in `T`).
pub fn sample_loss_in<T: Real>(
    model: &Model,
    params: &[f64],
    trivial: &(f64, Vec<f64>),
    s: &Sample,
    links: &GaugeField<T>,
    w: LossWeights,
    want_grad: bool,
) -> (SampleLoss, Option<Vec<f64>>) {
    let vol = s.links.geometry().volume() as f64;
    let second_order = want_grad && w.w2 != 0.0;
    // With the second-order pass coming, its values give ∂A/∂θ: this pass needs only D.
    let (a, ga, d) = if second_order {
        let (a_raw, tape) = model.forward_raw(params, links);
        let g = model.backward_links(params, &tape, T::one());
        let a = a_raw.to_f64();
        let a = if model.spec.subtract_trivial { a - trivial.0 * vol } else { a };
        (a, Vec::new(), to_f64(derivatives_from_gradients(links, &g)))
    } else {
        action_and_gradients(model, params, trivial, links)
    };
    let r: Vec<Su3Alg<f64>> = d.iter().zip(&s.d_fp).map(|(p, t)| core::array::from_fn(|c| p[c] - t[c])).collect();
    let l2 = invariant_loss(&d, &s.d_fp, vol);
    // `dl1` is ∂L₁/∂A.
    let (l1, dl1) = w.value.eval(a, s.a_fp, vol);
    let loss = SampleLoss { l1, l2, a_pred: a, a_true: s.a_fp };
    if !want_grad {
        return (loss, None);
    }
    if !second_order {
        return (loss, Some(ga.iter().map(|x| w.w1 * dl1 * x).collect()));
    }
    let gd = directional_pass(model, params, links, &r);
    let c = w.w2 * 2.0 / (L2_NORM * vol);
    let sub = model.spec.subtract_trivial;
    let g = gd
        .iter()
        .zip(&trivial.1)
        .map(|(di, t)| {
            let ga = if sub { di.v.to_f64() - t * vol } else { di.v.to_f64() };
            w.w1 * dl1 * ga + c * di.d.to_f64()
        })
        .collect();
    (loss, Some(g))
}

/// Per-configuration losses and the gradient of the batch loss
/// `(1/n) Σ_i weight_i (w₁ L₁ + w₂ L₂)_i` over the `n` configurations of the batch
/// (samples in parallel, summed in order), in `f64`.
pub fn batch_loss(
    model: &Model,
    params: &[f64],
    batch: &[&Sample],
    w: LossWeights,
    want_grad: bool,
) -> (Vec<SampleLoss>, Option<Vec<f64>>) {
    batch_loss_with(model, params, batch, w, want_grad, Precision::F64, &LocalSamples)
}

/// One configuration's losses and, when asked for, the gradient of its loss.
pub type SampleResult = (SampleLoss, Option<Vec<f64>>);

/// Where the configurations of a batch are evaluated. The batch gradient is the sum of the
/// per-configuration gradients in batch order, whoever computed them, so an implementation
/// that spreads the work over processes (`fpa_cli::mpi`) gives the same bits as this process
/// alone ([`LocalSamples`]).
pub trait SampleMap {
    /// `batch.iter().map(f).collect()`, in batch order.
    fn map(&self, batch: &[&Sample], f: &(dyn Fn(&Sample) -> SampleResult + Sync)) -> Vec<SampleResult>;
}

/// Every configuration in this process, in parallel on the rayon pool when available.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalSamples;

impl SampleMap for LocalSamples {
    fn map(&self, batch: &[&Sample], f: &(dyn Fn(&Sample) -> SampleResult + Sync)) -> Vec<SampleResult> {
        crate::par::map_slice(batch, |s| f(s))
    }
}

/// [`batch_loss`] with the passes in the given precision and the configurations evaluated by
/// `samples` ([`LocalSamples`]: this process).
pub fn batch_loss_with(
    model: &Model,
    params: &[f64],
    batch: &[&Sample],
    w: LossWeights,
    want_grad: bool,
    precision: Precision,
    samples: &dyn SampleMap,
) -> (Vec<SampleLoss>, Option<Vec<f64>>) {
    let trivial = if model.spec.subtract_trivial {
        model.trivial_per_site(params)
    } else {
        (0.0, alloc::vec![0.0; params.len()])
    };
    let results = samples.map(batch, &|s: &Sample| match precision {
        Precision::F64 => sample_loss(model, params, &trivial, s, w, want_grad),
        Precision::F32 => sample_loss_in(model, params, &trivial, s, &s.links.cast::<f32>(), w, want_grad),
    });
    let mut grad = if want_grad { Some(alloc::vec![0.0; params.len()]) } else { None };
    let mut losses = Vec::with_capacity(batch.len());
    let inv = 1.0 / batch.len().max(1) as f64;
    for ((l, g), s) in results.into_iter().zip(batch) {
        losses.push(l);
        if let (Some(acc), Some(g)) = (grad.as_mut(), g) {
            // Exact for weight 1: plain data keep the bits they had before weights existed.
            let c = inv * s.weight;
            for (a, b) in acc.iter_mut().zip(g) {
                *a += c * b;
            }
        }
    }
    (losses, grad)
}

/// Adam (Kingma & Ba) with optional decoupled weight decay (AdamW) and AMSGrad.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub m: Vec<f64>,
    pub v: Vec<f64>,
    pub v_max: Vec<f64>,
    pub t: u64,
}

impl Adam {
    pub fn new(n: usize) -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: true,
            m: alloc::vec![0.0; n],
            v: alloc::vec![0.0; n],
            v_max: alloc::vec![0.0; n],
            t: 0,
        }
    }

    /// One update of `params` with gradient `g` and learning rate `lr`.
    pub fn step(&mut self, params: &mut [f64], g: &[f64], lr: f64) {
        self.t += 1;
        let b1t = 1.0 - libm::pow(self.beta1, self.t as f64);
        let b2t = 1.0 - libm::pow(self.beta2, self.t as f64);
        for i in 0..params.len() {
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g[i];
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g[i] * g[i];
            let v = if self.amsgrad {
                self.v_max[i] = self.v_max[i].max(self.v[i]);
                self.v_max[i]
            } else {
                self.v[i]
            };
            params[i] -= lr * self.weight_decay * params[i];
            params[i] -= lr * (self.m[i] / b1t) / (crate::real::sqrt_f64(v / b2t) + self.eps);
        }
    }
}

/// Learning rate over epochs.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    /// Cosine from `lr` to `lr·min_factor` over all epochs.
    Cosine {
        min_factor: f64,
    },
    /// Multiply by `gamma` every `every` epochs.
    Step {
        every: usize,
        gamma: f64,
    },
}

impl Schedule {
    /// The schedules of `fpa train --schedule` by name: `constant`, `cosine` (down to 1 % of
    /// the base rate) and `step` (halved every 10 epochs).
    pub fn named(name: &str) -> Option<Schedule> {
        match name {
            "constant" => Some(Schedule::Constant),
            "cosine" => Some(Schedule::Cosine { min_factor: 0.01 }),
            "step" => Some(Schedule::Step { every: 10, gamma: 0.5 }),
            _ => None,
        }
    }

    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine { min_factor } => {
                let t = epoch as f64 / (epochs.max(2) - 1) as f64;
                base * (min_factor + (1.0 - min_factor) * 0.5 * (1.0 + libm::cos(core::f64::consts::PI * t)))
            }
            Schedule::Step { every, gamma } => base * libm::pow(gamma, (epoch / every.max(1)) as f64),
        }
    }
}

/// A deterministic permutation of `0..n` for an epoch.
pub fn shuffled(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = Rng::stream(seed, &[domain::SHUFFLE, epoch]);
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        idx.swap(i, j);
    }
    idx
}

/// Mean squared error of per-site outputs against per-site targets, and its
/// parameter gradient (for regression tasks such as Wilson loops).
pub fn site_regression(
    model: &Model,
    params: &[f64],
    u: &GaugeField<f64>,
    targets: &[f64],
    want_grad: bool,
) -> (f64, Option<Vec<f64>>) {
    let (_, tape) = model.forward_raw(params, u);
    let out = model.site_outputs(params, &tape);
    let n = out.len() as f64;
    let err: Vec<f64> = out.iter().zip(targets).map(|(o, t)| o - t).collect();
    let mse = err.iter().map(|e| e * e).sum::<f64>() / n;
    if !want_grad {
        return (mse, None);
    }
    let seeds: Vec<f64> = err.iter().map(|e| 2.0 * e / n).collect();
    let (g, _) = model.backward_seeded(params, &tape, super::head::Seed::Sites(&seeds));
    (mse, Some(g))
}
