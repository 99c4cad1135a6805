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

/// The plaquette + rectangle actions (Symanzik, Iwasaki, DBW2): link
/// derivatives against central differences through the core's gradient check,
/// in 3D and 4D, on rough and smooth fields.
pub fn improved_derivatives_match_finite_differences() {
    use fpa_core::action::{derivative_error, Improved};
    for dims in [&[4usize, 3, 5][..], &[4, 4, 3, 4]] {
        let g = lattice(dims);
        for (seed, eps) in [(11, None), (12, Some(0.3))] {
            let u = random_field(&g, eps, seed);
            let n = u.links().len();
            let links = [0, 5, n / 2 + 1, n - 1];
            for act in [Improved::SYMANZIK, Improved::IWASAKI, Improved::DBW2] {
                let err = derivative_error(&act, &u, &links, 1e-3);
                assert!(err < 1e-7, "{} on {dims:?}, seed {seed}: derivative error {err:.2e}", act.label);
            }
        }
    }
}

/// Exact values of the improved actions: zero on the unit field, Wilson's for
/// `c₁ = 0`, and on an abelian plane wave `U_0(x) = exp(iε sin(k x₁) λ₃/2)`
/// (other links 1) the closed form `A = ε² V/6 · (s² − 4c₁s⁴)`, `s = sin(k/2)`,
/// to leading order in ε: Wilson's `s²` has the relative `O(k²)` error
/// `−k²/12` of the continuum `k²/4`, Symanzik's `s² + s⁴/3` only `O(k⁴)`.
pub fn improved_action_values() {
    use fpa_core::action::Improved;
    use fpa_core::su3::exp_components;
    let g = lattice(&[4, 12, 4, 4]);
    let cold = GaugeField::<f64>::cold(g.clone());
    let plain = Improved { c1: 0.0, label: "c1 = 0" };
    let u = random_field(&g, Some(0.4), 13);
    assert_close(plain.value(&u), Wilson.value(&u), 1e-14, "c1 = 0 is Wilson");
    let (eps, k) = (1e-3, 2.0 * std::f64::consts::PI / 12.0);
    let mut wave = cold.clone();
    wave.for_each_link_mut(|x, mu, l| {
        if mu == 0 {
            let x1 = g.coords(x)[1] as f64;
            let mut c = [0.0; 8];
            c[2] = eps * (k * x1).sin();
            *l = exp_components(&c);
        }
    });
    let s2 = (k / 2.0).sin().powi(2);
    let v = g.volume() as f64;
    for act in [Improved::SYMANZIK, Improved::IWASAKI, Improved::DBW2, plain] {
        assert_eq!(act.value(&cold), 0.0, "{} at U = 1", act.label);
        let want = eps * eps * v / 6.0 * (s2 - 4.0 * act.c1 * s2 * s2);
        assert_close(act.value(&wave), want, 1e-5 * want, &format!("{} on the plane wave", act.label));
    }
    // Symanzik's tree-level improvement, as numbers: relative error vs the continuum k²/4.
    let cont = eps * eps * v / 6.0 * k * k / 4.0;
    let (w, s) = (Wilson.value(&wave) / cont - 1.0, Improved::SYMANZIK.value(&wave) / cont - 1.0);
    assert!((w + k * k / 12.0).abs() < 0.1 * k * k / 12.0, "Wilson's O(k²) error {w}");
    assert!(s.abs() < 0.05 * w.abs(), "Symanzik's error {s} not far below Wilson's {w}");
}
