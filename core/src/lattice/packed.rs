//! The lane-packed ("virtual node") layout of a gauge field.
//!
//! Three directions `μ` with `L_μ` divisible by 4 are halved; the lattice is
//! then eight sub-lattices (one per lane), and the *outer* lattice, of extents
//! `L_μ/2` in the halved directions and `L_μ` in the others, holds one
//! [`F64x8`] pack per link component. Lane `l` (bit `j` = which half along the
//! `j`-th halved direction) of outer site `c` is the global site
//! `x_μ = c_μ + b_μ(l)·L_μ/2`. All lanes of an outer site move together:
//! the neighbour of outer site `c` along `μ` is outer site `c ± μ̂`, and
//! where that wraps around a halved direction the lanes swap halves, i.e.
//! lane `l` reads lane `l ^ 2^j` ([`F64x8::flip`]). Because `L_μ/2` is even,
//! the eight sites of a pack have one checkerboard parity, that of `c`.
//! Outer sites are numbered parity by parity, and the packs of one direction
//! and parity form one array, which an update of that direction and parity
//! rewrites in place (its staples read only the other arrays).
//!
//! The layout is a working copy for the hot loops (heatbath, overrelaxation,
//! [`crate::mc::packed`]); [`GaugeField`] keeps its own storage order.

use super::geometry::{Geometry, MAX_DIM};
use super::huge_buf::HugeBuf;
use super::GaugeField;
use crate::action::wilson::LinkSource;
use crate::lanes::{load_mat, mat_lane, F64x8, Pack, PACK};
use crate::su3::Mat3;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Number of halved directions (`2^3 = PACK` lanes).
const HALVED: usize = 3;

/// The outer lattice, its neighbour tables and the global site of every lane.
/// Outer sites are numbered by parity: the `V/16` sites of parity 0 first (in the
/// order of [`Geometry::sites_of_parity`] on the outer lattice), then those of parity 1.
#[derive(Clone, Debug)]
pub struct PackedLayout {
    nd: usize,
    /// Outer sites of one parity (the outer volume / 2).
    half: usize,
    /// `(outer neighbour, lane flip)` of outer site `o` along `mu`: entry `o·nd + mu`.
    up: Vec<(u32, u8)>,
    dn: Vec<(u32, u8)>,
    /// Global site of lane `l` of outer site `o`.
    global: Vec<[u32; PACK]>,
    /// The inverse of `global`: `(outer site, lane)` of each global site.
    lane_of: Vec<(u32, u8)>,
}

