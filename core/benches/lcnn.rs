//! The paper's 3-layer L-CNN (L-CB 12-12-12, kernel sizes 2, 2, 1; real
//! weights; linear read-out) on 4^4 and 8^4: forward, forward + force (all
//! link derivatives), and a full training step on one configuration (both
//! loss terms, the invariant loss by forward-over-reverse, Adam update), with
//! the training passes in f64 and in f32 (`--precision f32`).
//! Compare with the PyTorch figures in `shared/baselines.md`.
//! `FPA_BENCH_SPEC=12-24-24` runs the wider 12-24-24 network instead.
//! The C allocator stays at its defaults (no `host::keep_freed_memory`), as
//! in a program that embeds fpa-core: the feature maps are reused by
//! `fpa_core::recycle`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fpa_core::action::Action;
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::lcnn::train::{
    action_and_gradients, batch_loss_with, Adam, LocalSamples, LossWeights, Precision, Sample,
};
use fpa_core::lcnn::{Model, ModelSpec};
use fpa_core::mc::WilsonChain;
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    if std::env::var("NO_KEEP").is_err() {
        fpa_core::host::keep_freed_memory();
    }
    let spec = std::env::var("FPA_BENCH_SPEC").ok();
    let mut g = c.benchmark_group(format!("lcnn {}", spec.as_deref().unwrap_or("12-12-12")));
    g.sample_size(10);
    for l in [4usize, 8] {
        let m = Model::new(match spec.as_deref() {
            Some("12-24-24") => ModelSpec::paper_12_24_24(),
            _ => ModelSpec::paper_12(),
        })
        .unwrap();
        let mut p = m.init_params(1);
        let geom = Arc::new(Geometry::new(&[l; 4]).unwrap());
        let mut chain = WilsonChain::new(GaugeField::hot(geom, 1), 6.0, 2, 1, 0).unwrap();
        for _ in 0..10 {
            chain.step();
        }
        let u = chain.into_field();
        let trivial = m.trivial_per_site(&p);
        g.bench_function(BenchmarkId::new("forward", format!("{l}^4")), |b| b.iter(|| m.action(&p, &u)));
        let action = LcnnAction::new(m.clone(), p.clone(), "bench".into());
        let mut force = vec![[0.0; 8]; u.links().len()];
        g.bench_function(BenchmarkId::new("forward + force", format!("{l}^4")), |b| {
            b.iter(|| action.value_and_derivative(&u, &mut force))
        });
        let (a, _, d) = action_and_gradients(&m, &p, &trivial, &u);
        let sample = Sample {
            links: u.clone(),
            a_fp: 0.9 * a,
            d_fp: d.iter().map(|x| x.map(|v| 0.9 * v)).collect(),
            beta: 6.0,
            weight: 1.0,
        };
        let mut adam = Adam::new(p.len());
        for (name, precision) in [("train step", Precision::F64), ("train step f32", Precision::F32)] {
            g.bench_function(BenchmarkId::new(name, format!("{l}^4")), |b| {
                b.iter(|| {
                    let (_, grad) =
                        batch_loss_with(&m, &p, &[&sample], LossWeights::new(1.0, 1.0), true, precision, &LocalSamples);
                    adam.step(&mut p, &grad.unwrap(), 1e-4);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
