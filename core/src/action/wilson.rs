//! The Wilson gauge action `A_W = Σ_x Σ_{mu<nu} (1 − Re Tr U_mu,nu(x) / 3)`
//! (normalised so that `β A_W` is the usual Wilson action, `β = 6/g²`).

use super::Action;
use crate::lattice::GaugeField;
use crate::observe::plaquette::plaquette_deficit_sum;
use crate::real::Real;
use crate::su3::{link_derivative, Mat3, Su3Alg};

/// The sum of the `2(D−1)` staples `K` around `U_mu(x)`, oriented so that
/// `U_mu(x)·K` is the sum of the plaquettes that start with `U_mu(x)`:
///
/// `K = Σ_{nu≠mu} U_nu(x+mu) U_mu(x+nu)† U_nu(x)† + U_nu(x+mu−nu)† U_mu(x−nu)† U_nu(x−nu)`.
#[inline(always)]
pub fn staple<T: Real>(u: &GaugeField<T>, x: usize, mu: usize) -> Mat3<T> {
    let g = u.geometry();
    let xp = g.up(x, mu);
    let mut k = Mat3::zero();
    for nu in 0..u.nd() {
        if nu == mu {
            continue;
        }
        // upper: U_nu(x+mu) U_mu(x+nu)† U_nu(x)†
        let up = u.link(xp, nu).mul_adj(u.link(g.up(x, nu), mu));
        k += up.mul_adj(u.link(x, nu));
        // lower: (U_mu(x−nu) U_nu(x−nu+mu))† U_nu(x−nu)
        let xm = g.dn(x, nu);
        let lo = u.link(xm, mu) * u.link(g.dn(xp, nu), nu);
        k += lo.adj_mul(u.link(xm, nu));
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
