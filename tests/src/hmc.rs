//! Hybrid Monte Carlo: exact reversibility, the step-size scaling of the
//! energy violation, Creutz's identity ⟨exp(−ΔH)⟩ = 1, the plaquette against
//! the heatbath's published values, thread and resume invariance, and the
//! L-CNN force in the molecular dynamics.

use crate::util::{lattice, max_link_distance, random_field};
use fpa_core::action::{Action, Improved, Wilson};
use fpa_core::lattice::GaugeField;
use fpa_core::mc::hmc::{draw_momenta, integrate, kinetic_energy};
use fpa_core::mc::{HmcChain, HmcParams, Integrator};
use fpa_core::observe::average_plaquette;
use fpa_core::stats::{binned_mean_error, mean};

fn params(beta: f64, tau: f64, steps: usize, integrator: Integrator) -> HmcParams {
    HmcParams { beta, tau, steps, integrator }
}

/// Integrating forward, flipping the momenta and integrating again returns
/// to the start (links and momenta to 1e-10) for both integrators and for
/// Wilson and Symanzik.
pub fn hmc_integrators_are_reversible() {
    let g = lattice(&[4, 4, 4, 4]);
    let u0 = random_field(&g, Some(0.4), 61);
    let acts: [&dyn Action<f64>; 2] = [&Wilson, &Improved::SYMANZIK];
    for act in acts {
        for integrator in [Integrator::Leapfrog, Integrator::Omelyan] {
            let pr = params(5.5, 0.5, 7, integrator);
            let p0 = draw_momenta(3, 0, g.n_links());
            let (mut u, mut p) = (u0.clone(), p0.clone());
            integrate(act, &pr, &mut u, &mut p);
            assert!(max_link_distance(&u, &u0) > 0.1, "the trajectory moved the field");
            p.iter_mut().flatten().for_each(|x| *x = -*x);
            integrate(act, &pr, &mut u, &mut p);
            let du = max_link_distance(&u, &u0);
            let dp = p.iter().flatten().zip(p0.iter().flatten()).map(|(a, b)| (a + b).abs()).fold(0.0, f64::max);
            assert!(
                du < 1e-10 && dp < 1e-10,
                "{} {integrator:?}: back to the start to {du:.1e} (links), {dp:.1e} (momenta)",
                act.name()
            );
        }
    }
}

/// `ΔH` of one trajectory falls as `ε²` (second-order integrators): halving
/// the step divides it by 4 (within 3.2–4.8), and Omelyan's is several
/// times smaller than leapfrog's at the same step.
pub fn hmc_energy_violation_scales_as_step_squared() {
    let g = lattice(&[4, 4, 4, 4]);
    let u0 = random_field(&g, Some(0.25), 62);
    let dh = |integrator, steps| {
        let pr = params(6.0, 1.0, steps, integrator);
        let (mut u, mut p) = (u0.clone(), draw_momenta(4, 0, g.n_links()));
        let k0 = kinetic_energy(&p);
        let (a0, a1, _) = integrate(&Improved::SYMANZIK, &pr, &mut u, &mut p);
        kinetic_energy(&p) + a1 - k0 - a0
    };
    for integrator in [Integrator::Leapfrog, Integrator::Omelyan] {
        let (d1, d2) = (dh(integrator, 40), dh(integrator, 80));
        let r = d1 / d2;
        assert!((3.2..4.8).contains(&r), "{integrator:?}: ΔH {d1:.3e} at 40 steps, {d2:.3e} at 80: ratio {r:.2}");
    }
    let (l, o) = (dh(Integrator::Leapfrog, 40).abs(), dh(Integrator::Omelyan, 40).abs());
    assert!(o < l / 3.0, "Omelyan |ΔH| {o:.3e} not well below leapfrog's {l:.3e}");
}

