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

use super::su2_sampler::Su2Draws;
use crate::action::staple;
use crate::fused::Arithmetic;
use crate::lanes::{mat_lane, set_mat_lane, Lanes, PACK};
use crate::lattice::packed::{PackedField, PackedLayout};
use crate::lattice::slab::{Links, SlabComm};
use crate::lattice::{GaugeField, SlabField};
use crate::real::{Real, Ring};
use crate::rng::{domain, Rng};
use crate::su3::random::haar_su2;
use crate::su3::su2::{left_multiply, product_block_quaternion, qconj, qmul, Quaternion, SUBGROUPS};
use crate::su3::{reunitarize, Mat3};
use alloc::sync::Arc;
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

/// New value of `U_mu(x)` after one heatbath hit in each SU(2) subgroup.
#[inline]
pub fn heatbath_link<T: Real>(u: &GaugeField<T>, x: usize, mu: usize, beta: f64, rng: &mut Rng) -> Mat3<T> {
    heatbath_hits(*u.link(x, mu), &staple(u, x, mu), beta, core::slice::from_mut(rng))
}

/// New value of `U_mu(x)` after one overrelaxation step in each subgroup.
/// (Not reunitarised: the SU(2) rotations are unitary to rounding, and every
/// compound sweep starts with a heatbath sweep, which reunitarises.)
#[inline]
pub fn overrelax_link<T: Real>(u: &GaugeField<T>, x: usize, mu: usize) -> Mat3<T> {
    overrelax_hits(*u.link(x, mu), &staple(u, x, mu))
}

/// The quaternion part `a` of block `(p, q)` of `U K` as `k v` with `v ∈ SU(2)`:
/// returns `(k, v)`, lane by lane. (Where `k ≤ 1e-300` the caller ignores `v`.)
#[inline(always)]
fn block_norm_and_direction<V: Lanes>(link: &Mat3<V>, staple: &Mat3<V>, p: usize, q: usize) -> (V, Quaternion<V>) {
    let a = product_block_quaternion(link, staple, p, q);
    let k = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + a[3] * a[3]).lane_sqrt();
    let inv = V::one().lane_div(k);
    (k, [a[0] * inv, a[1] * inv, a[2] * inv, a[3] * inv])
}

/// The lanes of `k` as `f64` (the first `V::LANES` entries), read in one go.
#[inline(always)]
fn lanes_f64<V: Lanes>(k: V) -> [f64; PACK] {
    let mut l = [V::Scalar::zero(); PACK];
    k.to_lanes(&mut l[..V::LANES]);
    l.map(|x| x.to_f64())
}

/// Whether a subgroup block of norm `k` is used; below 1e-300 (or NaN) it
/// counts as zero (heatbath: a Haar draw; overrelaxation: no change).
#[inline(always)]
fn block_is_nonzero(k: f64) -> bool {
    k > 1e-300
}

/// One heatbath hit per SU(2) subgroup on `link` with staple sum `staple`,
/// then reunitarisation, for every lane (`V::LANES` sites at once, lane `i`
/// drawing from `rngs[i]`). Lane `i` gets the bits a single site gets.
#[inline(always)]
pub fn heatbath_hits<V: Lanes + Su2Draws>(mut link: Mat3<V>, staple: &Mat3<V>, beta: f64, rngs: &mut [Rng]) -> Mat3<V> {
    debug_assert_eq!(rngs.len(), V::LANES);
    for &(p, q) in &SUBGROUPS {
        let (k, v) = block_norm_and_direction(&link, staple, p, q);
        // y ∝ exp(α y₀) with α = 2βk/3, then R = y v†; a vanishing block gets a Haar element.
        // The draws come per component and are loaded once (lanes set one by one
        // would store and reload the whole pack each time).
        let norms = lanes_f64(k);
        let nonzero = norms.map(block_is_nonzero);
        let alpha = norms.map(|k| 2.0 * beta * k / 3.0);
        let ys = V::draw_su2(&alpha, &nonzero, rngs);
        let y: Quaternion<V> = core::array::from_fn(|c| {
            let lanes: [V::Scalar; PACK] = ys[c].map(<V::Scalar as Ring>::from_f64);
            V::from_lanes(&lanes[..V::LANES])
        });
        let mut r = qmul(&y, &qconj(&v));
        if nonzero[..V::LANES].contains(&false) {
            use_haar_draws(&mut r, &nonzero, rngs);
        }
        left_multiply(&r, &mut link, p, q);
    }
    reunitarize(&link)
}

