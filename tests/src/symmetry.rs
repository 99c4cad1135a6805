//! Hypercubic symmetries (axis permutations and reflections): group laws, and
//! invariance of the Wilson and fixed point actions with derivatives that move
//! as `Hypercubic::apply_derivative` says; averages of actions over them.

use crate::fixed_point::wilson_config;
use crate::util::{assert_close, lattice, max_link_distance, random_field};
use fpa_core::action::{derivative_error, Action, Symmetrized, SymmetrySet, Wilson};
use fpa_core::lattice::symmetry::SymmetryError;
use fpa_core::lattice::{GaugeTransform, Hypercubic};
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::lcnn::model::{Model, ModelSpec};
use fpa_core::rg::{FixedPoint, FixedPointSettings, MinimizerSettings};
use fpa_core::su3::algebra::hermitian;
use fpa_core::su3::Su3Alg;

/// The largest `|X − Y|` (Frobenius, as force matrices) over two derivative fields.
fn max_force_distance(a: &[Su3Alg<f64>], b: &[Su3Alg<f64>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| hermitian(x).dist(&hermitian(y))).fold(0.0, f64::max)
}

/// The numbering reaches all `2^D D!` distinct elements; `g⁻¹ (g U) = U`
/// exactly for each of them; a permutation between axes of different extents
/// is refused.
pub fn hypercubic_group_laws() {
    for nd in [2usize, 3, 4] {
        let all: Vec<Hypercubic> = (0..Hypercubic::order(nd)).map(|k| Hypercubic::element(nd, k)).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|b| b != a), "element {i} of the {nd}D group repeats");
            assert_eq!(a.inverse().inverse(), *a, "inverse of the inverse");
        }
        assert_eq!(Hypercubic::element(nd, 0), Hypercubic::identity(nd));
    }
    assert_eq!(Hypercubic::order(4), 384);
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, None, 61);
    for k in (0..384).step_by(7) {
        let h = Hypercubic::element(4, k);
        let back = h.inverse().apply(&h.apply(&u));
        assert_eq!(max_link_distance(&back, &u), 0.0, "g⁻¹ g U = U for element {k}");
    }
    let long = lattice(&[4, 4, 4, 6]);
    let swap_t = Hypercubic::new(&[0, 1, 3, 2], &[false; 4]).unwrap();
    assert_eq!(swap_t.check(&long), Err(SymmetryError::Extents { from: 2, to: 3 }));
    assert!(Hypercubic::new(&[0, 1, 1, 2], &[false; 4]).is_err(), "a repeated axis is refused");
}

/// The Wilson action is invariant and its derivatives are equivariant:
/// `A[gU] = A[U]` and `D A[gU] = g·D A[U]` (moved with the links, `X → −U† X U`
/// on reflected ones) for every reflection alone and for mixed elements, on a
/// rough 4⁴ field and on a 4³×6 lattice (permutations of the three equal axes).
pub fn wilson_action_is_hypercubic_invariant() {
    let cases: [(&[usize], u64); 2] = [(&[4, 4, 4, 4], 62), (&[4, 4, 4, 6], 63)];
    for (dims, seed) in cases {
        let g = lattice(dims);
        let u = random_field(&g, None, seed);
        let (a, d) = (Wilson.value(&u), Wilson.derivative(&u));
        let mut tried = 0;
        for k in 0..Hypercubic::order(4) {
            let h = Hypercubic::element(4, k);
            if h.check(&g).is_err() || (k % 5 != 0 && k >= 16) {
                continue;
            }
            tried += 1;
            let w = h.apply(&u);
            assert_close(Wilson.value(&w), a, 1e-12, &format!("Wilson action under element {k} on {dims:?}"));
            let err = max_force_distance(&Wilson.derivative(&w), &h.apply_derivative(&u, &d));
            assert!(err < 1e-12, "Wilson force under element {k} on {dims:?}: off by {err:.2e}");
        }
        assert!(tried >= 16, "{tried} elements tried on {dims:?}");
    }
}

/// The fixed point action is invariant and `D_FP` equivariant (each side from
/// its own minimisation, 2⁴ coarse lattice): the blocking kernel respects the
/// hypercubic symmetry, so augmenting FP data by it is exact.
pub fn fp_action_is_hypercubic_invariant() {
    let g = lattice(&[2, 2, 2, 2]);
    let v = wilson_config(&g, 6.0, 64, 20);
    let settings = FixedPointSettings {
        minimizer: MinimizerSettings { grad_tol: 1e-10, max_iterations: 20_000, ..Default::default() },
        ..Default::default()
    };
    let fp = FixedPoint::new(g.clone(), settings, &Wilson).unwrap();
    let r = fp.solve(&v, None).unwrap();
    for perm_k in [0usize, 1, 2, 7, 11, 13, 16 * 5 + 9, 16 * 17 + 6] {
        let h = Hypercubic::element(4, perm_k);
        let s = fp.solve(&h.apply(&v), None).unwrap();
        assert_close(s.action, r.action, 1e-10, &format!("A_FP under element {perm_k}"));
        let err = max_force_distance(&s.derivative, &h.apply_derivative(&v, &r.derivative));
        assert!(err < 1e-8, "D_FP under element {perm_k}: off by {err:.2e}");
    }
}

