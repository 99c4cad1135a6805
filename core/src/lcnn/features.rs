//! Gauge-covariant feature maps `W_{x,i}` (`W → Ω(x) W Ω(x)†`) and parallel
//! transport along the lattice axes.
//!
//! Transport by one step (as in lge-cnn's `transport`):
//! `(T₊W)(x) = U_μ(x) W(x+μ̂) U_μ(x)†`, `(T₋W)(x) = U_μ(x−μ̂)† W(x−μ̂) U_μ(x−μ̂)`.
//! Backward (gradient convention `δf = Re Tr(G† δX)`):
//! * `T₊`: `G_W(x+μ̂) += U† G U`, `G_U(x) += G U W'† + G† U W'` with `W' = W(x+μ̂)`;
//! * `T₋`: `G_W(x−μ̂) += U G U†`, `G_{U_μ(x−μ̂)} += W' U G† + W'† U G` with `U = U_μ(x−μ̂)`, `W' = W(x−μ̂)`.
//!
//! Both are written in "pull" form (each site gathers what it receives), so
//! they run in parallel without races and sum in a fixed order.

use crate::lanes::{pack_slice, splat_mat, unpack_mats, unpack_slice, PACK};
use crate::lattice::GaugeField;
use crate::real::{Real, Ring};
use crate::su3::Mat3;
use alloc::vec::Vec;

/// `channels` matrices per site. The storage layout is this module's
/// business: everything else goes through the accessors, whose canonical
/// order (for [`Self::iter`] and [`Self::from_site_major`]) is site-major,
/// `site·channels + c`, sites in [`crate::lattice::Geometry`] order.
/// The storage comes from and goes back to [`crate::recycle`]'s pool.
#[derive(Debug, PartialEq)]
pub struct Features<T: Ring> {
    pub channels: usize,
    data: Vec<Mat3<T>>,
}

/// Channels `first..first + len` of every site of a feature map, read in
/// place (no copy).
#[derive(Clone, Copy, Debug)]
pub struct Channels<'a, T: Ring> {
    features: &'a Features<T>,
    first: usize,
    len: usize,
}

