//! Domain decomposition: the lattice cut into slabs of time slices, one per process, each
//! held with `halo` slices of its neighbours' links on either side.
//!
//! Direction 3 ("time", the slowest index of the site numbering) is cut, so that a slab's
//! sites are one contiguous range of global site numbers and a halo is a contiguous block of
//! links. Slab `r` of `N` owns the global slices `t0 .. t0 + nt` (`nt` even, as equal as the
//! extent allows) and stores the local lattice `L0 × L1 × L2 × (nt + 2·halo)`: local slice
//! `tl` is global slice `(t0 + tl − halo) mod T`, so the owned slices are `halo .. halo + nt`.
//! The local lattice is an ordinary periodic [`Geometry`]; its wrap-around in time joins the
//! two halos, which only matters at halo sites, and no update of an owned link reads a link
//! farther than `halo` slices away when `halo` is at least the reach of the action (1 for the
//! Wilson action's staples and plaquettes).
//!
//! After an update of owned links, [`SlabField::boundary`] gives the links a neighbour needs
//! (the first `halo` owned slices for the slab below, the last ones for the slab above) and
//! [`SlabField::set_halo`] stores what the neighbours sent. [`exchange_in_memory`] does both
//! for slabs held in one process (tests, and a reference for message-passing drivers).

use super::{GaugeField, Geometry};
use crate::real::Real;
use crate::su3::Mat3;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

/// Why a lattice could not be cut into slabs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// The lattice is not 4D or its time extent is odd.
    Shape(alloc::string::String),
    /// More slabs than pairs of time slices.
    TooManySlabs { slabs: usize, extent: usize },
    /// A slab thinner than its halo.
    HaloTooDeep { halo: usize, nt: usize },
}

impl fmt::Display for SlabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlabError::Shape(l) => {
                write!(f, "lattice {l} cannot be cut into time slabs: it must be 4D with an even time extent")
            }
            SlabError::TooManySlabs { slabs, extent } => write!(
                f,
                "{slabs} processes for a time extent of {extent}: each needs at least 2 time slices \
                 (use at most {} processes)",
                extent / 2
            ),
            SlabError::HaloTooDeep { halo, nt } => {
                write!(f, "a slab of {nt} time slices is thinner than its halo of {halo}")
            }
        }
    }
}

impl core::error::Error for SlabError {}

/// Which neighbour a boundary goes to, or a halo comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The slab with the smaller time coordinates (periodically).
    Below,
    /// The slab with the larger time coordinates.
    Above,
}

/// Which halo links an exchange refreshes: those of direction `mu` (all directions for
/// `None`) on the sites of global checkerboard parity `parity` (both for `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Links {
    pub mu: Option<usize>,
    pub parity: Option<usize>,
}

impl Links {
    /// Every link of the halo slices.
    pub const ALL: Links = Links { mu: None, parity: None };
    /// The links one checkerboard update changed.
    pub fn of(mu: usize, parity: usize) -> Links {
        Links { mu: Some(mu), parity: Some(parity) }
    }
}

/// One slab of a decomposition: which time slices it owns and its local lattice.
#[derive(Clone, Debug, PartialEq)]
pub struct Slab {
    global: Arc<Geometry>,
    local: Arc<Geometry>,
    t0: usize,
    nt: usize,
    halo: usize,
}

impl Slab {
    /// Cuts `global` (4D, even time extent `T`) into `slabs` slabs of an even number of time
    /// slices each (the first `(T/2) mod slabs` get one pair more), each with `halo` slices of
    /// halo on either side.
    pub fn decompose(global: &Arc<Geometry>, slabs: usize, halo: usize) -> Result<Vec<Slab>, SlabError> {
        if global.nd() != 4 || !global.dims()[3].is_multiple_of(2) {
            return Err(SlabError::Shape(global.label()));
        }
        let extent = global.dims()[3];
        let pairs = extent / 2;
        if slabs == 0 || slabs > pairs {
            return Err(SlabError::TooManySlabs { slabs, extent });
        }
        let mut out = Vec::with_capacity(slabs);
        let mut t0 = 0;
        for r in 0..slabs {
            let nt = 2 * (pairs / slabs + usize::from(r < pairs % slabs));
            if nt < halo {
                return Err(SlabError::HaloTooDeep { halo, nt });
            }
            let d = global.dims();
            let local = Geometry::new(&[d[0], d[1], d[2], nt + 2 * halo]).expect("a slab of a valid lattice");
            out.push(Slab { global: global.clone(), local: Arc::new(local), t0, nt, halo });
            t0 += nt;
        }
        Ok(out)
    }

