//! Smeared links `S_μ(x)` inside one stencil box: the defining recursion.
//!
//! This is the readable reference; the kernel runs the same computation
//! compiled into a shared-leg program with a backward pass ([`super::tape`]),
//! and a test checks that both give the same smeared links.
//!
//! `S_μ(x) = s₀ U_μ(x) + Σ_{k=1..3} s_k Σ_{|d|=k} L(x,d) U_μ(x+d) L(x+μ̂,d)†`
//!
//! where `d` runs over the transverse displacements with `k` steps (planar,
//! diagonal, hyperdiagonal staples) and the leg `L(x,d)` is the average of the
//! path products over all `k!` orderings of the steps:
//! `L(x,{e}) = Y_e(x)`, `L(x,d) = (1/k) Σ_{e∈d} Y_e(x) L(x+e, d∖e)`, with
//! `Y_{+ν}(x) = U_ν(x)` and `Y_{−ν}(x) = U_ν(x−ν̂)†`. Entry and exit legs are
//! averaged independently (the "independent-average" choice of `physics.md`
//! §2.3; it keeps the hyperoctahedral symmetry and the μ-reflection symmetry).
//!
//! Gradients follow the convention `δf = Re Tr(G† δX)`: for a product
//! `P = A X C`, `G_X = A† G_P C†`; for `P = A X† C`, `G_X = C G_P† A`.

use super::params::Blocking;
use super::stencil::{local_step, Displacements};
use crate::lattice::Step;
use crate::real::Real;
use crate::su3::Mat3;

/// Read access to the links of one box, and a gradient buffer over its slots.
pub struct BoxLinks<'a, T> {
    pub links: &'a [Mat3<T>],
    pub slots: &'a [u32],
    pub nd: usize,
}

impl<T: Real> BoxLinks<'_, T> {
    /// `U_ν(s)`
    #[inline(always)]
    pub fn link(&self, s: usize, nu: usize) -> &Mat3<T> {
        &self.links[self.slots[s * self.nd + nu] as usize]
    }
    /// `Y_e(s)`: `U_ν(s)` for a forward step, `U_ν(s−ν̂)†` for a backward one.
    #[inline(always)]
    fn y(&self, s: usize, e: Step) -> Mat3<T> {
        if e.forward {
            *self.link(s, e.mu)
        } else {
            self.link(local_step(s, e), e.mu).adj()
        }
    }
}

/// Gradient matrices over the slots of a box (zero where untouched).
pub struct SlotGrad<T> {
    pub g: alloc::vec::Vec<Mat3<T>>,
    pub touched: alloc::vec::Vec<bool>,
}

impl<T: Real> SlotGrad<T> {
    pub fn new(n_slots: usize) -> Self {
        SlotGrad { g: alloc::vec![Mat3::zero(); n_slots], touched: alloc::vec![false; n_slots] }
    }
    pub fn clear(&mut self) {
        for (g, t) in self.g.iter_mut().zip(self.touched.iter_mut()) {
            if *t {
                *g = Mat3::zero();
                *t = false;
            }
        }
    }
    /// Adds `m` to the gradient of link slot `i`.
    #[inline(always)]
    pub fn add_slot(&mut self, i: usize, m: &Mat3<T>) {
        self.g[i] += *m;
        self.touched[i] = true;
    }
}

/// `d` without its `i`-th step.
#[inline(always)]
fn without(d: &[Step], i: usize) -> ([Step; 3], usize) {
    let mut r = [Step::fwd(0); 3];
    let mut n = 0;
    for (j, &s) in d.iter().enumerate() {
        if j != i {
            r[n] = s;
            n += 1;
        }
    }
    (r, n)
}

/// The leg `L(s, d)`: the average over orderings of the path along `d`.
pub fn leg<T: Real>(b: &BoxLinks<T>, s: usize, d: &[Step]) -> Mat3<T> {
    if d.len() == 1 {
        return b.y(s, d[0]);
    }
    let mut acc = Mat3::zero();
    for i in 0..d.len() {
        let (rest, n) = without(d, i);
        acc += b.y(s, d[i]) * leg(b, local_step(s, d[i]), &rest[..n]);
    }
    acc.scale(T::from_f64(1.0 / d.len() as f64))
}

/// `S_μ(s)` for the local site `s`.
pub fn smeared_link<T: Real>(b: &BoxLinks<T>, p: &Blocking, disp: &Displacements, s: usize, mu: usize) -> Mat3<T> {
    let mut acc = b.link(s, mu).scale(T::from_f64(p.s0));
    let sm = local_step(s, Step::fwd(mu));
    for (k, list) in disp.by_k.iter().enumerate() {
        let w = T::from_f64(p.weight(k + 1));
        if w == T::zero() {
            continue;
        }
        let mut sum = Mat3::zero();
        for d in list {
            let mut sd = s;
            for &e in d {
                sd = local_step(sd, e);
            }
            let a = leg(b, s, d) * *b.link(sd, mu);
            sum += a.mul_adj(&leg(b, sm, d));
        }
        acc.add_scaled(&sum, w);
    }
    acc
}
