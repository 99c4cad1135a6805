//! Training: the 1+1D Wilson-loop regression of the L-CNN paper, and a short
//! training run on fixed point action data.

use crate::util::lattice;
use fpa_core::lattice::path::rectangle;
use fpa_core::lattice::{path_product, GaugeField};
use fpa_core::lcnn::model::{HeadSpec, Init, LayerSpec, Model, ModelSpec};
use fpa_core::lcnn::train::{shuffled, site_regression, Adam};
use fpa_core::lcnn::Activation;
use fpa_core::mc::WilsonChain;

/// `(1/3) Re Tr` of the 2x2 loop starting at every site of a 2D field.
fn wilson_2x2(u: &GaugeField<f64>) -> Vec<f64> {
    let path = rectangle(0, 1, 2, 2);
    (0..u.geometry().volume()).map(|x| path_product(u, x, &path).0.re_tr() / 3.0).collect()
}

/// 2D SU(3) configurations at couplings spread over `betas`.
fn configs(dims: &[usize], betas: &[f64], per_beta: usize, seed: u64) -> Vec<GaugeField<f64>> {
    let g = lattice(dims);
    let mut out = vec![];
    for (i, &b) in betas.iter().enumerate() {
        let mut c = WilsonChain::new(GaugeField::hot(g.clone(), seed + i as u64), b, 1, seed + i as u64, 0).unwrap();
        for _ in 0..20 {
            c.step();
        }
        for _ in 0..per_beta {
            for _ in 0..3 {
                c.step();
            }
            out.push(c.field().clone());
        }
    }
    out
}

fn spec_2x2() -> ModelSpec {
    ModelSpec {
        dims: 2,
        layers: vec![
            LayerSpec::Plaq {},
            LayerSpec::Lcb { out: 2, kernel: 2, dilation: 1, symmetric: true, complex: false },
            LayerSpec::Lcb { out: 2, kernel: 2, dilation: 1, symmetric: true, complex: false },
        ],
        head: HeadSpec { hidden: vec![], activation: Activation::Tanh, imag: false, quadratic: false },
        subtract_trivial: false,
        init_scale: 0.1,
        init: Init::Random,
    }
}

/// Trained on 8x8 SU(3) configurations to predict the 2x2 Wilson loop at
/// every site, the L-CNN (Plaq → two L-CB layers of 2 channels with kernel
/// size 2 → linear read-out) reaches a test error below 1e-3 of the label
/// variance (about 1e-4 in practice), and keeps it on 16x16 and 32x32
/// lattices it never saw: its output is local and translation equivariant.
/// (Small initial weights matter: at init scale 1 training stalls near 3 %.)
pub fn wilson_loop_regression_generalises_to_larger_lattices() {
    let betas = [0.5, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0, 12.0];
    let train = configs(&[8, 8], &betas, 4, 1);
    let targets: Vec<Vec<f64>> = train.iter().map(wilson_2x2).collect();
    let m = Model::new(spec_2x2()).unwrap();
    let mut p = m.init_params(7);
    let mut adam = Adam::new(p.len());
    let mean = targets.iter().flatten().sum::<f64>() / (targets.len() * 64) as f64;
    let var = targets.iter().flatten().map(|t| (t - mean) * (t - mean)).sum::<f64>() / (targets.len() * 64) as f64;
    let epochs = 150;
    for epoch in 0..epochs {
        let lr = 1e-2 * (0.01f64).powf(epoch as f64 / epochs as f64);
        for chunk in shuffled(train.len(), 3, epoch as u64).chunks(4) {
            let mut g = vec![0.0; p.len()];
            for &i in chunk {
                let (_, gi) = site_regression(&m, &p, &train[i], &targets[i], true);
                for (a, b) in g.iter_mut().zip(gi.unwrap()) {
                    *a += b / chunk.len() as f64;
                }
            }
            adam.step(&mut p, &g, lr);
        }
    }
    let mse = |set: &[GaugeField<f64>]| -> f64 {
        set.iter().map(|u| site_regression(&m, &p, u, &wilson_2x2(u), false).0).sum::<f64>() / set.len() as f64
    };
    let train_mse = mse(&train);
    let results: Vec<(usize, f64)> = [8usize, 16, 32]
        .iter()
        .map(|&l| (l, mse(&configs(&[l, l], &[0.7, 2.5, 5.0, 10.0], 2, 100 + l as u64))))
        .collect();
    eprintln!("2x2 Wilson loop: label variance {var:.3e}, train MSE {train_mse:.3e}, test {results:?}");
    for (l, e) in results {
        assert!(e < 1e-3 * var, "{l}x{l}: test MSE {e:.3e} is not small against the label variance {var:.3e}");
    }
}

