//! Live L-CNN training in the page: FP data of small configurations computed
//! in the browser, Adam steps, and the gauge-symmetry demonstration against an
//! ordinary (not gauge-equivariant) model.

use fpa_core::action::{Action, Wilson};
use fpa_core::lattice::{GaugeField, GaugeTransform, Geometry};
use fpa_core::lcnn::train::{batch_loss, Adam, LossWeights, Sample};
use fpa_core::lcnn::{Model, ModelSpec};
use fpa_core::mc::WilsonChain;
use fpa_core::rg::{FixedPoint, FixedPointResult, FixedPointSettings};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

const BETAS: [f64; 4] = [5.5, 6.0, 6.5, 7.0];

/// An L-CNN learning the FP action of 2⁴ configurations.
#[wasm_bindgen]
pub struct Learner {
    geom: Arc<Geometry>,
    samples: Vec<Sample>,
    pending: Vec<(f64, u64)>,
    model: Model,
    params: Vec<f64>,
    adam: Adam,
    steps: usize,
    losses: Vec<f64>,
    baseline: Option<Vec<f64>>,
}

/// Per-configuration features of the ordinary model: the raw link entries
/// (real and imaginary parts) summed over sites, and a constant.
fn raw_features(u: &GaugeField<f64>) -> Vec<f64> {
    let nd = u.nd();
    let mut f = vec![0.0; nd * 18 + 1];
    for (l, m) in u.links().iter().enumerate() {
        for (i, z) in m.m.iter().flatten().enumerate() {
            f[(l % nd) * 18 + 2 * i] += z.re;
            f[(l % nd) * 18 + 2 * i + 1] += z.im;
        }
    }
    f[nd * 18] = 1.0;
    f
}

/// A Wilson configuration at `beta` (hot start, `sweeps` compound sweeps of one heatbath and
/// two overrelaxation sweeps) and the result of its FP minimisation (default blocking, Wilson
/// on the fine lattice), converged or not.
pub(crate) fn wilson_config_with_fp(
    geom: &Arc<Geometry>,
    beta: f64,
    seed: u64,
    sweeps: usize,
) -> Result<(GaugeField<f64>, FixedPointResult), JsError> {
    let mut c = WilsonChain::new(GaugeField::hot(geom.clone(), seed), beta, 2, seed, 0)
        .map_err(|e| JsError::new(&e.to_string()))?;
    for _ in 0..sweeps {
        c.step();
    }
    let fp = FixedPoint::new(geom.clone(), FixedPointSettings::default(), &Wilson)
        .map_err(|e| JsError::new(&e.to_string()))?;
    let r = fp.solve(c.field(), None).map_err(|e| JsError::new(&e.to_string()))?;
    Ok((c.into_field(), r))
}

/// Solves `a x = b` (dense, Gaussian elimination with partial pivoting).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap();
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        x[r] = (b[r] - (r + 1..n).map(|k| a[r][k] * x[k]).sum::<f64>()) / a[r][r];
    }
    x
}

