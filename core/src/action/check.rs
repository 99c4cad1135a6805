//! The gradient check every [`Action`] gets: its link derivatives against
//! central differences of its value.

use super::Action;
use crate::lattice::GaugeField;
use crate::su3::exp_components;

/// The largest deviation, relative to `1 + |fd|`, between `D_{x,mu,a} A` and
/// the fourth-order central difference
/// `fd = [8(f(h) − f(−h)) − (f(2h) − f(−2h))] / 12h`, `f(s) = A[e^{ist^a}U_mu(x)]`,
/// over the links `links` (storage indices `x·nd + mu`) and all eight colours.
///
/// The truncation error is `O(h⁴)`, the rounding error `O(ε_mach |A| / h)`:
/// with `h ≈ 1e-3` an exact derivative of an action of size 10⁴ gives about
/// `1e-9`.
pub fn derivative_error<A: Action<f64> + ?Sized>(action: &A, u: &GaugeField<f64>, links: &[usize], h: f64) -> f64 {
    let d = action.derivative(u);
    let nd = u.nd();
    let mut worst = 0.0f64;
    for &l in links {
        let (x, mu) = (l / nd, l % nd);
        for a in 0..8 {
            let shifted = |s: f64| action.value(&moved_link(u, x, mu, a, s));
            let fd = (8.0 * (shifted(h) - shifted(-h)) - (shifted(2.0 * h) - shifted(-2.0 * h))) / (12.0 * h);
            worst = worst.max((d[l][a] - fd).abs() / (1.0 + fd.abs()));
        }
    }
    worst
}

/// `U` with `U_mu(x)` replaced by `exp(i s t^a) U_mu(x)`: the move whose
/// derivative at `s = 0` is `D_{x,mu,a}`.
pub fn moved_link(u: &GaugeField<f64>, x: usize, mu: usize, a: usize, s: f64) -> GaugeField<f64> {
    let mut c = [0.0; 8];
    c[a] = s;
    let mut v = u.clone();
    v.set_link(x, mu, exp_components(&c) * *u.link(x, mu));
    v
}
