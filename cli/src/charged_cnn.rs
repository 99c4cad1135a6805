//! `fpa charged-cnn`: convolutional networks that read the dual configurations of complex φ⁴
//! at finite μ (seed talk 002; Bulusu et al., PRD 104 (2021) 074504). Two tasks, each for the
//! seed's three architectures (EQ, ST, FL):
//!
//! * regression of the per-configuration observables `n` and `|φ|²`, trained at one μ on one
//!   lattice and tested at other μ and on other lattices;
//! * detection of flux violation: configurations with open worms (flux not conserved) against
//!   worm-algorithm configurations, trained with one open worm and tested with more and on other
//!   lattices.

use crate::files::{ensure_dir, write_json};
use crate::phi4::parse_scan;
use crate::plot::{scatter_with_fits, Group};
use anyhow::{anyhow, ensure, Context, Result};
use clap::Args;
use fpa_core::lcnn::train::{Adam, Schedule};
use fpa_core::rng::{domain, Rng};
use fpa_core::scalar::charged::{ChargedParams, DualConfig, WormChain};
use fpa_core::scalar::cnn::{Architecture, Layer, Network};
use fpa_core::scalar::conv::Grid;
use fpa_core::scalar::fit::{adam_epoch, mean_loss_and_gradient, Epoch};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ChargedCnnArgs {
    /// Training lattice NXxNT
    #[arg(long, default_value = "60x4")]
    pub train_lattice: String,
    /// Chemical potential of the training configurations
    #[arg(long, default_value_t = 1.05)]
    pub train_mu: f64,
    /// Test lattices (comma-separated NXxNT)
    #[arg(long, default_value = "60x4,120x4,60x8")]
    pub test_lattice: String,
    /// Test chemical potentials: `FROM:TO:N` or a comma-separated list
    #[arg(long, default_value = "0.91,0.98,1.05,1.1,1.2,1.3,1.4,1.5")]
    pub test_mu: String,
    #[arg(long, default_value_t = 4.01)]
    pub eta: f64,
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Architectures: comma-separated among eq, st, fl
    #[arg(long, default_value = "eq,st,fl")]
    pub arch: String,
    /// Training configurations (the flux task uses as many, half of them violated)
    #[arg(long, default_value_t = 1000)]
    pub train: usize,
    /// Test configurations per (lattice, μ)
    #[arg(long, default_value_t = 100)]
    pub test: usize,
    /// Worm updates between stored configurations (after 200 thermalisation updates)
    #[arg(long, default_value_t = 2)]
    pub every: usize,
    /// Hidden channels of the convolutions
    #[arg(long, default_value_t = 8)]
    pub channels: usize,
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Open worms per violated test configuration (comma-separated; training uses 1)
    #[arg(long, default_value = "1,2,4")]
    pub worms: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory: charged_cnn.json, density.svg, phi2.svg
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub quiet: bool,
}

/// Regression results of one architecture on one (lattice, μ) test set.
#[derive(Serialize, Clone, Debug)]
pub struct RegressionPoint {
    pub lattice: [usize; 2],
    pub mu: f64,
    /// ensemble means of the true and predicted `n` and `|φ|²`
    pub density_true: f64,
    pub density_predicted: f64,
    pub phi2_true: f64,
    pub phi2_predicted: f64,
    /// root mean square of the per-configuration errors
    pub density_rms_error: f64,
    pub phi2_rms_error: f64,
}