impl<'a, T: Ring> Channels<'a, T> {
    /// The viewed channels of `site`.
    #[inline(always)]
    pub fn site(&self, site: usize) -> &'a [Mat3<T>] {
        let c = self.features.channels;
        &self.features.data[site * c + self.first..site * c + self.first + self.len]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: Ring> Drop for Features<T> {
    fn drop(&mut self) {
        crate::recycle::recycle(core::mem::take(&mut self.data));
    }
}

impl<T: Ring> Clone for Features<T> {
    fn clone(&self) -> Self {
        let mut data = crate::recycle::with_capacity(self.data.len());
        data.extend_from_slice(&self.data);
        Features { channels: self.channels, data }
    }
}

impl<T: Real> Features<T> {
    pub fn zeros(volume: usize, channels: usize) -> Self {
        Features { channels, data: crate::recycle::filled(volume * channels, Mat3::zero()) }
    }
    /// From matrices in the canonical order (`site·channels + c`).
    pub fn from_site_major(channels: usize, data: Vec<Mat3<T>>) -> Self {
        assert!(channels == 0 || data.len().is_multiple_of(channels), "features: not a whole number of sites");
        Features { channels, data }
    }
    /// Every matrix, in the canonical order.
    pub fn iter(&self) -> core::slice::Iter<'_, Mat3<T>> {
        self.data.iter()
    }
    /// Every matrix, mutably, in the canonical order.
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, Mat3<T>> {
        self.data.iter_mut()
    }
    /// Number of matrices (`volume · channels`).
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    #[inline(always)]
    pub fn at_mut(&mut self, site: usize, c: usize) -> &mut Mat3<T> {
        &mut self.data[site * self.channels + c]
    }
    /// `f(site, channels of the site)` for every site, in parallel.
    pub fn for_each_site_mut(&mut self, f: impl Fn(usize, &mut [Mat3<T>]) + Sync + Send) {
        crate::par::for_each_chunk_mut(&mut self.data, self.channels.max(1), f)
    }
    /// `f(state, block, channels of sites block·sites ..)` for blocks of
    /// `sites` consecutive sites, in parallel, each worker with a `state` from `init`.
    pub fn for_each_site_block_mut_init<S>(
        &mut self,
        sites: usize,
        init: impl Fn() -> S + Sync + Send,
        f: impl Fn(&mut S, usize, &mut [Mat3<T>]) + Sync + Send,
    ) {
        crate::par::for_each_chunk_mut_init(&mut self.data, (self.channels * sites).max(1), init, f)
    }
    #[inline(always)]
    pub fn at(&self, site: usize, c: usize) -> &Mat3<T> {
        &self.data[site * self.channels + c]
    }
    #[inline(always)]
    pub fn site(&self, site: usize) -> &[Mat3<T>] {
        &self.data[site * self.channels..(site + 1) * self.channels]
    }
    pub fn volume(&self) -> usize {
        self.data.len().checked_div(self.channels).unwrap_or(0)
    }
    /// `self += other` (element by element, so in parallel).
    pub fn add_assign(&mut self, other: &Self) {
        const CHUNK: usize = 4096;
        let o = &other.data;
        crate::par::for_each_chunk_mut(&mut self.data, CHUNK, |i, c| {
            for (a, b) in c.iter_mut().zip(&o[(i * CHUNK).min(o.len())..]) {
                *a += *b;
            }
        });
    }
    /// `self += other` for a view of another map's channels (as many as `self` has).
    pub fn add_assign_channels(&mut self, other: Channels<'_, T>) {
        assert_eq!(other.len, self.channels, "add_assign_channels: channel counts differ");
        self.for_each_site_mut(|x, a| {
            for (a, b) in a.iter_mut().zip(other.site(x)) {
                *a += *b;
            }
        });
    }
    /// Channels `first..first + len` of every site, as a view.
    pub fn view(&self, first: usize, len: usize) -> Channels<'_, T> {
        assert!(first + len <= self.channels, "view: channels {first}..{} of {}", first + len, self.channels);
        Channels { features: self, first, len }
    }
    /// Channels side by side: `[self, other]` per site.
    pub fn concat(&self, other: &Self) -> Self {
        Self::concat_all(&[self, other])
    }
    /// Channels of all `parts` side by side, in order, per site (one pass).
    pub fn concat_all(parts: &[&Self]) -> Self {
        let v = parts.iter().map(|p| p.volume()).max().unwrap_or(0);
        // Output channel k of a site is channel `local` of part `part`.
        let from: Vec<(usize, usize)> =
            parts.iter().enumerate().flat_map(|(i, p)| (0..p.channels).map(move |local| (i, local))).collect();
        let c = from.len();
        let mut data = crate::recycle::with_capacity(v * c);
        crate::par::extend_with(&mut data, v * c, |i| {
            let (part, local) = from[i % c];
            *parts[part].at(i / c, local)
        });
        Features { channels: c, data }
    }
    /// Channels `range` of every site.
    pub fn select(&self, start: usize, len: usize) -> Self {
        let v = self.volume();
        assert!(start + len <= self.channels, "select: channels {start}..{} of {}", start + len, self.channels);
        let mut data = crate::recycle::with_capacity(v * len);
        crate::par::extend_with(&mut data, v * len, |i| *self.at(i / len, start + i % len));
        Features { channels: len, data }
    }
}

/// One transport step of every channel along `mu` (`forward`: `T₊`, else `T₋`).
pub fn transport<T: Real>(u: &GaugeField<T>, w: &Features<T>, mu: usize, forward: bool) -> Features<T> {
    let mut out = Features::zeros(u.geometry().volume(), w.channels);
    out.for_each_site_mut(|x, o| transport_site(u, w, mu, forward, x, o));
    out
}

