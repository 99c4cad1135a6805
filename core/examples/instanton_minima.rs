//! The two minima of the FP minimisation of small instantons (README,
//! "Small instantons have two minima"): `A_FP` and the kernel term `T` from the
//! standard start and by continuation in ρ, for instantons centred in the middle
//! hypercube of an `L⁴` lattice (Wilson right-hand side, default blocking,
//! gradient tolerance 1e-6).
//!
//! `cargo run --release -p fpa-core --example instanton_minima -- L RHO [RHO..]`

use fpa_core::action::Wilson;
use fpa_core::lattice::Geometry;
use fpa_core::observe::instanton::Instanton;
use fpa_core::rg::{instanton_fp, FixedPoint, FixedPointSettings, MinimizerSettings};
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let l: usize = args.first().and_then(|a| a.parse().ok()).expect("usage: instanton_minima L RHO [RHO..]");
    let coarse = Arc::new(Geometry::new(&[l, l, l, l]).unwrap());
    let settings = FixedPointSettings {
        minimizer: MinimizerSettings { grad_tol: 1e-6, max_iterations: 20_000, ..Default::default() },
        ..Default::default()
    };
    let fp = FixedPoint::new(coarse.clone(), settings, &Wilson).unwrap();
    for rho in args[1..].iter().map(|a| a.parse::<f64>().expect("a radius")) {
        let m = instanton_fp(&fp, &Instanton::centred(&coarse, rho)).unwrap();
        let show = |name: &str, r: &fpa_core::rg::FixedPointResult| {
            println!("{l}^4 rho {rho}: {name:<13} A_FP {:.6}  T {:.4}", r.action, r.kernel_values[0])
        };
        show("standard", &m.standard);
        if let Some((c, radii)) = &m.continued {
            show("continuation", c);
            println!(
                "{l}^4 rho {rho}: kept the {} (radii {radii:?})",
                if m.from_continuation { "continuation" } else { "standard start" }
            );
        }
    }
}
