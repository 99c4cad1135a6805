//! scratch: FP instanton values by continuation in rho (start from the minimiser of the previous rho).
use fpa_core::action::Wilson;
use fpa_core::lattice::Geometry;
use fpa_core::observe::instanton::Instanton;
use fpa_core::rg::{FixedPoint, FixedPointSettings, MinimizerSettings};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let coarse = Arc::new(Geometry::new(&[8, 8, 8, 8]).unwrap());
    let settings = FixedPointSettings {
        minimizer: MinimizerSettings { grad_tol: 1e-6, max_iterations: 20_000, ..Default::default() },
        ..Default::default()
    };
    let fp = FixedPoint::new(coarse.clone(), settings, &Wilson).unwrap();
    let mut prev = None;
    for rho in args {
        let v = Instanton::centred(&coarse, rho).field(coarse.clone());
        let t = Instant::now();
        let label = if prev.is_some() { "continued" } else { "standard" };
        let r = fp.solve(&v, prev.take()).unwrap();
        println!(
            "rho {rho}: {label} A_FP {:.6} T {:?} it {} {:.0}s",
            r.action,
            r.kernel_values,
            r.report.iterations,
            t.elapsed().as_secs_f64()
        );
        prev = Some(r.minimizers);
    }
}