impl PackedLayout {
    /// The layout for `geom`, or `None` when fewer than three directions have
    /// extents divisible by 4 (or any extent is odd): such lattices take the
    /// one-site-at-a-time path. The halved directions are the last three that
    /// qualify, counting from time down.
    pub fn new(geom: &Geometry) -> Option<Self> {
        let nd = geom.nd();
        if !geom.has_checkerboard() {
            return None;
        }
        let mut lane_bit = [0u8; MAX_DIM];
        let mut halved = 0;
        for mu in (0..nd).rev() {
            if halved < HALVED && geom.dims()[mu].is_multiple_of(4) {
                lane_bit[mu] = 1 << halved;
                halved += 1;
            }
        }
        if halved < HALVED {
            return None;
        }
        let outer_dims: Vec<usize> =
            (0..nd).map(|mu| if lane_bit[mu] != 0 { geom.dims()[mu] / 2 } else { geom.dims()[mu] }).collect();
        let outer = Geometry::new(&outer_dims).ok()?;
        let n = outer.volume();
        // `by_parity[i]`: the outer lattice's site that gets number `i` (parity 0 first).
        let by_parity: Vec<usize> = (0..2).flat_map(|p| outer.sites_of_parity(p).iter().map(|&o| o as usize)).collect();
        let mut number = alloc::vec![0u32; n];
        for (i, &o) in by_parity.iter().enumerate() {
            number[o] = i as u32;
        }
        let (mut up, mut dn) = (Vec::with_capacity(n * nd), Vec::with_capacity(n * nd));
        let mut global = Vec::with_capacity(n);
        for &o in &by_parity {
            let c = outer.coords(o);
            for mu in 0..nd {
                // Wrapping around the outer extent of a halved direction swaps the halves.
                let flip_up = if c[mu] + 1 == outer_dims[mu] { lane_bit[mu] } else { 0 };
                let flip_dn = if c[mu] == 0 { lane_bit[mu] } else { 0 };
                up.push((number[outer.up(o, mu)], flip_up));
                dn.push((number[outer.dn(o, mu)], flip_dn));
            }
            global.push(core::array::from_fn(|l| {
                let mut x = [0usize; MAX_DIM];
                for mu in 0..nd {
                    let half = if lane_bit[mu] as usize & l != 0 { outer_dims[mu] } else { 0 };
                    x[mu] = c[mu] + half;
                }
                geom.index(&x[..nd]) as u32
            }));
        }
        let mut lane_of = alloc::vec![(0u32, 0u8); geom.volume()];
        for (o, sites) in global.iter().enumerate() {
            for (l, &x) in sites.iter().enumerate() {
                lane_of[x as usize] = (o as u32, l as u8);
            }
        }
        Some(PackedLayout { nd, half: n / 2, up, dn, global, lane_of })
    }

    pub fn nd(&self) -> usize {
        self.nd
    }
    /// Number of outer sites (the lattice volume / 8).
    pub fn outer_volume(&self) -> usize {
        self.global.len()
    }
    /// Global site of lane `l` of outer site `o`.
    #[inline(always)]
    pub fn global_site(&self, o: usize, l: usize) -> usize {
        self.global[o][l] as usize
    }
    /// Outer sites of one parity (their lanes all have that parity): a contiguous range.
    pub fn outer_sites_of_parity(&self, parity: usize) -> core::ops::Range<usize> {
        parity * self.half..(parity + 1) * self.half
    }
    /// `(parity, position within the parity)` of outer site `o`.
    #[inline(always)]
    fn split(&self, o: usize) -> (usize, usize) {
        if o < self.half {
            (0, o)
        } else {
            (1, o - self.half)
        }
    }
}

/// A gauge field in the [`PackedLayout`]: the packs `U_mu(o)` of the outer sites of
/// one parity in one array per `(mu, parity)` (entry `2·mu + parity`), so that an
/// update of one direction and parity writes its array in place while the staples
/// read the others.
#[derive(Clone, Debug)]
pub struct PackedField {
    layout: Arc<PackedLayout>,
    /// In huge pages where the kernel gives them: from 16⁴ on the arrays outgrow
    /// the caches and every sweep reads all of them ([`HugeBuf`]).
    links: Vec<HugeBuf<Mat3<F64x8>>>,
}

/// A site of a [`PackedField`] seen from the lanes of one pack: lane `l`
/// refers to lane `l ^ flip` of outer site `outer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedSite {
    pub outer: u32,
    pub flip: u8,
}

impl PackedField {
    /// The links of `u` rearranged into `layout` (which must be `u`'s).
    pub fn pack(layout: &Arc<PackedLayout>, u: &GaugeField<f64>) -> Self {
        let arrays = 2 * layout.nd;
        let links = (0..arrays).map(|_| HugeBuf::filled(layout.half, Mat3::zero())).collect();
        let mut f = PackedField { layout: layout.clone(), links };
        f.repack(u);
        f
    }

