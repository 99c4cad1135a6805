//! Paths of links given as lists of steps, and their ordered products.
//!
//! A step `+mu` multiplies by `U_mu(x)` and moves to `x + mu-hat`; a step
//! `−mu` moves to `x − mu-hat` and multiplies by `U_mu(x − mu-hat)†`. The
//! product along a path from `x` transforms as `Ω(x) P Ω(end)†`.

use super::field::GaugeField;
use crate::real::Real;
use crate::su3::Mat3;
use alloc::vec::Vec;

/// One step of a path: direction `mu`, forward or backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub mu: usize,
    pub forward: bool,
}

impl Step {
    pub const fn fwd(mu: usize) -> Self {
        Step { mu, forward: true }
    }
    pub const fn bwd(mu: usize) -> Self {
        Step { mu, forward: false }
    }
    pub const fn reversed(self) -> Self {
        Step { mu: self.mu, forward: !self.forward }
    }
}

/// The product of links along `steps` starting at `site`, and the end site.
pub fn path_product<T: Real>(u: &GaugeField<T>, site: usize, steps: &[Step]) -> (Mat3<T>, usize) {
    let g = u.geometry();
    let mut x = site;
    let mut p = Mat3::identity();
    for s in steps {
        if s.forward {
            p = p * u.link(x, s.mu);
            x = g.up(x, s.mu);
        } else {
            x = g.dn(x, s.mu);
            p = p.mul_adj(u.link(x, s.mu));
        }
    }
    (p, x)
}

/// The reverse of a path (its product is the adjoint).
pub fn reverse(steps: &[Step]) -> Vec<Step> {
    steps.iter().rev().map(|s| s.reversed()).collect()
}

/// `r` steps along `mu`, `t` along `nu`, back `r` along `mu`, back `t` along `nu`:
/// the closed R x T rectangle in the (mu, nu) plane.
pub fn rectangle(mu: usize, nu: usize, r: usize, t: usize) -> Vec<Step> {
    let mut p = Vec::with_capacity(2 * (r + t));
    p.extend(core::iter::repeat_n(Step::fwd(mu), r));
    p.extend(core::iter::repeat_n(Step::fwd(nu), t));
    p.extend(core::iter::repeat_n(Step::bwd(mu), r));
    p.extend(core::iter::repeat_n(Step::bwd(nu), t));
    p
}

/// `true` when the path returns to its start on an infinite lattice.
pub fn is_closed(steps: &[Step]) -> bool {
    let mut d = [0isize; super::geometry::MAX_DIM];
    for s in steps {
        d[s.mu] += if s.forward { 1 } else { -1 };
    }
    d.iter().all(|&x| x == 0)
}
