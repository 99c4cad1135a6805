//! Trace and the gauge-invariant read-out: per site, the features
//! `(Re Tr W_0, Im Tr W_0, Re Tr W_1, …)` (lge-cnn's `LTrace` order; without
//! `imag` only the real parts) go through a small dense network
//! (`Linear → f → … → Linear(·, 1)`, PyTorch `Linear` weight layout
//! `[out, in]` then bias), and the action is the sum over sites.

use super::activation::Activation;
use super::features::Features;
use crate::real::Real;
use crate::su3::{Complex, Mat3};
use alloc::vec::Vec;

/// Shape of the read-out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadShape {
    pub n_in: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub imag: bool,
}

impl HeadShape {
    /// Layer sizes from the trace features to the single output.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = alloc::vec![self.n_in * if self.imag { 2 } else { 1 }];
        s.extend(&self.hidden);
        s.push(1);
        s
    }
    pub fn n_params(&self) -> usize {
        self.sizes().windows(2).map(|w| w[1] * w[0] + w[1]).sum()
    }
}

fn features<T: Real>(h: &HeadShape, w: &[Mat3<T>]) -> Vec<T> {
    let mut f = Vec::with_capacity(2 * w.len());
    for m in w {
        let t = m.trace();
        f.push(t.re);
        if h.imag {
            f.push(t.im);
        }
    }
    f
}

/// Forward through the dense layers at one site: `(z, a)` of every layer
/// (the input features first, with `z = a`; hidden layers `a = f(z)`; the
/// output layer `a = z`).
fn site_forward<T: Real>(h: &HeadShape, params: &[f64], f: Vec<T>) -> Vec<(Vec<T>, Vec<T>)> {
    let sizes = h.sizes();
    let mut layers = alloc::vec![(f.clone(), f)];
    let mut off = 0;
    for (l, win) in sizes.windows(2).enumerate() {
        let (ni, no) = (win[0], win[1]);
        let a = &layers.last().unwrap().1;
        let z: Vec<T> = (0..no)
            .map(|o| {
                let mut s = T::from_f64(params[off + no * ni + o]);
                for i in 0..ni {
                    s += a[i].mul_f64(params[off + o * ni + i]);
                }
                s
            })
            .collect();
        let act = if l + 2 < sizes.len() { z.iter().map(|&v| h.activation.eval(v).0).collect() } else { z.clone() };
        layers.push((z, act));
        off += no * ni + no;
    }
    layers
}

/// `Σ_x head(x)`.
pub fn forward<T: Real>(h: &HeadShape, params: &[f64], w: &Features<T>) -> T {
    let vol = w.volume();
    crate::par::sum(vol, |x| site_forward(h, params, features(h, w.site(x))).last().unwrap().1[0])
}

/// `head(x)` for every site.
pub fn forward_sites<T: Real>(h: &HeadShape, params: &[f64], w: &Features<T>) -> Vec<T> {
    crate::par::map_range(w.volume(), |x| site_forward(h, params, features(h, w.site(x))).last().unwrap().1[0])
}

/// The weight of every site's output in the function being differentiated.
#[derive(Clone, Copy, Debug)]
pub enum Seed<'a, T> {
    /// `seed · Σ_x head(x)`
    Uniform(T),
    /// `Σ_x seed_x · head(x)`
    Sites(&'a [T]),
}

impl<T: Real> Seed<'_, T> {
    #[inline]
    fn at(&self, x: usize) -> T {
        match self {
            Seed::Uniform(s) => *s,
            Seed::Sites(v) => v[x],
        }
    }
}

const GRAD_CHUNK: usize = 64;

/// Gradient of `Σ_x seed_x · head(x)` with respect to `W` and the parameters.
pub fn backward<T: Real>(h: &HeadShape, params: &[f64], w: &Features<T>, seed: Seed<T>) -> (Features<T>, Vec<T>) {
    let vol = w.volume();
    let sizes = h.sizes();
    let n = w.channels;
    let mut g_w = Features::zeros(vol, n);
    let parts: Vec<(Vec<Vec<T>>, Vec<T>)> = crate::par::map_range(vol.div_ceil(GRAD_CHUNK), |ch| {
        let mut gp = alloc::vec![T::zero(); h.n_params()];
        let mut g_feats = Vec::new();
        for x in ch * GRAD_CHUNK..((ch + 1) * GRAD_CHUNK).min(vol) {
            let layers = site_forward(h, params, features(h, w.site(x)));
            // delta = dA/dz of the current layer's output.
            let mut delta = alloc::vec![seed.at(x)];
            let mut off = h.n_params();
            for l in (0..sizes.len() - 1).rev() {
                let (ni, no) = (sizes[l], sizes[l + 1]);
                off -= no * ni + no;
                let a = &layers[l].1;
                for o in 0..no {
                    gp[off + no * ni + o] += delta[o];
                    for i in 0..ni {
                        gp[off + o * ni + i] += delta[o] * a[i];
                    }
                }
                let mut prev: Vec<T> = (0..ni)
                    .map(|i| (0..no).fold(T::zero(), |s, o| s + delta[o].mul_f64(params[off + o * ni + i])))
                    .collect();
                if l > 0 {
                    for (p, &z) in prev.iter_mut().zip(&layers[l].0) {
                        *p *= h.activation.eval(z).1;
                    }
                }
                delta = prev;
            }
            g_feats.push(delta);
        }
        (g_feats, gp)
    });
    let mut g_params = alloc::vec![T::zero(); h.n_params()];
    let mut x = 0;
    for (feats, gp) in parts {
        for (a, b) in g_params.iter_mut().zip(gp) {
            *a += b;
        }
        for gf in feats {
            for c in 0..n {
                // f = Re Tr W → G = f̄·1;  f = Im Tr W → G = f̄·(i 1)
                let (gre, gim) = if h.imag { (gf[2 * c], gf[2 * c + 1]) } else { (gf[c], T::zero()) };
                *g_w.at_mut(x, c) = Mat3::scalar(Complex::new(gre, gim));
            }
            x += 1;
        }
    }
    (g_w, g_params)
}
