//! The blocking kernel: exact derivatives, symmetries and exact values.

use crate::util::{assert_close, lattice, random_field, rotate};
use fpa_core::lattice::{GaugeField, GaugeTransform, Geometry};
use fpa_core::rg::kernel::derivatives_from_gradients;
use fpa_core::rg::{Blocking, Kernel};
use fpa_core::su3::algebra::hermitian;
use fpa_core::su3::{exp_components, Mat3};
use std::sync::Arc;

/// A kernel with every staple weight switched on (non-default values so that
/// no term hides behind a zero).
fn kernel(coarse: &[usize]) -> Kernel {
    let c = lattice(coarse);
    let f = lattice(&coarse.iter().map(|l| 2 * l).collect::<Vec<_>>());
    let p = Blocking::normalised(5.3, 0.09, 0.03, 0.011, c.nd());
    Kernel::new(f, c, p)
}

fn pair(k: &Kernel, eps: Option<f64>, seed: u64) -> (GaugeField<f64>, GaugeField<f64>) {
    (random_field(k.fine(), eps, seed), random_field(k.coarse(), eps.map(|e| 2.0 * e), seed + 1))
}

/// `∂T/∂U` and `∂T/∂V` from the hand-written backward pass equal central
/// differences of `T` (the `max_W` normalisation included), in 2D, 3D and 4D.
pub fn kernel_derivatives_match_finite_differences() {
    for (coarse, picks) in [(&[2usize, 2, 2, 2][..], 12), (&[3, 2, 2][..], 10), (&[3, 2][..], 8)] {
        let k = kernel(coarse);
        for eps in [Some(0.4), None] {
            let (u, v) = pair(&k, eps, 70);
            let ev = k.eval(&u, &v, true, true);
            let du = derivatives_from_gradients(&u, &ev.fine_grad);
            let h = 1e-5;
            let n = u.links().len();
            for i in 0..picks {
                let l = (i * 7919) % n;
                let (x, mu) = (l / u.nd(), l % u.nd());
                for a in 0..8 {
                    let mut up = u.clone();
                    up.set_link(x, mu, rotate(u.link(x, mu), a, h));
                    let mut dn = u.clone();
                    dn.set_link(x, mu, rotate(u.link(x, mu), a, -h));
                    let fd = (k.value(&up, &v) - k.value(&dn, &v)) / (2.0 * h);
                    assert_close(du[l][a], fd, 2e-7, &format!("dT/dU {coarse:?} eps {eps:?} link {l} a {a}"));
                }
            }
            for l in (0..v.links().len()).step_by(3) {
                let (x, mu) = (l / v.nd(), l % v.nd());
                for a in 0..8 {
                    let mut vp = v.clone();
                    vp.set_link(x, mu, rotate(v.link(x, mu), a, h));
                    let mut vm = v.clone();
                    vm.set_link(x, mu, rotate(v.link(x, mu), a, -h));
                    let fd = (k.value(&u, &vp) - k.value(&u, &vm)) / (2.0 * h);
                    assert_close(ev.coarse_deriv[l][a], fd, 2e-7, &format!("dT/dV {coarse:?} link {l} a {a}"));
                }
            }
        }
    }
}