    pub fn global(&self) -> &Arc<Geometry> {
        &self.global
    }
    /// The local lattice: the owned slices with their halos.
    pub fn local(&self) -> &Arc<Geometry> {
        &self.local
    }
    /// The first owned global time slice.
    pub fn t0(&self) -> usize {
        self.t0
    }
    /// The number of owned time slices.
    pub fn nt(&self) -> usize {
        self.nt
    }
    pub fn halo(&self) -> usize {
        self.halo
    }
    /// Sites per time slice, `L0 L1 L2`.
    fn slice(&self) -> usize {
        self.global.volume() / self.global.dims()[3]
    }
    /// The owned sites as global site numbers.
    pub fn global_sites(&self) -> Range<usize> {
        self.t0 * self.slice()..(self.t0 + self.nt) * self.slice()
    }
    /// The owned sites as local site numbers.
    pub fn owned_sites(&self) -> Range<usize> {
        self.halo * self.slice()..(self.halo + self.nt) * self.slice()
    }
    /// `true` when the local site is owned (not a halo site).
    #[inline(always)]
    pub fn is_owned(&self, local: usize) -> bool {
        self.owned_sites().contains(&local)
    }
    /// The global number of a local site (owned or halo).
    #[inline(always)]
    pub fn global_site(&self, local: usize) -> usize {
        let s = self.slice();
        let t = self.global.dims()[3];
        let tl = local / s;
        local % s + s * ((self.t0 + t + tl - self.halo) % t)
    }
    /// The local number of an owned global site.
    #[inline(always)]
    pub fn local_site(&self, global: usize) -> usize {
        debug_assert!(self.global_sites().contains(&global));
        global - self.t0 * self.slice() + self.halo * self.slice()
    }
    /// The local checkerboard colour of the sites of global parity `parity` (the local
    /// lattice starts `t0 − halo` slices into the global one).
    pub fn local_parity(&self, parity: usize) -> usize {
        (parity + self.t0 + self.halo) % 2
    }
    /// The `(site, mu)` pairs of `links` among the local sites `range`, in storage order.
    fn select(&self, range: Range<usize>, links: Links) -> impl Iterator<Item = (usize, usize)> + '_ {
        let nd = self.local.nd();
        let dirs = links.mu.map_or(0..nd, |m| m..m + 1);
        let colour = links.parity.map(|p| self.local_parity(p));
        range
            .filter(move |&x| colour.is_none_or(|c| self.local.parity(x) == c))
            .flat_map(move |x| dirs.clone().map(move |m| (x, m)))
    }

    /// Local site range of the `halo` slices that `side`'s neighbour needs from this slab.
    fn boundary_sites(&self, side: Side) -> Range<usize> {
        let s = self.slice();
        match side {
            Side::Below => self.halo * s..2 * self.halo * s,
            Side::Above => self.nt * s..(self.nt + self.halo) * s,
        }
    }
    /// Local site range of the halo that `side`'s neighbour fills.
    fn halo_sites(&self, side: Side) -> Range<usize> {
        let s = self.slice();
        match side {
            Side::Below => 0..self.halo * s,
            Side::Above => (self.nt + self.halo) * s..(self.nt + 2 * self.halo) * s,
        }
    }
}

/// A slab's share of a gauge field: the owned links and the halos, on the local lattice.
#[derive(Clone, Debug, PartialEq)]
pub struct SlabField<T> {
    slab: Slab,
    field: GaugeField<T>,
}

impl<T: Real> SlabField<T> {
    /// The slab's links (owned and halo) copied from a whole field.
    pub fn from_global(u: &GaugeField<T>, slab: Slab) -> Self {
        assert_eq!(**u.geometry(), *slab.global, "the field's lattice is not the decomposed one");
        let nd = u.nd();
        let mut links = Vec::with_capacity(slab.local.n_links());
        for x in 0..slab.local.volume() {
            let g = slab.global_site(x);
            links.extend((0..nd).map(|mu| *u.link(g, mu)));
        }
        SlabField { field: GaugeField::from_links(slab.local.clone(), links), slab }
    }

    /// The slab's field from its owned links (in storage order, as [`Self::owned_links`]
    /// gives them); the halos are unit links until the first exchange.
    pub fn from_owned(slab: Slab, owned: &[Mat3<T>]) -> Self {
        let mut field = GaugeField::cold(slab.local.clone());
        let r = slab.owned_sites();
        let nd = field.nd();
        assert_eq!(owned.len(), r.len() * nd, "one link per owned site and direction");
        field.links_mut()[r.start * nd..r.end * nd].copy_from_slice(owned);
        SlabField { field, slab }
    }

