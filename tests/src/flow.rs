//! The gradient flow: the rate at which it lowers its action, the order of
//! the Runge–Kutta integrator, gauge covariance, the fixed point flow at the
//! Wilson start, and the scale interpolation.

use crate::util::{assert_close, lattice, max_link_distance, random_field};
use fpa_core::action::{Action, Improved, Wilson};
use fpa_core::lattice::{GaugeField, GaugeTransform};
use fpa_core::observe::flow::{energy_clover, energy_plaquette, flow, rk3_step, scales, FlowKind};

/// `dA/dt = −6 Σ_{x,mu,a} (D_a A)²` at `t = 0` (the flow is the gradient
/// descent of `g₀² S = 6A`), from a central difference over one step
/// forward and one backward, for the Wilson and Symanzik flows.
pub fn flow_lowers_its_action_at_the_gradient_rate() {
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, Some(0.5), 71);
    let acts: [&dyn Action<f64>; 2] = [&Wilson, &Improved::SYMANZIK];
    for act in acts {
        let h = 1e-4;
        let (mut up, mut dn) = (u.clone(), u.clone());
        rk3_step(FlowKind::Action(act), &mut up, h);
        rk3_step(FlowKind::Action(act), &mut dn, -h);
        let rate = (act.value(&up) - act.value(&dn)) / (2.0 * h);
        let want = -6.0 * act.derivative(&u).iter().flatten().map(|d| d * d).sum::<f64>();
        assert_close(rate, want, 1e-6, &format!("{} flow: dA/dt", act.name()));
        assert!(act.value(&up) < act.value(&u), "the flow lowers A");
    }
}

/// Lüscher's RK3 is third order: the error at fixed t falls 8x when the
/// step halves (checked within 6.5–9.5 against a 16x finer reference), for
/// the Wilson and the Zeuthen flow.
pub fn flow_integrator_is_third_order() {
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, Some(0.6), 72);
    for kind in [FlowKind::Action(&Wilson), FlowKind::Zeuthen] {
        let run = |steps: usize| {
            let mut v = u.clone();
            for _ in 0..steps {
                rk3_step(kind, &mut v, 0.2 / steps as f64);
            }
            v
        };
        let reference = run(128);
        let (e1, e2) = (max_link_distance(&run(8), &reference), max_link_distance(&run(16), &reference));
        let r = e1 / e2;
        assert!((6.5..9.5).contains(&r), "{}: errors {e1:.2e}, {e2:.2e}, ratio {r:.2}", kind.name());
    }
}

/// Flowing a gauge-transformed field gives the gauge transform of the flowed
/// field (Wilson, Symanzik and Zeuthen flows), so the energy densities are
/// gauge invariant along the flow.
pub fn flow_is_gauge_covariant() {
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, None, 73);
    let om = GaugeTransform::random(g.clone(), 74);
    for kind in [FlowKind::Action(&Wilson), FlowKind::Action(&Improved::SYMANZIK), FlowKind::Zeuthen] {
        let (mut a, mut b) = (u.clone(), om.apply(&u));
        for _ in 0..3 {
            rk3_step(kind, &mut a, 0.05);
            rk3_step(kind, &mut b, 0.05);
        }
        let d = max_link_distance(&om.apply(&a), &b);
        assert!(d < 1e-11, "{}: flow of the transformed field differs by {d:.1e}", kind.name());
        assert_close(energy_clover(&b), energy_clover(&a), 1e-11, "E_clov invariance");
        assert_close(energy_plaquette(&b), energy_plaquette(&a), 1e-11, "E_plaq invariance");
    }
}

