//! Gauge invariance and covariance under random gauge transformations.

use crate::util::{assert_close, lattice, random_field};
use fpa_core::action::{Action, Wilson};
use fpa_core::lattice::path::{rectangle, reverse};
use fpa_core::lattice::{path_product, GaugeTransform, Step};
use fpa_core::observe::{average_plaquette, polyakov_loop_dir, temporal_wilson_loop, wilson_loop};
use fpa_core::su3::algebra::hermitian;

/// Plaquette, Wilson action, Wilson loops and Polyakov loops do not change
/// under a Haar-random gauge transformation (2D, 3D, 4D; rough fields).
pub fn observables_are_gauge_invariant() {
    for dims in [&[6usize, 4][..], &[4, 4, 6], &[4, 4, 4, 6]] {
        let g = lattice(dims);
        let u = random_field(&g, None, 11);
        let w = GaugeTransform::random(g.clone(), 12).apply(&u);
        let tol = 1e-12;
        assert_close(average_plaquette(&w), average_plaquette(&u), tol, "plaquette");
        assert_close(Wilson.value(&w), Wilson.value(&u), tol, "Wilson action");
        for (r, t) in [(1, 1), (2, 1), (1, 3), (2, 2)] {
            assert_close(wilson_loop(&w, r, t), wilson_loop(&u, r, t), tol, "Wilson loop");
            assert_close(temporal_wilson_loop(&w, r, t), temporal_wilson_loop(&u, r, t), tol, "temporal loop");
        }
        for mu in 0..g.nd() {
            let (a, b) = (polyakov_loop_dir(&w, mu), polyakov_loop_dir(&u, mu));
            assert_close(a.re, b.re, tol, "Polyakov loop (re)");
            assert_close(a.im, b.im, tol, "Polyakov loop (im)");
        }
    }
}

/// Path products transform as `Ω(start) P Ω(end)†`; a path and its reverse
/// multiply to 1; a closed rectangle gives the Wilson loop.
pub fn path_products_are_covariant() {
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, None, 21);
    let om = GaugeTransform::random(g.clone(), 22);
    let w = om.apply(&u);
    let steps = [Step::fwd(0), Step::fwd(2), Step::bwd(1), Step::fwd(3), Step::bwd(0), Step::bwd(0)];
    for x in [0, 17, 200] {
        let (p, end) = path_product(&u, x, &steps);
        let (pw, end_w) = path_product(&w, x, &steps);
        assert_eq!(end, end_w);
        let want = (*om.at(x) * p).mul_adj(om.at(end));
        assert!(pw.dist(&want) < 1e-12, "path covariance");
        let (back, home) = path_product(&u, end, &reverse(&steps));
        assert_eq!(home, x);
        assert!((p * back).dist(&fpa_core::su3::Mat3::identity()) < 1e-12);
    }
    // The 1x1 rectangle is the plaquette.
    let (p, end) = path_product(&u, 5, &rectangle(1, 3, 1, 1));
    assert_eq!(end, 5);
    let want = fpa_core::observe::plaquette(&u, 5, 1, 3);
    assert!(p.dist(&want) < 1e-13);
}

/// The Wilson force `F = Σ_a t^a D_a` at `(x, mu)` transforms as `Ω(x) F Ω(x)†`,
/// i.e. `D_{x,mu,a}` is rotated by the adjoint of `Ω(x)`.
pub fn wilson_derivative_is_covariant() {
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, None, 31);
    let om = GaugeTransform::random(g.clone(), 32);
    let w = om.apply(&u);
    let (du, dw) = (Wilson.derivative(&u), Wilson.derivative(&w));
    for l in (0..u.links().len()).step_by(37) {
        let x = l / 4;
        let want = om.apply_site(x, &hermitian(&du[l]));
        assert!(hermitian(&dw[l]).dist(&want) < 1e-12, "force covariance at link {l}");
    }
}

/// Landau gauge fixing: the result is a gauge transform of the input by the
/// returned Ω (plaquette unchanged, links = Ω U Ω†), it is stationary (θ
/// small), and it undoes a random gauge transformation of a smooth field
/// (the functional returns to at least its value before the scrambling).
pub fn landau_gauge_fixing() {
    use fpa_core::lattice::gauge_fix::landau_gauge;
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, Some(0.2), 41);
    let scrambled = GaugeTransform::random(g.clone(), 42).apply(&u);
    let f0 = u.links().iter().map(|l| l.re_tr()).sum::<f64>() / (3.0 * u.links().len() as f64);
    let (om, fixed, rep) = landau_gauge(&scrambled, 1.7, 2000, 1e-12);
    assert!(rep.theta < 1e-12, "{rep:?}");
    assert!(rep.functional >= f0 - 1e-9, "functional {} below the unscrambled {f0}", rep.functional);
    let again = om.apply(&scrambled);
    let d = again.links().iter().zip(fixed.links()).map(|(a, b)| a.dist(b)).fold(0.0, f64::max);
    assert!(d < 1e-11, "returned field is Ω applied to the input ({d})");
    assert_close(average_plaquette(&fixed), average_plaquette(&scrambled), 1e-12, "plaquette");
}

/// The improved actions are gauge invariant and their forces covariant.
pub fn improved_action_is_invariant_and_force_covariant() {
    use fpa_core::action::Improved;
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, None, 33);
    let om = GaugeTransform::random(g.clone(), 34);
    let w = om.apply(&u);
    for act in [Improved::SYMANZIK, Improved::IWASAKI] {
        let (a, b) = (act.value(&u), act.value(&w));
        assert!((a - b).abs() < 1e-11 * a.abs(), "{}: A = {a} vs {b} after a gauge transformation", act.label);
        let (du, dw) = (act.derivative(&u), act.derivative(&w));
        for l in (0..u.links().len()).step_by(29) {
            let want = om.apply_site(l / 4, &hermitian(&du[l]));
            assert!(hermitian(&dw[l]).dist(&want) < 1e-12, "{} force covariance at link {l}", act.label);
        }
    }
}