/// Lanes with a vanishing block draw a Haar element and take it as the
/// rotation (rare: kept out of the vectorised path).
#[cold]
fn use_haar_draws<V: Lanes>(r: &mut Quaternion<V>, nonzero: &[bool; PACK], rngs: &mut [Rng]) {
    for (i, rng) in rngs.iter_mut().enumerate().filter(|(i, _)| !nonzero[*i]) {
        for (c, hc) in r.iter_mut().zip(haar_su2(rng)) {
            c.set_lane(i, <V::Scalar as Ring>::from_f64(hc));
        }
    }
}

/// Lanes whose block vanished keep their link from before the rotation.
#[cold]
fn keep_vanishing_blocks<V: Lanes>(link: &mut Mat3<V>, before: &Mat3<V>, norms: &[f64; PACK]) {
    for i in 0..V::LANES {
        if !block_is_nonzero(norms[i]) {
            set_mat_lane(link, i, &mat_lane(before, i));
        }
    }
}

/// One overrelaxation step per SU(2) subgroup, `U ← (v†)² U`, for every lane.
#[inline(always)]
pub fn overrelax_hits<V: Lanes>(mut link: Mat3<V>, staple: &Mat3<V>) -> Mat3<V> {
    for &(p, q) in &SUBGROUPS {
        let (k, v) = block_norm_and_direction(&link, staple, p, q);
        let vd = qconj(&v);
        let r = qmul(&vd, &vd);
        let norms = lanes_f64(k);
        if norms[..V::LANES].iter().all(|&n| block_is_nonzero(n)) {
            left_multiply(&r, &mut link, p, q);
        } else {
            let before = link;
            left_multiply(&r, &mut link, p, q);
            keep_vanishing_blocks(&mut link, &before, &norms);
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

/// The heatbath update of `U_mu(x)` in sweep `sweep`, drawing from the stream of the global
/// site `site` (`x` itself on a whole lattice, its global number on a slab).
#[inline]
fn keyed_heatbath_link<T: Real>(
    f: &GaugeField<T>,
    x: usize,
    site: usize,
    mu: usize,
    beta: f64,
    seed: u64,
    sweep: u64,
) -> Mat3<T> {
    let mut rng = Rng::stream(seed, &[domain::HEATBATH, sweep, site as u64, mu as u64]);
    heatbath_link(f, x, mu, beta, &mut rng)
}

/// One heatbath sweep over every link. `sweep` numbers the sweep within the
/// run and selects the random streams.
pub fn heatbath_sweep<T: Real>(u: &mut GaugeField<T>, beta: f64, seed: u64, sweep: u64) {
    let nd = u.nd();
    apply_updates(u, compound_sweep_updates(nd, 0), beta, seed, sweep);
}

/// One overrelaxation sweep over every link (deterministic).
pub fn overrelax_sweep<T: Real>(u: &mut GaugeField<T>) {
    let nd = u.nd();
    apply_updates(u, overrelax_updates(nd), 0.0, 0, 0);
}

/// `u` as a double-precision field, the one the packed path takes.
fn as_f64_field<T: Real>(u: &mut GaugeField<T>) -> Option<&mut GaugeField<f64>> {
    (u as &mut dyn core::any::Any).downcast_mut::<GaugeField<f64>>()
}

/// Applies `updates` in order (`sweep` selects the heatbath streams): eight
/// sites at a time on the lane-packed layout for `f64` fields whose lattice
/// has one ([`super::packed`]), else one site at a time. Both give the same bits.
pub fn apply_updates<T: Real>(
    u: &mut GaugeField<T>,
    updates: impl IntoIterator<Item = Update>,
    beta: f64,
    seed: u64,
    sweep: u64,
) {
    let updates: Vec<Update> = updates.into_iter().collect();
    if let Some(f) = as_f64_field(u) {
        if super::packed::run_packed(f, updates.iter().copied(), beta, seed, sweep, crate::simd::kernel()) {
            return;
        }
    }
    apply_updates_one_site(u, updates, beta, seed, sweep);
}

/// [`apply_updates`] one site at a time (the reference path, any lattice and scalar).
pub fn apply_updates_one_site<T: Real>(
    u: &mut GaugeField<T>,
    updates: impl IntoIterator<Item = Update>,
    beta: f64,
    seed: u64,
    sweep: u64,
) {
    let mut scratch = checkerboard_scratch(u);
    for Update { heatbath, mu, parity } in updates {
        update_checkerboard(u, &mut scratch, mu, parity, |f, x| {
            if heatbath {
                keyed_heatbath_link(f, x, x, mu, beta, seed, sweep)
            } else {
                overrelax_link(f, x, mu)
            }
        });
    }
}

/// One elementary update of a compound sweep: the links of direction `mu` on the sites of
/// one (global) checkerboard parity, by heatbath or by overrelaxation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    pub heatbath: bool,
    pub mu: usize,
    pub parity: usize,
}

/// The updates of one compound sweep (1 heatbath + `n_or` overrelaxation sweeps) in the
/// order [`WilsonChain::step`] applies them: for each sweep, `mu = 0 … D−1`, parity 0 then 1.
pub fn compound_sweep_updates(nd: usize, n_or: usize) -> impl Iterator<Item = Update> {
    (0..1 + n_or).flat_map(move |s| {
        (0..nd).flat_map(move |mu| (0..2).map(move |parity| Update { heatbath: s == 0, mu, parity }))
    })
}

/// The updates of one overrelaxation sweep: `mu = 0 … D−1`, parity 0 then 1.
pub fn overrelax_updates(nd: usize) -> impl Iterator<Item = Update> {
    (0..nd).flat_map(move |mu| (0..2).map(move |parity| Update { heatbath: false, mu, parity }))
}

/// Applies one update to the owned links of a slab (`sweep` selects the heatbath streams):
/// bit for bit what the whole-lattice sweep does to them, provided the halos hold the
/// neighbours' current links (the Wilson staple reaches one slice; halo ≥ 1). Afterwards the
/// links of direction `update.mu` and parity `update.parity` on the slab's boundary have
/// changed: exchange them (`Links::of(mu, parity)`) before the next update.
pub fn update_slab<T: Real>(
    f: &mut SlabField<T>,
    scratch: &mut Vec<Mat3<T>>,
    update: Update,
    beta: f64,
    seed: u64,
    sweep: u64,
) {
    let slab = f.slab().clone();
    assert!(slab.halo() >= 1, "the Wilson staple needs a halo of at least one slice");
    let Update { heatbath, mu, parity } = update;
    if scratch.len() != f.field().geometry().sites_of_parity(0).len() {
        *scratch = checkerboard_scratch(f.field());
    }
    update_checkerboard(f.field_mut(), scratch, mu, slab.local_parity(parity), |u, x| {
        if !slab.is_owned(x) {
            *u.link(x, mu)
        } else if heatbath {
            keyed_heatbath_link(u, x, slab.global_site(x), mu, beta, seed, sweep)
        } else {
            overrelax_link(u, x, mu)
        }
    });
}

/// A Markov chain of Wilson-action configurations: each step is one heatbath
/// sweep followed by `n_or` overrelaxation sweeps.
///
/// An `f64` chain on a lattice with a [`PackedLayout`] keeps a lane-packed copy of
/// its field from one step to the next (packing costs about as much as a heatbath
/// sweep); [`Self::field`] is brought up to date after every step, and
/// [`Self::field_mut`] drops the copy, so the next step packs the changed field.
#[derive(Clone, Debug)]
pub struct WilsonChain<T> {
    field: GaugeField<T>,
    pub beta: f64,
    pub n_or: usize,
    pub seed: u64,
    /// Compound sweeps done so far (selects the next random streams).
    pub sweeps: u64,
    /// The arithmetic of the packed kernels: [`Arithmetic::Exact`] (the
    /// default: the same bits on every CPU) or [`Arithmetic::Fused`] (fused
    /// multiply–add in the matrix products where the kernel has FMA; faster,
    /// bits depend on the kernel). The one-site path is always exact.
    pub arithmetic: Arithmetic,
    /// The field in the packed layout, the same links as `field` (`None` before the
    /// first step, after `field_mut`, and where there is no layout).
    packed: Option<PackedField>,
}

impl<T: Real> WilsonChain<T> {
    /// A chain starting from `field` after `sweeps` compound sweeps.
    pub fn new(field: GaugeField<T>, beta: f64, n_or: usize, seed: u64, sweeps: u64) -> Result<Self, McError> {
        check_updatable(&field, beta)?;
        Ok(WilsonChain { field, beta, n_or, seed, sweeps, arithmetic: Arithmetic::Exact, packed: None })
    }

    /// The current configuration.
    pub fn field(&self) -> &GaugeField<T> {
        &self.field
    }

    /// The configuration, for changes (the chain continues from the changed field).
    pub fn field_mut(&mut self) -> &mut GaugeField<T> {
        self.packed = None;
        &mut self.field
    }

    /// The current configuration, by value.
    pub fn into_field(self) -> GaugeField<T> {
        self.field
    }

    /// One compound sweep (1 heatbath + `n_or` overrelaxation).
    pub fn step(&mut self) {
        self.step_observed(|_| {});
    }

    /// [`Self::step`], calling `after` when the heatbath sweep is done and again when the
    /// overrelaxation sweeps are (a caller times the two phases with it; the core has no clock).
    pub fn step_observed(&mut self, mut after: impl FnMut(Phase)) {
        let nd = self.field.nd();
        let (beta, seed, sweep) = (self.beta, self.seed, self.sweeps);
        let heatbath = compound_sweep_updates(nd, 0);
        let overrelax = (0..self.n_or).flat_map(move |_| overrelax_updates(nd));
        self.sweeps += 1;
        // On the packed copy where the lattice allows it (packed at the first step).
        if let Some(f) = as_f64_field(&mut self.field) {
            if self.packed.is_none() {
                self.packed = PackedLayout::new(f.geometry()).map(|layout| PackedField::pack(&Arc::new(layout), f));
            }
            if let Some(packed) = &mut self.packed {
                let (kernel, arith) = (crate::simd::kernel(), self.arithmetic);
                super::packed::apply_updates_with(packed, heatbath, beta, seed, sweep, kernel, arith);
                after(Phase::Heatbath);
                super::packed::apply_updates_with(packed, overrelax, beta, seed, sweep, kernel, arith);
                packed.unpack_into(f);
                after(Phase::Overrelax);
                return;
            }
        }
        apply_updates_one_site(&mut self.field, heatbath, beta, seed, sweep);
        after(Phase::Heatbath);
        apply_updates_one_site(&mut self.field, overrelax, beta, seed, sweep);
        after(Phase::Overrelax);
    }
}

/// The parts of a compound sweep, for [`WilsonChain::step_observed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Heatbath,
    Overrelax,
}

/// [`WilsonChain`] on one slab of a decomposed lattice: the same updates in the same order on
/// the owned links, with the halos refreshed between updates by the caller's [`SlabComm`]
/// (message passing between processes, or [`crate::lattice::slab::Alone`] for one slab).
/// The owned links after each step are the same bits as the whole-lattice chain's.
#[derive(Clone, Debug)]
pub struct SlabChain<T> {
    pub field: SlabField<T>,
    pub beta: f64,
    pub n_or: usize,
    pub seed: u64,
    /// Compound sweeps done so far (selects the next random streams).
    pub sweeps: u64,
    scratch: Vec<Mat3<T>>,
}

impl<T: Real> SlabChain<T> {
    /// A chain on `field` (its halos current) after `sweeps` compound sweeps.
    pub fn new(field: SlabField<T>, beta: f64, n_or: usize, seed: u64, sweeps: u64) -> Result<Self, McError> {
        check_updatable(field.field(), beta)?;
        if !field.slab().global().has_checkerboard() {
            return Err(McError::OddExtent(field.slab().global().label()));
        }
        Ok(SlabChain { field, beta, n_or, seed, sweeps, scratch: Vec::new() })
    }

    /// One compound sweep, the halo links of the updated direction exchanged through `comm`
    /// after every update; `after` as in [`WilsonChain::step_observed`].
    pub fn step_observed(&mut self, comm: &mut dyn SlabComm<T>, mut after: impl FnMut(Phase)) {
        let mut in_heatbath = true;
        for update in compound_sweep_updates(self.field.field().nd(), self.n_or) {
            if in_heatbath && !update.heatbath {
                in_heatbath = false;
                after(Phase::Heatbath);
            }
            update_slab(&mut self.field, &mut self.scratch, update, self.beta, self.seed, self.sweeps);
            comm.exchange(&mut self.field, Links::of(update.mu, update.parity));
        }
        if in_heatbath {
            after(Phase::Heatbath);
        }
        after(Phase::Overrelax);
        self.sweeps += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::slab::{assemble, exchange_in_memory, Slab};
    use crate::lattice::Geometry;
    use crate::observe::plaquette::{plaquette_sum, plaquette_sum_pieces};

    /// Slabs updated one update at a time, halos exchanged in between, give the whole-lattice
    /// chain's field and plaquette sum bit for bit, for 1 to 3 slabs.
    #[test]
    fn slabs_reproduce_the_whole_lattice_chain() {
        let g = Arc::new(Geometry::new(&[4, 2, 2, 6]).unwrap());
        let start: GaugeField<f64> = GaugeField::hot(g.clone(), 11);
        let mut whole = WilsonChain::new(start.clone(), 5.7, 2, 3, 0).unwrap();
        whole.step();
        whole.step();
        for n in 1..=3 {
            let mut slabs: Vec<SlabField<f64>> =
                Slab::decompose(&g, n, 1).unwrap().into_iter().map(|s| SlabField::from_global(&start, s)).collect();
            let mut scratch: Vec<Vec<Mat3<f64>>> = alloc::vec![Vec::new(); n];
            for sweep in 0..2 {
                for update in compound_sweep_updates(4, 2) {
                    for (f, s) in slabs.iter_mut().zip(&mut scratch) {
                        update_slab(f, s, update, 5.7, 3, sweep);
                    }
                    exchange_in_memory(&mut slabs, Links::of(update.mu, update.parity));
                }
            }
            let owned: Vec<&[Mat3<f64>]> = slabs.iter().map(|f| f.owned_links()).collect();
            assert_eq!(assemble(&g, &owned).checksum(), whole.field.checksum(), "{n} slabs");
            let pieces: Vec<Vec<f64>> = slabs.iter().map(plaquette_sum_pieces).collect();
            let parts: Vec<_> = slabs.iter().zip(&pieces).map(|(f, p)| (f.slab().global_sites(), &p[..])).collect();
            assert_eq!(crate::par::combine_pieces(&parts).to_bits(), plaquette_sum(&whole.field).to_bits());
        }
        // Without the exchange the slabs drift from the whole-lattice chain (the test can fail).
        let mut slabs: Vec<SlabField<f64>> =
            Slab::decompose(&g, 2, 1).unwrap().into_iter().map(|s| SlabField::from_global(&start, s)).collect();
        let mut scratch = Vec::new();
        for update in compound_sweep_updates(4, 2) {
            for f in slabs.iter_mut() {
                update_slab(f, &mut scratch, update, 5.7, 3, 0);
            }
        }
        let mut one = WilsonChain::new(start, 5.7, 2, 3, 0).unwrap();
        one.step();
        let owned: Vec<&[Mat3<f64>]> = slabs.iter().map(|f| f.owned_links()).collect();
        assert_ne!(assemble(&g, &owned).checksum(), one.field.checksum());
    }

    /// Lanes whose staple vanishes (a zero SU(2) block) take the one-site
    /// branches: a Haar draw in the heatbath, no change in overrelaxation, and
    /// every lane keeps the one-site bits.
    #[test]
    fn packed_hits_with_vanishing_blocks_are_the_one_site_hits() {
        use crate::lanes::{F64x8, PACK};
        use crate::su3::random::haar_su3;
        let mut rng = Rng::stream(4, &[domain::TEST]);
        let links: Vec<Mat3<f64>> = (0..PACK).map(|_| haar_su3(&mut rng)).collect();
        let staples: Vec<Mat3<f64>> =
            (0..PACK).map(|l| if l == 2 || l == 5 { Mat3::zero() } else { haar_su3(&mut rng) }).collect();
        let (mut link, mut staple) = (Mat3::<F64x8>::zero(), Mat3::<F64x8>::zero());
        for l in 0..PACK {
            set_mat_lane(&mut link, l, &links[l]);
            set_mat_lane(&mut staple, l, &staples[l]);
        }
        let streams = |l: usize| Rng::stream(9, &[domain::TEST, l as u64]);
        let mut rngs: [Rng; PACK] = core::array::from_fn(streams);
        let hb = heatbath_hits(link, &staple, 5.5, &mut rngs);
        let or = overrelax_hits(link, &staple);
        for l in 0..PACK {
            let one = heatbath_hits(links[l], &staples[l], 5.5, core::slice::from_mut(&mut streams(l)));
            assert_eq!(mat_lane(&hb, l), one, "heatbath lane {l}");
            assert_eq!(mat_lane(&or, l), overrelax_hits(links[l], &staples[l]), "overrelaxation lane {l}");
        }
        assert_eq!(mat_lane(&or, 2), links[2]);
        assert_ne!(mat_lane(&or, 3), links[3]);
    }

    /// The chain's packed copy follows its field: a change through `field_mut` between
    /// steps is what the next step starts from, as for a new chain on the changed field.
    #[test]
    fn a_changed_field_is_repacked() {
        let g = Arc::new(Geometry::new(&[4, 4, 4, 4]).unwrap());
        let mut a = WilsonChain::new(GaugeField::<f64>::hot(g.clone(), 3), 6.0, 1, 5, 0).unwrap();
        a.step();
        let mut changed = a.field().clone();
        let one = Mat3::identity();
        changed.links_mut()[7] = one;
        a.field_mut().links_mut()[7] = one;
        a.step();
        let mut b = WilsonChain::new(changed, 6.0, 1, 5, 1).unwrap();
        b.step();
        assert_eq!(a.field().checksum(), b.field().checksum());
        // Without the change the chains differ (the test can fail).
        let mut c = WilsonChain::new(GaugeField::<f64>::hot(g, 3), 6.0, 1, 5, 0).unwrap();
        c.step();
        c.step();
        assert_ne!(c.field().checksum(), b.field().checksum());
    }

    #[test]
    fn the_slab_chain_drives_the_updates_in_order() {
        let g = Arc::new(Geometry::new(&[2, 2, 2, 4]).unwrap());
        let start: GaugeField<f64> = GaugeField::hot(g.clone(), 2);
        let mut whole = WilsonChain::new(start.clone(), 6.0, 3, 9, 4).unwrap();
        whole.step();
        // One slab with halo 1: its own halos are its periodic images.
        let slab = Slab::decompose(&g, 1, 1).unwrap().remove(0);
        let mut chain = SlabChain::new(SlabField::from_global(&start, slab), 6.0, 3, 9, 4).unwrap();
        let mut phases = Vec::new();
        chain.step_observed(&mut crate::lattice::slab::Alone, |p| phases.push(p));
        assert_eq!(phases, [Phase::Heatbath, Phase::Overrelax]);
        assert_eq!(chain.sweeps, 5);
        assert_eq!(chain.field.owned_links(), whole.field.links());
    }
}