    /// Overwrites the packs with the links of `u` (a field of this layout's lattice),
    /// in place.
    pub fn repack(&mut self, u: &GaugeField<f64>) {
        let layout = &*self.layout;
        assert_eq!(u.nd(), layout.nd, "layout and field have different dimensions");
        assert_eq!(layout.outer_volume() * PACK, u.geometry().volume(), "layout and field have different volumes");
        for (a, packs) in self.links.iter_mut().enumerate() {
            let (mu, first) = (a / 2, layout.outer_sites_of_parity(a % 2).start);
            crate::par::for_each_mut(packs, |k, m| {
                let o = first + k;
                let lanes: [&Mat3<f64>; PACK] = core::array::from_fn(|l| u.link(layout.global_site(o, l), mu));
                // Component by component: each pack is written once, whole.
                for i in 0..3 {
                    for j in 0..3 {
                        m.m[i][j].re = crate::lanes::SitePack(core::array::from_fn(|l| lanes[l].m[i][j].re));
                        m.m[i][j].im = crate::lanes::SitePack(core::array::from_fn(|l| lanes[l].m[i][j].im));
                    }
                }
            });
        }
    }

    /// Writes the links back into `u` (the field they were packed from, or one of its geometry).
    pub fn unpack_into(&self, u: &mut GaugeField<f64>) {
        let nd = self.layout.nd;
        let lane_of = &self.layout.lane_of;
        assert_eq!(lane_of.len(), u.geometry().volume(), "layout and field have different volumes");
        crate::par::for_each_chunk_mut(u.links_mut(), nd, |x, out| {
            let (o, l) = lane_of[x];
            for (mu, m) in out.iter_mut().enumerate() {
                *m = mat_lane(self.pack_at(o as usize, mu), l as usize);
            }
        });
    }

    pub fn layout(&self) -> &PackedLayout {
        &self.layout
    }

    /// The pack `U_mu(o)` (lanes in storage order).
    #[inline(always)]
    pub fn pack_at(&self, o: usize, mu: usize) -> &Mat3<F64x8> {
        let (parity, k) = self.layout.split(o);
        &self.links[2 * mu + parity][k]
    }

    /// Replaces every pack `U_mu(o)` of the outer sites `o` of `parity` by
    /// `new_pack(field, o, pack)`, in parallel and in place: `pack` holds the old
    /// `U_mu(o)` and receives the new one, and `field` is this field without those
    /// packs (reading one of them panics). The Wilson staple of `U_mu(x)` reads
    /// `U_mu` only at the neighbours `x ± ν̂`, of the other parity.
    pub fn update_packs_of_parity<F>(&mut self, mu: usize, parity: usize, new_pack: F)
    where
        F: Fn(&PackedField, usize, &mut Mat3<F64x8>) + Sync,
    {
        let mut target = core::mem::take(&mut self.links[2 * mu + parity]);
        let first = self.layout.outer_sites_of_parity(parity).start;
        let field: &PackedField = self;
        crate::par::for_each_mut(&mut target, |k, pack| new_pack(field, first + k, pack));
        self.links[2 * mu + parity] = target;
    }
}

/// A [`PackedField`] read in the register form `P` of its packs (see
/// [`PackedField::view`]): the [`LinkSource`] of the packed kernels.
pub struct PackedView<'f, P> {
    field: &'f PackedField,
    /// Which part of every pack is read (see [`Pack::PARTS`]).
    part: usize,
    form: core::marker::PhantomData<P>,
}

impl PackedField {
    /// The field as a [`LinkSource`] with links in the register form `P`, of
    /// which part `part` (`< P::PARTS`) of every pack is read: the lanes
    /// `part · P::LANES ..` of a site's pack, which a path that wraps around a
    /// halved direction takes from wherever the lane permutation puts them.
    #[inline(always)]
    pub fn view<P: Pack>(&self, part: usize) -> PackedView<'_, P> {
        debug_assert!(part < P::PARTS);
        PackedView { field: self, part, form: core::marker::PhantomData }
    }
}

/// A link pack as [`PackedView::link_at`] reads it (lanes permuted where the path wrapped).
pub struct Loaded<P>(Mat3<P>);

