//! The classical (APE-type) parametrisation of the FP action, `FatPolynomial`: derivatives
//! against finite differences, gauge invariance, exact identities, and its least-squares fit
//! recovering known coefficients.

use crate::util::{assert_close, lattice, random_field};
use fpa_core::action::fat_polynomial::{fat_links, fit, terms_up_to, FitConfig};
use fpa_core::action::{derivative_error, Action, FatPolynomial, Wilson};
use fpa_core::lattice::{GaugeField, GaugeTransform};
use fpa_core::su3::algebra::hermitian;

/// A degree-4 polynomial with coefficients of both signs and all sizes.
fn sample_action(smear: f64) -> FatPolynomial {
    let terms = terms_up_to(4);
    let coeffs = (0..terms.len()).map(|j| 0.7 * (-0.6f64).powi(j as i32) + 0.05 * j as f64).collect();
    FatPolynomial::new(smear, terms, coeffs, "sample")
}

/// Link derivatives against fourth-order central differences of the value, in 3D and 4D, on
/// rough and smooth fields, for two smearing coefficients.
pub fn fat_polynomial_derivatives_match_finite_differences() {
    for dims in [&[4usize, 3, 4][..], &[4, 4, 3, 4]] {
        let g = lattice(dims);
        for (seed, eps) in [(21, None), (22, Some(0.3))] {
            let u = random_field(&g, eps, seed);
            let n = u.links().len();
            let links = [0, 3, n / 2 + 1, n - 1];
            for smear in [0.1, 0.25] {
                let act = sample_action(smear);
                let err = derivative_error(&act, &u, &links, 1e-3);
                assert!(err < 1e-7, "fat polynomial s = {smear} on {dims:?}, seed {seed}: derivative error {err:.2e}");
            }
        }
    }
}

/// The value is invariant and the force covariant under a Haar-random gauge transformation.
pub fn fat_polynomial_is_gauge_invariant() {
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, None, 23);
    let om = GaugeTransform::random(g.clone(), 24);
    let w = om.apply(&u);
    let act = sample_action(0.15);
    let (a, b) = (act.value(&u), act.value(&w));
    assert!((a - b).abs() < 1e-11 * a.abs(), "A = {a} vs {b} after a gauge transformation");
    let (du, dw) = (act.derivative(&u), act.derivative(&w));
    for l in (0..u.links().len()).step_by(13) {
        let want = om.apply_site(l / 4, &hermitian(&du[l]));
        assert!(hermitian(&dw[l]).dist(&want) < 1e-11, "fat polynomial force covariance at link {l}");
    }
}

/// Exact identities: `p = u` and, without smearing, `p = w` are the Wilson action (values and
/// derivatives); the fat links of the unit field are the unit matrices; the action vanishes on
/// the unit field; and `value_and_derivative` gives `value`'s number.
pub fn fat_polynomial_identities() {
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, Some(0.5), 25);
    let (aw, dw) = (Wilson.value(&u), Wilson.derivative(&u));
    for (act, what) in [
        (FatPolynomial::new(0.2, vec![(1, 0)], vec![1.0], "u"), "p = u"),
        (FatPolynomial::new(0.0, vec![(0, 1)], vec![1.0], "w"), "p = w, s = 0"),
    ] {
        assert_close(act.value(&u), aw, 1e-12 * aw, what);
        let d = act.derivative(&u);
        for (l, (x, y)) in d.iter().zip(&dw).enumerate() {
            for a in 0..8 {
                assert_close(x[a], y[a], 1e-12, &format!("{what}: D at link {l}, a = {a}"));
            }
        }
    }
    let cold = GaugeField::<f64>::cold(g.clone());
    for w in fat_links(&cold, 0.2).links() {
        assert!(w.dist(&fpa_core::su3::Mat3::identity()) < 1e-15, "fat link of the unit field");
    }
    let act = sample_action(0.2);
    assert_eq!(act.value(&cold), 0.0, "A[1]");
    let mut d = vec![[0.0; 8]; u.links().len()];
    assert_close(act.value_and_derivative(&u, &mut d), act.value(&u), 1e-13 * act.value(&u).abs(), "value");
}

/// An action's values and derivatives on `fields`, as FP data.
fn targets(act: &dyn Action<f64>, fields: &[GaugeField<f64>]) -> Vec<(f64, Vec<[f64; 8]>)> {
    fields.iter().map(|u| (act.value(u), act.derivative(u))).collect()
}

fn configs<'a>(fields: &'a [GaugeField<f64>], data: &'a [(f64, Vec<[f64; 8]>)]) -> Vec<FitConfig<'a>> {
    fields.iter().zip(data).map(|(u, (a, d))| FitConfig { links: u, a_fp: *a, d_fp: d, weight: 1.0 }).collect()
}

/// A fit case: target action, the coefficients to recover, normalisation imposed, name.
type Case<'a> = (&'a dyn Action<f64>, &'a [f64], bool, &'a str);

/// The fit recovers the coefficients of a known action from its own values and derivatives
/// (objective 0), with and without the normalisation `c_(1,0) + c_(0,1) = 1` imposed, and
/// Wilson's targets give `c_(1,0) = 1` and nothing else.
pub fn fat_polynomial_fit_recovers_known_coefficients() {
    let g = lattice(&[4, 4, 4, 4]);
    let free = sample_action(0.12);
    let mut normal = free.clone();
    normal.coeffs[1] = 1.0 - normal.coeffs[0];
    let fields: Vec<GaugeField<f64>> =
        [(31, Some(0.6)), (32, Some(0.9)), (33, None)].iter().map(|&(seed, eps)| random_field(&g, eps, seed)).collect();
    let wilson: Vec<f64> = free.terms.iter().map(|&t| if t == (1, 0) { 1.0 } else { 0.0 }).collect();
    let cases: [Case<'_>; 4] = [
        (&free, &free.coeffs, false, "free coefficients"),
        (&normal, &normal.coeffs, true, "normalised coefficients"),
        (&Wilson, &wilson, false, "Wilson"),
        (&Wilson, &wilson, true, "Wilson, normalised"),
    ];
    for (target, want, normalised, name) in cases {
        let data = targets(target, &fields);
        let r = fit(&configs(&fields, &data), 0.12, &free.terms, 100.0, 100.0, 0.0, normalised).unwrap();
        for (j, (c, w)) in r.action.coeffs.iter().zip(want).enumerate() {
            assert_close(*c, *w, 1e-6, &format!("{name}: coefficient {j} ({:?})", free.terms[j]));
        }
        assert!(r.objective.abs() < 1e-12, "{name}: objective {} at the exact coefficients", r.objective);
        if name.starts_with("Wilson") {
            assert!(r.objective_wilson.abs() < 1e-20, "Wilson's own objective {}", r.objective_wilson);
        } else {
            assert!(r.objective_wilson > 1e-3, "{name}: Wilson's objective on another action {}", r.objective_wilson);
        }
    }
    // The fit of one action to another's data is no better than the data allow: the free fit of
    // the unnormalised sample cannot be matched under the normalisation.
    let data = targets(&free, &fields);
    let r = fit(&configs(&fields, &data), 0.12, &free.terms, 100.0, 100.0, 0.0, true).unwrap();
    assert_close(r.action.leading_sum(), 1.0, 1e-14, "normalisation imposed");
    assert!(r.objective > 1e-8, "an unnormalised action fitted under the normalisation: objective {}", r.objective);
}
