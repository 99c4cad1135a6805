//! The FP computation: one evaluation of the blocking kernel with its fine
//! gradient (the minimiser's unit of work) on coarse 4^4, 6^4 and 8^4, and a
//! full A_FP/D_FP computation for one coarse 4^4 configuration (fine 8^4).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fpa_core::action::Wilson;
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::mc::WilsonChain;
use fpa_core::rg::fixed_point::refine;
use fpa_core::rg::{Blocking, FixedPoint, FixedPointSettings, Kernel};
use std::sync::Arc;

fn config(l: usize, beta: f64) -> GaugeField<f64> {
    let g = Arc::new(Geometry::new(&[l; 4]).unwrap());
    let mut c = WilsonChain::new(GaugeField::hot(g, 1), beta, 2, 1, 0).unwrap();
    for _ in 0..30 {
        c.step();
    }
    c.into_field()
}

fn bench(c: &mut Criterion) {
    fpa_core::host::keep_freed_memory();
    let mut g = c.benchmark_group("fp");
    g.sample_size(10);
    for l in [4usize, 6, 8] {
        let v = config(l, 6.0);
        let fine = Arc::new(Geometry::new(&[2 * l; 4]).unwrap());
        let u = refine(&v, fine.clone());
        let k = Kernel::new(fine, v.geometry().clone(), Blocking::default_4d());
        g.bench_function(BenchmarkId::new("kernel value+gradient, coarse", format!("{l}^4")), |b| {
            b.iter(|| k.eval(&u, &v, true, false))
        });
    }
    let v = config(4, 6.0);
    let fp = FixedPoint::new(v.geometry().clone(), FixedPointSettings::default(), &Wilson).unwrap();
    g.bench_function("A_FP and D_FP, coarse 4^4 (fine 8^4), beta 6.0", |b| b.iter(|| fp.solve(&v, None).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
