//! Cabibbo–Marinari heatbath and overrelaxation for the Wilson action.
//!
//! The local action of one link is `−(β/3) Re Tr(U K)` with `K` the staple sum
//! ([`staple`]). In each SU(2) subgroup `(p, q)` the quaternion part `a = k v`
//! of the block of `W = U K` is formed (`v ∈ SU(2)`, `k = |a|`); then
//!
//! * heatbath: draw `y` with density `∝ exp(α y₀)`, `α = 2βk/3`, set
//!   `U ← (y v†) U`;
//! * overrelaxation: `U ← (v†)² U`, which leaves `Re Tr(U K)` unchanged.
//!
//! For fixed `mu`, links on sites of one parity do not share staples, so they
//! are updated in parallel. Every link draws from its own stream keyed by
//! `(seed, sweep, site, mu)`: the chain is bit-identical on any thread count.

use super::su2_sampler::sample_su2;
use crate::action::staple;
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::rng::{domain, Rng};
use crate::su3::random::haar_su2;
use crate::su3::su2::{left_multiply, product_block_quaternion, qconj, qmul, Quaternion, SUBGROUPS};
use crate::su3::{reunitarize, Mat3};
use alloc::vec::Vec;
use core::fmt;

/// Why a Monte Carlo update was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum McError {
    OddExtent(alloc::string::String),
    BadBeta(f64),
}

impl fmt::Display for McError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McError::OddExtent(l) => write!(
                f,
                "lattice {l} has an odd extent: the checkerboard update needs even extents in every direction"
            ),
            McError::BadBeta(b) => write!(f, "beta = {b} is not a finite non-negative number"),
        }
    }
}

impl core::error::Error for McError {}

/// Checks that a field and coupling can be updated.
pub fn check_updatable<T: Real>(u: &GaugeField<T>, beta: f64) -> Result<(), McError> {
    if !u.geometry().has_checkerboard() {
        return Err(McError::OddExtent(u.geometry().label()));
    }
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(McError::BadBeta(beta));
    }
    Ok(())
}

#[inline(always)]
fn normalised<T: Real>(a: &Quaternion<T>) -> Option<(f64, Quaternion<T>)> {
    let k = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + a[3] * a[3]).sqrt();
    if k.to_f64() > 1e-300 {
        let inv = T::one() / k;
        Some((k.to_f64(), [a[0] * inv, a[1] * inv, a[2] * inv, a[3] * inv]))
    } else {
        None
    }
}

/// New value of `U_mu(x)` after one heatbath hit in each SU(2) subgroup.
#[inline]
pub fn heatbath_link<T: Real>(u: &GaugeField<T>, x: usize, mu: usize, beta: f64, rng: &mut Rng) -> Mat3<T> {
    let k = staple(u, x, mu);
    let mut link = *u.link(x, mu);
    for &(p, q) in &SUBGROUPS {
        let a = product_block_quaternion(&link, &k, p, q);
        let r: Quaternion<T> = match normalised(&a) {
            Some((norm, v)) => {
                let y = sample_su2(2.0 * beta * norm / 3.0, rng).map(T::from_f64);
                qmul(&y, &qconj(&v))
            }
            None => haar_su2(rng).map(T::from_f64),
        };
        left_multiply(&r, &mut link, p, q);
    }
    reunitarize(&link)
}

/// New value of `U_mu(x)` after one overrelaxation step in each subgroup.
/// (Not reunitarised: the SU(2) rotations are unitary to rounding, and every
/// compound sweep starts with a heatbath sweep, which reunitarises.)
#[inline]
pub fn overrelax_link<T: Real>(u: &GaugeField<T>, x: usize, mu: usize) -> Mat3<T> {
    let k = staple(u, x, mu);
    let mut link = *u.link(x, mu);
    for &(p, q) in &SUBGROUPS {
        let a = product_block_quaternion(&link, &k, p, q);
        if let Some((_, v)) = normalised(&a) {
            let vd = qconj(&v);
            left_multiply(&qmul(&vd, &vd), &mut link, p, q);
        }
    }
    link
}

