//! L-Act: `W_{x,c} → f(a_c Re Tr W_{x,c} + b_c) W_{x,c}` with a scalar
//! nonlinearity `f` and learnable per-channel `a_c`, `b_c` (the form of
//! qcd_ml's `LGE_ReTrAct`). Gauge covariant: the factor is gauge invariant.
//!
//! Backward with `z = a Re Tr W + b`, `s = f(z)`, `ρ = Re Tr(G† W)`:
//! `G_W = s G + ρ f'(z) a 1`, `∂/∂a = ρ f'(z) Re Tr W`, `∂/∂b = ρ f'(z)`.

use super::activation::Activation;
use super::features::Features;
use super::layer::{BackwardInput, LayerOp, Step};
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::rng::Rng;
use crate::su3::{Complex, Mat3};
use alloc::vec::Vec;

/// An L-Act layer on `n` channels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lact {
    pub n: usize,
    pub activation: Activation,
}

impl LayerOp for Lact {
    fn kind(&self) -> &'static str {
        "lact"
    }
    fn n_in(&self) -> usize {
        self.n
    }
    fn n_out(&self) -> usize {
        self.n
    }
    fn n_params(&self) -> usize {
        n_params(self.n)
    }
    /// `[2, n]`: the slopes `a_c`, then the offsets `b_c`.
    fn weight_shape(&self) -> Option<Vec<usize>> {
        Some(alloc::vec![2, self.n])
    }
    /// `a_c = 0.3`, `b_c = 0`.
    fn init_weights(&self, p: &mut [f64], _: &mut Rng, _: f64) {
        p[..self.n].fill(0.3);
        p[self.n..].fill(0.0);
    }
    fn forward<T: Real>(&self, params: &[f64], _: &GaugeField<T>, w: &Features<T>) -> Step<T> {
        Step::features(forward(self.activation, params, w))
    }
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, _: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>) {
        backward(self.activation, b.params, b.input, b.g_out)
    }
}

/// The offset `b` with `f(b) = 1` exactly, so that `a = 0`, `b` makes the layer
/// the identity (for `identity` and `relu`; the other activations reach 1 only
/// approximately or never).
pub fn identity_offset(f: Activation) -> Option<f64> {
    match f {
        Activation::Identity | Activation::Relu => Some(1.0),
        _ => None,
    }
}

/// Parameters: `a_0..a_{n−1}, b_0..b_{n−1}`.
pub fn n_params(n: usize) -> usize {
    2 * n
}

pub fn forward<T: Real>(f: Activation, params: &[f64], w: &Features<T>) -> Features<T> {
    let n = w.channels;
    let mut out = w.clone();
    out.for_each_site_mut(|_, o| {
        for (c, m) in o.iter_mut().enumerate() {
            let z = m.re_tr().mul_f64(params[c]) + T::from_f64(params[n + c]);
            *m = m.scale(f.eval(z).0);
        }
    });
    out
}

pub fn backward<T: Real>(f: Activation, params: &[f64], w: &Features<T>, g_out: &Features<T>) -> (Features<T>, Vec<T>) {
    let n = w.channels;
    let vol = w.volume();
    let mut g_w = Features::zeros(vol, n);
    let mut g_p = alloc::vec![T::zero(); 2 * n];
    // Per-site parts, then summed in site order (thread-independent).
    let parts: Vec<Vec<(T, T)>> = crate::par::map_range(vol, |x| {
        (0..n)
            .map(|c| {
                let (wm, g) = (w.at(x, c), g_out.at(x, c));
                let tr = wm.re_tr();
                let (_, d) = f.eval(tr.mul_f64(params[c]) + T::from_f64(params[n + c]));
                let rho = wm.re_tr_mul_adj(g);
                (rho * d * tr, rho * d)
            })
            .collect()
    });
    g_w.for_each_site_mut(|x, gw| {
        for (c, gc) in gw.iter_mut().enumerate() {
            let (wm, g) = (w.at(x, c), g_out.at(x, c));
            let tr = wm.re_tr();
            let (s, d) = f.eval(tr.mul_f64(params[c]) + T::from_f64(params[n + c]));
            let rho = wm.re_tr_mul_adj(g);
            let mut m = g.scale(s);
            let diag = (rho * d).mul_f64(params[c]);
            for i in 0..3 {
                m.m[i][i] += Complex::new(diag, T::zero());
            }
            *gc = m;
        }
    });
    for site in parts {
        for (c, (ga, gb)) in site.into_iter().enumerate() {
            g_p[c] += ga;
            g_p[n + c] += gb;
        }
    }
    (g_w, g_p)
}
