//! The transported copies of a feature map used by L-Conv and L-CB: the map
//! itself (`k = 0`), then for lattice axis `a = 0..D` (fpa direction
//! `μ = D−1−a`) the shifts `k = −1, …, −(K−1)` and `k = +1, …, +(K−1)`
//! (lge-cnn `LConvBilin` order), each shift made of `dilation` single
//! transport steps. Without `symmetric` only the positive shifts are used.

use super::features::{transport, transport_backward, Features};
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::su3::Mat3;
use alloc::vec::Vec;

/// Kernel of a transporting layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shifts {
    pub nd: usize,
    /// Kernel size K: shifts `|k| < K` (1: no transport).
    pub kernel: usize,
    pub dilation: usize,
    pub symmetric: bool,
}

/// One transport chain: direction and orientation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Chain {
    mu: usize,
    forward: bool,
}

/// Forward results kept for the backward pass.
#[derive(Clone, Debug)]
pub struct ShiftTape<T: crate::real::Ring> {
    /// The input map (first state of every chain).
    input: Features<T>,
    /// Per chain: every single-step transport after the input.
    chains: Vec<Vec<Features<T>>>,
}

impl Shifts {
    fn chains(&self) -> Vec<Chain> {
        let mut c = Vec::new();
        if self.kernel > 1 {
            for a in 0..self.nd {
                let mu = self.nd - 1 - a;
                if self.symmetric {
                    c.push(Chain { mu, forward: false });
                }
                c.push(Chain { mu, forward: true });
            }
        }
        c
    }

    /// Number of blocks `S` (the local one included).
    #[inline]
    pub fn blocks(&self) -> usize {
        let chains = if self.kernel > 1 { self.nd * if self.symmetric { 2 } else { 1 } } else { 0 };
        1 + chains * (self.kernel - 1)
    }

    /// All blocks, block-major (`n·S` channels; block 0 is `w`).
    pub fn forward<T: Real>(&self, u: &GaugeField<T>, w: &Features<T>) -> (Features<T>, ShiftTape<T>) {
        let mut chains: Vec<Vec<Features<T>>> = Vec::new();
        for c in self.chains() {
            let mut states: Vec<Features<T>> = Vec::new();
            for _ in 0..(self.kernel - 1) * self.dilation {
                let next = transport(u, states.last().unwrap_or(w), c.mu, c.forward);
                states.push(next);
            }
            chains.push(states);
        }
        // Block order: w, then per chain the shifts 1, 2, … (every `dilation` steps).
        let mut parts = alloc::vec![w];
        for states in &chains {
            parts.extend(states.iter().skip(self.dilation - 1).step_by(self.dilation));
        }
        let blocks = Features::concat_all(&parts);
        (blocks, ShiftTape { input: w.clone(), chains })
    }

    /// Gradient with respect to `w` from the gradient of all blocks; link
    /// gradients are added to `g_u`.
    pub fn backward<T: Real>(
        &self,
        u: &GaugeField<T>,
        tape: &ShiftTape<T>,
        g_blocks: &Features<T>,
        g_u: &mut [Mat3<T>],
    ) -> Features<T> {
        let n = g_blocks.channels / self.blocks();
        let vol = u.geometry().volume();
        let mut g_w = g_blocks.select(0, n);
        let mut block = 1;
        for (c, states) in self.chains().iter().zip(&tape.chains) {
            let mut g_state: Option<Features<T>> = None;
            // states[step - 1] is the map after `step` transport steps.
            for step in (1..=states.len()).rev() {
                if step % self.dilation == 0 {
                    let gb = g_blocks.select((block + step / self.dilation - 1) * n, n);
                    g_state = Some(match g_state {
                        Some(mut g) => {
                            g.add_assign(&gb);
                            g
                        }
                        None => gb,
                    });
                }
                let g = g_state.take().unwrap_or_else(|| Features::zeros(vol, n));
                let before = if step == 1 { &tape.input } else { &states[step - 2] };
                g_state = Some(transport_backward(u, before, c.mu, c.forward, &g, g_u));
            }
            if let Some(g) = g_state {
                g_w.add_assign(&g);
            }
            block += self.kernel - 1;
        }
        g_w
    }
}