/// [`transport`] at one site `x`: its `w.channels` transported channels into `out`.
#[inline]
pub fn transport_site<T: Real>(
    u: &GaugeField<T>,
    w: &Features<T>,
    mu: usize,
    forward: bool,
    x: usize,
    out: &mut [Mat3<T>],
) {
    let g = u.geometry();
    let (link, src) = if forward {
        (*u.link(x, mu), g.up(x, mu))
    } else {
        let xm = g.dn(x, mu);
        (u.link(xm, mu).adj(), xm)
    };
    // forward: U W' U†; backward: U'† W' U' with U' = U_μ(x−μ̂): both are L W' L†,
    // for eight channels at once (the same operations in every lane: the same bits).
    let l = splat_mat(&link);
    for (oc, wc) in out.chunks_mut(PACK).zip(w.site(src).chunks(PACK)) {
        unpack_slice(&(l * pack_slice(wc)).mul_adj(&l), oc);
    }
}

/// Backward of [`transport`]: returns `G_W` and adds the link gradients to `g_u`.
pub fn transport_backward<T: Real>(
    u: &GaugeField<T>,
    w: &Features<T>,
    mu: usize,
    forward: bool,
    g_out: Channels<'_, T>,
    g_u: &mut [Mat3<T>],
) -> Features<T> {
    let mut g_w = Features::zeros(u.geometry().volume(), w.channels);
    transport_backward_into(u, w, mu, forward, g_out, &mut g_w, false, g_u);
    g_w
}

/// [`transport_backward`] writing `G_W` into `g_w`, or with `add` adding it
/// there (`g_w(y) += G_W(y)`, the same operation as [`Features::add_assign`]
/// of a returned `G_W`, without the map in between).
#[allow(clippy::too_many_arguments)]
pub fn transport_backward_into<T: Real>(
    u: &GaugeField<T>,
    w: &Features<T>,
    mu: usize,
    forward: bool,
    g_out: Channels<'_, T>,
    g_w: &mut Features<T>,
    add: bool,
    g_u: &mut [Mat3<T>],
) {
    let geom = u.geometry();
    let nd = u.nd();
    assert_eq!((g_out.len(), g_w.channels), (w.channels, w.channels), "transport_backward: channel counts differ");
    // G_W: site y receives from the site whose transport read W(y).
    g_w.for_each_site_mut(|y, gw| {
        let (x, l) = if forward {
            let x = geom.dn(y, mu);
            (x, *u.link(x, mu)) // G_W(y) += U_μ(x)† G(x) U_μ(x), x = y − μ
        } else {
            (geom.up(y, mu), u.link(y, mu).adj()) // G_W(y) += U_μ(y) G(y+μ) U_μ(y)†
        };
        let lp = splat_mat(&l);
        for (gc, oc) in gw.chunks_mut(PACK).zip(g_out.site(x).chunks(PACK)) {
            let t = lp.adj_mul(&pack_slice(oc)) * lp;
            if add {
                for (a, b) in gc.iter_mut().zip(&unpack_mats::<T>(&t)) {
                    *a += *b;
                }
            } else {
                unpack_slice(&t, gc);
            }
        }
    });
    // Link gradients of U_μ(y): from the transport at x = y (forward) or x = y + μ (backward).
    // The channels' terms eight at a time, summed in channel order (the same bits as one by one).
    crate::par::for_each_chunk_mut(g_u, nd, |y, gl| {
        let ul = splat_mat(u.link(y, mu));
        let mut acc = Mat3::zero();
        let (gs, ws) =
            if forward { (g_out.site(y), w.site(geom.up(y, mu))) } else { (g_out.site(geom.up(y, mu)), w.site(y)) };
        for (gc, wc) in gs.chunks(PACK).zip(ws.chunks(PACK)) {
            let (gp, wp) = (pack_slice(gc), pack_slice(wc));
            let terms = if forward {
                // G U W'† + G† U W'
                (gp * ul).mul_adj(&wp) + gp.adj_mul(&(ul * wp))
            } else {
                // W' U G† + W'† U G
                (wp * ul).mul_adj(&gp) + wp.adj_mul(&(ul * gp))
            };
            for t in &unpack_mats::<T>(&terms)[..gc.len()] {
                acc += *t;
            }
        }
        gl[mu] += acc;
    });
}
