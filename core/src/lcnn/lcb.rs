//! The merged L-Conv + L-Bilin layer ("L-CB") of the reference code and of
//! HIMW 2024 (eq. 18), and plain L-Bilin as its kernel-1 case:
//!
//! `W'_{x,u} = Σ_{v,w} ω_{u,v,w} L_v(x) R_w(x)`
//!
//! * left factors `L = (W_1..W_n, W_1†..W_n†, 1)` — `2n+1` of them;
//! * right factors `R = (T W, (T W)†, 1)` where `T W` lists the transported
//!   copies: first every channel at `k = 0`, then for lattice axis
//!   `a = 0..D` (fpa direction `μ = D−1−a`, see below) the shifts
//!   `k = −1, −2, …` then `k = +1, +2, …` up to `|k| = K−1` (each a `dilation`
//!   of single transport steps), every block holding all `n` channels —
//!   `2nS+1` factors with `S = 1 + 2D(K−1)` (`1 + D(K−1)` without `symmetric`);
//! * weights `ω` of shape `[n_out, 2n+1, 2nS+1]`, real (as in lge-cnn) or complex.
//!
//! The orderings are those of lge-cnn's `LConvBilin`, so weights move between
//! the two codes unchanged. lge-cnn stores lattices row-major with the last
//! axis fastest; fpa's direction 0 (x) is fastest, so lge-cnn's axis `a` is
//! fpa's direction `D−1−a`.
//!
//! Backward (`δf = Re Tr(G† δX)`), with `tmp_{u,v} = Σ_w ω_{u,v,w} R_w` and
//! `H_{u,v} = L_v† G_u`: `G_{L_v} = Σ_u G_u tmp_{u,v}†`,
//! `G_{R_w} = Σ_{u,v} ω̄_{u,v,w} H_{u,v}`, `∂f/∂Re ω_{u,v,w} = Re Tr(H_{u,v}† R_w)`,
//! `∂f/∂Im ω_{u,v,w} = −Im Tr(H_{u,v}† R_w)`.

use super::features::Features;
use super::shifts::{ShiftTape, Shifts};
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::su3::{Complex, Mat3};
use alloc::vec::Vec;

/// Shape of an L-CB layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LcbShape {
    pub n_in: usize,
    pub n_out: usize,
    /// Kernel size K: shifts `|k| < K` (1 = no transport: plain L-Bilin).
    pub kernel: usize,
    pub dilation: usize,
    /// Shifts in both directions (lge-cnn `use_symmetric`).
    pub symmetric: bool,
    pub complex: bool,
    pub nd: usize,
}

impl LcbShape {
    /// The transported copies of the input.
    pub fn shifts(&self) -> Shifts {
        Shifts { nd: self.nd, kernel: self.kernel, dilation: self.dilation, symmetric: self.symmetric }
    }
    /// Number of transported blocks `S` (including the local one).
    pub fn blocks(&self) -> usize {
        self.shifts().blocks()
    }
    pub fn n_left(&self) -> usize {
        2 * self.n_in + 1
    }
    pub fn n_right(&self) -> usize {
        2 * self.n_in * self.blocks() + 1
    }
    /// Number of real parameters.
    pub fn n_params(&self) -> usize {
        self.n_out * self.n_left() * self.n_right() * if self.complex { 2 } else { 1 }
    }
    #[inline(always)]
    fn weight(&self, w: &[f64], u: usize, v: usize, r: usize) -> (f64, f64) {
        let i = (u * self.n_left() + v) * self.n_right() + r;
        if self.complex {
            (w[2 * i], w[2 * i + 1])
        } else {
            (w[i], 0.0)
        }
    }
}

/// What the backward pass needs from the forward pass.
#[derive(Clone, Debug)]
pub struct LcbTape<T> {
    shift_tape: ShiftTape<T>,
    /// All transported blocks `T W` (n·S channels), block-major; block 0 is the input.
    blocks: Features<T>,
}

#[inline(always)]
fn cmul<T: Real>(m: &Mat3<T>, (re, im): (f64, f64)) -> Mat3<T> {
    if im == 0.0 {
        m.scale_f64(re)
    } else {
        m.scale_c(Complex::new(T::from_f64(re), T::from_f64(im)))
    }
}

/// The left factors at one site.
fn left<T: Real>(w: &[Mat3<T>]) -> Vec<Mat3<T>> {
    let mut l = Vec::with_capacity(2 * w.len() + 1);
    l.extend_from_slice(w);
    l.extend(w.iter().map(|m| m.adj()));
    l.push(Mat3::identity());
    l
}

/// `tmp_{u,v} = Σ_w ω_{u,v,w} R_w` for all u, v at one site (R without the
/// trailing unit, which adds `ω·1`).
fn combine<T: Real>(s: &LcbShape, weights: &[f64], r: &[Mat3<T>], tmp: &mut Vec<Mat3<T>>) {
    let (nl, nr) = (s.n_left(), s.n_right());
    tmp.clear();
    for u in 0..s.n_out {
        for v in 0..nl {
            let mut acc = Mat3::zero();
            for (k, rk) in r.iter().enumerate() {
                let c = s.weight(weights, u, v, k);
                if c != (0.0, 0.0) {
                    acc += cmul(rk, c);
                }
            }
            let c = s.weight(weights, u, v, nr - 1);
            for i in 0..3 {
                acc.m[i][i] += Complex::new(T::from_f64(c.0), T::from_f64(c.1));
            }
            tmp.push(acc);
        }
    }
}

/// The right factors at one site, without the trailing unit.
fn right<T: Real>(blocks: &[Mat3<T>]) -> Vec<Mat3<T>> {
    let mut r = Vec::with_capacity(2 * blocks.len());
    r.extend_from_slice(blocks);
    r.extend(blocks.iter().map(|m| m.adj()));
    r
}