/// FP data for a few small coarse configurations (Wilson ensembles at
/// several couplings, A_FP and D_FP by minimisation).
pub fn small_fp_dataset(betas: &[f64], per_beta: usize, seed: u64) -> Vec<fpa_core::lcnn::train::Sample> {
    use fpa_core::action::Wilson;
    use fpa_core::rg::{FixedPoint, FixedPointSettings};
    let g = lattice(&[2, 2, 2, 2]);
    let fp = FixedPoint::new(g.clone(), FixedPointSettings::default(), &Wilson).unwrap();
    let mut out = vec![];
    for (i, &b) in betas.iter().enumerate() {
        let mut c = WilsonChain::new(GaugeField::hot(g.clone(), seed + i as u64), b, 2, seed + i as u64, 0).unwrap();
        for _ in 0..20 {
            c.step();
        }
        for _ in 0..per_beta {
            for _ in 0..5 {
                c.step();
            }
            let r = fp.solve(c.field(), None).unwrap();
            assert!(r.report.converged);
            out.push(fpa_core::lcnn::train::Sample {
                links: c.field().clone(),
                a_fp: r.action,
                d_fp: r.derivative,
                beta: b,
                weight: 1.0,
            });
        }
    }
    out
}

/// A training run (1000 full-batch Adam steps) on real FP data (2⁴ coarse configurations at β_wil
/// 5.5 … 7.0) lowers the action-density loss and the invariant loss each by
/// more than a factor 10, and ends below the Wilson action's losses on the
/// same data.
pub fn training_on_fp_data_lowers_both_losses() {
    use fpa_core::action::{Action, Wilson};
    use fpa_core::lcnn::train::{batch_loss, LossWeights, L2_NORM};
    let data = small_fp_dataset(&[5.5, 6.0, 6.5, 7.0], 3, 40);
    let spec = ModelSpec { init_scale: 0.1, ..ModelSpec::lcb_stack(&[(4, 2), (4, 1)]) };
    let m = Model::new(spec).unwrap();
    let mut p = m.init_params(1);
    let batch: Vec<&_> = data.iter().collect();
    // The derivative residual is a few 1e-3 where Wilson already is; weight it
    // up so the fit does not stop at the Wilson level (checked with init
    // seeds 1…4: L2 ends 40–50 % below Wilson, L1 30–70x below).
    let w = LossWeights::new(1.0, 10.0);
    let mean = |l: &[fpa_core::lcnn::train::SampleLoss]| {
        (l.iter().map(|x| x.l1).sum::<f64>() / l.len() as f64, l.iter().map(|x| x.l2).sum::<f64>() / l.len() as f64)
    };
    let (l0, _) = batch_loss(&m, &p, &batch, w, false);
    let (l1_0, l2_0) = mean(&l0);
    let mut adam = Adam::new(p.len());
    let steps = 1000;
    for step in 0..steps {
        let lr = 1e-2 * (0.05f64).powf(step as f64 / steps as f64);
        let (_, g) = batch_loss(&m, &p, &batch, w, true);
        adam.step(&mut p, &g.unwrap(), lr);
    }
    let (l, _) = batch_loss(&m, &p, &batch, w, false);
    let (l1, l2) = mean(&l);
    // The Wilson action evaluated the same way.
    let (mut w1, mut w2) = (0.0, 0.0);
    for s in &data {
        let v = s.links.geometry().volume() as f64;
        let d = Wilson.derivative(&s.links);
        w1 += (Wilson.value(&s.links) - s.a_fp).abs() / v;
        w2 += d.iter().zip(&s.d_fp).flat_map(|(a, b)| (0..8).map(move |c| (a[c] - b[c]).powi(2))).sum::<f64>()
            / (L2_NORM * v);
    }
    let (w1, w2) = (w1 / data.len() as f64, w2 / data.len() as f64);
    eprintln!("FP training: L1 {l1_0:.3e} -> {l1:.3e}, L2 {l2_0:.3e} -> {l2:.3e}; Wilson L1 {w1:.3e}, L2 {w2:.3e}");
    assert!(l1 < l1_0 / 10.0, "action-density loss fell only from {l1_0:.3e} to {l1:.3e}");
    assert!(l2 < l2_0 / 10.0, "invariant loss fell only from {l2_0:.3e} to {l2:.3e}");
    assert!(l1 < w1 && l2 < w2, "the trained L-CNN describes the FP data better than Wilson");
}