/// Averaging the Wilson action over all 384 hypercubic elements (or the 96 of a
/// 4³×6 lattice) gives the Wilson action and its derivatives back.
pub fn symmetrized_wilson_is_wilson() {
    let cases: [(&[usize], u64); 2] = [(&[4, 4, 4, 4], 65), (&[4, 4, 4, 6], 66)];
    for (dims, seed) in cases {
        let g = lattice(dims);
        let u = random_field(&g, None, seed);
        let sym = Symmetrized::new(Wilson, SymmetrySet::Hypercubic);
        assert_eq!(SymmetrySet::Hypercubic.elements(&u).len(), if dims[3] == 4 { 384 } else { 96 });
        let mut d = vec![[0.0; 8]; u.links().len()];
        let a = sym.value_and_derivative(&u, &mut d);
        assert_close(a, Wilson.value(&u), 1e-12, &format!("averaged Wilson action on {dims:?}"));
        let err = max_force_distance(&d, &Wilson.derivative(&u));
        assert!(err < 1e-11, "averaged Wilson force on {dims:?}: off by {err:.2e}");
    }
}

/// An L-CNN (random weights) is not symmetric under reflections, its average
/// over the reflections is: invariant under each of them, with equivariant
/// derivatives; and the average is gauge invariant and its derivatives are
/// its value's central differences.
pub fn symmetrized_lcnn_is_invariant() {
    let m = Model::new(ModelSpec { init_scale: 0.5, ..ModelSpec::lcb_stack(&[(3, 2), (3, 1)]) }).unwrap();
    let lcnn = LcnnAction::new(m.clone(), m.init_params(67), "random".into());
    let sym = Symmetrized::new(lcnn.clone(), SymmetrySet::Reflections);
    let g = lattice(&[4, 4, 4, 4]);
    let u = random_field(&g, Some(0.8), 68);
    let (a, d) = (sym.value(&u), sym.derivative(&u));
    for k in [1usize, 6, 13] {
        let h = Hypercubic::element(4, k);
        let w = h.apply(&u);
        let plain = (lcnn.value(&w) - lcnn.value(&u)).abs();
        assert!(plain > 1e-6 * a.abs(), "the L-CNN alone is already invariant under element {k} ({plain:.2e})");
        let mut dw = vec![[0.0; 8]; u.links().len()];
        assert_close(sym.value_and_derivative(&w, &mut dw), a, 1e-12, &format!("averaged L-CNN under element {k}"));
        let err = max_force_distance(&dw, &h.apply_derivative(&u, &d));
        assert!(err < 1e-11 * (1.0 + a.abs()), "averaged L-CNN force under element {k}: off by {err:.2e}");
    }
    let om = GaugeTransform::random(g.clone(), 69);
    assert_close(sym.value(&om.apply(&u)), a, 1e-12, "averaged L-CNN gauge invariance");
    let fd = derivative_error(&sym, &u, &[5, 402, 1019], 1e-3);
    assert!(fd < 1e-8, "averaged L-CNN derivatives against central differences: {fd:.2e}");
}

/// Training-data augmentation: a configuration moved by a hypercubic element
/// keeps its losses under a symmetric model (the Wilson start of the paper's
/// network, which is exactly the Wilson action) for any FP data, because the
/// derivatives move as the model's do; a model with random weights sees
/// different losses. The element drawn for a configuration depends only on
/// `(seed, epoch, configuration)`, and on a 4³×6 lattice it never permutes
/// the long axis.
pub fn augmentation_keeps_the_losses_of_a_symmetric_model() {
    use fpa_core::lcnn::model::Init;
    use fpa_core::lcnn::train::{batch_loss, LossWeights, Sample};
    use fpa_core::lcnn::trainer::{augmentation, augmented};
    use fpa_core::rng::{domain, Rng};
    use fpa_core::su3::random::gaussian_algebra;
    let g = lattice(&[4, 4, 4, 4]);
    let links = random_field(&g, Some(0.7), 70);
    let mut rng = Rng::stream(71, &[domain::TEST]);
    let d_fp: Vec<Su3Alg<f64>> = (0..links.links().len()).map(|_| gaussian_algebra(&mut rng)).collect();
    let s = Sample { a_fp: 1.3 * Wilson.value(&links), links, d_fp, beta: 5.0, weight: 1.0 };
    let w = LossWeights::new(1.0, 100.0);
    let wilson = Model::new(ModelSpec { init: Init::Wilson, init_scale: 0.0, ..ModelSpec::paper_12() }).unwrap();
    let random = Model::new(ModelSpec { init_scale: 0.5, ..ModelSpec::lcb_stack(&[(3, 2), (3, 1)]) }).unwrap();
    for (m, symmetric) in [(&wilson, true), (&random, false)] {
        let p = m.init_params(72);
        let (base, _) = batch_loss(m, &p, &[&s], w, false);
        for k in [1usize, 40, 201, 383] {
            let moved = augmented(&s, &Hypercubic::element(4, k));
            assert_eq!(moved.a_fp, s.a_fp);
            let (l, _) = batch_loss(m, &p, &[&moved], w, false);
            if symmetric {
                assert_close(l[0].l1, base[0].l1, 1e-12, &format!("value loss, element {k}"));
                assert_close(l[0].l2, base[0].l2, 1e-12, &format!("invariant loss, element {k}"));
            } else {
                assert!((l[0].l2 - base[0].l2).abs() > 1e-9 * base[0].l2, "random model symmetric under {k}?");
            }
        }
    }
    assert_eq!(augmentation(&g, 3, 5, 7), augmentation(&g, 3, 5, 7));
    let draws: Vec<Hypercubic> = (0..64).map(|i| augmentation(&g, 3, 5, i)).collect();
    assert!(draws.iter().filter(|h| **h != draws[0]).count() > 50, "augmentation draws vary");
    let long = lattice(&[4, 4, 4, 6]);
    for i in 0..200 {
        let h = augmentation(&long, 3, 1, i);
        assert!(h.check(&long).is_ok(), "draw {i} does not map the 4³×6 lattice onto itself");
    }
}
