//! Heatbath and overrelaxation sweeps on 8^4 and 16^4 (double precision), on
//! one thread and on all threads. Divide the time per sweep by the number of
//! links (4 L^4) for ns per link update; baselines in `shared/baselines.md`.
//! `heatbath` and `overrelax` take the lane-packed path (eight sites per
//! pack, packing and unpacking included: the stand-alone sweeps);
//! `... packed field` the same sweeps on a field kept packed (the kernels
//! alone); `... one site` the reference path; `compound` is one `WilsonChain`
//! step (1 heatbath + 4 overrelaxation sweeps on the chain's packed copy, the
//! field written back), per link and sweep: divide by 5 for ns per link update.
//! `... fused` runs the packed kernels with fused multiply–add in the matrix
//! products (`Arithmetic::Fused`: opt-in, other bits).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fpa_core::fused::Arithmetic::Fused;
use fpa_core::lattice::packed::{PackedField, PackedLayout};
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::mc::heatbath::{
    apply_updates_one_site, compound_sweep_updates, heatbath_sweep, overrelax_sweep, overrelax_updates,
};
use fpa_core::mc::packed::{apply_updates, apply_updates_with};
use fpa_core::mc::WilsonChain;
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let all = rayon::current_num_threads();
    for l in [8usize, 16] {
        let geom = Arc::new(Geometry::new(&[l; 4]).unwrap());
        let mut u = GaugeField::<f64>::hot(geom.clone(), 1);
        for s in 0..5 {
            heatbath_sweep(&mut u, 6.0, 1, s);
        }
        let mut g = c.benchmark_group(format!("sweep {l}^4"));
        g.throughput(Throughput::Elements(geom.n_links() as u64));
        if l == 16 {
            g.sample_size(10);
        }
        for threads in [1, all] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut sweep = 100;
            g.bench_function(BenchmarkId::new("heatbath", format!("{threads} threads")), |b| {
                b.iter(|| {
                    pool.install(|| heatbath_sweep(&mut u, 6.0, 1, sweep));
                    sweep += 1;
                })
            });
            g.bench_function(BenchmarkId::new("overrelax", format!("{threads} threads")), |b| {
                b.iter(|| pool.install(|| overrelax_sweep(&mut u)))
            });
            let layout = Arc::new(PackedLayout::new(&geom).unwrap());
            let mut packed = PackedField::pack(&layout, &u);
            let kernel = fpa_core::simd::kernel();
            g.bench_function(BenchmarkId::new("heatbath packed field", format!("{threads} threads")), |b| {
                b.iter(|| {
                    pool.install(|| apply_updates(&mut packed, compound_sweep_updates(4, 0), 6.0, 1, sweep, kernel));
                    sweep += 1;
                })
            });
            g.bench_function(BenchmarkId::new("overrelax packed field", format!("{threads} threads")), |b| {
                b.iter(|| pool.install(|| apply_updates(&mut packed, overrelax_updates(4), 0.0, 0, 0, kernel)))
            });
            // The same kernels with fused multiply–add in the matrix products (opt-in; other bits).
            g.bench_function(BenchmarkId::new("heatbath packed field fused", format!("{threads} threads")), |b| {
                b.iter(|| {
                    pool.install(|| {
                        apply_updates_with(&mut packed, compound_sweep_updates(4, 0), 6.0, 1, sweep, kernel, Fused)
                    });
                    sweep += 1;
                })
            });
            g.bench_function(BenchmarkId::new("overrelax packed field fused", format!("{threads} threads")), |b| {
                b.iter(|| {
                    pool.install(|| apply_updates_with(&mut packed, overrelax_updates(4), 0.0, 0, 0, kernel, Fused))
                })
            });
            g.bench_function(BenchmarkId::new("heatbath one site", format!("{threads} threads")), |b| {
                b.iter(|| {
                    pool.install(|| apply_updates_one_site(&mut u, compound_sweep_updates(4, 0), 6.0, 1, sweep));
                    sweep += 1;
                })
            });
            g.bench_function(BenchmarkId::new("overrelax one site", format!("{threads} threads")), |b| {
                b.iter(|| pool.install(|| apply_updates_one_site(&mut u, overrelax_updates(4), 0.0, 0, 0)))
            });
            let mut chain = WilsonChain::new(u.clone(), 6.0, 4, 1, 100).unwrap();
            g.bench_function(BenchmarkId::new("compound 1+4", format!("{threads} threads")), |b| {
                b.iter(|| pool.install(|| chain.step()))
            });
            let mut fused = WilsonChain::new(u.clone(), 6.0, 4, 1, 100).unwrap();
            fused.arithmetic = Fused;
            g.bench_function(BenchmarkId::new("compound 1+4 fused", format!("{threads} threads")), |b| {
                b.iter(|| pool.install(|| fused.step()))
            });
            if all == 1 {
                break;
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
