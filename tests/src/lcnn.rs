//! L-CNN layers: finite-difference checks of every backward pass (weights and
//! links), gauge invariance and covariance, translation invariance.

use crate::util::{assert_close, lattice, random_field, rotate};
use fpa_core::lattice::{GaugeField, GaugeTransform};
use fpa_core::lcnn::model::{HeadSpec, Init, LayerSpec, Model, ModelSpec};
use fpa_core::lcnn::Activation;
use fpa_core::rg::kernel::derivatives_from_gradients;
use fpa_core::su3::algebra::hermitian;

/// A model that uses every layer type (each once or more), and a read-out
/// with a hidden layer, `Im Tr` and the quadratic terms.
pub fn every_layer_spec(dims: usize) -> ModelSpec {
    ModelSpec {
        dims,
        layers: vec![
            LayerSpec::Plaq {},
            LayerSpec::Lconv { out: 3, kernel: 2, dilation: 2, symmetric: true, unit: true },
            LayerSpec::Lact { activation: Activation::Tanh },
            LayerSpec::Lcb { out: 3, kernel: 2, dilation: 1, symmetric: true, complex: true },
            LayerSpec::Lexp {},
            LayerSpec::Poly {},
            LayerSpec::Lbilin { out: 2, complex: false },
            LayerSpec::Lact { activation: Activation::Softplus },
            LayerSpec::Lcb { out: 2, kernel: 3, dilation: 1, symmetric: false, complex: false },
        ],
        head: HeadSpec { hidden: vec![4], activation: Activation::Tanh, imag: true, quadratic: true },
        subtract_trivial: true,
        init_scale: 1.0,
        init: Init::Random,
    }
}

