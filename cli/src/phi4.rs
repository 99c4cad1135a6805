//! `fpa phi4`: real φ⁴ theory in two dimensions (Metropolis + Wolff clusters), a scan in κ
//! at fixed λ on several lattice sizes: ⟨|M|⟩, χ, the Binder cumulant and the propagator,
//! and the transition located where the Binder cumulants of two sizes cross.

use crate::files::{ensure_dir, write_json};
use crate::plot::{scatter_with_fits, Group};
use anyhow::{ensure, Context, Result};
use clap::Args;
use fpa_core::scalar::phi4::{measure, slice_sums, summarise, Phi4Chain, Phi4Measurement, Phi4Params};
use fpa_core::stats::{binned_mean_error, tau_int};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct Phi4Args {
    /// Lattice extents L (L x L, periodic, even), comma-separated
    #[arg(long, value_delimiter = ',', default_value = "8,16,32")]
    pub lattice: Vec<usize>,
    /// Hopping parameters: `FROM:TO:N` (N equally spaced values) or a comma-separated list
    #[arg(long, default_value = "0.26:0.30:9")]
    pub kappa: String,
    /// Quartic coupling λ
    #[arg(long, default_value_t = 0.02)]
    pub lambda: f64,
    /// Thermalisation steps (not measured)
    #[arg(long, default_value_t = 500)]
    pub therm: usize,
    /// Measured steps; each is `--metropolis` sweeps and `--wolff` clusters
    #[arg(long, default_value_t = 5000)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub metropolis: usize,
    #[arg(long, default_value_t = 2)]
    pub wolff: usize,
    /// Metropolis proposal width δ (φ → φ + δ(2u − 1))
    #[arg(long, default_value_t = 1.5)]
    pub step_size: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory: phi4.json, binder.svg, abs_m.svg
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub quiet: bool,
}

/// One (L, κ) point.
#[derive(Serialize, Clone, Debug)]
pub struct Phi4Point {
    pub l: usize,
    pub kappa: f64,
    /// value and jackknife error (20 bins)
    pub abs_m: [f64; 2],
    pub chi: [f64; 2],
    pub binder: [f64; 2],
    pub phi2: [f64; 2],
    /// integrated autocorrelation time of M, in steps
    pub tau_int_m: f64,
    pub acceptance: f64,
    /// mean Wolff cluster size / volume
    pub cluster_fraction: f64,
    /// `G(t) = ⟨Φ(t) Φ(0)⟩ / L` for t = 0 … L/2, Φ(t) the sum of φ over the time slice t
    /// (direction 1), averaged over the source slice; value and binned error
    pub propagator: Vec<[f64; 2]>,
}

/// Where the Binder cumulants of two sizes cross (linear interpolation between grid points).
#[derive(Serialize, Clone, Debug)]
pub struct Crossing {
    pub l1: usize,
    pub l2: usize,
    pub kappa: f64,
    pub binder: f64,
}

#[derive(Serialize, Debug)]
pub struct Phi4Report {
    pub program: String,
    pub action: &'static str,
    pub lambda: f64,
    pub therm: usize,
    pub steps: usize,
    pub metropolis_per_step: usize,
    pub wolff_per_step: usize,
    pub step_size: f64,
    pub seed: u64,
    pub points: Vec<Phi4Point>,
    pub crossings: Vec<Crossing>,
}

/// The values of a scan argument (`--kappa`, `--mu`): `FROM:TO:N` (N equally spaced values)
/// or a comma-separated list.
pub fn parse_scan(flag: &str, s: &str) -> Result<Vec<f64>> {
    let bad = || format!("{flag} {s}: use FROM:TO:N or a comma-separated list");
    let ks: Vec<f64> = if let [a, b, n] = s.split(':').collect::<Vec<_>>()[..] {
        let (a, b): (f64, f64) = (a.parse().with_context(bad)?, b.parse().with_context(bad)?);
        let n: usize = n.parse().with_context(bad)?;
        ensure!(n >= 1, "{}", bad());
        (0..n).map(|i| if n == 1 { a } else { a + (b - a) * i as f64 / (n - 1) as f64 }).collect()
    } else {
        s.split(',').map(|k| k.trim().parse::<f64>().with_context(bad)).collect::<Result<_>>()?
    };
    ensure!(!ks.is_empty(), "{}", bad());
    Ok(ks)
}