/// A configuration of weight `w` counts as `w` copies of itself: the batch gradient of
/// `[s₀, s₁ (weight 3)]` is that of `[s₀, s₁, s₁, s₁]` times 4/2 (batch means), the weighted
/// mean losses are the repeated list's, and in the read-out fit a uniform weight changes
/// nothing, a weight of 0 on the last configuration is dropping it (bit for bit), and a weight
/// of 3 moves the fit.
pub fn weighted_configurations_count_as_repeats() {
    use fpa_core::lcnn::readout_fit::{fit_last_layer, FitSettings};
    use fpa_core::lcnn::train::{batch_loss, LossWeights, Sample};
    use fpa_core::lcnn::trainer::mean_losses;
    let m = Model::new(ModelSpec { init_scale: 0.5, ..ModelSpec::lcb_stack(&[(2, 2), (2, 1)]) }).unwrap();
    let p = m.init_params(7);
    let g = lattice(&[2, 2, 2, 4]);
    let mut rng = fpa_core::rng::Rng::stream(71, &[fpa_core::rng::domain::TEST]);
    // Targets that no network of this shape meets exactly, so that the weights matter.
    let samples: Vec<Sample> = (0..3)
        .map(|i| {
            let links = crate::util::random_field(&g, Some(0.5), 80 + i);
            let d_fp = (0..links.links().len()).map(|_| core::array::from_fn(|_| 0.3 * rng.gaussian())).collect();
            Sample { links, a_fp: 20.0 + 5.0 * i as f64, d_fp, beta: 6.0, weight: 1.0 }
        })
        .collect();
    let with = |i: usize, weight: f64| Sample { weight, ..samples[i].clone() };
    let w = LossWeights::new(1.0, 10.0);
    let (s0, s1w) = (with(0, 1.0), with(1, 3.0));
    let (lw, gw) = batch_loss(&m, &p, &[&s0, &s1w], w, true);
    let repeated = [&samples[0], &samples[1], &samples[1], &samples[1]];
    let (lr, gr) = batch_loss(&m, &p, &repeated, w, true);
    let (gw, gr) = (gw.unwrap(), gr.unwrap());
    let scale = gr.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    let err = gw.iter().zip(&gr).fold(0.0f64, |a, (x, y)| a.max((x / 2.0 - y).abs()));
    assert!(scale > 0.0 && err < 1e-13 * scale, "weighted batch gradient off by {err:.3e} of {scale:.3e}");
    let (mw, mr) = (mean_losses(&lw, &[&s0, &s1w]), mean_losses(&lr, &repeated));
    assert!((mw.0 - mr.0).abs() < 1e-14 * mr.0 && (mw.1 - mr.1).abs() < 1e-14 * mr.1, "means {mw:?} vs {mr:?}");
    // The read-out fit.
    let set = FitSettings { directions: 8, ..Default::default() };
    let fit = |weights: &[f64]| {
        let s: Vec<Sample> = weights.iter().enumerate().map(|(i, &x)| with(i, x)).collect();
        let refs: Vec<&Sample> = s.iter().collect();
        let mut q = p.clone();
        fit_last_layer(&m, &mut q, &refs, &set).unwrap();
        q
    };
    // Compared through the fitted actions: the fit's features are redundant (`Re Tr XY = Re Tr
    // YX`), so its weights are fixed only up to the ridge, the actions to rounding.
    let actions = |q: &[f64]| -> Vec<f64> {
        let t = m.trivial_per_site(q);
        samples.iter().map(|s| fpa_core::lcnn::train::action_and_gradients(&m, q, &t, &s.links).0).collect()
    };
    let plain = fit(&[1.0, 1.0, 1.0]);
    let a_plain = actions(&plain);
    let moved_by = |q: &[f64]| actions(q).iter().zip(&a_plain).fold(0.0f64, |m, (x, y)| m.max((x - y).abs() / y.abs()));
    let uniform = moved_by(&fit(&[2.5, 2.5, 2.5]));
    assert!(uniform < 1e-9, "a uniform weight moved the fitted actions by {uniform:.3e} (relative)");
    let dropped = {
        let refs: Vec<&Sample> = samples[..2].iter().collect();
        let mut q = p.clone();
        fit_last_layer(&m, &mut q, &refs, &set).unwrap();
        q
    };
    assert_eq!(fit(&[1.0, 1.0, 0.0]), dropped, "weight 0 is dropping the configuration");
    let moved = moved_by(&fit(&[1.0, 3.0, 1.0]));
    assert!(moved > 1e-4, "a weight of 3 moved the fitted actions by only {moved:.3e} (relative)");
    eprintln!("weights: uniform 2.5 moved the fitted actions by {uniform:.1e}, a weight of 3 by {moved:.1e}");
}

