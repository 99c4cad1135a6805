//! Polyakov loops `L(x) = Π_k U_mu(x + k mu-hat)` around the periodic direction `mu`.

use crate::lattice::GaugeField;
use crate::real::Real;
use crate::su3::{Complex, Mat3};

/// The Polyakov loop matrix starting at `x` along `mu`.
pub fn polyakov_matrix<T: Real>(u: &GaugeField<T>, x: usize, mu: usize) -> Mat3<T> {
    let g = u.geometry();
    let mut p = *u.link(x, mu);
    let mut y = g.up(x, mu);
    while y != x {
        p = p * u.link(y, mu);
        y = g.up(y, mu);
    }
    p
}

/// `⟨(1/3) Tr L⟩` averaged over all sites (each loop is counted once per
/// site on it, which weights every loop equally) along direction `mu`.
pub fn polyakov_loop_dir<T: Real>(u: &GaugeField<T>, mu: usize) -> Complex<T> {
    let g = u.geometry();
    let v = g.volume();
    // Sum over the sites with coordinate 0 along mu.
    let n0 = v / g.dims()[mu];
    let starts: alloc::vec::Vec<usize> = (0..v).filter(|&x| g.coords(x)[mu] == 0).collect();
    debug_assert_eq!(starts.len(), n0);
    let traces = crate::par::map_slice(&starts, |&x| polyakov_matrix(u, x, mu).trace());
    let sum = traces.into_iter().fold(Complex::zero(), |a, b| a + b);
    let norm = T::from_f64(1.0 / (3.0 * n0 as f64));
    sum.scale(norm)
}

/// The Polyakov loop along the last ("time") direction.
pub fn polyakov_loop<T: Real>(u: &GaugeField<T>) -> Complex<T> {
    polyakov_loop_dir(u, u.nd() - 1)
}
