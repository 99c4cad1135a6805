//! Real φ⁴ in two dimensions: the action against its definition bond by bond,
//! the sampler against the exact Gaussian theory, and the Wolff cluster update
//! against Metropolis alone.

use fpa_core::rng::{domain, Rng};
use fpa_core::scalar::phi4::{
    gaussian_two_point, measure, summarise, Phi4Chain, Phi4Measurement, Phi4Params, ScalarField,
};
use fpa_core::stats::binned_mean_error;

fn random_field(l: usize, seed: u64) -> ScalarField {
    let mut f = ScalarField::zero(l).unwrap();
    let mut rng = Rng::stream(seed, &[domain::TEST]);
    for v in f.values_mut() {
        *v = 3.0 * (2.0 * rng.uniform() - 1.0);
    }
    f
}

/// `S` equals `Σ_x [−2κ (φ(x)φ(x+0̂) + φ(x)φ(x+1̂)) + (1−2λ)φ² + λφ⁴]` written out with
/// coordinates on a 6×6 lattice, and the refusals of bad input.
pub fn phi4_action_is_the_lattice_action() {
    let l = 6;
    let f = random_field(l, 3);
    let p = Phi4Params::validated(0.27, 0.9).unwrap();
    let phi = |x0: usize, x1: usize| f.values()[(x0 % l) + l * (x1 % l)];
    let mut want = 0.0;
    for x1 in 0..l {
        for x0 in 0..l {
            let v = phi(x0, x1);
            want += -2.0 * p.kappa * v * (phi(x0 + 1, x1) + phi(x0, x1 + 1))
                + (1.0 - 2.0 * p.lambda) * v * v
                + p.lambda * v * v * v * v;
        }
    }
    let got = p.action(&f);
    assert!((got - want).abs() <= 1e-12 * want.abs(), "action {got} != {want}");
    assert!(ScalarField::zero(5).is_err() && ScalarField::zero(0).is_err(), "odd or empty lattices accepted");
    assert!(Phi4Params::validated(-0.1, 1.0).is_err() && Phi4Params::validated(0.2, f64::NAN).is_err());
}

/// At λ = 0 the theory is Gaussian: ⟨φ²⟩ and the nearest-neighbour correlator from
/// Metropolis + Wolff on 8×8 at κ = 0.2 agree with `(1/V) Σ_p cos(p·r)/Ã(p)` within 4σ.
pub fn phi4_gaussian_theory_is_exact() {
    let (l, kappa) = (8, 0.2);
    let mut chain = Phi4Chain::new(l, Phi4Params::validated(kappa, 0.0).unwrap(), 5).unwrap();
    chain.step = 1.6;
    for _ in 0..200 {
        chain.step();
    }
    let (mut phi2, mut nn) = (Vec::new(), Vec::new());
    for _ in 0..6000 {
        chain.step();
        let f = &chain.field;
        let v = f.values();
        phi2.push(v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64);
        nn.push((0..v.len()).map(|x| v[x] * v[f.neighbour(x, 0, true)]).sum::<f64>() / v.len() as f64);
    }
    for (name, series, r) in [("<phi^2>", &phi2, [0, 0]), ("<phi(x) phi(x+0)>", &nn, [1, 0])] {
        let (m, e) = binned_mean_error(series, 30);
        let want = gaussian_two_point(l, kappa, r);
        assert!((m - want).abs() < 4.0 * e, "{name} = {m} +- {e}, exact {want}");
        assert!(e < 0.02 * want, "{name}: error {e} too large for a test");
    }
    let acc = chain.acceptance();
    assert!((0.3..0.9).contains(&acc), "Metropolis acceptance {acc}");
}

/// The Wolff update leaves the distribution alone: near the transition (κ = 0.27, λ = 0.5
/// on 8×8) Metropolis with and without clusters give the same ⟨φ²⟩ and ⟨|M|⟩
/// within 4σ, and the clusters decorrelate |M| faster.
pub fn phi4_wolff_update_keeps_the_distribution() {
    let p = Phi4Params::validated(0.27, 0.5).unwrap();
    let run = |n_wolff: usize, seed: u64| -> Vec<Phi4Measurement> {
        let mut c = Phi4Chain::new(8, p, seed).unwrap();
        c.n_wolff = n_wolff;
        c.step = 1.2;
        for _ in 0..300 {
            c.step();
        }
        (0..8000)
            .map(|_| {
                c.step();
                measure(&p, &c.field)
            })
            .collect()
    };
    let (plain, cluster) = (run(0, 7), run(2, 8));
    let abs_m = |s: &[Phi4Measurement]| binned_mean_error(&s.iter().map(|m| m.m.abs()).collect::<Vec<_>>(), 40);
    let phi2 = |s: &[Phi4Measurement]| binned_mean_error(&s.iter().map(|m| m.phi2).collect::<Vec<_>>(), 40);
    for (name, a, b) in [("<|M|>", abs_m(&plain), abs_m(&cluster)), ("<phi^2>", phi2(&plain), phi2(&cluster))] {
        let sigma = (a.1 * a.1 + b.1 * b.1).sqrt();
        assert!((a.0 - b.0).abs() < 4.0 * sigma, "{name}: Metropolis {a:?}, with clusters {b:?}");
    }
    let tau = |s: &[Phi4Measurement]| fpa_core::stats::tau_int(&s.iter().map(|m| m.m).collect::<Vec<_>>());
    assert!(tau(&cluster) < tau(&plain), "clusters did not decorrelate M: {} vs {}", tau(&cluster), tau(&plain));
    let s = summarise(&cluster, 64, 20);
    assert!(s.binder.0 > 0.0 && s.binder.0 < 2.0 / 3.0 + 1e-9, "Binder cumulant {s:?}");
}