/// An L-CNN at the Wilson start is the Wilson action, so its flow (the
/// fixed point flow's code path) is the Wilson flow, and its energy density
/// `6A/V` is `E_plaq`.
pub fn lcnn_flow_at_the_wilson_start_is_the_wilson_flow() {
    use fpa_core::lcnn::action::LcnnAction;
    use fpa_core::lcnn::{Init, Model, ModelSpec};
    let g = lattice(&[4, 2, 2, 4]);
    let m = Model::new(ModelSpec { init: Init::Wilson, init_scale: 0.0, ..ModelSpec::paper_12() }).unwrap();
    let lcnn = LcnnAction::new(m.clone(), m.init_params(1), "wilson start".into());
    let u = random_field(&g, Some(0.5), 75);
    let (mut a, mut b) = (u.clone(), u);
    let pa = flow(FlowKind::Action(&Wilson), &mut a, 0.2, 0.05, 1, |_| {});
    let pb = flow(FlowKind::Action(&lcnn), &mut b, 0.2, 0.05, 1, |_| {});
    assert!(max_link_distance(&a, &b) < 1e-11, "L-CNN flow vs Wilson flow");
    for (x, y) in pa.iter().zip(&pb) {
        assert_close(y.e_action.unwrap(), x.e_plaq, 1e-11, "E_act of the L-CNN vs E_plaq");
        assert_close(x.e_action.unwrap(), x.e_plaq, 1e-12, "Wilson's E_act is E_plaq");
    }
    assert_eq!(pa.len(), 5, "measurements at t = 0, 0.05, …, 0.2");
    assert!(pa.windows(2).all(|w| w[1].e_plaq < w[0].e_plaq), "E falls along the flow");
}

/// `t₀` and `w₀` from a known curve: `E = c/t` gives `t²E = ct` and
/// `W = t d/dt(ct) = ct`, so `t₀ = w₀² = 0.3/c`.
pub fn flow_scales_from_a_known_curve() {
    let t: Vec<f64> = (0..=100).map(|i| i as f64 * 0.05).collect();
    let c = 0.1;
    let e: Vec<f64> = t.iter().map(|&t| if t > 0.0 { c / t } else { 0.0 }).collect();
    let (t0, w0) = scales(&t, &e, 0.3);
    assert_close(t0.unwrap(), 3.0, 1e-12, "t0");
    assert_close(w0.unwrap(), 3f64.sqrt(), 1e-12, "w0");
    let (none, _) = scales(&t[..10], &e[..10], 0.3);
    assert!(none.is_none(), "t0 beyond the flow is None");
}

/// The Zeuthen force on an abelian field (all links `exp(iθ λ₃/2)`, so the
/// parallel transports in `∇*∇` act trivially): on every link it is the
/// Symanzik force plus 1/12 of its second difference along the link's own
/// direction, `D(x+μ) + D(x−μ) − 2D(x)`.
pub fn zeuthen_force_on_an_abelian_field() {
    use fpa_core::observe::flow::zeuthen_force;
    use fpa_core::su3::exp_components;
    let g = lattice(&[6, 4, 4, 4]);
    let mut u = GaugeField::<f64>::cold(g.clone());
    u.for_each_link_mut(|x, mu, l| {
        let c = g.coords(x);
        let mut a = [0.0; 8];
        a[2] = 1.5 * (1.3 * c[mu] as f64 + 0.5 * c[(mu + 1) % 4] as f64 + mu as f64).sin();
        *l = exp_components(&a);
    });
    let d = Improved::SYMANZIK.derivative(&u);
    let z = zeuthen_force(&u);
    let nd = 4;
    let mut largest_correction = 0.0f64;
    for x in 0..g.volume() {
        for mu in 0..nd {
            let l = x * nd + mu;
            let (up, dn) = (g.up(x, mu) * nd + mu, g.dn(x, mu) * nd + mu);
            for a in 0..8 {
                let corr = (d[up][a] + d[dn][a] - 2.0 * d[l][a]) / 12.0;
                largest_correction = largest_correction.max(corr.abs());
                assert_close(z[l][a], d[l][a] + corr, 1e-12, &format!("Zeuthen force, link {l}, colour {a}"));
            }
        }
    }
    assert!(largest_correction > 1e-3, "the field varies along the links: {largest_correction}");
}
