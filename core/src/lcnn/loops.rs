//! Input layers that build gauge-covariant channels from the links:
//! plaquettes (Plaq) and Polyakov loops (Poly). Both append channels.
//!
//! Plaq channel order follows lge-cnn's `Plaq` (orientation −1): for axis
//! `a = 0..D`, `b = 0..a`, the plaquette `U_a(x) U_b(x+a) U_a(x+b)† U_b(x)†`
//! with lge-cnn axis `a` = fpa direction `D−1−a`.

use super::features::Features;
use super::layer::{BackwardInput, LayerOp, Step};
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::su3::Mat3;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

/// Plaq: appends the `D(D−1)/2` plaquettes to the incoming channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plaq {
    pub n_in: usize,
    pub nd: usize,
}

/// Poly: appends the `D` Polyakov loops through every site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poly {
    pub n_in: usize,
    pub nd: usize,
}

/// Appending channels: the incoming gradient splits into the part of the
/// incoming channels and the part of the appended ones (`G_new`), whose link
/// gradients `backward(G_new)` adds to `g_u`.
fn append_backward<T: Real>(
    b: &BackwardInput<'_, T>,
    n_in: usize,
    g_u: &mut [Mat3<T>],
    backward: fn(&GaugeField<T>, &Features<T>, &mut [Mat3<T>]),
) -> (Features<T>, Vec<T>) {
    backward(b.links, &b.g_out.select(n_in, b.g_out.channels - n_in), g_u);
    (b.g_out.select(0, n_in), Vec::new())
}

impl LayerOp for Plaq {
    fn kind(&self) -> &'static str {
        "plaq"
    }
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_in + self.nd * (self.nd - 1) / 2
    }
    fn forward<T: Real>(&self, _: &[f64], links: &GaugeField<T>, w: &Features<T>) -> Step<T> {
        Step::features(w.concat(&plaq_forward(links)))
    }
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, g_u: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>) {
        append_backward(&b, self.n_in, g_u, plaq_backward)
    }
    /// The first Plaq layer's channels are the Wilson start's plaquettes.
    fn plaquettes_after(&self, plaq: Option<Range<usize>>) -> Result<Option<Range<usize>>, String> {
        Ok(plaq.or(Some(self.n_in..self.n_out())))
    }
}

impl LayerOp for Poly {
    fn kind(&self) -> &'static str {
        "poly"
    }
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_in + self.nd
    }
    fn forward<T: Real>(&self, _: &[f64], links: &GaugeField<T>, w: &Features<T>) -> Step<T> {
        Step::features(w.concat(&poly_forward(links)))
    }
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, g_u: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>) {
        append_backward(&b, self.n_in, g_u, poly_backward)
    }
    fn plaquettes_after(&self, plaq: Option<Range<usize>>) -> Result<Option<Range<usize>>, String> {
        Ok(plaq)
    }
}

/// The `(μ, ν)` pairs of the plaquette channels, in channel order.
pub fn plaquette_planes(nd: usize) -> Vec<(usize, usize)> {
    let mut p = Vec::new();
    for a in 0..nd {
        for b in 0..a {
            p.push((nd - 1 - a, nd - 1 - b));
        }
    }
    p
}

/// Plaquette channels.
pub fn plaq_forward<T: Real>(u: &GaugeField<T>) -> Features<T> {
    let g = u.geometry();
    let planes = plaquette_planes(u.nd());
    let mut out = Features::zeros(g.volume(), planes.len());
    out.for_each_site_mut(|x, o| {
        for (p, &(mu, nu)) in planes.iter().enumerate() {
            o[p] = crate::observe::plaquette(u, x, mu, nu);
        }
    });
    out
}

/// Adds the link gradients of `Σ Re Tr(G† P)` to `g_u`.
pub fn plaq_backward<T: Real>(u: &GaugeField<T>, g_p: &Features<T>, g_u: &mut [Mat3<T>]) {
    let g = u.geometry();
    let nd = u.nd();
    let planes = plaquette_planes(nd);
    // P = A B C† D†, A = U_μ(x), B = U_ν(x+μ), C = U_μ(x+ν), D = U_ν(x):
    // G_A = G D C B†, G_B = A† G D C, G_C = D† G† A B, G_D = G† A B C†.
    let contributions: Vec<Vec<(usize, Mat3<T>)>> = crate::par::map_range(g.volume(), |x| {
        let mut c = Vec::with_capacity(4 * planes.len());
        for (p, &(mu, nu)) in planes.iter().enumerate() {
            let (xm, xn) = (g.up(x, mu), g.up(x, nu));
            let (a, b, cc, d) = (*u.link(x, mu), *u.link(xm, nu), *u.link(xn, mu), *u.link(x, nu));
            let gp = g_p.at(x, p);
            let dc = d * cc;
            let ab = a * b;
            c.push((x * nd + mu, (*gp * dc).mul_adj(&b)));
            c.push((xm * nd + nu, a.adj_mul(gp) * dc));
            c.push((xn * nd + mu, d.adj_mul(&gp.adj()) * ab));
            c.push((x * nd + nu, gp.adj_mul(&ab).mul_adj(&cc)));
        }
        c
    });
    for list in contributions {
        for (l, m) in list {
            g_u[l] += m;
        }
    }
}

/// Polyakov-loop channels `L_{x,μ} = Π_k U_μ(x + kμ̂)`, one per direction.
pub fn poly_forward<T: Real>(u: &GaugeField<T>) -> Features<T> {
    let g = u.geometry();
    let nd = u.nd();
    let mut out = Features::zeros(g.volume(), nd);
    out.for_each_site_mut(|x, o| {
        for mu in 0..nd {
            o[mu] = crate::observe::polyakov::polyakov_matrix(u, x, mu);
        }
    });
    out
}

/// Adds the link gradients of `Σ Re Tr(G† L)` to `g_u`:
/// for `L = A₀⋯A_{N−1}`, `G_{A_k} = (A₀⋯A_{k−1})† G (A_{k+1}⋯A_{N−1})†`.
pub fn poly_backward<T: Real>(u: &GaugeField<T>, g_l: &Features<T>, g_u: &mut [Mat3<T>]) {
    let g = u.geometry();
    let nd = u.nd();
    let contributions: Vec<Vec<(usize, Mat3<T>)>> = crate::par::map_range(g.volume(), |x| {
        let mut c = Vec::new();
        for mu in 0..nd {
            let n = g.dims()[mu];
            let mut sites = Vec::with_capacity(n);
            let mut y = x;
            for _ in 0..n {
                sites.push(y);
                y = g.up(y, mu);
            }
            // suffix[k] = A_k ⋯ A_{N−1}
            let mut suffix = alloc::vec![Mat3::identity(); n + 1];
            for k in (0..n).rev() {
                suffix[k] = *u.link(sites[k], mu) * suffix[k + 1];
            }
            let gl = g_l.at(x, mu);
            let mut prefix = Mat3::identity();
            for k in 0..n {
                c.push((sites[k] * nd + mu, prefix.adj_mul(gl).mul_adj(&suffix[k + 1])));
                prefix = prefix * *u.link(sites[k], mu);
            }
        }
        c
    });
    for list in contributions {
        for (l, m) in list {
            g_u[l] += m;
        }
    }
}