/// Under a fine gauge transformation Ω, with `V` transformed by `Ω(2x_B)`:
/// `Q → Ω(2x_B) Q Ω(2x_B+2μ)†`, `T` is invariant, and the derivatives
/// rotate covariantly. Also `T ≥ 0`.
pub fn kernel_is_gauge_covariant() {
    let k = kernel(&[2, 2, 2, 2]);
    let (f, c) = (k.fine().clone(), k.coarse().clone());
    let (u, v) = pair(&k, None, 80);
    let om = GaugeTransform::random(f.clone(), 81);
    let om_c = GaugeTransform::from_matrices(
        c.clone(),
        (0..c.volume())
            .map(|xb| {
                let cb = c.coords(xb);
                *om.at(f.index(&cb.map(|x| 2 * x)[..4]))
            })
            .collect(),
    );
    let (u2, v2) = (om.apply(&u), om_c.apply(&v));
    let q = k.blocked_links(&u);
    let q2 = k.blocked_links(&u2);
    for l in 0..q.len() {
        let (xb, mu) = (l / 4, l % 4);
        let want = (*om_c.at(xb) * q[l]).mul_adj(om_c.at(c.up(xb, mu)));
        assert!(q2[l].dist(&want) < 1e-12, "Q covariance at coarse link {l}");
    }
    let (e1, e2) = (k.eval(&u, &v, true, true), k.eval(&u2, &v2, true, true));
    assert_close(e2.value, e1.value, 1e-12, "T invariance");
    assert!(e1.value >= 0.0, "T >= 0");
    let (d1, d2) = (derivatives_from_gradients(&u, &e1.fine_grad), derivatives_from_gradients(&u2, &e2.fine_grad));
    for l in (0..d1.len()).step_by(29) {
        let want = om.apply_site(l / 4, &hermitian(&d1[l]));
        assert!(hermitian(&d2[l]).dist(&want) < 1e-11, "fine derivative covariance at {l}");
    }
    for l in 0..e1.coarse_deriv.len() {
        let want = om_c.apply_site(l / 4, &hermitian(&e1.coarse_deriv[l]));
        assert!(hermitian(&e2.coarse_deriv[l]).dist(&want) < 1e-11, "coarse derivative covariance at {l}");
    }
}

/// Flat abelian fields `U_μ = exp(iθ_μ H)`: every staple equals `U_μ`, so
/// `S = N_s U`, `Q = N_s² U²`, and `T = 0` exactly for `V = U²` (and its
/// fine gradient vanishes: `U` is a minimiser). With the default
/// normalisation `N_s = 1` and `Q = V` on trivial fields.
pub fn kernel_vanishes_on_flat_abelian_fields() {
    let coarse = lattice(&[2, 2, 2, 2]);
    let fine = Arc::new(Geometry::new(&[4, 4, 4, 4]).unwrap());
    for params in [Blocking::default_4d(), Blocking { s0: 0.5, ..Blocking::default_4d() }] {
        let k = Kernel::new(fine.clone(), coarse.clone(), params);
        let theta = [0.3, -0.7, 0.2, 1.1];
        let phi = [0.5, 0.1, -0.4, 0.25];
        let link = |mu: usize, s: f64| {
            let mut a = [0.0; 8];
            a[2] = s * theta[mu];
            a[7] = s * phi[mu];
            exp_components(&a)
        };
        let mut u = GaugeField::cold(fine.clone());
        u.for_each_link_mut(|_, mu, l| *l = link(mu, 1.0));
        let mut v = GaugeField::cold(coarse.clone());
        v.for_each_link_mut(|_, mu, l| *l = link(mu, 2.0));
        let ns = params.smearing_norm(4);
        for (l, q) in k.blocked_links(&u).iter().enumerate() {
            assert!(q.dist(&v.links()[l].scale(ns * ns)) < 1e-13, "Q = N_s^2 U^2");
        }
        let e = k.eval(&u, &v, true, true);
        assert!(e.value.abs() < 1e-12, "T = {}", e.value);
        let d = derivatives_from_gradients(&u, &e.fine_grad);
        assert!(d.iter().flatten().all(|x| x.abs() < 1e-12), "U is stationary");
        assert!(e.coarse_deriv.iter().flatten().all(|x| x.abs() < 1e-12), "V is stationary");
    }
    // Trivial fields with the default normalisation: Q = V = 1.
    let k = Kernel::new(fine.clone(), coarse.clone(), Blocking::default_4d());
    let q = k.blocked_links(&GaugeField::<f64>::cold(fine));
    assert!(q.iter().all(|q| q.dist(&Mat3::identity()) < 1e-14));
}