    pub fn slab(&self) -> &Slab {
        &self.slab
    }
    /// The field on the local lattice (halo links included).
    pub fn field(&self) -> &GaugeField<T> {
        &self.field
    }
    pub fn field_mut(&mut self) -> &mut GaugeField<T> {
        &mut self.field
    }
    /// The owned links, sites in global order, `D` links per site: the slab's block of the
    /// whole field's storage ([`GaugeField::links`] from `global_sites().start · D`).
    pub fn owned_links(&self) -> &[Mat3<T>] {
        let r = self.slab.owned_sites();
        let nd = self.field.nd();
        &self.field.links()[r.start * nd..r.end * nd]
    }

    /// This slab's share of `par::sum(V, |x| term(u, x))` over the whole lattice, as
    /// [`crate::par::sum_pieces`] of the owned sites (`term` gets the local field and site).
    pub fn site_sum_pieces<F>(&self, term: F) -> Vec<T>
    where
        F: Fn(&GaugeField<T>, usize) -> T + Sync + Send,
    {
        crate::par::sum_pieces(self.slab.global_sites(), |g| term(&self.field, self.slab.local_site(g)))
    }

    /// The `links` on the `halo` owned slices that `side`'s neighbour keeps as its halo, in
    /// storage order.
    pub fn boundary(&self, side: Side, links: Links) -> Vec<Mat3<T>> {
        self.slab.select(self.slab.boundary_sites(side), links).map(|(x, m)| *self.field.link(x, m)).collect()
    }

    /// Stores in the halo on `side` the links the neighbour there sent with
    /// [`Self::boundary`] (the neighbour below sends its `Above` boundary, and so on).
    pub fn set_halo(&mut self, side: Side, links: Links, data: &[Mat3<T>]) {
        let slab = self.slab.clone();
        let mut it = data.iter();
        for (x, m) in slab.select(slab.halo_sites(side), links) {
            self.field.set_link(x, m, *it.next().expect("halo message too short"));
        }
        assert!(it.next().is_none(), "halo message too long");
    }
}

/// What a slab's process needs from the others: halo exchange and ordered global sums.
/// Implemented over MPI by the command-line program, in memory by [`Alone`].
pub trait SlabComm<T> {
    /// Refreshes the `links` of the halos of `f` from the neighbouring slabs'
    /// [`SlabField::boundary`]. Collective: every slab calls it.
    fn exchange(&mut self, f: &mut SlabField<T>, links: Links);
    /// The whole lattice's sum from this slab's [`crate::par::sum_pieces`] over `range` (its
    /// share of the summed index range): [`crate::par::combine_pieces`] over all slabs in
    /// order, the same bits on every slab. Collective.
    fn combine(&mut self, range: Range<usize>, pieces: &[T]) -> T;
}

/// The communicator of a decomposition into one slab (its halos are its own periodic images).
pub struct Alone;

impl<T: Real> SlabComm<T> for Alone {
    fn exchange(&mut self, f: &mut SlabField<T>, links: Links) {
        exchange_in_memory(core::slice::from_mut(f), links);
    }
    fn combine(&mut self, range: Range<usize>, pieces: &[T]) -> T {
        crate::par::combine_pieces(&[(range, pieces)])
    }
}

/// Every slab's halo `links` refreshed from its neighbours' boundaries, for the slabs of one
/// decomposition held in one process, in order.
pub fn exchange_in_memory<T: Real>(slabs: &mut [SlabField<T>], links: Links) {
    let n = slabs.len();
    let from_above: Vec<Vec<Mat3<T>>> = slabs.iter().map(|s| s.boundary(Side::Below, links)).collect();
    let from_below: Vec<Vec<Mat3<T>>> = slabs.iter().map(|s| s.boundary(Side::Above, links)).collect();
    for (r, s) in slabs.iter_mut().enumerate() {
        s.set_halo(Side::Below, links, &from_below[(r + n - 1) % n]);
        s.set_halo(Side::Above, links, &from_above[(r + 1) % n]);
    }
}

