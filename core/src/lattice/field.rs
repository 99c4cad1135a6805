//! Gauge fields: one SU(3) link `U_mu(x)` per site and direction.

use super::geometry::Geometry;
use crate::real::Real;
use crate::rng::{domain, Rng};
use crate::su3::random::haar_su3;
use crate::su3::{reunitarize, Mat3};
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Links `U_mu(x)` from `x` to `x + mu-hat`, stored site-major
/// (`links[x·D + mu]`). The layout stays behind the accessors.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugeField<T> {
    geom: Arc<Geometry>,
    links: Vec<Mat3<T>>,
}

impl<T: Real> GaugeField<T> {
    /// All links equal to 1.
    pub fn cold(geom: Arc<Geometry>) -> Self {
        let n = geom.n_links();
        GaugeField { geom, links: alloc::vec![Mat3::identity(); n] }
    }

    /// Haar-random links, each from its own stream (same field on any thread count).
    pub fn hot(geom: Arc<Geometry>, seed: u64) -> Self {
        let nd = geom.nd();
        let links = crate::par::map_range(geom.n_links(), |l| {
            let mut rng = Rng::stream(seed, &[domain::HOT_START, (l / nd) as u64, (l % nd) as u64]);
            haar_su3(&mut rng)
        });
        GaugeField { geom, links }
    }

    /// Wraps links given in the storage order `links[x·D + mu]`.
    pub fn from_links(geom: Arc<Geometry>, links: Vec<Mat3<T>>) -> Self {
        assert_eq!(links.len(), geom.n_links(), "link count does not match the lattice");
        GaugeField { geom, links }
    }

    #[inline(always)]
    pub fn geometry(&self) -> &Arc<Geometry> {
        &self.geom
    }
    #[inline(always)]
    pub fn nd(&self) -> usize {
        self.geom.nd()
    }
    /// `U_mu(x)`
    #[inline(always)]
    pub fn link(&self, site: usize, mu: usize) -> &Mat3<T> {
        &self.links[site * self.geom.nd() + mu]
    }
    #[inline(always)]
    pub fn link_mut(&mut self, site: usize, mu: usize) -> &mut Mat3<T> {
        let nd = self.geom.nd();
        &mut self.links[site * nd + mu]
    }
    #[inline(always)]
    pub fn set_link(&mut self, site: usize, mu: usize, u: Mat3<T>) {
        *self.link_mut(site, mu) = u;
    }
    /// Sets `U_mu(x) = new[i]` for `x = sites_of_parity(parity)[i]`, in
    /// parallel. Needs even extents: then sites `2k` and `2k + 1` are
    /// neighbours along direction 0 of opposite parity, so the `k`-th site of
    /// either parity is one of the two and each pair is written by one worker.
    pub fn set_links_of_parity(&mut self, mu: usize, parity: usize, new: &[Mat3<T>]) {
        let geom = self.geom.clone();
        assert!(geom.has_checkerboard(), "lattice {} has no checkerboard", geom.label());
        let sites = geom.sites_of_parity(parity);
        assert_eq!(new.len(), sites.len(), "one new link per site of the parity");
        set_links_of_sites(&mut self.links, geom.nd(), sites, mu, new);
    }
    /// All links in storage order.
    #[inline(always)]
    pub fn links(&self) -> &[Mat3<T>] {
        &self.links
    }
    #[inline(always)]
    pub fn links_mut(&mut self) -> &mut [Mat3<T>] {
        &mut self.links
    }
    /// Index of `U_mu(x)` in [`links`](Self::links).
    #[inline(always)]
    pub fn link_index(&self, site: usize, mu: usize) -> usize {
        site * self.geom.nd() + mu
    }

    /// Projects every link back onto SU(3) (removes rounding drift).
    pub fn reunitarize(&mut self) {
        crate::par::for_each_mut(&mut self.links, |_, u| *u = reunitarize(u));
    }

    /// Largest `‖U U† − 1‖` entry-sum over all links, and largest `|det U − 1|`.
    pub fn unitarity_violation(&self) -> f64 {
        let one = Mat3::identity();
        self.links
            .iter()
            .map(|u| {
                let d = u.det();
                (*u * u.adj()).dist(&one).max((d - crate::su3::Complex::one()).abs().to_f64())
            })
            .fold(0.0, f64::max)
    }

    /// FNV-1a of the bits of every link entry (as `f64`), as 16 hex digits:
    /// equal strings mean bit-identical fields.
    pub fn checksum(&self) -> alloc::string::String {
        let h = crate::checksum::fnv1a_f64(
            self.links.iter().flat_map(|m| m.m.iter().flatten().flat_map(|z| [z.re.to_f64(), z.im.to_f64()])),
        );
        alloc::format!("{h:016x}")
    }

    /// `true` when no link has a NaN or infinite entry.
    pub fn is_finite(&self) -> bool {
        self.links.iter().all(|u| u.is_finite())
    }

    /// Converts the scalar type through `f64`.
    pub fn cast<S: Real>(&self) -> GaugeField<S> {
        GaugeField { geom: self.geom.clone(), links: self.links.iter().map(|u| u.cast()).collect() }
    }

    /// Applies `f(site, mu, &mut U)` to every link, in parallel when available.
    pub fn for_each_link_mut<F>(&mut self, f: F)
    where
        F: Fn(usize, usize, &mut Mat3<T>) + Sync + Send,
    {
        let nd = self.geom.nd();
        crate::par::for_each_mut(&mut self.links, |l, u| f(l / nd, l % nd, u));
    }
}

/// `links[x·nd + mu] = new[k]` for `x = sites[k]`, in parallel: the
/// checkerboard write-back of [`GaugeField::set_links_of_parity`] and of the
/// lane-packed field. `sites` are the sites of one parity on a lattice with an
/// even extent along direction 0, so sites `2k` and `2k + 1` are neighbours of
/// opposite parity and the `k`-th site of either parity is one of the two.
pub(crate) fn set_links_of_sites<M: Copy + Send + Sync>(
    links: &mut [M],
    nd: usize,
    sites: &[u32],
    mu: usize,
    new: &[M],
) {
    crate::par::for_each_chunk_mut(links, 2 * nd, |k, pair| {
        let x = sites[k] as usize;
        pair[(x - 2 * k) * nd + mu] = new[k];
    });
}
