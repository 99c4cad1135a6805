//! L-Exp: `U_μ(x) → exp(i Σ_c β_{μ,c} [W_{x,c}]_ah) U_μ(x)` with real `β`
//! (`D × n` parameters) and `[X]_ah` the Hermitian traceless part
//! `(X − X†)/(2i) − Tr(X − X†)/(6i)`, whose su(3) components are
//! `h_a = Im Tr(λ^a X)`. The feature map passes through unchanged.
//!
//! Backward: with `E = exp(iQ)`, `q = Σ_c β_c h_c`, `U' = E U`:
//! `G_U += E† G_{U'}`, `G_E = G_{U'} U†`, `g_a = Re Tr(G_E† ∂E/∂q_a)` (the
//! eight derivatives of the exponential by dual numbers),
//! `∂/∂β_{μ,c} = g·h_c`, `G_{W_c} += Σ_μ β_{μ,c} 2i Σ_a g_a t^a`.

use super::features::Features;
use super::layer::{BackwardInput, LayerOp, Step};
use crate::dual::Dual;
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::su3::algebra::{antihermitian_components, hermitian};
use crate::su3::{exp_components, Complex, Mat3, Su3Alg};
use alloc::vec::Vec;

/// An L-Exp layer reading `n` channels on a `nd`-dimensional lattice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lexp {
    pub n: usize,
    pub nd: usize,
}

impl LayerOp for Lexp {
    fn kind(&self) -> &'static str {
        "lexp"
    }
    fn n_in(&self) -> usize {
        self.n
    }
    fn n_out(&self) -> usize {
        self.n
    }
    fn n_params(&self) -> usize {
        n_params(self.nd, self.n)
    }
    /// `[D, n]`: `β_{μ,c}`, starting at zero (the identity map).
    fn weight_shape(&self) -> Option<Vec<usize>> {
        Some(alloc::vec![self.nd, self.n])
    }
    fn forward<T: Real>(&self, params: &[f64], links: &GaugeField<T>, w: &Features<T>) -> Step<T> {
        Step { features: w.clone(), links: Some(forward(params, links, w)), tape: None }
    }
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, g_u: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>) {
        let mut g_in = b.g_out.clone();
        let (g_old, gp) = backward(b.params, b.links, b.input, g_u, &mut g_in);
        *g_u = g_old;
        (g_in, gp)
    }
}

pub fn n_params(nd: usize, n: usize) -> usize {
    nd * n
}

fn generator<T: Real>(params: &[f64], w: &[Mat3<T>], mu: usize) -> Su3Alg<T> {
    let n = w.len();
    let mut q = [T::zero(); 8];
    for (c, m) in w.iter().enumerate() {
        let h = antihermitian_components(m);
        for a in 0..8 {
            q[a] += h[a].mul_f64(params[mu * n + c]);
        }
    }
    q
}

/// The updated links.
pub fn forward<T: Real>(params: &[f64], u: &GaugeField<T>, w: &Features<T>) -> GaugeField<T> {
    let mut out = u.clone();
    out.for_each_link_mut(|x, mu, l| *l = exp_components(&generator(params, w.site(x), mu)) * *l);
    out
}

/// Given the gradient for the updated links `g_new`, returns the gradient for
/// the old links and for the parameters, and adds the `W` gradient to `g_w`.
pub fn backward<T: Real>(
    params: &[f64],
    u: &GaugeField<T>,
    w: &Features<T>,
    g_new: &[Mat3<T>],
    g_w: &mut Features<T>,
) -> (Vec<Mat3<T>>, Vec<T>) {
    let nd = u.nd();
    let n = w.channels;
    let vol = u.geometry().volume();
    struct SiteOut<T> {
        g_links: Vec<Mat3<T>>,
        g_w: Vec<Mat3<T>>,
        g_p: Vec<T>,
    }
    let outs: Vec<SiteOut<T>> = crate::par::map_range(vol, |x| {
        let mut so = SiteOut {
            g_links: Vec::with_capacity(nd),
            g_w: alloc::vec![Mat3::zero(); n],
            g_p: alloc::vec![T::zero(); nd * n],
        };
        let h: Vec<Su3Alg<T>> = w.site(x).iter().map(antihermitian_components).collect();
        for mu in 0..nd {
            let q = generator(params, w.site(x), mu);
            let e = exp_components(&q);
            let gl = g_new[x * nd + mu];
            so.g_links.push(e.adj_mul(&gl));
            let ge = gl.mul_adj(u.link(x, mu));
            let mut g = [T::zero(); 8];
            for a in 0..8 {
                let qd: Su3Alg<Dual<T>> =
                    core::array::from_fn(|b| Dual::new(q[b], if a == b { T::one() } else { T::zero() }));
                let de = exp_components(&qd);
                let mut t = Mat3::<T>::zero();
                for i in 0..3 {
                    for j in 0..3 {
                        t.m[i][j] = Complex::new(de.m[i][j].re.d, de.m[i][j].im.d);
                    }
                }
                g[a] = t.re_tr_mul_adj(&ge);
            }
            let gm = hermitian(&g).scale_c(Complex::new(T::zero(), T::from_f64(2.0)));
            for c in 0..n {
                so.g_p[mu * n + c] = (0..8).map(|a| g[a] * h[c][a]).fold(T::zero(), |s, v| s + v);
                so.g_w[c] += gm.scale_f64(params[mu * n + c]);
            }
        }
        so
    });
    let mut g_links = Vec::with_capacity(vol * nd);
    let mut g_p = alloc::vec![T::zero(); nd * n];
    for (x, so) in outs.into_iter().enumerate() {
        g_links.extend(so.g_links);
        for c in 0..n {
            *g_w.at_mut(x, c) += so.g_w[c];
        }
        for (a, b) in g_p.iter_mut().zip(so.g_p) {
            *a += b;
        }
    }
    (g_links, g_p)
}
