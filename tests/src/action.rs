//! The Wilson action and its link derivatives.

use crate::util::{assert_close, lattice, random_field, rotate};
use fpa_core::action::{Action, Wilson};
use fpa_core::lattice::GaugeField;
use fpa_core::observe::average_plaquette;

/// `D_{x,mu,a} A_W` equals the central difference of `A_W` under
/// `U_mu(x) → exp(±iε t^a) U_mu(x)`, in 2D, 3D and 4D, on rough and smooth fields.
pub fn wilson_derivative_matches_finite_differences() {
    for dims in [&[4usize, 6][..], &[4, 3, 4], &[4, 4, 4, 4]] {
        let g = lattice(dims);
        for (seed, eps) in [(1, None), (2, Some(0.3))] {
            let u = random_field(&g, eps, seed);
            let d = Wilson.derivative(&u);
            let h = 1e-5;
            for l in [0, 7, u.links().len() - 1] {
                for a in 0..8 {
                    let (x, mu) = (l / u.nd(), l % u.nd());
                    let mut up = u.clone();
                    up.set_link(x, mu, rotate(u.link(x, mu), a, h));
                    let mut dn = u.clone();
                    dn.set_link(x, mu, rotate(u.link(x, mu), a, -h));
                    let fd = (Wilson.value(&up) - Wilson.value(&dn)) / (2.0 * h);
                    assert_close(d[l][a], fd, 1e-7, &format!("D A_W, {dims:?} link {l} a {a}"));
                }
            }
        }
    }
}

/// `A_W = N_plaq (1 − ⟨P⟩)` and `A_W[1] = 0`.
pub fn wilson_value_identities() {
    let g = lattice(&[4, 4, 4, 6]);
    let cold = GaugeField::<f64>::cold(g.clone());
    assert_eq!(Wilson.value(&cold), 0.0);
    assert_eq!(average_plaquette(&cold), 1.0);
    let u = random_field(&g, Some(0.5), 3);
    let n = 6.0 * g.volume() as f64;
    assert_close(Wilson.value(&u), n * (1.0 - average_plaquette(&u)), 1e-12, "A_W vs plaquette");
}
