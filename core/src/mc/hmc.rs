//! Hybrid Monte Carlo for any gauge [`Action`] (Duane, Kennedy, Pendleton,
//! Roweth 1987).
//!
//! Each link `U_mu(x)` gets a momentum `P = Σ_a p^a t^a` (`t^a = λ^a/2`) with
//! standard normal components `p^a`. The Hamiltonian is
//!
//! `H = ½ Σ_{x,mu,a} (p^a)² + β A[U]`,
//!
//! and Hamilton's equations, with the link derivative `D_a` of the crate
//! (`D_a f = d/dε f(exp(iε t^a) U)`), are
//!
//! `dU/dτ = i P U`, `dp^a/dτ = −β D_a A[U]`.
//!
//! The links are moved by exact SU(3) exponentials `U ← exp(iεP) U`, so the
//! integrators are exactly reversible and area-preserving; a Metropolis step
//! with `min(1, exp(−ΔH))` makes the chain exact for `exp(−β A)`.
//!
//! Random numbers: the momenta of trajectory `n` come from the streams keyed
//! `(seed, HMC_MOMENTA, n, link)`, the accept/reject number from
//! `(seed, HMC_ACCEPT, n)`, so a chain is a pure function of its seed and the
//! trajectory count, for any number of threads and across resumes.

use crate::action::{Action, Improved, Wilson};
use crate::lattice::slab::{Links, SlabComm};
use crate::lattice::{GaugeField, SlabField};
use crate::observe::plaquette::plaquette_deficit_sum_pieces;
use crate::rng::{domain, Rng};
use crate::su3::random::gaussian_algebra;
use crate::su3::{exp_components, Mat3, Su3Alg};
use alloc::vec::Vec;
use core::ops::Range;

/// The molecular-dynamics integrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrator {
    /// Leapfrog: `P(ε/2) U(ε) P(ε/2)`, one force per step.
    Leapfrog,
    /// Omelyan's second-order minimum-norm scheme (2MN): `P(λε) U(ε/2)
    /// P((1−2λ)ε) U(ε/2) P(λε)` with `λ = 0.1931833275037836`, two forces per
    /// step and an error about 10x smaller than leapfrog's at equal cost.
    Omelyan,
}

/// Omelyan, Mryglod, Folk (2003): the 2MN coefficient that minimises the
/// norm of the leading error.
pub const OMELYAN_LAMBDA: f64 = 0.193_183_327_503_783_6;

/// One trajectory's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HmcParams {
    pub beta: f64,
    /// Trajectory length τ.
    pub tau: f64,
    /// Integration steps per trajectory (`ε = τ/steps`).
    pub steps: usize,
    pub integrator: Integrator,
}

/// What happened in one trajectory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trajectory {
    /// `H_end − H_start`.
    pub dh: f64,
    pub accepted: bool,
    /// `β A` at the start and at the end of the molecular-dynamics evolution.
    pub action_start: f64,
    pub action_end: f64,
    /// Force evaluations (each one action value + all link derivatives).
    pub forces: usize,
}

/// The errors of an HMC setup.
#[derive(Clone, Debug, PartialEq)]
pub enum HmcError {
    BadParameter(&'static str),
    NonFinite,
}

impl core::fmt::Display for HmcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HmcError::BadParameter(m) => f.write_str(m),
            HmcError::NonFinite => f.write_str("the field holds non-finite numbers"),
        }
    }
}

impl core::error::Error for HmcError {}

