//! L-Conv: `W'_{x,i} = Σ_{j,μ,k} ω_{i,j,μ,k} U_{k·μ}(x) W_j(x+kμ̂) U_{k·μ}(x)† (+ ω_{i,1} 1)`
//! with complex weights `ω` of shape `[n_out, n·S (+1)]` over the transported
//! copies of [`super::shifts`] (and an optional unit channel for a bias).
//!
//! Backward: `G_{B_b} = Σ_i ω̄_{i,b} G_i`, `∂f/∂Re ω_{i,b} = Re Tr(G_i† B_b)`,
//! `∂f/∂Im ω_{i,b} = −Im Tr(G_i† B_b)`.

use super::features::Features;
use super::layer::{BackwardInput, LayerOp, Step};
use super::shifts::{ShiftTape, Shifts};
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::rng::Rng;
use crate::su3::{Complex, Mat3};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Shape of an L-Conv layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LConvShape {
    pub n_in: usize,
    pub n_out: usize,
    pub shifts: Shifts,
    /// Include the unit matrix as an extra input (a bias).
    pub unit: bool,
}

impl LConvShape {
    pub fn n_inputs(&self) -> usize {
        self.n_in * self.shifts.blocks() + usize::from(self.unit)
    }
    pub fn n_params(&self) -> usize {
        2 * self.n_out * self.n_inputs()
    }
}

impl LayerOp for LConvShape {
    fn kind(&self) -> &'static str {
        "lconv"
    }
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
    fn n_params(&self) -> usize {
        LConvShape::n_params(self)
    }
    /// `[n_out, n·S (+1), 2]` (re, im).
    fn weight_shape(&self) -> Option<Vec<usize>> {
        Some(alloc::vec![self.n_out, self.n_inputs(), 2])
    }
    /// Normal with `std = scale/√(2·inputs)` for both parts.
    fn init_weights(&self, p: &mut [f64], rng: &mut Rng, scale: f64) {
        let std = scale / crate::real::sqrt_f64(2.0 * self.n_inputs() as f64);
        for w in p.iter_mut() {
            *w = std * rng.gaussian();
        }
    }
    fn forward<T: Real>(&self, params: &[f64], links: &GaugeField<T>, w: &Features<T>) -> Step<T> {
        let (features, tape) = forward(self, params, links, w);
        Step { features, links: None, tape: Some(Box::new(tape)) }
    }
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, g_u: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>) {
        backward(self, b.params, b.links, b.tape::<LConvTape<T>>("lconv"), b.g_out, g_u)
    }
}

#[derive(Clone, Debug)]
pub struct LConvTape<T: crate::real::Ring> {
    shift_tape: ShiftTape<T>,
    blocks: Features<T>,
}

#[inline(always)]
fn weight(w: &[f64], i: usize) -> (f64, f64) {
    (w[2 * i], w[2 * i + 1])
}

pub fn forward<T: Real>(
    s: &LConvShape,
    weights: &[f64],
    u: &GaugeField<T>,
    w: &Features<T>,
) -> (Features<T>, LConvTape<T>) {
    let (blocks, shift_tape) = s.shifts.forward(u, w);
    let ni = s.n_inputs();
    let nb = blocks.channels;
    let mut out = Features::zeros(u.geometry().volume(), s.n_out);
    out.for_each_site_mut(|x, o| {
        let b = blocks.site(x);
        for (i, oi) in o.iter_mut().enumerate() {
            let mut acc = Mat3::zero();
            for (k, bk) in b.iter().enumerate() {
                let (re, im) = weight(weights, i * ni + k);
                acc.add_scaled_c(bk, Complex::new(T::from_f64(re), T::from_f64(im)));
            }
            if s.unit {
                let (re, im) = weight(weights, i * ni + nb);
                for d in 0..3 {
                    acc.m[d][d] += Complex::new(T::from_f64(re), T::from_f64(im));
                }
            }
            *oi = acc;
        }
    });
    (out, LConvTape { shift_tape, blocks })
}

const GRAD_CHUNK: usize = 64;

pub fn backward<T: Real>(
    s: &LConvShape,
    weights: &[f64],
    u: &GaugeField<T>,
    tape: &LConvTape<T>,
    g_out: &Features<T>,
    g_u: &mut [Mat3<T>],
) -> (Features<T>, Vec<T>) {
    let vol = u.geometry().volume();
    let ni = s.n_inputs();
    let nb = tape.blocks.channels;
    let mut g_blocks = Features::zeros(vol, nb);
    g_blocks.for_each_site_mut(|x, gb| {
        let g = g_out.site(x);
        for (k, gk) in gb.iter_mut().enumerate() {
            let mut acc = Mat3::zero();
            for (i, gi) in g.iter().enumerate() {
                let (re, im) = weight(weights, i * ni + k);
                acc.add_scaled_c(gi, Complex::new(T::from_f64(re), T::from_f64(-im)));
            }
            *gk = acc;
        }
    });
    let parts: Vec<Vec<T>> = crate::par::map_range(vol.div_ceil(GRAD_CHUNK), |ch| {
        let mut gw = alloc::vec![T::zero(); s.n_params()];
        for x in ch * GRAD_CHUNK..((ch + 1) * GRAD_CHUNK).min(vol) {
            let b = tape.blocks.site(x);
            for (i, gi) in g_out.site(x).iter().enumerate() {
                for (k, bk) in b.iter().enumerate() {
                    let t = gi.adj_mul(bk).trace();
                    gw[2 * (i * ni + k)] += t.re;
                    gw[2 * (i * ni + k) + 1] += -t.im;
                }
                if s.unit {
                    let t = gi.trace().conj();
                    gw[2 * (i * ni + nb)] += t.re;
                    gw[2 * (i * ni + nb) + 1] += -t.im;
                }
            }
        }
        gw
    });
    let mut g_weights = alloc::vec![T::zero(); s.n_params()];
    for p in parts {
        for (a, b) in g_weights.iter_mut().zip(p) {
            *a += b;
        }
    }
    let g_w = s.shifts.backward(u, &tape.shift_tape, &g_blocks, g_u);
    (g_w, g_weights)
}
