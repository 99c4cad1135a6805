//! The hot paths of HMC and the gradient flow on 8^4 (double precision): the
//! force of the Wilson and Symanzik actions (value + all link derivatives),
//! one Omelyan trajectory of 10 steps with the Wilson action, and one RK3
//! step of the Wilson and Zeuthen flows. The L-CNN force is in `lcnn.rs`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fpa_core::action::{Action, Improved, Wilson};
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::mc::heatbath::heatbath_sweep;
use fpa_core::mc::hmc::trajectory;
use fpa_core::mc::{HmcParams, Integrator};
use fpa_core::observe::flow::{rk3_step, FlowKind};
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let geom = Arc::new(Geometry::new(&[8; 4]).unwrap());
    let mut u = GaugeField::<f64>::hot(geom.clone(), 1);
    for s in 0..20 {
        heatbath_sweep(&mut u, 6.0, 1, s);
    }
    let mut g = c.benchmark_group("hmc 8^4");
    g.throughput(Throughput::Elements(geom.n_links() as u64));
    let mut d = vec![[0.0; 8]; geom.n_links()];
    g.bench_function("force wilson", |b| b.iter(|| Wilson.value_and_derivative(&u, &mut d)));
    g.bench_function("force symanzik", |b| b.iter(|| Improved::SYMANZIK.value_and_derivative(&u, &mut d)));
    g.sample_size(10);
    let params = HmcParams { beta: 6.0, tau: 1.0, steps: 10, integrator: Integrator::Omelyan };
    let mut n = 0;
    g.bench_function("trajectory wilson omelyan 10 steps", |b| {
        b.iter(|| {
            let mut v = u.clone();
            n += 1;
            trajectory(&Wilson, &params, &mut v, 1, n, true)
        })
    });
    g.bench_function("flow step wilson", |b| {
        b.iter(|| {
            let mut v = u.clone();
            rk3_step(FlowKind::Action(&Wilson), &mut v, 0.02)
        })
    });
    g.bench_function("flow step zeuthen", |b| {
        b.iter(|| {
            let mut v = u.clone();
            rk3_step(FlowKind::Zeuthen, &mut v, 0.02)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