impl HmcParams {
    pub fn validate(&self) -> Result<(), HmcError> {
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(HmcError::BadParameter("beta must be a finite number > 0"));
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return Err(HmcError::BadParameter("the trajectory length tau must be a finite number > 0"));
        }
        if self.steps == 0 {
            return Err(HmcError::BadParameter("a trajectory needs at least one integration step"));
        }
        Ok(())
    }

    /// The elementary updates of one trajectory, adjacent momentum updates
    /// merged: `(true, c)` moves the momenta by `c ε`, `(false, c)` the links.
    fn schedule(&self) -> Vec<(bool, f64)> {
        let step: &[(bool, f64)] = match self.integrator {
            Integrator::Leapfrog => &[(true, 0.5), (false, 1.0), (true, 0.5)],
            Integrator::Omelyan => &[
                (true, OMELYAN_LAMBDA),
                (false, 0.5),
                (true, 1.0 - 2.0 * OMELYAN_LAMBDA),
                (false, 0.5),
                (true, OMELYAN_LAMBDA),
            ],
        };
        let mut ops: Vec<(bool, f64)> = Vec::new();
        for _ in 0..self.steps {
            for &(is_p, c) in step {
                match ops.last_mut() {
                    Some((true, last)) if is_p => *last += c,
                    _ => ops.push((is_p, c)),
                }
            }
        }
        ops
    }
}

/// The Gaussian momenta of trajectory `trajectory`.
pub fn draw_momenta(seed: u64, trajectory: u64, n_links: usize) -> Vec<Su3Alg<f64>> {
    draw_momenta_of(seed, trajectory, 0..n_links)
}

/// The momenta of the links `links` (global link numbers `x·D + mu`) of trajectory
/// `trajectory`: the part of [`draw_momenta`] that a slab owns.
pub fn draw_momenta_of(seed: u64, trajectory: u64, links: Range<usize>) -> Vec<Su3Alg<f64>> {
    let start = links.start;
    crate::par::map_range(links.len(), |i| {
        gaussian_algebra(&mut Rng::stream(seed, &[domain::HMC_MOMENTA, trajectory, (start + i) as u64]))
    })
}

/// `Σ_a (p^a)²` of one link.
#[inline]
fn momentum_square(p: &Su3Alg<f64>) -> f64 {
    p.iter().map(|x| x * x).sum::<f64>()
}

/// `½ Σ (p^a)²`.
pub fn kinetic_energy(p: &[Su3Alg<f64>]) -> f64 {
    0.5 * crate::par::sum(p.len(), |l| momentum_square(&p[l]))
}

/// The two elementary moves of molecular dynamics on some representation of the field.
trait Dynamics {
    /// `p ← p − h D A[U]`; returns `A[U]`.
    fn kick(&mut self, p: &mut [Su3Alg<f64>], h: f64) -> f64;
    /// `U ← exp(i h P) U`.
    fn drift(&mut self, p: &[Su3Alg<f64>], h: f64);
}

/// Runs the integrator's schedule: `(β A_start, β A_end, force evaluations)`.
fn run_schedule(params: &HmcParams, md: &mut impl Dynamics, p: &mut [Su3Alg<f64>]) -> (f64, f64, usize) {
    let eps = params.tau / params.steps as f64;
    let beta = params.beta;
    let (mut a_start, mut a_end, mut forces) = (None, 0.0, 0);
    for (is_p, c) in params.schedule() {
        if is_p {
            let a = md.kick(p, c * eps * beta);
            forces += 1;
            a_start.get_or_insert(beta * a);
            a_end = beta * a;
        } else {
            md.drift(p, c * eps);
        }
    }
    (a_start.unwrap_or(a_end), a_end, forces)
}

/// `p ← p − h f`, link by link.
fn apply_kick(p: &mut [Su3Alg<f64>], force: &[Su3Alg<f64>], h: f64) {
    crate::par::for_each_mut(p, |l, pl| {
        for (x, f) in pl.iter_mut().zip(&force[l]) {
            *x -= h * f;
        }
    });
}

/// `exp(i h P) U` for one link.
#[inline]
fn drifted(p: &Su3Alg<f64>, h: f64, link: &Mat3<f64>) -> Mat3<f64> {
    let step: Su3Alg<f64> = core::array::from_fn(|a| h * p[a]);
    exp_components(&step) * *link
}

/// The whole field in one process, any action.
struct Whole<'a, A: Action<f64> + ?Sized> {
    action: &'a A,
    u: &'a mut GaugeField<f64>,
    force: Vec<Su3Alg<f64>>,
}

