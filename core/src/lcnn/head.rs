//! Trace and the gauge-invariant read-out: per site, the features
//! `(Re Tr W_0, Im Tr W_0, Re Tr W_1, …)` (lge-cnn's `LTrace` order; without
//! `imag` only the real parts) go through a small dense network
//! (`Linear → f → … → Linear(·, 1)`, PyTorch `Linear` weight layout
//! `[out, in]` then bias), and the action is the sum over sites.
//!
//! With `quadratic`, every site's output also gets the degree-2 terms of its
//! features, `Σ_{i≤j} q_ij f_i f_j` (multi-trace terms such as
//! `(Re Tr W_i)²`, which products of matrices inside the L-CB layers cannot
//! form: the classical FP parametrisations are polynomials in the traces of
//! smeared plaquettes). The `n_f (n_f + 1)/2` coefficients `q_ij` follow the
//! dense layers' parameters, packed row by row over the upper triangle
//! (`(0,0), (0,1), …, (0,n_f−1), (1,1), …`), `f` in the feature order above.

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
    /// Add `Σ_{i≤j} q_ij f_i f_j` to every site's output.
    pub quadratic: bool,
}

impl HeadShape {
    /// Layer sizes from the trace features to the single output.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = alloc::vec![self.n_features()];
        s.extend(&self.hidden);
        s.push(1);
        s
    }
    /// Trace features per site.
    pub fn n_features(&self) -> usize {
        self.n_in * if self.imag { 2 } else { 1 }
    }
    /// Parameters of the dense layers (the quadratic coefficients follow them).
    pub fn n_dense_params(&self) -> usize {
        self.sizes().windows(2).map(|w| w[1] * w[0] + w[1]).sum()
    }
    /// Quadratic coefficients `q_ij`, `i ≤ j` (0 without `quadratic`).
    pub fn n_quadratic(&self) -> usize {
        let n = self.n_features();
        if self.quadratic {
            n * (n + 1) / 2
        } else {
            0
        }
    }
    pub fn n_params(&self) -> usize {
        self.n_dense_params() + self.n_quadratic()
    }
}

/// `Σ_{i≤j} q_ij f_i f_j`, `q` packed over the upper triangle.
fn quadratic_form<T: Real>(q: &[f64], f: &[T]) -> T {
    let mut s = T::zero();
    let mut k = 0;
    for i in 0..f.len() {
        // f_i Σ_{j≥i} q_ij f_j
        let mut row = T::zero();
        for &fj in &f[i..] {
            row += fj.mul_f64(q[k]);
            k += 1;
        }
        s += f[i] * row;
    }
    s
}

/// Adds `seed · ∂/∂f` and `seed · ∂/∂q` of [`quadratic_form`] to `g_f` and `g_q`.
fn quadratic_backward<T: Real>(q: &[f64], f: &[T], seed: T, g_f: &mut [T], g_q: &mut [T]) {
    let mut k = 0;
    for i in 0..f.len() {
        let sf_i = seed * f[i];
        for j in i..f.len() {
            g_q[k] += sf_i * f[j];
            // ∂(q f_i f_j)/∂f_i = q f_j and ∂/∂f_j = q f_i (both, 2 q f_i, when i = j)
            g_f[i] += (seed * f[j]).mul_f64(q[k]);
            g_f[j] += sf_i.mul_f64(q[k]);
            k += 1;
        }
    }
}

/// The trace features of one site, in the order documented above.
pub(super) fn features<T: Real>(h: &HeadShape, w: &[Mat3<T>]) -> Vec<T> {
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

/// `head(x)` at one site: the dense layers' output plus the quadratic form.
fn site_output<T: Real>(h: &HeadShape, params: &[f64], f: Vec<T>) -> T {
    let quad = if h.quadratic { quadratic_form(&params[h.n_dense_params()..], &f) } else { T::zero() };
    site_forward(h, params, f).last().unwrap().1[0] + quad
}

/// `Σ_x head(x)`.
pub fn forward<T: Real>(h: &HeadShape, params: &[f64], w: &Features<T>) -> T {
    let vol = w.volume();
    crate::par::sum(vol, |x| site_output(h, params, features(h, w.site(x))))
}

/// `head(x)` for every site.
pub fn forward_sites<T: Real>(h: &HeadShape, params: &[f64], w: &Features<T>) -> Vec<T> {
    crate::par::map_range(w.volume(), |x| site_output(h, params, features(h, w.site(x))))
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
            let mut off = h.n_dense_params();
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
            if h.quadratic {
                let nd = h.n_dense_params();
                // layers[0].1: the trace features themselves.
                quadratic_backward(&params[nd..], &layers[0].1, seed.at(x), &mut delta, &mut gp[nd..]);
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
