//! `fpa charged`: complex φ⁴ at finite chemical potential in 1+1 dimensions, sampled in its
//! dual (flux) formulation by the worm algorithm (`fpa_core::scalar::charged`): a scan in μ on
//! several lattices, ⟨n⟩ and ⟨|φ|²⟩ with errors, and at λ = 0 the exact free-theory values.

use crate::files::{ensure_dir, write_json};
use crate::phi4::parse_scan;
use crate::plot::{scatter_with_fits, Group};
use anyhow::{anyhow, ensure, Context, Result};
use clap::Args;
use fpa_core::scalar::charged::{free_theory, ChargedParams, WormChain};
use fpa_core::stats::{binned_mean_error, tau_int};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ChargedArgs {
    /// Lattices `NxxNt` (space x time, each at least 2), comma-separated
    #[arg(long, value_delimiter = ',', default_value = "60x4,120x4")]
    pub lattice: Vec<String>,
    /// η = 2D + m² (4 + m² in two dimensions)
    #[arg(long, default_value_t = 4.01)]
    pub eta: f64,
    /// Quartic coupling λ
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Chemical potentials: `FROM:TO:N` or a comma-separated list
    #[arg(long, default_value = "0.8:1.5:8")]
    pub mu: String,
    /// Updates before measuring
    #[arg(long, default_value_t = 200)]
    pub therm: usize,
    /// Measured updates (each: an l sweep and V worms)
    #[arg(long, default_value_t = 2000)]
    pub updates: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory: charged.json, density.svg, phi2.svg
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub quiet: bool,
}

/// One (lattice, μ) point: value and binned error (20 bins).
#[derive(Serialize, Clone, Debug)]
pub struct ChargedPoint {
    pub nx: usize,
    pub nt: usize,
    pub mu: f64,
    pub density: [f64; 2],
    pub phi2: [f64; 2],
    /// Integrated autocorrelation time of n, in updates.
    pub tau_int_density: f64,
    /// Mean head moves per worm.
    pub mean_worm_length: f64,
    /// At λ = 0: the exact `[n, |φ|²]` of the free theory.
    pub free_theory: Option<[f64; 2]>,
}

#[derive(Serialize, Debug)]
pub struct ChargedReport {
    pub program: String,
    pub action: &'static str,
    pub eta: f64,
    pub lambda: f64,
    pub therm: usize,
    pub updates: usize,
    pub seed: u64,
    pub points: Vec<ChargedPoint>,
}

fn parse_lattice(s: &str) -> Result<(usize, usize)> {
    let bad = || format!("--lattice {s}: use NXxNT, e.g. 60x4");
    let (a, b) = s.split_once(['x', 'X']).with_context(bad)?;
    Ok((a.trim().parse().with_context(bad)?, b.trim().parse().with_context(bad)?))
}

/// Runs the scan: one serial chain per (lattice, μ), the chains in parallel (the numbers do not
/// depend on the thread count).
pub fn run(args: &ChargedArgs) -> Result<ChargedReport> {
    let mus = parse_scan("--mu", &args.mu)?;
    ensure!(!args.lattice.is_empty(), "--lattice: give at least one lattice");
    ensure!(args.updates >= 40, "--updates must be at least 40 (20 bins of 2)");
    let mut jobs = Vec::new();
    for l in &args.lattice {
        let (nx, nt) = parse_lattice(l)?;
        for &mu in &mus {
            let p = ChargedParams::new(args.eta, args.lambda, mu).map_err(|e| anyhow!("mu = {mu}: {e}"))?;
            jobs.push(WormChain::new(nx, nt, p, args.seed).map_err(|e| anyhow!("--lattice: {e}"))?);
        }
    }
    ensure_dir(&args.out)?;
    let total = (jobs.len() * (args.therm + args.updates)) as u64;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("charged [{bar:40}] {pos}/{len} updates  ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    let points: Vec<ChargedPoint> = jobs
        .into_par_iter()
        .map(|mut c| {
            for _ in 0..args.therm {
                c.step();
            }
            bar.inc(args.therm as u64);
            let (moves0, updates0) = (c.moves, c.updates);
            let (mut n, mut phi2) = (Vec::with_capacity(args.updates), Vec::with_capacity(args.updates));
            for i in 0..args.updates {
                c.step();
                let (a, b) = c.measure();
                n.push(a);
                phi2.push(b);
                if i % 64 == 63 {
                    bar.inc(64);
                }
            }
            let (nx, nt) = c.config.extents();
            let worms = ((c.updates - updates0) as usize * c.worms_per_update) as f64;
            let (dn, dp) = (binned_mean_error(&n, 20), binned_mean_error(&phi2, 20));
            ChargedPoint {
                nx,
                nt,
                mu: c.params.mu,
                density: [dn.0, dn.1],
                phi2: [dp.0, dp.1],
                tau_int_density: tau_int(&n),
                mean_worm_length: (c.moves - moves0) as f64 / worms,
                free_theory: (args.lambda == 0.0).then(|| {
                    let (p2, d) = free_theory(nx, nt, args.eta, c.params.mu);
                    [d, p2]
                }),
            }
        })
        .collect();
    bar.finish_and_clear();
    let report = ChargedReport {
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        action: "S = sum_x [ eta |phi_x|^2 + lambda |phi_x|^4 - sum_nu ( e^{mu delta_nu,1} phi_x^* phi_{x+nu} \
                 + e^{-mu delta_nu,1} phi_x^* phi_{x-nu} ) ], nu = 0 space, 1 time",
        eta: args.eta,
        lambda: args.lambda,
        therm: args.therm,
        updates: args.updates,
        seed: args.seed,
        points,
    };
    write_json(&args.out.join("charged.json"), &report)?;
    plot(&report, &args.out)?;
    if !args.quiet {
        for p in &report.points {
            eprintln!(
                "{:>4}x{:<3} mu {:.3}  n = {:.5} +- {:.5}  |phi|^2 = {:.5} +- {:.5}  tau_int {:.1}  worm {:.1}{}",
                p.nx,
                p.nt,
                p.mu,
                p.density[0],
                p.density[1],
                p.phi2[0],
                p.phi2[1],
                p.tau_int_density,
                p.mean_worm_length,
                p.free_theory.map_or(String::new(), |f| format!("  (exact n {:.5}, |phi|^2 {:.5})", f[0], f[1]))
            );
        }
    }
    Ok(report)
}

fn plot(r: &ChargedReport, dir: &std::path::Path) -> Result<()> {
    let mut lattices: Vec<(usize, usize)> = r.points.iter().map(|p| (p.nx, p.nt)).collect();
    lattices.dedup();
    let names: Vec<String> = lattices.iter().map(|(x, t)| format!("{x}x{t}")).collect();
    let groups = |f: &dyn Fn(&ChargedPoint) -> [f64; 2]| -> Vec<Group> {
        lattices
            .iter()
            .zip(&names)
            .map(|(&(x, t), name)| Group {
                name,
                points: r.points.iter().filter(|p| (p.nx, p.nt) == (x, t)).map(|p| (p.mu, f(p)[0], f(p)[1])).collect(),
                fit: None,
            })
            .collect()
    };
    let title = format!("complex phi^4, eta = {}, lambda = {}", r.eta, r.lambda);
    scatter_with_fits(&dir.join("density.svg"), &title, "mu", "<n>", &groups(&|p| p.density))?;
    scatter_with_fits(&dir.join("phi2.svg"), &title, "mu", "<|phi|^2>", &groups(&|p| p.phi2))
}