impl<A: Action<f64> + ?Sized> Dynamics for Whole<'_, A> {
    fn kick(&mut self, p: &mut [Su3Alg<f64>], h: f64) -> f64 {
        let a = self.action.value_and_derivative(self.u, &mut self.force);
        apply_kick(p, &self.force, h);
        a
    }
    fn drift(&mut self, p: &[Su3Alg<f64>], h: f64) {
        let nd = self.u.nd();
        self.u.for_each_link_mut(|x, mu, link| *link = drifted(&p[x * nd + mu], h, link));
    }
}

/// Molecular dynamics: integrates Hamilton's equations for `tau` from
/// `(u, p)` in place. Returns `(β A_start, β A_end, force evaluations)`.
pub fn integrate<A: Action<f64> + ?Sized>(
    action: &A,
    params: &HmcParams,
    u: &mut GaugeField<f64>,
    p: &mut [Su3Alg<f64>],
) -> (f64, f64, usize) {
    let force = alloc::vec![[0.0; 8]; p.len()];
    run_schedule(params, &mut Whole { action, u, force }, p)
}

/// What HMC on a slab needs of an action: a force that reads links at most `reach` time
/// slices away, and the value summed over the slabs in the whole-lattice order. Implemented by
/// the Wilson action (reach 1) and the plaquette + rectangle actions (reach 2).
pub trait SlabAction: Sync {
    /// Time slices of halo the force and the value need.
    fn reach(&self) -> usize;
    /// `D_{x,mu} A` at an owned link of the local field (bitwise the whole-lattice one).
    fn slab_link_derivative(&self, u: &GaugeField<f64>, x: usize, mu: usize) -> Su3Alg<f64>;
    /// `A` of the whole field from its slabs (collective over `comm`), bitwise
    /// [`Action::value`] of the whole field.
    fn slab_value(&self, f: &SlabField<f64>, comm: &mut dyn SlabComm<f64>) -> f64;
}

impl SlabAction for Wilson {
    fn reach(&self) -> usize {
        1
    }
    fn slab_link_derivative(&self, u: &GaugeField<f64>, x: usize, mu: usize) -> Su3Alg<f64> {
        Wilson::link_derivative_at(u, x, mu)
    }
    fn slab_value(&self, f: &SlabField<f64>, comm: &mut dyn SlabComm<f64>) -> f64 {
        comm.combine(f.slab().global_sites(), &plaquette_deficit_sum_pieces(f)) / 3.0
    }
}

impl SlabAction for Improved {
    fn reach(&self) -> usize {
        if self.c1 == 0.0 {
            1
        } else {
            2
        }
    }
    fn slab_link_derivative(&self, u: &GaugeField<f64>, x: usize, mu: usize) -> Su3Alg<f64> {
        self.link_derivative_at(u, x, mu)
    }
    fn slab_value(&self, f: &SlabField<f64>, comm: &mut dyn SlabComm<f64>) -> f64 {
        let sites = f.slab().global_sites();
        let plaq = comm.combine(sites.clone(), &plaquette_deficit_sum_pieces(f));
        let rect =
            if self.c1 == 0.0 { 0.0 } else { comm.combine(sites, &f.site_sum_pieces(Improved::rectangle_deficit_at)) };
        self.value_from_sums(plaq, rect)
    }
}

/// One slab of a decomposed lattice (halo ≥ the action's reach); the momenta are the owned
/// links' (`p[i]` for the `i`-th owned link in storage order).
struct Slabbed<'a> {
    action: &'a dyn SlabAction,
    f: &'a mut SlabField<f64>,
    comm: &'a mut dyn SlabComm<f64>,
    force: Vec<Su3Alg<f64>>,
}

