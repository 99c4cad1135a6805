//! Rectangular Wilson loops.

use crate::lattice::GaugeField;
use crate::real::Real;
use crate::su3::Mat3;
use alloc::vec::Vec;

/// `L_mu^n(x) = U_mu(x) U_mu(x+mu) ⋯ U_mu(x+(n−1)mu)` for every site.
pub fn straight_lines<T: Real>(u: &GaugeField<T>, mu: usize, n: usize) -> Vec<Mat3<T>> {
    let g = u.geometry();
    crate::par::map_range(g.volume(), |x| {
        let mut p = *u.link(x, mu);
        let mut y = g.up(x, mu);
        for _ in 1..n {
            p = p * u.link(y, mu);
            y = g.up(y, mu);
        }
        p
    })
}

/// Sum over sites of `Re Tr` of the `r x t` loop with `r` along `mu`, `t` along `nu`.
fn loop_sum<T: Real>(u: &GaugeField<T>, mu: usize, nu: usize, lr: &[Mat3<T>], lt: &[Mat3<T>], r: usize, t: usize) -> T {
    let g = u.geometry();
    crate::par::sum(g.volume(), |x| {
        let a = lr[x] * lt[g.shift(x, mu, r as isize)];
        let b = lt[x] * lr[g.shift(x, nu, t as isize)];
        a.re_tr_mul_adj(&b)
    })
}

/// `⟨(1/3) Re Tr W(r x t)⟩` averaged over all sites and all ordered pairs of
/// different directions (both orientations of every plane).
pub fn wilson_loop<T: Real>(u: &GaugeField<T>, r: usize, t: usize) -> T {
    let nd = u.nd();
    let lines_r: Vec<Vec<Mat3<T>>> = (0..nd).map(|mu| straight_lines(u, mu, r)).collect();
    let lines_t: Vec<Vec<Mat3<T>>> = (0..nd).map(|mu| straight_lines(u, mu, t)).collect();
    let mut s = T::zero();
    for mu in 0..nd {
        for nu in 0..nd {
            if mu != nu {
                s += loop_sum(u, mu, nu, &lines_r[mu], &lines_t[nu], r, t);
            }
        }
    }
    let n = u.geometry().volume() * nd * (nd - 1);
    s / T::from_f64(3.0 * n as f64)
}

/// `⟨(1/3) Re Tr W(r x t)⟩` with `t` along the last ("time") direction and
/// `r` along each of the others: the loops of the static potential.
pub fn temporal_wilson_loop<T: Real>(u: &GaugeField<T>, r: usize, t: usize) -> T {
    let nd = u.nd();
    let time = nd - 1;
    let lt = straight_lines(u, time, t);
    let mut s = T::zero();
    for mu in 0..time {
        let lr = straight_lines(u, mu, r);
        s += loop_sum(u, mu, time, &lr, &lt, r, t);
    }
    let n = u.geometry().volume() * time;
    s / T::from_f64(3.0 * n as f64)
}