/// Flux-violation accuracy of one architecture on one (lattice, number of open worms) test set.
#[derive(Serialize, Clone, Debug)]
pub struct FluxPoint {
    pub lattice: [usize; 2],
    pub open_worms: usize,
    /// fraction classified correctly (each configuration violated with probability 1/2)
    pub accuracy: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct ArchitectureReport {
    pub architecture: &'static str,
    pub layers: String,
    pub parameters: usize,
    pub regression_final_loss: f64,
    pub flux_final_loss: f64,
    pub regression: Vec<RegressionPoint>,
    /// (lattice) test sets the architecture cannot run on, with the reason
    pub refused: Vec<String>,
    pub flux: Vec<FluxPoint>,
}

#[derive(Serialize, Debug)]
pub struct ChargedCnnReport {
    pub program: String,
    pub input: &'static str,
    pub eta: f64,
    pub lambda: f64,
    pub train_lattice: [usize; 2],
    pub train_mu: f64,
    pub train_configs: usize,
    pub test_configs: usize,
    pub architectures: Vec<ArchitectureReport>,
    pub seconds: f64,
}

fn parse_lattice(s: &str) -> Result<(usize, usize)> {
    let bad = || format!("lattice {s}: use NXxNT with even extents of at least 4");
    let (a, b) = s.trim().split_once('x').with_context(bad)?;
    let (nx, nt): (usize, usize) = (a.parse().with_context(bad)?, b.parse().with_context(bad)?);
    ensure!(
        nx >= 4 && nt >= 4 && nx.is_multiple_of(4) && nt.is_multiple_of(4),
        "lattice {s}: the strided network needs extents divisible by 4 (at least 4)"
    );
    Ok((nx, nt))
}

/// A configuration as network input with its `[n, |φ|²]`.
struct Sample {
    x: Vec<f64>,
    target: [f64; 2],
}

/// `count` configurations of a worm chain every `every` updates after 200 thermalisation updates.
fn sample(
    nx: usize,
    nt: usize,
    params: ChargedParams,
    seed: u64,
    count: usize,
    every: usize,
) -> Result<Vec<DualConfig>> {
    let mut chain = WormChain::new(nx, nt, params, seed).map_err(|e| anyhow!("{e}"))?;
    for _ in 0..200 {
        chain.step();
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        for _ in 0..every {
            chain.step();
        }
        out.push(chain.config.clone());
    }
    Ok(out)
}

fn labelled(configs: &[DualConfig], params: ChargedParams) -> Vec<Sample> {
    let mut p = params;
    configs.iter().map(|c| Sample { x: c.channels(), target: [c.density(), c.phi2(&mut p)] }).collect()
}

/// Configuration `i` as classifier input and label: broken with probability 1/2 by `worms`
/// open worms of 1–8 steps each, label and worms drawn from the stream `(seed, draw, i)` (a new
/// `draw` per training epoch, so that neither the places nor the choice of the broken
/// configurations can be memorised).
fn violated_one(c: &DualConfig, i: usize, worms: usize, seed: u64, draw: u64) -> (Vec<f64>, bool) {
    let mut rng = Rng::stream(seed, &[domain::FLUX_VIOLATION, draw, i as u64]);
    if rng.below(2) == 0 {
        return (c.channels(), false);
    }
    let mut c = c.clone();
    for _ in 0..worms {
        let steps = 1 + rng.below(8) as usize;
        c.open_worm(steps, &mut rng);
    }
    (c.channels(), true)
}

/// Adam with a cosine schedule over `n` training items; `per(p, i, epoch)` is item `i`'s loss
/// and gradient. Returns the weights and the last epoch's mean loss.
fn train(
    net: &Network,
    what: &str,
    args: &ChargedCnnArgs,
    n: usize,
    seed: u64,
    per: impl Fn(&[f64], usize, u64) -> (f64, Vec<f64>) + Sync + Send,
    bar: &ProgressBar,
) -> Result<(Vec<f64>, f64)> {
    let mut p = net.init_params(seed);
    let mut adam = Adam::new(p.len());
    let schedule = Schedule::Cosine { min_factor: 0.01 };
    let mut last = f64::NAN;
    for e in 0..args.epochs {
        let epoch = Epoch { batch: args.batch, lr: schedule.lr(args.lr, e, args.epochs), seed, index: e as u64 };
        last = adam_epoch(&mut p, &mut adam, n, epoch, |p, batch| {
            mean_loss_and_gradient(p.len(), batch, |&i| per(p, i, e as u64))
        });
        ensure!(last.is_finite(), "{what} diverged at epoch {e}; lower --lr");
        bar.inc(1);
    }
    Ok((p, last))
}

pub fn run(args: &ChargedCnnArgs) -> Result<ChargedCnnReport> {
    let start = std::time::Instant::now();
    let (nx, nt) = parse_lattice(&args.train_lattice)?;
    let tests: Vec<(usize, usize)> = args.test_lattice.split(',').map(parse_lattice).collect::<Result<_>>()?;
    let mus = parse_scan("--test-mu", &args.test_mu)?;
    let worms: Vec<usize> = args
        .worms
        .split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .ok()
                .filter(|&w| w >= 1)
                .with_context(|| format!("--worms {}: positive integers", args.worms))
        })
        .collect::<Result<_>>()?;
    let archs: Vec<Architecture> = args
        .arch
        .split(',')
        .map(|a| Architecture::named(a.trim()).with_context(|| format!("--arch {a}: one of eq, st, fl")))
        .collect::<Result<_>>()?;
    ensure!(args.train >= 2 && args.test >= 2, "--train and --test must be at least 2");
    ensure!(
        args.every >= 1 && args.channels >= 1 && args.batch >= 1 && args.epochs >= 1,
        "--every, --channels, --batch and --epochs must be positive"
    );
    ensure!(args.lr > 0.0 && args.lr.is_finite(), "--lr must be a positive number");
    let params = |mu: f64| ChargedParams::new(args.eta, args.lambda, mu).map_err(|e| anyhow!("{e}"));
    let train_params = params(args.train_mu)?;
    for &mu in &mus {
        params(mu)?;
    }
    ensure_dir(&args.out)?;

    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len}  ETA {eta}").unwrap().progress_chars("=> "),
    );
    bar.set_message("sampling");
    // Training chain, and one chain per (test lattice, μ), in parallel.
    let jobs: Vec<(usize, usize, f64)> = std::iter::once((nx, nt, args.train_mu))
        .chain(tests.iter().flat_map(|&(a, b)| mus.iter().map(move |&m| (a, b, m))))
        .collect();
    let chains: Vec<Vec<DualConfig>> = jobs
        .par_iter()
        .enumerate()
        .map(|(i, &(a, b, mu))| {
            let count = if i == 0 { args.train } else { args.test };
            sample(a, b, params(mu)?, args.seed.wrapping_add(i as u64), count, args.every)
        })
        .collect::<Result<_>>()?;
    let train_set = labelled(&chains[0], train_params);
    let g = Grid { n0: nx, n1: nt };

    bar.set_message("training");
    bar.set_length((2 * archs.len() * args.epochs) as u64);
    let mut reports = Vec::new();
    for &arch in &archs {
        // Regression of [n, |φ|²].
        let net = Network::build(arch, 4, args.channels, 2, g, Layer::MeanPool);
        let (p, reg_loss) = train(
            &net,
            &format!("{} regression", arch.name()),
            args,
            train_set.len(),
            args.seed,
            |p, i, _| net.squared_error(p, g, &train_set[i].x, &train_set[i].target),
            &bar,
        )?;
        let mut regression = Vec::new();
        let mut refused = Vec::new();
        for (j, &(a, b, mu)) in jobs.iter().enumerate().skip(1) {
            let tg = Grid { n0: a, n1: b };
            if let Err(e) = net.check(tg) {
                let what = format!("{a}x{b}: {e}");
                if !refused.contains(&what) {
                    refused.push(what);
                }
                continue;
            }
            let set = labelled(&chains[j], params(mu)?);
            let preds: Vec<Vec<f64>> = set.par_iter().map(|s| net.forward(&p, tg, &s.x).output).collect();
            let m = set.len() as f64;
            let mean = |f: &dyn Fn(usize) -> f64| (0..set.len()).map(f).sum::<f64>() / m;
            regression.push(RegressionPoint {
                lattice: [a, b],
                mu,
                density_true: mean(&|i| set[i].target[0]),
                density_predicted: mean(&|i| preds[i][0]),
                phi2_true: mean(&|i| set[i].target[1]),
                phi2_predicted: mean(&|i| preds[i][1]),
                density_rms_error: mean(&|i| (preds[i][0] - set[i].target[0]).powi(2)).sqrt(),
                phi2_rms_error: mean(&|i| (preds[i][1] - set[i].target[1]).powi(2)).sqrt(),
            });
        }
        // Flux violation: one open worm in half the configurations, drawn anew in every epoch
        // (the training configurations are reused, their violations are not).
        let cls = Network::build(arch, 4, args.channels, 1, g, Layer::MaxPool);
        let (pc, flux_loss) = train(
            &cls,
            &format!("{} flux classifier", arch.name()),
            args,
            chains[0].len(),
            args.seed + 1,
            |p, i, e| {
                let (x, broken) = violated_one(&chains[0][i], i, 1, args.seed, e);
                cls.logistic_loss(p, g, &x, broken)
            },
            &bar,
        )?;
        let mut flux = Vec::new();
        let mut seen = Vec::new();
        for (j, &(a, b, mu)) in jobs.iter().enumerate().skip(1) {
            let tg = Grid { n0: a, n1: b };
            if (mu - args.train_mu).abs() > 1e-12 || seen.contains(&(a, b)) || cls.check(tg).is_err() {
                continue;
            }
            seen.push((a, b));
            for &w in &worms {
                // Test violations from a stream no training epoch uses.
                let n = chains[j].len();
                let right = (0..n)
                    .into_par_iter()
                    .filter(|&i| {
                        let (x, broken) = violated_one(&chains[j][i], i, w, args.seed + 7, u64::MAX - w as u64);
                        (cls.forward(&pc, tg, &x).output[0] > 0.0) == broken
                    })
                    .count();
                flux.push(FluxPoint { lattice: [a, b], open_worms: w, accuracy: right as f64 / n as f64 });
            }
        }
        reports.push(ArchitectureReport {
            architecture: arch.name(),
            layers: format!("{:?}", net.layers),
            parameters: net.n_params(),
            regression_final_loss: reg_loss,
            flux_final_loss: flux_loss,
            regression,
            refused,
            flux,
        });
    }
    bar.finish_and_clear();
    let report = ChargedCnnReport {
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        input: "four channels per site: k_{x,0}, k_{x,1}, l_{x,0}, l_{x,1} (sites x = i + Nx t)",
        eta: args.eta,
        lambda: args.lambda,
        train_lattice: [nx, nt],
        train_mu: args.train_mu,
        train_configs: args.train,
        test_configs: args.test,
        architectures: reports,
        seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&args.out.join("charged_cnn.json"), &report)?;
    plot(args, &report)?;
    if !args.quiet {
        print_summary(&report);
    }
    Ok(report)
}