/// The least-squares fit of the last layer is exact: a student that differs
/// from a teacher network only in its last layer (without and with transport)
/// recovers the teacher's actions and link derivatives on the fitted
/// configurations and on a new one, from the teacher's values and sketched
/// derivatives alone. The same for a quadratic read-out (`Re Tr` and `Im Tr`
/// features, their linear weights and 10 products refitted).
pub fn readout_fit_recovers_a_teacher_exactly() {
    use fpa_core::lcnn::readout_fit::{fit_last_layer, FitSettings};
    use fpa_core::lcnn::train::{action_and_gradients, Sample};
    for (kernel, configs, directions, quadratic) in [(1, 3, 32, false), (2, 5, 64, false), (1, 3, 16, true)] {
        let mut spec = ModelSpec { init_scale: 0.5, ..ModelSpec::lcb_stack(&[(2, 2), (2, kernel)]) };
        spec.head.quadratic = quadratic;
        spec.head.imag = quadratic;
        let m = Model::new(spec).unwrap();
        let mut teacher = m.init_params(5);
        let mut rng = fpa_core::rng::Rng::stream(59, &[fpa_core::rng::domain::TEST]);
        for p in teacher.iter_mut() {
            *p += 0.05 * rng.gaussian(); // every coupling nonzero
        }
        let g = lattice(&[2, 2, 2, 4]);
        let fields: Vec<GaugeField<f64>> =
            (0..=configs).map(|i| crate::util::random_field(&g, Some(0.5), 60 + i as u64)).collect();
        let t_triv = m.trivial_per_site(&teacher);
        let samples: Vec<Sample> = fields[..configs]
            .iter()
            .map(|u| {
                let (a, _, d) = action_and_gradients(&m, &teacher, &t_triv, u);
                Sample { links: u.clone(), a_fp: a, d_fp: d, beta: 6.0, weight: 1.0 }
            })
            .collect();
        // The student: the teacher with a different last layer (or read-out).
        let mut student = teacher.clone();
        let (lo, hi) = if quadratic {
            (m.layer_offset(m.layers.len()), m.n_params)
        } else {
            (m.layer_offset(m.layers.len() - 1), m.layer_offset(m.layers.len()))
        };
        for p in &mut student[lo..hi] {
            *p = 0.3 * rng.gaussian();
        }
        let refs: Vec<&Sample> = samples.iter().collect();
        let set = FitSettings { directions, ridge: 1e-13, ..Default::default() };
        let rep = fit_last_layer(&m, &mut student, &refs, &set).unwrap();
        assert!(rep.objective_after < 1e-12 * rep.objective_before, "kernel {kernel}: fit residual {rep:?}");
        if quadratic {
            assert_eq!(rep.unknowns, 4 + 10, "the read-out's 4 linear weights and 10 quadratic coefficients");
        }
        let s_triv = m.trivial_per_site(&student);
        for (i, u) in fields.iter().enumerate() {
            let (a_t, _, d_t) = action_and_gradients(&m, &teacher, &t_triv, u);
            let (a_s, _, d_s) = action_and_gradients(&m, &student, &s_triv, u);
            let scale = d_t.iter().flatten().fold(0.0f64, |a, x| a.max(x.abs()));
            let err = d_s.iter().flatten().zip(d_t.iter().flatten()).fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
            assert!((a_s - a_t).abs() < 1e-7 * a_t.abs(), "kernel {kernel}, field {i}: action {a_s} vs {a_t}");
            assert!(err < 1e-7 * scale, "kernel {kernel}, field {i}: link derivatives off by {err:.3e} of {scale:.3e}");
        }
    }
    // Models whose action is not linear in the last layer's weights are refused.
    let g = lattice(&[2, 2, 2, 2]);
    let u = crate::util::random_field(&g, Some(0.5), 70);
    let s = Sample { links: u.clone(), a_fp: 1.0, d_fp: vec![[0.0; 8]; u.links().len()], beta: 6.0, weight: 1.0 };
    let mut spec = ModelSpec::lcb_stack(&[(2, 2), (2, 1)]);
    spec.head.hidden = vec![3];
    let bad = Model::new(spec).unwrap();
    let mut p = bad.init_params(1);
    assert!(fit_last_layer(&bad, &mut p, &[&s], &FitSettings::default()).is_err());
}
