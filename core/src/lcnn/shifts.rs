//! The transported copies of a feature map used by L-Conv and L-CB: the map
//! itself (`k = 0`), then for lattice axis `a = 0..D` (fpa direction
//! `μ = D−1−a`) the shifts `k = −1, …, −(K−1)` and `k = +1, …, +(K−1)`
//! (lge-cnn `LConvBilin` order), each shift made of `dilation` single
//! transport steps. Without `symmetric` only the positive shifts are used.

use super::features::{transport, transport_backward, transport_backward_into, transport_site, Features};
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
    /// Per chain: every single-step transport after the input but the last
    /// (the backward pass's inputs; the last is only a block).
    chains: Vec<Vec<Features<T>>>,
}

impl<T: crate::real::Ring> ShiftTape<T> {
    /// The input map.
    pub fn input(&self) -> &Features<T> {
        &self.input
    }
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

    /// Single transport steps per chain.
    fn steps(&self) -> usize {
        (self.kernel - 1) * self.dilation
    }

    /// All blocks, block-major (`n·S` channels; block 0 is `w`).
    pub fn forward<T: Real>(&self, u: &GaugeField<T>, w: &Features<T>) -> (Features<T>, ShiftTape<T>) {
        let chains = self.chains();
        let steps = self.steps();
        let mut kept: Vec<Vec<Features<T>>> = Vec::new();
        for c in &chains {
            let mut states: Vec<Features<T>> = Vec::new();
            for _ in 1..steps {
                let next = transport(u, states.last().unwrap_or(w), c.mu, c.forward);
                states.push(next);
            }
            kept.push(states);
        }
        // Block order: w, then per chain the shifts 1, 2, … (every `dilation` steps). Each
        // chain's last step is transported straight into its block.
        let n = w.channels;
        let mut blocks = Features::zeros(u.geometry().volume(), n * self.blocks());
        blocks.for_each_site_mut(|x, out| {
            out[..n].copy_from_slice(w.site(x));
            let mut b = 1;
            for (c, states) in chains.iter().zip(&kept) {
                for shift in 1..self.kernel {
                    let step = shift * self.dilation;
                    let block = &mut out[b * n..(b + 1) * n];
                    if step < steps {
                        block.copy_from_slice(states[step - 1].site(x));
                    } else {
                        transport_site(u, states.last().unwrap_or(w), c.mu, c.forward, x, block);
                    }
                    b += 1;
                }
            }
        });
        (blocks, ShiftTape { input: w.clone(), chains: kept })
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
            for step in (1..=self.steps()).rev() {
                // Block `block + step/dilation − 1` is this step's map itself: its gradient
                // joins the one carried from the later steps (read in place, not copied).
                let own = (step % self.dilation == 0).then(|| g_blocks.view((block + step / self.dilation - 1) * n, n));
                let carried = match (g_state.take(), own) {
                    (Some(mut g), Some(gb)) => {
                        g.add_assign_channels(gb);
                        Some(g)
                    }
                    (Some(g), None) => Some(g),
                    (None, Some(_)) => None,
                    (None, None) => Some(Features::zeros(vol, n)),
                };
                let g = carried.as_ref().map_or_else(|| own.unwrap(), |g| g.view(0, n));
                let before = if step == 1 { &tape.input } else { &states[step - 2] };
                if step == 1 {
                    // The chain's last backward step adds straight into G_W.
                    transport_backward_into(u, before, c.mu, c.forward, g, &mut g_w, true, g_u);
                } else {
                    g_state = Some(transport_backward(u, before, c.mu, c.forward, g, g_u));
                }
            }
            block += self.kernel - 1;
        }
        g_w
    }
}