impl<P> core::ops::Deref for Loaded<P> {
    type Target = Mat3<P>;
    #[inline(always)]
    fn deref(&self) -> &Mat3<P> {
        &self.0
    }
}

impl<P: Pack> LinkSource for PackedView<'_, P> {
    type Site = PackedSite;
    type Scalar = P;
    type Link<'l>
        = Loaded<P>
    where
        Self: 'l;
    #[inline(always)]
    fn nd(&self) -> usize {
        self.field.layout.nd
    }
    #[inline(always)]
    fn site_up(&self, x: PackedSite, mu: usize) -> PackedSite {
        let layout = &*self.field.layout;
        let (o, f) = layout.up[x.outer as usize * layout.nd + mu];
        PackedSite { outer: o, flip: x.flip ^ f }
    }
    #[inline(always)]
    fn site_dn(&self, x: PackedSite, mu: usize) -> PackedSite {
        let layout = &*self.field.layout;
        let (o, f) = layout.dn[x.outer as usize * layout.nd + mu];
        PackedSite { outer: o, flip: x.flip ^ f }
    }
    #[inline(always)]
    fn link_at(&self, x: PackedSite, mu: usize) -> Loaded<P> {
        Loaded(load_mat(self.field.pack_at(x.outer as usize, mu), self.part, x.flip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::wilson::{staple, staple_in};
    use alloc::sync::Arc;

    #[test]
    fn packing_round_trips_and_packed_staples_are_the_scalar_staples_bit_for_bit() {
        for dims in [[4usize, 4, 4, 4], [6, 4, 8, 4], [4, 8, 4, 12]] {
            let g = Arc::new(Geometry::new(&dims).unwrap());
            let layout = Arc::new(PackedLayout::new(&g).unwrap());
            let u: GaugeField<f64> = GaugeField::hot(g.clone(), 5);
            let p = PackedField::pack(&layout, &u);
            let mut back = GaugeField::cold(g.clone());
            p.unpack_into(&mut back);
            assert_eq!(back, u);
            for parity in 0..2 {
                for o in layout.outer_sites_of_parity(parity) {
                    for mu in 0..4 {
                        let k = staple_in(&p.view::<F64x8>(0), PackedSite { outer: o as u32, flip: 0 }, mu);
                        for l in 0..PACK {
                            let x = layout.global_site(o, l);
                            assert_eq!(g.parity(x), parity);
                            assert_eq!(mat_lane(&k, l), staple(&u, x, mu), "{dims:?} site {x} mu {mu}");
                        }
                    }
                }
            }
        }
    }

    /// At 16⁴ every array spans several huge pages and starts on one.
    #[test]
    fn a_field_in_huge_buffers_round_trips() {
        let g = Arc::new(Geometry::new(&[16, 16, 16, 16]).unwrap());
        let layout = Arc::new(PackedLayout::new(&g).unwrap());
        let u: GaugeField<f64> = GaugeField::hot(g.clone(), 3);
        let p = PackedField::pack(&layout, &u);
        assert!(p.links.iter().all(|a| (a.as_ptr() as usize).is_multiple_of(super::super::huge_buf::HUGE_PAGE)));
        let mut back = GaugeField::cold(g);
        p.unpack_into(&mut back);
        assert_eq!(back, u);
    }

    #[test]
    fn lattices_without_three_extents_divisible_by_four_have_no_layout() {
        for dims in [alloc::vec![4, 4, 6, 6], alloc::vec![8, 8], alloc::vec![4, 4, 6, 2], alloc::vec![2, 2, 2, 2]] {
            assert!(PackedLayout::new(&Geometry::new(&dims).unwrap()).is_none(), "{dims:?}");
        }
        assert!(PackedLayout::new(&Geometry::new(&[4, 4, 4]).unwrap()).is_some());
        assert!(PackedLayout::new(&Geometry::new(&[4, 4, 4, 2]).unwrap()).is_some());
    }
}