/// The whole field from its slabs' owned links, in slab order.
pub fn assemble<T: Real>(global: &Arc<Geometry>, owned: &[&[Mat3<T>]]) -> GaugeField<T> {
    let links: Vec<Mat3<T>> = owned.iter().flat_map(|o| o.iter().copied()).collect();
    GaugeField::from_links(global.clone(), links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slabs_cover_the_lattice_and_halos_hold_the_neighbours_links() {
        let g = Arc::new(Geometry::new(&[2, 4, 2, 10]).unwrap());
        let u: GaugeField<f64> = GaugeField::hot(g.clone(), 5);
        for n in 1..=5 {
            let slabs = Slab::decompose(&g, n, 1).unwrap();
            let nts: Vec<usize> = slabs.iter().map(|s| s.nt()).collect();
            assert_eq!(nts.iter().sum::<usize>(), 10);
            assert!(nts.iter().all(|&t| t % 2 == 0 && t >= 2), "{nts:?}");
            let fields: Vec<SlabField<f64>> = slabs.into_iter().map(|s| SlabField::from_global(&u, s)).collect();
            let owned: Vec<&[Mat3<f64>]> = fields.iter().map(|f| f.owned_links()).collect();
            assert_eq!(assemble(&g, &owned), u);
            // Halos from the neighbours equal the copies taken from the whole field.
            let mut rebuilt: Vec<SlabField<f64>> =
                fields.iter().map(|f| SlabField::from_owned(f.slab().clone(), f.owned_links())).collect();
            exchange_in_memory(&mut rebuilt, Links::ALL);
            assert_eq!(rebuilt, fields);
            for f in &fields {
                for x in 0..f.slab().local().volume() {
                    let gx = f.slab().global_site(x);
                    assert_eq!(f.field().link(x, 2), u.link(gx, 2));
                    assert_eq!(g.parity(gx), (f.slab().local().parity(x) + f.slab().t0() + 1) % 2);
                    assert_eq!(f.slab().local_parity(g.parity(gx)), f.slab().local().parity(x));
                }
            }
        }
        assert!(matches!(Slab::decompose(&g, 6, 1), Err(SlabError::TooManySlabs { .. })));
        let odd = Arc::new(Geometry::new(&[2, 2, 2, 5]).unwrap());
        assert!(matches!(Slab::decompose(&odd, 1, 1), Err(SlabError::Shape(_))));
        assert!(matches!(Slab::decompose(&g, 5, 3), Err(SlabError::HaloTooDeep { .. })));
    }
}

/// A [`SlabComm`] for slabs run on threads of one process, for tests of the slab drivers.
#[cfg(all(test, feature = "std"))]
pub(crate) mod threads {
    extern crate std;
    use super::*;
    use std::sync::{Arc as StdArc, Barrier, Mutex};

    type Boundaries<T> = (Vec<Mat3<T>>, Vec<Mat3<T>>);

    /// What the threads share: each slab's boundaries and sum pieces, posted between barriers.
    pub struct Shared<T> {
        barrier: Barrier,
        boundaries: Mutex<Vec<Boundaries<T>>>,
        pieces: Mutex<Vec<(Range<usize>, Vec<T>)>>,
    }

    /// Slab `rank`'s end of a [`Shared`].
    pub struct ThreadComm<T> {
        pub rank: usize,
        pub shared: StdArc<Shared<T>>,
    }

    pub fn comms<T: Real>(n: usize) -> Vec<ThreadComm<T>> {
        let shared = StdArc::new(Shared {
            barrier: Barrier::new(n),
            boundaries: Mutex::new(alloc::vec![(Vec::new(), Vec::new()); n]),
            pieces: Mutex::new(alloc::vec![(0..0, Vec::new()); n]),
        });
        (0..n).map(|rank| ThreadComm { rank, shared: shared.clone() }).collect()
    }

    impl<T: Real> SlabComm<T> for ThreadComm<T> {
        fn exchange(&mut self, f: &mut SlabField<T>, links: Links) {
            let n = self.shared.boundaries.lock().unwrap().len();
            self.shared.boundaries.lock().unwrap()[self.rank] =
                (f.boundary(Side::Below, links), f.boundary(Side::Above, links));
            self.shared.barrier.wait();
            {
                let b = self.shared.boundaries.lock().unwrap();
                f.set_halo(Side::Below, links, &b[(self.rank + n - 1) % n].1);
                f.set_halo(Side::Above, links, &b[(self.rank + 1) % n].0);
            }
            self.shared.barrier.wait();
        }
        fn combine(&mut self, range: Range<usize>, pieces: &[T]) -> T {
            self.shared.pieces.lock().unwrap()[self.rank] = (range, pieces.to_vec());
            self.shared.barrier.wait();
            let total = {
                let all = self.shared.pieces.lock().unwrap();
                let parts: Vec<(Range<usize>, &[T])> = all.iter().map(|(r, p)| (r.clone(), &p[..])).collect();
                crate::par::combine_pieces(&parts)
            };
            self.shared.barrier.wait();
            total
        }
    }
}
