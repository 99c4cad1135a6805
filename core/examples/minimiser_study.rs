//! Where the FP minimiser's time goes: iterations, evaluations and seconds of
//! `A_FP[V]` (depth 1, Wilson right-hand side, default blocking) for NERSC
//! configurations, for several L-BFGS memory sizes; the iterations needed to
//! reach each gradient tolerance, and how far `A_FP` and `D_FP` at looser
//! tolerances are from the converged ones (README, "Where the minimiser's
//! time goes").
//!
//! `cargo run --release -p fpa-core --example minimiser_study -- MEM[,MEM..] FILE...`
//!
//! `HISTORY=1` prints `F` and the largest link gradient every 5 iterations;
//! `STARTS=1` instead compares the minima reached from different starting
//! fields (local minima of rough configurations).

use fpa_core::action::Wilson;
use fpa_core::io::nersc;
use fpa_core::rg::{FixedPoint, FixedPointSettings, MinimizerSettings};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mems: Vec<usize> = args[0].split(',').map(|m| m.parse().expect("memory sizes")).collect();
    for file in &args[1..] {
        let (v, _) = nersc::decode(&std::fs::read(file).expect("read")).expect("NERSC file");
        if std::env::var("STARTS").is_ok() {
            starts(&v);
            continue;
        }
        for &memory in &mems {
            let settings = FixedPointSettings {
                minimizer: MinimizerSettings { memory, max_iterations: 20_000, ..Default::default() },
                ..Default::default()
            };
            let fp = FixedPoint::new(v.geometry().clone(), settings, &Wilson).unwrap();
            let t = Instant::now();
            let r = fp.solve(&v, None).unwrap();
            println!(
                "{file} memory {memory:3}: A_FP {:.10} iterations {:5} evaluations {:5} {:.2} s ({})",
                r.action,
                r.report.iterations,
                r.report.evaluations,
                t.elapsed().as_secs_f64(),
                r.report.reason
            );
            // Iterations to reach each gradient tolerance.
            let reach: Vec<String> = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9]
                .iter()
                .map(|tol| {
                    let i = r.report.history.iter().position(|h| h.1 < *tol).unwrap_or(usize::MAX);
                    format!("{tol:.0e}: {i}")
                })
                .collect();
            println!("  iterations to max|D F| < tol: {}", reach.join(", "));
            if std::env::var("HISTORY").is_ok() {
                for (i, (f, g)) in r.report.history.iter().enumerate().step_by(5) {
                    println!("    {i:4} F {f:.8} max|DF| {g:.3e}");
                }
            }
            for tol in [1e-5, 1e-6, 1e-7] {
                let s = FixedPointSettings {
                    minimizer: MinimizerSettings {
                        memory,
                        grad_tol: tol,
                        max_iterations: 20_000,
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let loose = FixedPoint::new(v.geometry().clone(), s, &Wilson).unwrap().solve(&v, None).unwrap();
                let dd: f64 = loose
                    .derivative
                    .iter()
                    .zip(&r.derivative)
                    .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>())
                    .sum::<f64>()
                    / (8.0 * r.derivative.len() as f64);
                println!(
                    "  tol {tol:.0e}: {} iterations, A_FP rel. diff {:.2e}, D_FP mean sq. diff per component {:.2e}",
                    loose.report.iterations,
                    (loose.action - r.action).abs() / r.action,
                    dd
                );
            }
        }
    }
}

/// The minimum reached from different starting fields: the standard start
/// (Landau gauge, square roots), the same after a random gauge transformation
/// of `V` (a different Gribov copy), and square roots scaled towards 1.
fn starts(v: &fpa_core::lattice::GaugeField<f64>) {
    use fpa_core::lattice::{GaugeField, GaugeTransform, Geometry};
    use fpa_core::su3::{exp_components, log_su3};
    use std::sync::Arc;
    let fp = FixedPoint::new(v.geometry().clone(), FixedPointSettings::default(), &Wilson).unwrap();
    let fine = Arc::new(Geometry::new(&v.geometry().dims().iter().map(|l| 2 * l).collect::<Vec<_>>()).unwrap());
    let report = |name: &str, r: fpa_core::rg::FixedPointResult| {
        println!(
            "  start {name:>16}: F0 {:10.4} A_FP {:.10} iterations {:4}",
            r.report.history[0].0, r.action, r.report.iterations
        )
    };
    report("standard", fp.solve(v, None).unwrap());
    for seed in 1..3 {
        let g = GaugeTransform::random(v.geometry().clone(), seed);
        let vg = g.apply(v);
        report(&format!("gauge seed {seed}"), fp.solve(&vg, None).unwrap());
    }
    report(
        "no gauge fixing",
        fp.solve(v, Some(vec![fpa_core::rg::fixed_point::refine_in_gauge(v, fine.clone())])).unwrap(),
    );
    for alpha in [0.9, 0.7] {
        let mut u: GaugeField<f64> = fpa_core::rg::fixed_point::refine(v, fine.clone());
        u.for_each_link_mut(|_, _, l| {
            let a = log_su3(l).unwrap_or([0.0; 8]);
            *l = exp_components(&a.map(|x| alpha * x));
        });
        report(&format!("scaled {alpha}"), fp.solve(v, Some(vec![u])).unwrap());
    }
}