/// Nonzero values for every parameter (the initial residual/bias couplings
/// and L-Exp weights are zero, which would hide terms from the checks).
fn params(m: &Model, seed: u64) -> Vec<f64> {
    let mut p = m.init_params(seed);
    let mut s = seed;
    for x in p.iter_mut() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *x += 0.15 * (((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5);
    }
    p
}

/// The weight gradient and the link derivatives of the model output equal
/// central differences, for a model with every layer type, in 4D and 3D.
pub fn lcnn_backward_matches_finite_differences() {
    for dims in [vec![2usize, 3, 2, 2], vec![3, 2, 4]] {
        let m = Model::new(every_layer_spec(dims.len())).unwrap();
        let p = params(&m, 5);
        let g = lattice(&dims);
        let u = random_field(&g, Some(0.6), 7);
        let (_, tape) = m.forward_raw(&p, &u);
        let (gp, gu) = m.backward(&p, &tape, 1.0);
        let f = |pp: &[f64], uu: &GaugeField<f64>| m.forward_raw(pp, uu).0;
        let h = 1e-5;
        // Every tensor, a few entries each.
        for t in m.tensors() {
            let n: usize = t.shape.iter().product();
            for k in [0, n / 2, n - 1] {
                let i = t.offset + k;
                let (mut a, mut b) = (p.clone(), p.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (f(&a, &u) - f(&b, &u)) / (2.0 * h);
                assert_close(gp[i], fd, 1e-6, &format!("{dims:?} d/d {}[{k}]", t.name));
            }
        }
        let d = derivatives_from_gradients(&u, &gu);
        for l in [0, 5, u.links().len() - 1] {
            let (x, mu) = (l / u.nd(), l % u.nd());
            for a in 0..8 {
                let mut up = u.clone();
                up.set_link(x, mu, rotate(u.link(x, mu), a, h));
                let mut dn = u.clone();
                dn.set_link(x, mu, rotate(u.link(x, mu), a, -h));
                let fd = (f(&p, &up) - f(&p, &dn)) / (2.0 * h);
                assert_close(d[l][a], fd, 1e-6, &format!("{dims:?} D_LCNN link {l} a {a}"));
            }
        }
    }
}

/// The action is gauge invariant to 1e-12 relative (f64), translation
/// invariant, and `D_LCNN` transforms covariantly; for the paper's 3 x 12
/// network on 4⁴ and for the every-layer model.
pub fn lcnn_is_gauge_and_translation_invariant() {
    let cases = [(ModelSpec::paper_12(), vec![4usize, 4, 4, 4]), (every_layer_spec(4), vec![2, 4, 2, 4])];
    for (spec, dims) in cases {
        let m = Model::new(spec).unwrap();
        let p = params(&m, 9);
        let g = lattice(&dims);
        let u = random_field(&g, None, 11);
        let om = GaugeTransform::random(g.clone(), 12);
        let w = om.apply(&u);
        let (a, b) = (m.action(&p, &u), m.action(&p, &w));
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "gauge invariance: {a} vs {b}");
        // Translation by one site in direction 1.
        let mut t = u.clone();
        for x in 0..g.volume() {
            for mu in 0..4 {
                t.set_link(g.up(x, 1), mu, *u.link(x, mu));
            }
        }
        assert_close(m.action(&p, &t), a, 1e-12, "translation invariance");
        let (_, tu) = m.forward_raw(&p, &u);
        let (_, tw) = m.forward_raw(&p, &w);
        let du = derivatives_from_gradients(&u, &m.backward(&p, &tu, 1.0).1);
        let dw = derivatives_from_gradients(&w, &m.backward(&p, &tw, 1.0).1);
        for l in (0..du.len()).step_by(7) {
            let want = om.apply_site(l / 4, &hermitian(&du[l]));
            assert!(hermitian(&dw[l]).dist(&want) < 1e-11 * (1.0 + a.abs()), "D_LCNN covariance at {l}");
        }
    }
}

/// Parameter counts: the paper's networks with lge-cnn's `LConvBilin` shapes
/// (`physics.md` §4.2: 17 004 + 65 100 + 7 500 weights for 12-12-12) and the
/// trivial field giving `A = 0`.
pub fn lcnn_parameter_counts_and_trivial_field() {
    let m = Model::new(ModelSpec::paper_12()).unwrap();
    let t = m.tensors();
    let counts: Vec<usize> = t.iter().map(|t| t.shape.iter().product()).collect();
    assert_eq!(&counts[..3], &[17_004, 65_100, 7_500]);
    assert_eq!(t[0].shape, vec![12, 13, 109]);
    let m2 = Model::new(ModelSpec::paper_12_24_24()).unwrap();
    let c2: usize = m2.tensors().iter().take(3).map(|t| t.shape.iter().product::<usize>()).sum();
    assert_eq!(c2, 17_004 + 24 * 25 * 217 + 24 * 49 * 49);
    let p = params(&m, 3);
    let cold = GaugeField::<f64>::cold(lattice(&[4, 4, 4, 4]));
    let raw = m.forward_raw(&p, &cold).0;
    let a = m.action(&p, &cold);
    assert!(a.abs() < 1e-13 * raw.abs().max(1.0), "A[1] = {a} (raw output {raw})");
}

/// The second-order term of the invariant loss: the forward-over-reverse
/// weight gradient of `Σ r·D_LCNN` (r fixed) equals central differences of
/// `Σ r·D_LCNN(θ ± h e_k)`, for the every-layer model (L-Exp included, whose
/// own backward already uses duals: this runs on duals of duals).
pub fn lcnn_second_order_term_matches_finite_differences() {
    use fpa_core::lcnn::train::{action_and_gradients, directional_weight_gradient};
    let m = Model::new(every_layer_spec(4)).unwrap();
    let p = params(&m, 21);
    let g = lattice(&[2, 2, 3, 2]);
    let u = random_field(&g, Some(0.6), 22);
    let mut rng = fpa_core::rng::Rng::stream(23, &[fpa_core::rng::domain::TEST]);
    let r: Vec<[f64; 8]> = (0..u.links().len()).map(|_| fpa_core::su3::random::gaussian_algebra(&mut rng)).collect();
    let gd = directional_weight_gradient(&m, &p, &u, &r);
    let rd = |pp: &[f64]| -> f64 {
        let t = m.trivial_per_site(pp);
        let (_, _, d) = action_and_gradients(&m, pp, &t, &u);
        d.iter().zip(&r).map(|(a, b)| (0..8).map(|c| a[c] * b[c]).sum::<f64>()).sum()
    };
    let h = 1e-5;
    for t in m.tensors() {
        let n: usize = t.shape.iter().product();
        for k in [0, n / 3, n - 1] {
            let i = t.offset + k;
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (rd(&a) - rd(&b)) / (2.0 * h);
            assert_close(gd[i], fd, 1e-6, &format!("d/d{}[{k}] of r.D", t.name));
        }
    }
}

/// Hessian columns from dual numbers equal finite differences of the link
/// derivatives, the Hessian is symmetric, and it vanishes beyond the
/// network's reach (Plaq + two L-CB layers of kernel 2: ≤ 2 transport steps
/// plus a plaquette on each side) on a 2x2x2x10 lattice.
pub fn lcnn_hessian_columns_are_exact_and_local() {
    use fpa_core::lcnn::locality::{hessian_column, locality_profile};
    use fpa_core::lcnn::train::action_and_gradients;
    let m = Model::new(ModelSpec { init_scale: 0.5, ..ModelSpec::lcb_stack(&[(2, 2), (2, 2)]) }).unwrap();
    let p = params(&m, 31);
    let g = lattice(&[2, 2, 2, 10]);
    let u = random_field(&g, Some(0.5), 32);
    let trivial = m.trivial_per_site(&p);
    let (l0, a0) = (5, 3);
    let col = hessian_column(&m, &p, &u, l0, a0);
    let h = 1e-5;
    let d_at = |s: f64| {
        let mut w = u.clone();
        let (x, mu) = (l0 / 4, l0 % 4);
        w.set_link(x, mu, rotate(u.link(x, mu), a0, s));
        action_and_gradients(&m, &p, &trivial, &w).2
    };
    let (dp, dm) = (d_at(h), d_at(-h));
    for l in [0, 5, 17, 40] {
        for b in 0..8 {
            assert_close(col[l][b], (dp[l][b] - dm[l][b]) / (2.0 * h), 1e-6, &format!("Hessian ({l0},{a0}),({l},{b})"));
        }
    }
    // Symmetry: H_{(l0,a0),(l,b)} = H_{(l,b),(l0,a0)}.
    for (l, b) in [(17, 2), (40, 6)] {
        let other = hessian_column(&m, &p, &u, l, b);
        assert_close(other[l0][a0], col[l][b], 1e-10, "Hessian symmetry");
    }
    // Locality: zero beyond the reach along the long direction.
    let prof = locality_profile(&m, &p, &u, 0);
    let near = prof.iter().filter(|q| q.r < 1.0).map(|q| q.mean).fold(0.0, f64::max);
    let far = prof.iter().filter(|q| q.r > 4.6).map(|q| q.max).fold(0.0, f64::max);
    assert!(near > 1e-3, "nearby couplings exist ({near})");
    assert!(far < 1e-13 * near, "couplings beyond the reach vanish ({far} vs {near})");
}

/// The training gradient (which takes ∂A/∂θ from the values of the dual pass)
/// equals the plain assembly from `action_and_gradients` and the
/// second-order term, with and without the trivial-field subtraction.
pub fn lcnn_training_gradient_assembly() {
    use fpa_core::lcnn::train::{
        action_and_gradients, directional_weight_gradient, sample_loss, LossWeights, Sample, ValueLoss, L2_NORM,
    };
    for subtract in [true, false] {
        let m = Model::new(ModelSpec { subtract_trivial: subtract, ..every_layer_spec(4) }).unwrap();
        let p = params(&m, 41);
        let g = lattice(&[2, 2, 2, 2]);
        let u = random_field(&g, Some(0.7), 42);
        let mut rng = fpa_core::rng::Rng::stream(43, &[fpa_core::rng::domain::TEST]);
        let d_fp: Vec<[f64; 8]> =
            (0..u.links().len()).map(|_| fpa_core::su3::random::gaussian_algebra(&mut rng)).collect();
        let s = Sample { links: u.clone(), a_fp: 3.0, d_fp: d_fp.clone(), beta: 6.0, weight: 1.0 };
        let trivial = if subtract { m.trivial_per_site(&p) } else { (0.0, vec![0.0; p.len()]) };
        let (a, ga, d) = action_and_gradients(&m, &p, &trivial, &u);
        let r: Vec<[f64; 8]> = d.iter().zip(&d_fp).map(|(x, y)| core::array::from_fn(|c| x[c] - y[c])).collect();
        let gd = directional_weight_gradient(&m, &p, &u, &r);
        let vol = 16.0;
        for value in [ValueLoss::Density, ValueLoss::RelativeSquared] {
            let w = LossWeights { w1: 0.7, w2: 1.3, value };
            let (loss, got) = sample_loss(&m, &p, &trivial, &s, w, true);
            let got = got.unwrap();
            // ∂L₁/∂A written out for each form of the value term.
            let (l1, dl1) = match value {
                ValueLoss::Density => ((a - 3.0).abs() / vol, if a > 3.0 { 1.0 } else { -1.0 } / vol),
                ValueLoss::RelativeSquared => (((a - 3.0) / 3.0).powi(2), 2.0 * (a - 3.0) / 9.0),
            };
            assert_close(loss.l1, l1, 1e-12, &format!("value loss {value:?}"));
            for k in 0..p.len() {
                let want = w.w1 * dl1 * ga[k] + w.w2 * 2.0 / (L2_NORM * vol) * gd[k];
                assert_close(got[k], want, 1e-12, &format!("training gradient {k} (subtract {subtract}, {value:?})"));
            }
            // And central differences of the total loss along a few weights.
            // (A[1] is subtracted with the perturbed weights.)
            let total = |q: &[f64]| {
                let t = if subtract { m.trivial_per_site(q) } else { trivial.clone() };
                let (l, _) = sample_loss(&m, q, &t, &s, w, false);
                w.total((l.l1, l.l2))
            };
            for k in (0..p.len()).step_by(p.len() / 7 + 1) {
                let h = 1e-5 * (1.0 + p[k].abs());
                let (mut up, mut down) = (p.clone(), p.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (total(&up) - total(&down)) / (2.0 * h);
                assert_close(got[k], fd, 1e-6, &format!("finite differences of the loss, weight {k} ({value:?})"));
            }
        }
    }
}

/// Training in f32 (`--precision f32`): the losses and the weight gradient of
/// a batch equal the f64 ones to f32 accuracy, for the paper network on a
/// rough 4^4 field, with both value-loss forms.
pub fn lcnn_training_in_f32_matches_f64() {
    use fpa_core::lcnn::train::{batch_loss_with, LocalSamples, LossWeights, Precision, Sample, ValueLoss};
    let m = Model::new(ModelSpec { init_scale: 0.3, ..ModelSpec::paper_12() }).unwrap();
    let p = m.init_params(71);
    let g = lattice(&[4, 4, 4, 4]);
    let samples: Vec<Sample> = (0..2)
        .map(|i| {
            let u = random_field(&g, Some(0.8), 72 + i);
            let mut rng = fpa_core::rng::Rng::stream(74 + i, &[fpa_core::rng::domain::TEST]);
            let d_fp = (0..u.links().len()).map(|_| fpa_core::su3::random::gaussian_algebra(&mut rng)).collect();
            Sample { links: u, a_fp: 900.0, d_fp, beta: 5.0, weight: 1.0 }
        })
        .collect();
    let batch: Vec<&Sample> = samples.iter().collect();
    for value in [ValueLoss::Density, ValueLoss::RelativeSquared] {
        let w = LossWeights { w1: 1.0, w2: 100.0, value };
        let (l64, g64) = batch_loss_with(&m, &p, &batch, w, true, Precision::F64, &LocalSamples);
        let (l32, g32) = batch_loss_with(&m, &p, &batch, w, true, Precision::F32, &LocalSamples);
        for (a, b) in l64.iter().zip(&l32) {
            assert_close(b.a_pred, a.a_pred, 1e-5 * a.a_pred.abs(), "action in f32");
            assert_close(b.l2, a.l2, 1e-4 * a.l2, "invariant loss in f32");
        }
        let (g64, g32) = (g64.unwrap(), g32.unwrap());
        let norm = g64.iter().map(|x| x * x).sum::<f64>().sqrt();
        let diff = g64.iter().zip(&g32).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        assert!(diff < 1e-4 * norm, "{value:?}: |g32 - g64| = {diff:e}, |g64| = {norm:e}");
        assert!(diff > 0.0, "the f32 passes ran in f32");
    }
}

/// The Wilson start: with no random part, the paper network (real and
/// complex weights, with and without `Im Tr` in the read-out) is the Wilson
/// action exactly, values and link derivatives; with a random part it is a
/// gauge-invariant action near Wilson. Models that cannot pass plaquettes on
/// are refused.
pub fn lcnn_wilson_start_is_the_wilson_action() {
    use fpa_core::action::{Action, Wilson};
    use fpa_core::lcnn::action::LcnnAction;
    use fpa_core::lcnn::Init;
    let g = lattice(&[4, 2, 2, 2]);
    let u = random_field(&g, Some(0.6), 51);
    let want = Wilson.value(&u);
    let dw = Wilson.derivative(&u);
    for (complex, imag) in [(false, false), (true, true)] {
        let mut spec = ModelSpec { init: Init::Wilson, init_scale: 0.0, ..ModelSpec::paper_12() };
        spec.head.imag = imag;
        for l in &mut spec.layers {
            if let LayerSpec::Lcb { complex: c, .. } = l {
                *c = complex;
            }
        }
        let m = Model::new(spec).unwrap();
        let p = m.init_params(3);
        let lcnn = LcnnAction::new(m.clone(), p, "wilson start".into());
        let mut d = vec![[0.0; 8]; u.links().len()];
        let a = lcnn.value_and_derivative(&u, &mut d);
        assert_close(a, want, 1e-12 * want, &format!("A at the Wilson start (complex {complex})"));
        for l in 0..d.len() {
            for c in 0..8 {
                assert_close(d[l][c], dw[l][c], 1e-11, &format!("D[{l}][{c}] at the Wilson start"));
            }
        }
    }
    let m = Model::new(ModelSpec { init: Init::Wilson, init_scale: 0.05, ..ModelSpec::paper_12() }).unwrap();
    let lcnn = LcnnAction::new(m.clone(), m.init_params(4), "wilson start".into());
    let a = Action::<f64>::value(&lcnn, &u);
    assert!((a - want).abs() < 0.3 * want && a != want, "near Wilson, not equal: {a} vs {want}");
    let t = GaugeTransform::random(g.clone(), 52);
    assert_close(Action::<f64>::value(&lcnn, &t.apply(&u)), a, 1e-12 * a, "gauge invariance at the Wilson start");
    let narrow = ModelSpec { init: Init::Wilson, ..ModelSpec::lcb_stack(&[(4, 2)]) };
    assert!(Model::new(narrow).is_err(), "4 channels cannot carry the 6 plaquettes");
}

/// Function-preserving widening: a network's weights embedded in a wider one
/// (wider L-CB layers, a `poly` layer whose appended channels move, real and
/// complex weights, `Im Tr` in the read-out) give the same action and link
/// derivatives on a random field; the new channels' read-out weights get a
/// nonzero gradient (training can use them); mismatched layouts are refused.
pub fn lcnn_widening_preserves_the_action() {
    use fpa_core::lcnn::widen::widen;
    let stack = |w: [usize; 3], kernel_last: usize| ModelSpec {
        dims: 4,
        layers: vec![
            LayerSpec::Plaq {},
            LayerSpec::Lcb { out: w[0], kernel: 2, dilation: 1, symmetric: true, complex: true },
            LayerSpec::Poly {},
            LayerSpec::Lcb { out: w[1], kernel: 2, dilation: 1, symmetric: false, complex: false },
            LayerSpec::Lcb { out: w[2], kernel: kernel_last, dilation: 1, symmetric: true, complex: false },
        ],
        head: HeadSpec { hidden: vec![], activation: Activation::Tanh, imag: true, quadratic: false },
        subtract_trivial: true,
        init_scale: 1.0,
        init: Init::Random,
    };
    let narrow = Model::new(stack([4, 3, 2], 1)).unwrap();
    let wide = Model::new(stack([6, 5, 4], 1)).unwrap();
    let pn = params(&narrow, 61);
    let pw = widen(&narrow, &pn, &wide, 62).unwrap();
    let g = lattice(&[2, 3, 2, 2]);
    let u = random_field(&g, Some(0.7), 63);
    let (an, tn) = narrow.forward_raw(&pn, &u);
    let (aw, tw) = wide.forward_raw(&pw, &u);
    assert_close(aw, an, 1e-12 * an.abs().max(1.0), "widened network output");
    assert_close(wide.action(&pw, &u), narrow.action(&pn, &u), 1e-12 * an.abs().max(1.0), "widened action");
    let (_, gn) = narrow.backward(&pn, &tn, 1.0);
    let (gpw, gw) = wide.backward(&pw, &tw, 1.0);
    let (dn, dw) = (derivatives_from_gradients(&u, &gn), derivatives_from_gradients(&u, &gw));
    for l in 0..dn.len() {
        for a in 0..8 {
            assert_close(dw[l][a], dn[l][a], 1e-11, &format!("widened D[{l}][{a}]"));
        }
    }
    // The read-out weights of the new channels (2..4 of the last layer, Re and Im).
    let head = wide.layer_offset(wide.layers.len());
    for k in 4..8 {
        assert_eq!(pw[head + k], 0.0, "new read-out weight {k} starts at zero");
        assert!(gpw[head + k].abs() > 1e-8, "new read-out weight {k} has a gradient: {}", gpw[head + k]);
    }
    // Different kernels, fewer channels, or different depth: refused.
    for bad in [stack([6, 5, 4], 2), stack([6, 2, 4], 1), ModelSpec::paper_12()] {
        let bad = Model::new(bad).unwrap();
        assert!(widen(&narrow, &pn, &bad, 1).is_err(), "{:?} must be refused", bad.spec.layers);
    }
}

/// Function-preserving deepening: an L-CB layer inserted as the identity
/// (with and without widening, in the middle and at the end) keeps the action
/// and link derivatives on a random field; the inserted layer's bilinear
/// weights get nonzero gradients; an inserted layer too narrow to pass the
/// channels on, or a large model missing one of the small model's layers, is
/// refused. The same for an inserted L-Act layer.
pub fn lcnn_deepening_preserves_the_action() {
    use fpa_core::lcnn::widen::widen;
    let stack = |layers: &[(usize, usize)]| ModelSpec {
        init: Init::Random,
        init_scale: 1.0,
        head: HeadSpec { hidden: vec![], activation: Activation::Tanh, imag: true, quadratic: false },
        ..ModelSpec::lcb_stack(layers)
    };
    let small = Model::new(stack(&[(7, 2), (5, 1)])).unwrap();
    let ps = params(&small, 71);
    let g = lattice(&[2, 3, 2, 2]);
    let u = random_field(&g, Some(0.7), 72);
    let (a_small, t_small) = small.forward_raw(&ps, &u);
    let (_, g_small) = small.backward(&ps, &t_small, 1.0);
    let d_small = derivatives_from_gradients(&u, &g_small);
    // The large model's output and link derivatives are the small one's; returns its weight gradient.
    let same_as_small = |large: &Model, pl: &[f64], what: &str| {
        let (a_large, t_large) = large.forward_raw(pl, &u);
        assert_close(a_large, a_small, 1e-12 * a_small.abs().max(1.0), &format!("{what}: network output"));
        let (gp, g_large) = large.backward(pl, &t_large, 1.0);
        let d_large = derivatives_from_gradients(&u, &g_large);
        for l in 0..d_small.len() {
            for a in 0..8 {
                assert_close(d_large[l][a], d_small[l][a], 1e-11, &format!("{what}: D[{l}][{a}]"));
            }
        }
        gp
    };
    for (large, inserted) in
        [(&[(7, 2), (7, 2), (5, 1)][..], 2), (&[(7, 2), (5, 1), (5, 1)][..], 3), (&[(9, 2), (8, 2), (6, 1)][..], 2)]
    {
        let large = Model::new(stack(large)).unwrap();
        let pl = widen(&small, &ps, &large, 73).unwrap();
        let gp = same_as_small(&large, &pl, "deepened");
        let layer = large.layer_offset(inserted)..large.layer_offset(inserted + 1);
        let ones = pl[layer.clone()].iter().filter(|&&w| w == 1.0).count();
        let zeros = pl[layer.clone()].iter().filter(|&&w| w == 0.0).count();
        let passed = if inserted == 2 { 7 } else { 5 }; // channels the inserted layer receives
        assert_eq!((ones, zeros), (passed, layer.len() - passed), "the inserted layer is the identity");
        let moving = gp[layer.clone()].iter().filter(|w| w.abs() > 1e-8).count();
        assert!(moving > layer.len() / 4, "the inserted layer's weights have gradients: {moving} of {}", layer.len());
    }
    for bad in [&[(7, 2), (4, 2), (5, 1)][..], &[(7, 2)][..], &[(7, 1), (5, 1), (5, 1)][..]] {
        let bad = Model::new(stack(bad)).unwrap();
        assert!(widen(&small, &ps, &bad, 1).is_err(), "{:?} must be refused", bad.spec.layers);
    }
    // An inserted L-Act layer f(a Re Tr W + b) W starts as the identity (a = 0, f(b) = 1) with
    // `identity` and `relu`; its slopes get gradients; one with tanh (never 1) is refused.
    for activation in [Activation::Identity, Activation::Relu, Activation::Tanh] {
        let mut spec = stack(&[(7, 2), (5, 1)]);
        spec.layers.insert(2, LayerSpec::Lact { activation });
        let large = Model::new(spec).unwrap();
        let Ok(pl) = widen(&small, &ps, &large, 74) else {
            assert_eq!(activation, Activation::Tanh, "{activation:?} must embed");
            continue;
        };
        assert_ne!(activation, Activation::Tanh, "tanh never reaches 1: must be refused");
        let gp = same_as_small(&large, &pl, "inserted lact");
        let slopes = large.layer_offset(2)..large.layer_offset(2) + 7;
        assert!(pl[slopes.clone()].iter().all(|&a| a == 0.0), "the inserted lact's slopes start at 0");
        assert!(gp[slopes].iter().all(|g| g.abs() > 1e-8), "the inserted lact's slopes have gradients");
    }
}

/// The quadratic read-out: with the dense read-out zero and one coefficient
/// `q_ij = 1`, every site's output is `f_i f_j` of the trace features
/// `(Re Tr W_0, Im Tr W_0, Re Tr W_1, …)` (also for `i = j`, and with the
/// packing of the upper triangle as documented); a linear read-out embeds in
/// a wider quadratic one exactly (same action and link derivatives, the new
/// coefficients 0 but with gradients), and a quadratic one in a wider
/// quadratic one with its coefficients moved along with the channels; a
/// quadratic read-out into a linear one is refused.
pub fn lcnn_quadratic_readout() {
    use fpa_core::lcnn::widen::widen;
    let stack = |w: [usize; 2], quadratic: bool| ModelSpec {
        head: HeadSpec { hidden: vec![], activation: Activation::Tanh, imag: true, quadratic },
        ..ModelSpec::lcb_stack(&[(w[0], 2), (w[1], 1)])
    };
    let g = lattice(&[2, 3, 2, 2]);
    let u = random_field(&g, Some(0.7), 81);
    // The form itself.
    let m = Model::new(stack([3, 2], true)).unwrap();
    let nf = m.head.n_features();
    assert_eq!((nf, m.head.n_quadratic()), (4, 10));
    let head = m.layer_offset(m.layers.len());
    let w = m.features_before(&params(&m, 82), &u, m.layers.len());
    let mut k = 0;
    for i in 0..nf {
        for j in i..nf {
            let mut p = params(&m, 82);
            p[head..].fill(0.0);
            p[head + m.head.n_dense_params() + k] = 1.0;
            let (_, tape) = m.forward_raw(&p, &u);
            let sites = m.site_outputs(&p, &tape);
            for (x, &out) in sites.iter().enumerate() {
                let f = |n: usize| {
                    let t = w.site(x)[n / 2].trace();
                    [t.re, t.im][n % 2]
                };
                assert_close(out, f(i) * f(j), 1e-12, &format!("site {x}: q_({i},{j}) = 1 gives f_{i} f_{j}"));
            }
            k += 1;
        }
    }
    // Embeddings.
    let check_same = |small: &Model, ps: &[f64], large: &Model, pl: &[f64], what: &str| {
        let (a_s, t_s) = small.forward_raw(ps, &u);
        let (a_l, t_l) = large.forward_raw(pl, &u);
        assert_close(a_l, a_s, 1e-12 * a_s.abs().max(1.0), &format!("{what}: network output"));
        let (_, g_s) = small.backward(ps, &t_s, 1.0);
        let (gp, g_l) = large.backward(pl, &t_l, 1.0);
        let (d_s, d_l) = (derivatives_from_gradients(&u, &g_s), derivatives_from_gradients(&u, &g_l));
        for l in 0..d_s.len() {
            for a in 0..8 {
                assert_close(d_l[l][a], d_s[l][a], 1e-11, &format!("{what}: D[{l}][{a}]"));
            }
        }
        gp
    };
    let linear = Model::new(stack([3, 2], false)).unwrap();
    let wide = Model::new(stack([4, 3], true)).unwrap();
    let pn = params(&linear, 83);
    let pw = widen(&linear, &pn, &wide, 84).unwrap();
    let gp = check_same(&linear, &pn, &wide, &pw, "linear into quadratic");
    let q = wide.layer_offset(wide.layers.len()) + wide.head.n_dense_params();
    assert!(pw[q..].iter().all(|&c| c == 0.0), "the new quadratic coefficients start at 0");
    let moving = gp[q..].iter().filter(|g| g.abs() > 1e-8).count();
    assert_eq!(moving, wide.head.n_quadratic(), "every quadratic coefficient has a gradient");
    let pq = params(&m, 85);
    let pw = widen(&m, &pq, &wide, 86).unwrap();
    check_same(&m, &pq, &wide, &pw, "quadratic into a wider quadratic");
    assert!(widen(&m, &pq, &linear, 1).is_err(), "a quadratic read-out into a linear one must be refused");
}

/// The portable `f64` product (`simd::gemm_f64_with(Kernel::Portable, …)`, on
/// wasm32 an explicit simd128 kernel) is the generic tiled product bit for bit,
/// on shapes with partial tiles in both directions, zero weights and a row
/// stride longer than `k`, and agrees with the naive sum.
pub fn portable_gemm_is_the_tiled_product_bit_for_bit() {
    use fpa_core::rng::{domain, Rng};
    use fpa_core::simd::{gemm_f64_with, Kernel};
    let mut rng = Rng::stream(5, &[domain::TEST]);
    for (m, n, k, lda) in
        [(4, 4, 3, 3), (12, 37, 25, 25), (7, 16, 9, 11), (13, 5, 1, 2), (3, 2, 0, 0), (25, 64, 13, 13)]
    {
        let a: Vec<f64> = (0..m * lda).map(|i| if i % 7 == 3 { 0.0 } else { rng.uniform() - 0.5 }).collect();
        let b: Vec<f64> = (0..k * n).map(|_| rng.uniform() - 0.5).collect();
        let c0: Vec<f64> = (0..m * n).map(|_| rng.uniform() - 0.5).collect();
        let (mut c, mut reference) = (c0.clone(), c0.clone());
        gemm_f64_with(Kernel::Portable, m, n, k, &a, lda, &b, &mut c);
        fpa_core::gemm::gemm_weights_tiled(m, n, k, &a, lda, &b, &mut reference);
        for i in 0..m * n {
            assert_eq!(c[i].to_bits(), reference[i].to_bits(), "{m}x{n}x{k}: entry {i}");
            let naive = c0[i] + (0..k).map(|l| a[(i / n) * lda + l] * b[l * n + i % n]).sum::<f64>();
            assert!((c[i] - naive).abs() <= 1e-13 * (1.0 + naive.abs()), "{m}x{n}x{k}: entry {i}");
        }
    }
}

/// The bits of an L-CNN training step's numbers with the GEMM kernel of
/// this process: the paper's 12-12-12 network on the 4⁴ field of
/// [`crate::mc::short_chain_checksum`] (whose bits are the same everywhere),
/// with two pretend FP targets, both losses and their weight gradients from
/// the `f64` and the `f32` passes (every product of the forward, link
/// backward and dual passes), hashed. The FMA kernels (AVX2, AVX-512, NEON)
/// round every product identically, so their hashes agree across CPUs and
/// architectures; `None` where this process runs the portable kernel (no
/// FMA), whose bits differ in the last digits.
pub fn lcnn_training_step_checksum() -> Option<String> {
    use fpa_core::lcnn::train::{batch_loss_with, LocalSamples, LossWeights, Precision, Sample, ValueLoss};
    use fpa_core::simd::{kernel, Kernel};
    if kernel() == Kernel::Portable {
        return None;
    }
    let m = Model::new(ModelSpec { init_scale: 0.3, ..ModelSpec::paper_12() }).unwrap();
    let p = m.init_params(71);
    let u = crate::mc::short_chain_field();
    let mut rng = fpa_core::rng::Rng::stream(74, &[fpa_core::rng::domain::TEST]);
    let d_fp = (0..u.links().len()).map(|_| fpa_core::su3::random::gaussian_algebra(&mut rng)).collect();
    let sample = Sample { links: u, a_fp: 400.0, d_fp, beta: 6.0, weight: 1.0 };
    let w = LossWeights { w1: 1.0, w2: 100.0, value: ValueLoss::RelativeSquared };
    let mut numbers = Vec::new();
    for precision in [Precision::F64, Precision::F32] {
        let (losses, g) = batch_loss_with(&m, &p, &[&sample], w, true, precision, &LocalSamples);
        numbers.extend([losses[0].a_pred, losses[0].l1, losses[0].l2]);
        numbers.extend(g.unwrap());
    }
    Some(format!("{:016x}", fpa_core::checksum::fnv1a_f64(numbers)))
}