#[wasm_bindgen]
impl Learner {
    /// `per_beta` configurations at each of β_wil = 5.5, 6.0, 6.5, 7.0 (added one
    /// at a time by [`Self::add_config`]).
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u32, per_beta: u32) -> Result<Learner, JsError> {
        if per_beta == 0 || per_beta > 16 {
            return Err(JsError::new("configurations per coupling must be between 1 and 16"));
        }
        let geom = Arc::new(Geometry::new(&[2, 2, 2, 2]).unwrap());
        let model = Model::new(ModelSpec { init_scale: 0.1, ..ModelSpec::lcb_stack(&[(4, 2), (4, 1)]) })
            .map_err(|e| JsError::new(&e.to_string()))?;
        let params = model.init_params(seed as u64);
        let pending = BETAS
            .iter()
            .flat_map(|&b| (0..per_beta).map(move |i| (b, seed as u64 * 100 + i as u64 + (b * 10.0) as u64 * 1000)))
            .collect();
        Ok(Learner {
            geom,
            samples: Vec::new(),
            pending,
            adam: Adam::new(params.len()),
            model,
            params,
            steps: 0,
            losses: Vec::new(),
            baseline: None,
        })
    }

    /// Generates the next configuration and its FP data; returns how many remain.
    pub fn add_config(&mut self) -> Result<u32, JsError> {
        let Some((beta, seed)) = self.pending.pop() else { return Ok(0) };
        let (field, r) = wilson_config_with_fp(&self.geom, beta, seed, 30)?;
        if r.report.converged {
            self.samples.push(Sample { links: field, a_fp: r.action, d_fp: r.derivative, beta, weight: 1.0 });
        }
        Ok(self.pending.len() as u32)
    }

    pub fn samples(&self) -> u32 {
        self.samples.len() as u32
    }

    /// `steps` full-batch Adam steps; returns the last `[L1, L2]`.
    pub fn train(&mut self, steps: u32) -> Result<Vec<f64>, JsError> {
        if self.samples.len() < 2 {
            return Err(JsError::new("generate at least two configurations first"));
        }
        let batch: Vec<&Sample> = self.samples.iter().collect();
        let w = LossWeights::new(1.0, 1.0);
        let mut last = vec![f64::NAN, f64::NAN];
        for _ in 0..steps {
            let (l, g) = batch_loss(&self.model, &self.params, &batch, w, true);
            let n = l.len() as f64;
            last = vec![l.iter().map(|x| x.l1).sum::<f64>() / n, l.iter().map(|x| x.l2).sum::<f64>() / n];
            let lr = 4e-3 * 0.1f64.powf((self.steps as f64 / 300.0).min(1.0));
            self.adam.step(&mut self.params, &g.unwrap(), lr);
            self.steps += 1;
            self.losses.extend_from_slice(&last);
        }
        Ok(last)
    }

    /// `[L1, L2]` of every step so far, interleaved.
    pub fn losses(&self) -> Vec<f64> {
        self.losses.clone()
    }

    /// `[A_FP, A_L-CNN, A_Wilson]` of every configuration, interleaved.
    pub fn predictions(&self) -> Vec<f64> {
        self.samples
            .iter()
            .flat_map(|s| [s.a_fp, self.model.action(&self.params, &s.links), Wilson.value(&s.links)])
            .collect()
    }

    /// Fits the ordinary model (a linear map of the raw link entries, summed
    /// over sites: a 1x1 convolution without gauge equivariance) to A_FP by
    /// ridge regression.
    pub fn fit_baseline(&mut self) -> Result<(), JsError> {
        if self.samples.len() < 2 {
            return Err(JsError::new("generate at least two configurations first"));
        }
        let x: Vec<Vec<f64>> = self.samples.iter().map(|s| raw_features(&s.links)).collect();
        let n = x[0].len();
        let mut a = vec![vec![0.0; n]; n];
        let mut b = vec![0.0; n];
        for (xi, s) in x.iter().zip(&self.samples) {
            for i in 0..n {
                b[i] += xi[i] * s.a_fp;
                for j in 0..n {
                    a[i][j] += xi[i] * xi[j];
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += 1e-3;
        }
        self.baseline = Some(solve(a, b));
        Ok(())
    }

    /// On configuration 0 and a random gauge transformation of it:
    /// `[A_L-CNN before, after, A_ordinary before, after, A_FP]`.
    pub fn gauge_demo(&mut self, seed: u32) -> Result<Vec<f64>, JsError> {
        if self.baseline.is_none() {
            self.fit_baseline()?;
        }
        let w = self.baseline.as_ref().unwrap();
        let s = &self.samples[0];
        let v = GaugeTransform::random(self.geom.clone(), seed as u64).apply(&s.links);
        let lin = |u: &GaugeField<f64>| raw_features(u).iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
        Ok(vec![
            self.model.action(&self.params, &s.links),
            self.model.action(&self.params, &v),
            lin(&s.links),
            lin(&v),
            s.a_fp,
        ])
    }
}