impl<T: Real> Mat3<T> {
    /// Multiplies by a plain `f64`.
    #[inline(always)]
    pub fn scale_f64(&self, s: f64) -> Self {
        let mut r = *self;
        for z in r.m.iter_mut().flatten() {
            z.re = z.re.mul_f64(s);
            z.im = z.im.mul_f64(s);
        }
        r
    }
}

/// Forward pass.
pub fn forward<T: Real>(
    s: &LcbShape,
    weights: &[f64],
    u: &GaugeField<T>,
    w: &Features<T>,
) -> (Features<T>, LcbTape<T>) {
    assert_eq!(w.channels, s.n_in);
    let vol = u.geometry().volume();
    let (blocks, shift_tape) = s.shifts().forward(u, w);
    let mut out = Features::zeros(vol, s.n_out);
    let nl = s.n_left();
    crate::par::for_each_chunk_mut(&mut out.data, s.n_out, |x, o| {
        let l = left(w.site(x));
        let r = right(blocks.site(x));
        let mut tmp = Vec::new();
        combine(s, weights, &r, &mut tmp);
        for (uo, ou) in o.iter_mut().enumerate() {
            let mut acc = tmp[uo * nl + nl - 1]; // L = 1
            for v in 0..nl - 1 {
                acc += l[v] * tmp[uo * nl + v];
            }
            *ou = acc;
        }
    });
    (out, LcbTape { shift_tape, blocks })
}

/// Sites per partial sum of the weight gradient (fixed: thread-independent sums).
const GRAD_CHUNK: usize = 32;

/// Backward pass: returns `G_W` and the weight gradient; adds link gradients to `g_u`.
pub fn backward<T: Real>(
    s: &LcbShape,
    weights: &[f64],
    u: &GaugeField<T>,
    tape: &LcbTape<T>,
    g_out: &Features<T>,
    g_u: &mut [Mat3<T>],
) -> (Features<T>, Vec<T>) {
    let w = &tape.blocks.select(0, s.n_in);
    let vol = u.geometry().volume();
    let (nl, nr, n, nb) = (s.n_left(), s.n_right(), s.n_in, s.blocks());
    // Per site: G_L (nl) and G_R (nr − 1); per chunk: weight gradient.
    struct SiteOut<T> {
        g_w: Vec<Mat3<T>>,
        g_blocks: Vec<Mat3<T>>,
    }
    let n_chunks = vol.div_ceil(GRAD_CHUNK);
    let per_chunk: Vec<(Vec<SiteOut<T>>, Vec<T>)> = crate::par::map_range(n_chunks, |ch| {
        let mut gw_acc = alloc::vec![T::zero(); s.n_params()];
        let mut outs = Vec::new();
        let mut tmp = Vec::new();
        for x in ch * GRAD_CHUNK..((ch + 1) * GRAD_CHUNK).min(vol) {
            let l = left(w.site(x));
            let r = right(tape.blocks.site(x));
            combine(s, weights, &r, &mut tmp);
            let g = g_out.site(x);
            let mut g_l = alloc::vec![Mat3::zero(); nl];
            let mut g_r = alloc::vec![Mat3::zero(); nr - 1];
            for uo in 0..s.n_out {
                for v in 0..nl {
                    g_l[v] += g[uo].mul_adj(&tmp[uo * nl + v]);
                    let h = l[v].adj_mul(&g[uo]); // H_{u,v} = L_v† G_u
                    for k in 0..nr {
                        let idx = (uo * nl + v) * nr + k;
                        // Re Tr(H† R_k) and Im Tr(H† R_k) (R_last = 1)
                        let (re, im) = if k < nr - 1 {
                            let rk = &r[k];
                            let mut re = T::zero();
                            let mut im = T::zero();
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (a, b) = (h.m[i][j], rk.m[i][j]);
                                    re += a.re * b.re + a.im * b.im;
                                    im += a.re * b.im - a.im * b.re;
                                }
                            }
                            (re, im)
                        } else {
                            let t = h.trace();
                            (t.re, -t.im)
                        };
                        if s.complex {
                            gw_acc[2 * idx] += re;
                            gw_acc[2 * idx + 1] += -im;
                        } else {
                            gw_acc[idx] += re;
                        }
                        if k < nr - 1 {
                            let c = s.weight(weights, uo, v, k);
                            if c != (0.0, 0.0) {
                                g_r[k] += cmul(&h, (c.0, -c.1));
                            }
                        }
                    }
                }
            }
            // Map back: L = (W, W†, 1), R = (B, B†, 1).
            let g_w = (0..n).map(|j| g_l[j] + g_l[n + j].adj()).collect();
            let g_blocks = (0..n * nb).map(|j| g_r[j] + g_r[n * nb + j].adj()).collect();
            outs.push(SiteOut { g_w, g_blocks });
        }
        (outs, gw_acc)
    });
    let mut g_weights = alloc::vec![T::zero(); s.n_params()];
    let mut g_w = Features::zeros(vol, n);
    let mut g_blocks = Features::zeros(vol, n * nb);
    let mut x = 0;
    for (outs, gw) in per_chunk {
        for (a, b) in g_weights.iter_mut().zip(gw) {
            *a += b;
        }
        for o in outs {
            g_w.data[x * n..(x + 1) * n].copy_from_slice(&o.g_w);
            g_blocks.data[x * n * nb..(x + 1) * n * nb].copy_from_slice(&o.g_blocks);
            x += 1;
        }
    }
    g_w.add_assign(&s.shifts().backward(u, &tape.shift_tape, &g_blocks, g_u));
    (g_w, g_weights)
}