/// Chains are pure functions of (seed, trajectory): 1 or 2 threads give the
/// same bits, and resuming from the saved field continues exactly.
pub fn hmc_chain_is_thread_count_and_resume_invariant() {
    let g = lattice(&[4, 4, 4, 4]);
    let pr = params(5.7, 0.5, 5, Integrator::Omelyan);
    let run = |n: u64, start: Option<(GaugeField<f64>, u64)>| {
        let (field, done) = start.unwrap_or_else(|| (random_field(&g, Some(0.5), 63), 0));
        let mut c = HmcChain::new(&Wilson, field, pr, 9, done).unwrap();
        let mut dh = vec![];
        while c.trajectories < n {
            dh.push(c.step().dh);
        }
        (c.field, dh)
    };
    let (whole, dh_whole) = run(6, None);
    let (half, _) = run(3, None);
    let (resumed, dh_rest) = run(6, Some((half, 3)));
    assert_eq!(whole.checksum(), resumed.checksum(), "resumed chain differs");
    assert_eq!(&dh_whole[3..], &dh_rest[..], "ΔH after resume differs");
    #[cfg(feature = "rayon")]
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let (other, dh_other) = pool.install(|| run(6, None));
        assert_eq!(whole.checksum(), other.checksum(), "{threads} threads give different links");
        assert_eq!(dh_whole, dh_other, "{threads} threads give different ΔH");
    }
}

/// An L-CNN at the Wilson start is the Wilson action: its HMC trajectories
/// (the L-CNN force through the molecular dynamics) give Wilson's ΔH.
pub fn hmc_with_wilson_start_lcnn_is_wilson_hmc() {
    use fpa_core::lcnn::action::LcnnAction;
    use fpa_core::lcnn::{Init, Model, ModelSpec};
    let g = lattice(&[4, 2, 2, 4]);
    let m = Model::new(ModelSpec { init: Init::Wilson, init_scale: 0.0, ..ModelSpec::paper_12() }).unwrap();
    let lcnn = LcnnAction::new(m.clone(), m.init_params(1), "wilson start".into());
    let pr = params(5.8, 0.4, 4, Integrator::Leapfrog);
    let u0 = random_field(&g, Some(0.5), 64);
    let mut a = HmcChain::new(&Wilson, u0.clone(), pr, 5, 0).unwrap();
    let mut b = HmcChain::new(&lcnn, u0, pr, 5, 0).unwrap();
    for _ in 0..3 {
        let (ta, tb) = (a.step(), b.step());
        assert!((ta.dh - tb.dh).abs() < 1e-9, "ΔH Wilson {} vs L-CNN {}", ta.dh, tb.dh);
        assert_eq!(ta.accepted, tb.accepted);
    }
    assert!(max_link_distance(&a.field, &b.field) < 1e-10, "fields after 3 trajectories");
}

/// Wilson action HMC on 4⁴: ⟨exp(−ΔH)⟩ = 1 within 3σ (Creutz's identity for
/// an exact, area-preserving, reversible integrator) and ⟨P⟩ at β = 6.0
/// against the heatbath reference 0.59667(26) (the value
/// `mc::plaquette_matches_reference_4x4x4x4` checks, same tolerance rule).
pub fn hmc_creutz_identity_and_plaquette() {
    let g = lattice(&[4, 4, 4, 4]);
    let pr = params(6.0, 1.0, 8, Integrator::Omelyan);
    let mut c = HmcChain::new(&Wilson, GaugeField::cold(g.clone()), pr, 77, 0).unwrap();
    for _ in 0..100 {
        c.step();
    }
    let (mut plaq, mut edh, mut acc) = (vec![], vec![], 0);
    for _ in 0..2500 {
        let t = c.step();
        acc += t.accepted as usize;
        edh.push((-t.dh).exp());
        plaq.push(average_plaquette(&c.field));
    }
    let (e, ee) = binned_mean_error(&edh, 25);
    assert!((e - 1.0).abs() < 3.0 * ee, "<exp(-dH)> = {e:.4} +- {ee:.4}");
    let (m, me) = binned_mean_error(&plaq, 25);
    eprintln!(
        "HMC 4^4 beta 6.0: <P> = {m:.5} +- {me:.5}, <exp(-dH)> = {e:.4} +- {ee:.4}, acceptance {:.3}",
        acc as f64 / 2500.0
    );
    let (r, re) = (0.59667, 0.00026);
    let tol = 3.0 * (me * me + (1.5 * re) * (1.5 * re)).sqrt();
    assert!((m - r).abs() < tol, "HMC <P> = {m:.5} +- {me:.5}, reference {r} +- {re}");
    assert!(mean(&plaq) > 0.5);
}