fn plot(args: &ChargedCnnArgs, r: &ChargedCnnReport) -> Result<()> {
    for (file, label, pick) in [
        (
            "density.svg",
            "<n>",
            (|p: &RegressionPoint| (p.density_true, p.density_predicted)) as fn(&RegressionPoint) -> (f64, f64),
        ),
        ("phi2.svg", "<|phi|^2>", |p: &RegressionPoint| (p.phi2_true, p.phi2_predicted)),
    ] {
        let names: Vec<String> = r
            .architectures
            .iter()
            .flat_map(|a| {
                let mut ls: Vec<[usize; 2]> = a.regression.iter().map(|p| p.lattice).collect();
                ls.dedup();
                ls.into_iter().map(move |l| format!("{} {}x{}", a.architecture, l[0], l[1]))
            })
            .collect();
        let mut groups = Vec::new();
        let mut k = 0;
        for a in &r.architectures {
            let mut ls: Vec<[usize; 2]> = a.regression.iter().map(|p| p.lattice).collect();
            ls.dedup();
            for l in ls {
                let points = a
                    .regression
                    .iter()
                    .filter(|p| p.lattice == l)
                    .map(|p| (p.mu, pick(p).1 - pick(p).0, 0.0))
                    .collect();
                groups.push(Group { name: &names[k], points, fit: None });
                k += 1;
            }
        }
        let title = format!("trained at mu = {} on {}x{}", r.train_mu, r.train_lattice[0], r.train_lattice[1]);
        scatter_with_fits(&args.out.join(file), &title, "mu", &format!("predicted - true {label}"), &groups)?;
    }
    Ok(())
}

fn print_summary(r: &ChargedCnnReport) {
    for a in &r.architectures {
        eprintln!(
            "{} ({} weights): final training losses {:.3e} (regression), {:.3e} (flux)",
            a.architecture, a.parameters, a.regression_final_loss, a.flux_final_loss
        );
        for p in &a.regression {
            eprintln!(
                "  {:>3}x{:<2} mu {:.2}: <n> {:.4} -> {:.4} (rms {:.3}), <|phi|^2> {:.4} -> {:.4} (rms {:.4})",
                p.lattice[0],
                p.lattice[1],
                p.mu,
                p.density_true,
                p.density_predicted,
                p.density_rms_error,
                p.phi2_true,
                p.phi2_predicted,
                p.phi2_rms_error
            );
        }
        for s in &a.refused {
            eprintln!("  refused {s}");
        }
        for f in &a.flux {
            eprintln!(
                "  flux violation {}x{}, {} open worm(s): accuracy {:.3}",
                f.lattice[0], f.lattice[1], f.open_worms, f.accuracy
            );
        }
    }
}