impl Dynamics for Slabbed<'_> {
    fn kick(&mut self, p: &mut [Su3Alg<f64>], h: f64) -> f64 {
        let (u, nd) = (self.f.field(), self.f.field().nd());
        let first = self.f.slab().owned_sites().start * nd;
        let action = self.action;
        crate::par::for_each_mut(&mut self.force, |i, d| {
            let l = first + i;
            *d = action.slab_link_derivative(u, l / nd, l % nd);
        });
        apply_kick(p, &self.force, h);
        self.action.slab_value(self.f, self.comm)
    }
    fn drift(&mut self, p: &[Su3Alg<f64>], h: f64) {
        let owned = self.f.slab().owned_sites();
        let nd = self.f.field().nd();
        let links = &mut self.f.field_mut().links_mut()[owned.start * nd..owned.end * nd];
        crate::par::for_each_mut(links, |i, link| *link = drifted(&p[i], h, link));
        self.comm.exchange(self.f, Links::ALL);
    }
}

/// One HMC trajectory with Metropolis accept/reject (or, with `metropolis`
/// false, always accepted: molecular dynamics only, for warm-up far from
/// equilibrium); `u` is left at the new field if accepted and unchanged
/// otherwise.
pub fn trajectory<A: Action<f64> + ?Sized>(
    action: &A,
    params: &HmcParams,
    u: &mut GaugeField<f64>,
    seed: u64,
    index: u64,
    metropolis: bool,
) -> Trajectory {
    let mut p = draw_momenta(seed, index, u.geometry().n_links());
    let k_start = kinetic_energy(&p);
    let mut v = u.clone();
    let (a_start, a_end, forces) = integrate(action, params, &mut v, &mut p);
    let dh = (kinetic_energy(&p) + a_end) - (k_start + a_start);
    let accepted = accept(dh, seed, index, metropolis);
    if accepted {
        v.reunitarize();
        *u = v;
    }
    Trajectory { dh, accepted, action_start: a_start, action_end: a_end, forces }
}

/// The Metropolis decision for `ΔH` (always yes without `metropolis`, unless `ΔH` is not
/// finite): `min(1, exp(−ΔH))` against the trajectory's own uniform number.
fn accept(dh: f64, seed: u64, index: u64, metropolis: bool) -> bool {
    let r = Rng::stream(seed, &[domain::HMC_ACCEPT, index]).uniform();
    // exp(−ΔH) ≥ 1 is always accepted; NaN never.
    (!metropolis && dh.is_finite()) || dh <= 0.0 || r < libm::exp(-dh)
}

/// [`trajectory`] on one slab of a decomposed lattice: every slab calls it with the same
/// arguments, `comm` exchanging halos after every link update and summing the energies over
/// the slabs. The owned links afterwards, and the returned record, are the same bits as the
/// whole-lattice trajectory's. Needs a halo of at least the action's reach.
pub fn slab_trajectory(
    action: &dyn SlabAction,
    params: &HmcParams,
    f: &mut SlabField<f64>,
    comm: &mut dyn SlabComm<f64>,
    seed: u64,
    index: u64,
    metropolis: bool,
) -> Trajectory {
    assert!(
        f.slab().halo() >= action.reach(),
        "the action reaches {} slices, the halo is {}",
        action.reach(),
        f.slab().halo()
    );
    let nd = f.field().nd();
    let sites = f.slab().global_sites();
    let links = sites.start * nd..sites.end * nd;
    let mut p = draw_momenta_of(seed, index, links.clone());
    let kinetic = |p: &[Su3Alg<f64>], comm: &mut dyn SlabComm<f64>| {
        let pieces = crate::par::sum_pieces(links.clone(), |l| momentum_square(&p[l - links.start]));
        0.5 * comm.combine(links.clone(), &pieces)
    };
    let k_start = kinetic(&p, comm);
    let mut v = f.clone();
    let force = alloc::vec![[0.0; 8]; p.len()];
    let (a_start, a_end, forces) = run_schedule(params, &mut Slabbed { action, f: &mut v, comm, force }, &mut p);
    let dh = (kinetic(&p, comm) + a_end) - (k_start + a_start);
    let accepted = accept(dh, seed, index, metropolis);
    if accepted {
        v.field_mut().reunitarize();
        *f = v;
    }
    Trajectory { dh, accepted, action_start: a_start, action_end: a_end, forces }
}

