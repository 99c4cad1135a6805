//! The Wilson gauge action `A_W = Σ_x Σ_{mu<nu} (1 − Re Tr U_mu,nu(x) / 3)`
//! (normalised so that `β A_W` is the usual Wilson action, `β = 6/g²`).

use super::Action;
use crate::lattice::GaugeField;
use crate::observe::plaquette::plaquette_deficit_sum;
use crate::real::{Real, Ring};
use crate::su3::{link_derivative, Mat3, Su3Alg};

/// Where [`staple_in`] reads links: a gauge field one site at a time, or a
/// lane-packed field ([`crate::lattice::packed::PackedField`]) eight sites at once.
pub trait LinkSource {
    /// A site (or a pack of sites, one per lane).
    type Site: Copy;
    type Scalar: Ring;
    /// A link as read: a reference into a field, or a value built on the fly.
    type Link<'a>: core::ops::Deref<Target = Mat3<Self::Scalar>>
    where
        Self: 'a;
    fn nd(&self) -> usize;
    /// `x + mu-hat`
    fn site_up(&self, x: Self::Site, mu: usize) -> Self::Site;
    /// `x − mu-hat`
    fn site_dn(&self, x: Self::Site, mu: usize) -> Self::Site;
    /// `U_mu(x)`
    fn link_at(&self, x: Self::Site, mu: usize) -> Self::Link<'_>;
}

impl<T: Real> LinkSource for GaugeField<T> {
    type Site = usize;
    type Scalar = T;
    type Link<'a> = &'a Mat3<T>;
    #[inline(always)]
    fn nd(&self) -> usize {
        GaugeField::nd(self)
    }
    #[inline(always)]
    fn site_up(&self, x: usize, mu: usize) -> usize {
        self.geometry().up(x, mu)
    }
    #[inline(always)]
    fn site_dn(&self, x: usize, mu: usize) -> usize {
        self.geometry().dn(x, mu)
    }
    #[inline(always)]
    fn link_at(&self, x: usize, mu: usize) -> &Mat3<T> {
        self.link(x, mu)
    }
}

/// The sum of the `2(D−1)` staples `K` around `U_mu(x)`, oriented so that
/// `U_mu(x)·K` is the sum of the plaquettes that start with `U_mu(x)`:
///
/// `K = Σ_{nu≠mu} U_nu(x+mu) U_mu(x+nu)† U_nu(x)† + U_nu(x+mu−nu)† U_mu(x−nu)† U_nu(x−nu)`.
#[inline(always)]
pub fn staple<T: Real>(u: &GaugeField<T>, x: usize, mu: usize) -> Mat3<T> {
    staple_in(u, x, mu)
}

/// [`staple`] for any [`LinkSource`]: the same operations in the same order,
/// so a lane-packed field gives every lane the bits of the scalar staple.
#[inline(always)]
pub fn staple_in<S: LinkSource>(u: &S, x: S::Site, mu: usize) -> Mat3<S::Scalar> {
    let xp = u.site_up(x, mu);
    let mut k = Mat3::zero();
    for nu in 0..u.nd() {
        if nu == mu {
            continue;
        }
        // upper: U_nu(x+mu) U_mu(x+nu)† U_nu(x)†
        let up = u.link_at(xp, nu).mul_adj(&u.link_at(u.site_up(x, nu), mu));
        k.add_mul_adj(&up, &u.link_at(x, nu));
        // lower: (U_mu(x−nu) U_nu(x−nu+mu))† U_nu(x−nu)
        let xm = u.site_dn(x, nu);
        let lo = *u.link_at(xm, mu) * *u.link_at(u.site_dn(xp, nu), nu);
        k.add_adj_mul(&lo, &u.link_at(xm, nu));
    }
    k
}

/// The Wilson action.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wilson;

impl Wilson {
    /// `D_{x,mu,a} A_W = −(1/3) Re Tr(i t^a U_mu(x) K_mu(x))`.
    #[inline(always)]
    pub fn link_derivative_at<T: Real>(u: &GaugeField<T>, x: usize, mu: usize) -> Su3Alg<T> {
        let w = u.link(x, mu) * staple(u, x, mu);
        let d = link_derivative(&w);
        let c = T::from_f64(-1.0 / 3.0);
        core::array::from_fn(|a| d[a] * c)
    }
}

impl<T: Real> Action<T> for Wilson {
    fn value(&self, u: &GaugeField<T>) -> T {
        plaquette_deficit_sum(u) / T::from_f64(3.0)
    }

    fn value_and_derivative(&self, u: &GaugeField<T>, out: &mut [Su3Alg<T>]) -> T {
        assert_eq!(out.len(), u.geometry().n_links());
        let nd = u.nd();
        crate::par::for_each_mut(out, |l, d| *d = Wilson::link_derivative_at(u, l / nd, l % nd));
        self.value(u)
    }

    fn name(&self) -> alloc::string::String {
        "wilson".into()
    }
}
