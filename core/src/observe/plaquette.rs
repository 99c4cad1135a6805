//! Plaquettes `U_mu,nu(x) = U_mu(x) U_nu(x+mu) U_mu(x+nu)† U_nu(x)†`.

use crate::lattice::{GaugeField, SlabField};
use crate::real::Real;
use crate::su3::Mat3;

/// The plaquette matrix at `x` in the `(mu, nu)` plane.
#[inline(always)]
pub fn plaquette<T: Real>(u: &GaugeField<T>, x: usize, mu: usize, nu: usize) -> Mat3<T> {
    let g = u.geometry();
    let a = u.link(x, mu) * u.link(g.up(x, mu), nu);
    let b = u.link(x, nu) * u.link(g.up(x, nu), mu);
    a.mul_adj(&b)
}

/// `Σ_{mu<nu} term(Re Tr U_mu,nu(x))` at one site.
#[inline(always)]
fn site_sum<T: Real>(u: &GaugeField<T>, x: usize, term: impl Fn(T) -> T) -> T {
    let nd = u.nd();
    let g = u.geometry();
    let mut s = T::zero();
    for mu in 0..nd {
        let ux = u.link(x, mu);
        let xm = g.up(x, mu);
        for nu in mu + 1..nd {
            let a = ux * u.link(xm, nu);
            let b = u.link(x, nu) * u.link(g.up(x, nu), mu);
            s += term(a.re_tr_mul_adj(&b));
        }
    }
    s
}

/// `Σ_x Σ_{mu<nu} term(Re Tr U_mu,nu(x))`, in a thread-independent order.
fn sum_over_plaquettes<T: Real>(u: &GaugeField<T>, term: impl Fn(T) -> T + Sync + Send) -> T {
    crate::par::sum(u.geometry().volume(), |x| site_sum(u, x, &term))
}

/// `Σ_x Σ_{mu<nu} Re Tr U_mu,nu(x)`.
pub fn plaquette_sum<T: Real>(u: &GaugeField<T>) -> T {
    sum_over_plaquettes(u, |t| t)
}

/// A slab's share of [`plaquette_sum`] of the whole field, as [`crate::par::sum_pieces`]
/// (the plaquettes at the owned sites; the halo above must be current).
/// [`crate::par::combine_pieces`] over all slabs gives the bits of `plaquette_sum`.
pub fn plaquette_sum_pieces<T: Real>(f: &SlabField<T>) -> alloc::vec::Vec<T> {
    f.site_sum_pieces(|u, x| site_sum(u, x, |t| t))
}

/// [`plaquette_sum_pieces`] for `Σ (3 − Re Tr U_p)` ([`plaquette_deficit_sum`]).
pub fn plaquette_deficit_sum_pieces<T: Real>(f: &SlabField<T>) -> alloc::vec::Vec<T> {
    let three = T::from_f64(3.0);
    f.site_sum_pieces(|u, x| site_sum(u, x, |t| three - t))
}

/// `Σ_x Σ_{mu<nu} (3 − Re Tr U_mu,nu(x))`, summed term by term so that no
/// precision is lost on smooth fields (where `Re Tr U_p ≈ 3`).
pub fn plaquette_deficit_sum<T: Real>(u: &GaugeField<T>) -> T {
    let three = T::from_f64(3.0);
    sum_over_plaquettes(u, |t| three - t)
}

/// Number of plaquettes `V · D(D−1)/2`.
pub fn n_plaquettes(nd: usize, volume: usize) -> usize {
    volume * nd * (nd - 1) / 2
}

/// The average plaquette `⟨(1/3) Re Tr U_p⟩` over all sites and planes.
pub fn average_plaquette<T: Real>(u: &GaugeField<T>) -> T {
    let n = n_plaquettes(u.nd(), u.geometry().volume());
    plaquette_sum(u) / T::from_f64(3.0 * n as f64)
}

/// Average plaquettes of the spatial planes and of the planes containing the
/// last ("time") direction.
pub fn plaquette_spatial_temporal<T: Real>(u: &GaugeField<T>) -> (T, T) {
    let nd = u.nd();
    let t = nd - 1;
    let v = u.geometry().volume();
    let (mut ss, mut st) = (T::zero(), T::zero());
    for mu in 0..nd {
        for nu in mu + 1..nd {
            let s: T = crate::par::sum(v, |x| plaquette(u, x, mu, nu).re_tr());
            if nu == t {
                st += s;
            } else {
                ss += s;
            }
        }
    }
    let n_t = (nd - 1) * v;
    let n_s = n_plaquettes(nd, v) - n_t;
    let spatial = if n_s > 0 { ss / T::from_f64(3.0 * n_s as f64) } else { T::zero() };
    (spatial, st / T::from_f64(3.0 * n_t as f64))
}
