//! Complex φ⁴ at finite chemical potential in its dual formulation: the weight integral
//! against its closed form, the worm against the exact free theory at μ > 0 (where the
//! original action is complex), and against a direct simulation of the field at μ = 0.

use fpa_core::scalar::charged::{free_theory, ln_w_integral, ChargedParams, DirectChain, WormChain};
use fpa_core::stats::binned_mean_error;

/// `ln Γ(m/2)` for a positive integer `m`, by `Γ(x + 1) = x Γ(x)` from `Γ(1) = 1` or
/// `Γ(1/2) = √π`.
fn ln_gamma_half(m: usize) -> f64 {
    let (mut x, mut g) = if m.is_multiple_of(2) { (1.0, 0.0) } else { (0.5, 0.5 * std::f64::consts::PI.ln()) };
    while x < m as f64 / 2.0 {
        g += x.ln();
        x += 1.0;
    }
    g
}

/// `ln W(f)` by quadrature equals `ln Γ(f/2 + 1) − (f/2 + 1) ln η − ln 2` at `λ = 0`; `W(f+2)/W(f)`
/// then is `(f/2 + 1)/η`; at `λ > 0` the ratio falls below it (the quartic term suppresses
/// large `|φ|`). Bad parameters are refused.
pub fn charged_weights_are_exact() {
    for f in [0usize, 1, 2, 7, 30, 120] {
        let eta: f64 = 4.3;
        let want = ln_gamma_half(f + 2) - (f as f64 / 2.0 + 1.0) * eta.ln() - 2f64.ln();
        let got = ln_w_integral(f, eta, 0.0);
        assert!((got - want).abs() < 1e-10 * want.abs().max(1.0), "ln W({f}) = {got}, exactly {want}");
    }
    let mut free = ChargedParams::new(4.3, 0.0, 0.0).unwrap();
    let mut quartic = ChargedParams::new(4.3, 1.0, 0.0).unwrap();
    for f in [0usize, 2, 10] {
        let exact = (f as f64 / 2.0 + 1.0) / 4.3;
        assert!((free.phi2_ratio(f) - exact).abs() < 1e-10 * exact, "W ratio at f = {f}");
        assert!(quartic.phi2_ratio(f) < exact, "quartic term does not suppress |phi|^2 at f = {f}");
    }
    assert!(ChargedParams::new(4.0, 0.0, 0.5).is_err(), "a free theory below threshold accepted");
    assert!(ChargedParams::new(4.0, -1.0, 0.0).is_err() && ChargedParams::new(f64::NAN, 1.0, 0.0).is_err());
}

/// Runs `updates` worm updates after `therm`, checking flux conservation after every update;
/// returns the binned means and errors of `n` and `|φ|²`.
fn worm_averages(nx: usize, nt: usize, params: ChargedParams, therm: usize, updates: usize) -> [(f64, f64); 2] {
    let mut chain = WormChain::new(nx, nt, params, 17).unwrap();
    let (mut n, mut phi2) = (vec![], vec![]);
    for i in 0..therm + updates {
        chain.step();
        assert!(chain.config.divergence().iter().all(|&d| d == 0), "flux not conserved after update {i}");
        if i >= therm {
            let (a, b) = chain.measure();
            n.push(a);
            phi2.push(b);
        }
    }
    for x in 0..chain.config.volume() {
        assert_eq!(chain.config.f(x), chain.config.f_of(x), "f out of date at site {x}");
    }
    [binned_mean_error(&n, 20), binned_mean_error(&phi2, 20)]
}

/// At `λ = 0` and `μ = 0.4` the theory is Gaussian with a complex kernel; the worm's `⟨n⟩` and
/// `⟨|φ|²⟩` agree with `(1/V) Σ_p` of the exact propagator within 4σ (and `⟨n⟩ > 0`: the
/// chemical potential populates particles).
pub fn worm_matches_the_free_theory_at_finite_mu() {
    let (nx, nt, eta, mu) = (4, 6, 4.6, 0.4);
    let [(n, dn), (phi2, dphi2)] = worm_averages(nx, nt, ChargedParams::new(eta, 0.0, mu).unwrap(), 200, 16000);
    let (phi2_exact, n_exact) = free_theory(nx, nt, eta, mu);
    assert!(n_exact > 0.01, "the check needs a non-zero density (exact n = {n_exact})");
    assert!((n - n_exact).abs() < 4.0 * dn + 1e-3, "n = {n} +- {dn}, exactly {n_exact}");
    assert!((phi2 - phi2_exact).abs() < 4.0 * dphi2 + 1e-3, "|phi|^2 = {phi2} +- {dphi2}, exactly {phi2_exact}");
    // The checks can fail: without the chemical potential the density is zero.
    assert!((n - free_theory(nx, nt, eta, 0.0).1).abs() > 4.0 * dn, "n does not depend on mu");
}

/// At `μ = 0` and `λ = 1` the dual worm and a direct Metropolis simulation of the complex
/// field give the same `⟨|φ|²⟩` within 4σ (combined), and `⟨n⟩ = 0` within 4σ.
pub fn worm_matches_the_direct_simulation_at_zero_mu() {
    let (nx, nt, eta, lambda) = (4, 4, 4.5, 1.0);
    let [(n, dn), (phi2, dphi2)] = worm_averages(nx, nt, ChargedParams::new(eta, lambda, 0.0).unwrap(), 200, 4000);
    let mut direct = DirectChain::new(nx, nt, eta, lambda, 5).unwrap();
    let mut series = vec![];
    for i in 0..8200 {
        direct.sweep(1.2);
        if i >= 200 {
            series.push(direct.phi2());
        }
    }
    let (d, dd) = binned_mean_error(&series, 20);
    let sigma = (dphi2 * dphi2 + dd * dd).sqrt();
    assert!((phi2 - d).abs() < 4.0 * sigma, "worm |phi|^2 = {phi2} +- {dphi2}, direct {d} +- {dd}");
    assert!(n.abs() < 4.0 * dn + 1e-9, "n = {n} +- {dn} at mu = 0");
    assert!(dd < 0.02 * d && dphi2 < 0.02 * phi2, "errors too large for a meaningful check");
}