/// Runs the scan (chains in parallel, each one serial: the same numbers on any thread count).
pub fn run(args: &Phi4Args) -> Result<Phi4Report> {
    let kappas = parse_scan("--kappa", &args.kappa)?;
    ensure!(!args.lattice.is_empty(), "--lattice: give at least one extent");
    ensure!(args.steps >= 40, "--steps must be at least 40 (20 bins of 2)");
    ensure!(args.step_size > 0.0 && args.step_size.is_finite(), "--step-size must be a positive number");
    ensure!(args.metropolis >= 1, "--metropolis must be at least 1 (the clusters only flip signs)");
    let mut jobs = Vec::new();
    for &l in &args.lattice {
        for &k in &kappas {
            let p = Phi4Params::validated(k, args.lambda).map_err(|e| anyhow::anyhow!("{e}"))?;
            let c = Phi4Chain::new(l, p, args.seed).map_err(|e| anyhow::anyhow!("--lattice: {e}"))?;
            jobs.push(c);
        }
    }
    ensure_dir(&args.out)?;
    let total = (jobs.len() * (args.therm + args.steps)) as u64;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("phi4 [{bar:40}] {pos}/{len} steps  ETA {eta}").unwrap().progress_chars("=> "),
    );
    let points: Vec<Phi4Point> = jobs
        .into_par_iter()
        .map(|mut c| {
            c.step = args.step_size;
            c.n_metropolis = args.metropolis;
            c.n_wolff = args.wolff;
            for _ in 0..args.therm {
                c.step();
            }
            bar.inc(args.therm as u64);
            let l = c.field.extent();
            let mut series: Vec<Phi4Measurement> = Vec::with_capacity(args.steps);
            let mut g: Vec<Vec<f64>> = vec![Vec::with_capacity(args.steps); l / 2 + 1];
            for i in 0..args.steps {
                c.step();
                series.push(measure(&c.params, &c.field));
                let phi_t = slice_sums(&c.field);
                for (t, gt) in g.iter_mut().enumerate() {
                    gt.push((0..l).map(|t0| phi_t[t0] * phi_t[(t0 + t) % l]).sum::<f64>() / (l * l) as f64);
                }
                if i % 64 == 63 {
                    bar.inc(64);
                }
            }
            let s = summarise(&series, c.field.volume(), 20);
            Phi4Point {
                l,
                kappa: c.params.kappa,
                abs_m: [s.abs_m.0, s.abs_m.1],
                chi: [s.chi.0, s.chi.1],
                binder: [s.binder.0, s.binder.1],
                phi2: [s.phi2.0, s.phi2.1],
                tau_int_m: tau_int(&series.iter().map(|m| m.m).collect::<Vec<_>>()),
                acceptance: c.acceptance(),
                cluster_fraction: c.mean_cluster_fraction(),
                propagator: g.iter().map(|gt| binned_mean_error(gt, 20)).map(|(m, e)| [m, e]).collect(),
            }
        })
        .collect();
    bar.finish_and_clear();
    let crossings = crossings(&args.lattice, &points);
    let report = Phi4Report {
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        action: "S = sum_x [ -2 kappa sum_mu phi(x) phi(x+mu) + (1 - 2 lambda) phi(x)^2 + lambda phi(x)^4 ]",
        lambda: args.lambda,
        therm: args.therm,
        steps: args.steps,
        metropolis_per_step: args.metropolis,
        wolff_per_step: args.wolff,
        step_size: args.step_size,
        seed: args.seed,
        points,
        crossings,
    };
    write_json(&args.out.join("phi4.json"), &report)?;
    plot(args, &report)?;
    if !args.quiet {
        print_table(&report);
    }
    Ok(report)
}

/// Crossings of `U_L(κ)` for consecutive sizes (sorted), where `U_{L2} − U_{L1}` changes sign.
fn crossings(sizes: &[usize], points: &[Phi4Point]) -> Vec<Crossing> {
    let mut ls = sizes.to_vec();
    ls.sort_unstable();
    ls.dedup();
    let curve = |l: usize| -> Vec<(f64, f64)> {
        let mut c: Vec<(f64, f64)> = points.iter().filter(|p| p.l == l).map(|p| (p.kappa, p.binder[0])).collect();
        c.sort_by(|a, b| a.0.total_cmp(&b.0));
        c
    };
    let mut out = Vec::new();
    for w in ls.windows(2) {
        let (a, b) = (curve(w[0]), curve(w[1]));
        for i in 1..a.len().min(b.len()) {
            let (d0, d1) = (b[i - 1].1 - a[i - 1].1, b[i].1 - a[i].1);
            if d0 * d1 < 0.0 {
                let f = d0 / (d0 - d1);
                let kappa = a[i - 1].0 + f * (a[i].0 - a[i - 1].0);
                let binder = a[i - 1].1 + f * (a[i].1 - a[i - 1].1);
                out.push(Crossing { l1: w[0], l2: w[1], kappa, binder });
            }
        }
    }
    out
}

fn plot(args: &Phi4Args, r: &Phi4Report) -> Result<()> {
    let mut ls = args.lattice.clone();
    ls.sort_unstable();
    ls.dedup();
    let names: Vec<String> = ls.iter().map(|l| format!("L = {l}")).collect();
    let groups = |f: &dyn Fn(&Phi4Point) -> [f64; 2]| -> Vec<Group> {
        ls.iter()
            .zip(&names)
            .map(|(&l, name)| Group {
                name,
                points: r.points.iter().filter(|p| p.l == l).map(|p| (p.kappa, f(p)[0], f(p)[1])).collect(),
                fit: None,
            })
            .collect()
    };
    let title = format!("phi^4, lambda = {}", r.lambda);
    scatter_with_fits(&args.out.join("binder.svg"), &title, "kappa", "Binder cumulant U_L", &groups(&|p| p.binder))?;
    scatter_with_fits(&args.out.join("abs_m.svg"), &title, "kappa", "<|M|>", &groups(&|p| p.abs_m))
}

fn print_table(r: &Phi4Report) {
    eprintln!("    L   kappa        <|M|>             chi              U_L        tau_int  acc  cluster");
    for p in &r.points {
        eprintln!(
            "{:>5} {:>7.4}  {:.4}({:>4.0})  {:>9.3}({:>5.1})  {:.4}({:>4.0})  {:>6.1}  {:.2}  {:.3}",
            p.l,
            p.kappa,
            p.abs_m[0],
            p.abs_m[1] * 1e4,
            p.chi[0],
            p.chi[1],
            p.binder[0],
            p.binder[1] * 1e4,
            p.tau_int_m,
            p.acceptance,
            p.cluster_fraction
        );
    }
    for c in &r.crossings {
        eprintln!("U_L crossing of L = {} and {}: kappa = {:.5} (U = {:.4})", c.l1, c.l2, c.kappa, c.binder);
    }
}