/// Replaces `U_mu(x)` on all sites of one parity by `new_link(field, x)`,
/// computed in parallel from the field before the update into `scratch` (one
/// link per site of the parity, reused across the sweep) and written back in
/// parallel.
fn update_checkerboard<T, F>(u: &mut GaugeField<T>, scratch: &mut [Mat3<T>], mu: usize, parity: usize, new_link: F)
where
    T: Real,
    F: Fn(&GaugeField<T>, usize) -> Mat3<T> + Sync + Send,
{
    let geom = u.geometry().clone();
    let sites = geom.sites_of_parity(parity);
    let field: &GaugeField<T> = u;
    crate::par::for_each_mut(scratch, |i, out| *out = new_link(field, sites[i] as usize));
    u.set_links_of_parity(mu, parity, scratch);
}

/// Scratch space for [`update_checkerboard`]: one link per site of a parity.
fn checkerboard_scratch<T: Real>(u: &GaugeField<T>) -> Vec<Mat3<T>> {
    alloc::vec![Mat3::zero(); u.geometry().sites_of_parity(0).len()]
}

/// One heatbath sweep over every link. `sweep` numbers the sweep within the
/// run and selects the random streams.
pub fn heatbath_sweep<T: Real>(u: &mut GaugeField<T>, beta: f64, seed: u64, sweep: u64) {
    let mut scratch = checkerboard_scratch(u);
    for mu in 0..u.nd() {
        for parity in 0..2 {
            update_checkerboard(u, &mut scratch, mu, parity, |f, x| {
                let mut rng = Rng::stream(seed, &[domain::HEATBATH, sweep, x as u64, mu as u64]);
                heatbath_link(f, x, mu, beta, &mut rng)
            });
        }
    }
}

/// One overrelaxation sweep over every link (deterministic).
pub fn overrelax_sweep<T: Real>(u: &mut GaugeField<T>) {
    let mut scratch = checkerboard_scratch(u);
    for mu in 0..u.nd() {
        for parity in 0..2 {
            update_checkerboard(u, &mut scratch, mu, parity, |f, x| overrelax_link(f, x, mu));
        }
    }
}

/// A Markov chain of Wilson-action configurations: each step is one heatbath
/// sweep followed by `n_or` overrelaxation sweeps.
#[derive(Clone, Debug)]
pub struct WilsonChain<T> {
    pub field: GaugeField<T>,
    pub beta: f64,
    pub n_or: usize,
    pub seed: u64,
    /// Compound sweeps done so far (selects the next random streams).
    pub sweeps: u64,
}

impl<T: Real> WilsonChain<T> {
    /// A chain starting from `field` after `sweeps` compound sweeps.
    pub fn new(field: GaugeField<T>, beta: f64, n_or: usize, seed: u64, sweeps: u64) -> Result<Self, McError> {
        check_updatable(&field, beta)?;
        Ok(WilsonChain { field, beta, n_or, seed, sweeps })
    }

    /// One compound sweep (1 heatbath + `n_or` overrelaxation).
    pub fn step(&mut self) {
        self.step_observed(|_| {});
    }

    /// [`Self::step`], calling `after` when the heatbath sweep is done and again when the
    /// overrelaxation sweeps are (a caller times the two phases with it; the core has no clock).
    pub fn step_observed(&mut self, mut after: impl FnMut(Phase)) {
        heatbath_sweep(&mut self.field, self.beta, self.seed, self.sweeps);
        after(Phase::Heatbath);
        for _ in 0..self.n_or {
            overrelax_sweep(&mut self.field);
        }
        after(Phase::Overrelax);
        self.sweeps += 1;
    }
}

/// The parts of a compound sweep, for [`WilsonChain::step_observed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Heatbath,
    Overrelax,
}