/// A Markov chain of HMC trajectories: a pure function of `(seed,
/// trajectories done)` and the starting field.
pub struct HmcChain<'a, A: Action<f64> + ?Sized> {
    pub action: &'a A,
    pub field: GaugeField<f64>,
    pub params: HmcParams,
    pub seed: u64,
    /// Trajectories done so far (selects the next random streams).
    pub trajectories: u64,
    /// Trajectories `0..warmup` are accepted without the Metropolis test.
    /// From a cold or hot start on a large lattice the first trajectories
    /// violate energy by O(√V) and would all be rejected; warm-up moves the
    /// field towards equilibrium first. Not part of the Markov chain: count
    /// them in the thermalisation.
    pub warmup: u64,
}

impl<'a, A: Action<f64> + ?Sized> HmcChain<'a, A> {
    pub fn new(
        action: &'a A,
        field: GaugeField<f64>,
        params: HmcParams,
        seed: u64,
        trajectories: u64,
    ) -> Result<Self, HmcError> {
        params.validate()?;
        if !field.is_finite() {
            return Err(HmcError::NonFinite);
        }
        Ok(HmcChain { action, field, params, seed, trajectories, warmup: 0 })
    }

    /// One trajectory.
    pub fn step(&mut self) -> Trajectory {
        let metropolis = self.trajectories >= self.warmup;
        let t = trajectory(self.action, &self.params, &mut self.field, self.seed, self.trajectories, metropolis);
        self.trajectories += 1;
        t
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    extern crate std;
    use super::*;
    use crate::lattice::slab::{assemble, threads, Slab};
    use crate::lattice::Geometry;
    use alloc::sync::Arc;

    /// HMC on 1, 2 and 3 slabs (threads exchanging halos) gives the whole-lattice chain's
    /// fields and energies bit for bit, through accepted and rejected trajectories.
    #[test]
    fn slab_trajectories_reproduce_the_whole_lattice_chain() {
        slab_chain_matches(&Wilson, 6, 5.5);
    }

    #[test]
    fn slab_trajectories_of_the_symanzik_action_reproduce_the_whole_lattice_chain() {
        slab_chain_matches(&Improved::SYMANZIK, 8, 6.5);
    }

    /// 1, 2 and 3 slabs of halo `action.reach()` against one process.
    fn slab_chain_matches<A: Action<f64> + SlabAction>(action: &A, t: usize, beta: f64) {
        let g = Arc::new(Geometry::new(&[2, 4, 2, t]).unwrap());
        let start: GaugeField<f64> = GaugeField::hot(g.clone(), 4);
        // A coarse step size, so that some trajectories are rejected.
        let params = HmcParams { beta, tau: 1.0, steps: 3, integrator: Integrator::Leapfrog };
        let mut whole = HmcChain::new(action, start.clone(), params, 8, 0).unwrap();
        whole.warmup = 2;
        let reference: Vec<Trajectory> = (0..6).map(|_| whole.step()).collect();
        assert!(reference.iter().any(|t| !t.accepted) && reference.iter().filter(|t| t.accepted).count() > 2);
        for n in 1..=3 {
            let slabs = Slab::decompose(&g, n, action.reach()).unwrap();
            let comms = threads::comms::<f64>(n);
            let results: Vec<(Vec<Trajectory>, SlabField<f64>)> = std::thread::scope(|s| {
                let handles: Vec<_> = slabs
                    .into_iter()
                    .zip(comms)
                    .map(|(slab, mut comm)| {
                        let start = &start;
                        s.spawn(move || {
                            let mut f = SlabField::from_global(start, slab);
                            let t: Vec<Trajectory> = (0..6)
                                .map(|i| slab_trajectory(action, &params, &mut f, &mut comm, 8, i, i >= 2))
                                .collect();
                            (t, f)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for (t, _) in &results {
                assert_eq!(t, &reference, "{n} slabs");
            }
            let owned: Vec<&[Mat3<f64>]> = results.iter().map(|(_, f)| f.owned_links()).collect();
            assert_eq!(assemble(&g, &owned).checksum(), whole.field.checksum(), "{n} slabs");
        }
    }
}
