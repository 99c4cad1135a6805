//! `fpa blockspin`: neural block spinning for real φ⁴ in two dimensions (seed talk 003).
//! Samples configurations at one (κ, λ), trains the stride-2 autoencoder of
//! `fpa_core::scalar::autoencoder` on the reconstruction loss, compares ⟨|M|⟩, χ, U_L, ⟨φ²⟩
//! and the propagator of the held-out configurations with those of their reconstructions and
//! of the block spins, and analyses the latent space through the Jacobians of observable ∘
//! decoder and their singular values.

use crate::files::{ensure_dir, write_json};
use crate::plot::{line_chart, Series};
use anyhow::{ensure, Result};
use clap::Args;
use fpa_core::lcnn::train::{Adam, Schedule};
use fpa_core::scalar::autoencoder::{mean_loss, train_epoch, Autoencoder, Epoch};
use fpa_core::scalar::conv::Grid;
use fpa_core::scalar::phi4::{summarise, Phi4Chain, Phi4Measurement, Phi4Params, Phi4Summary};
use fpa_core::stats::binned_mean_error;
use fpa_core::svd::svd;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct BlockspinArgs {
    /// Lattice extent L (L x L, periodic, even)
    #[arg(long, default_value_t = 16)]
    pub lattice: usize,
    /// Hopping parameter κ (the seed's κ = 0.269 at λ = 0.02 is near the transition)
    #[arg(long, default_value_t = 0.269)]
    pub kappa: f64,
    /// Quartic coupling λ
    #[arg(long, default_value_t = 0.02)]
    pub lambda: f64,
    /// Thermalisation steps of the sampler (1 Metropolis sweep + 2 Wolff clusters each)
    #[arg(long, default_value_t = 500)]
    pub therm: usize,
    /// Sampler steps between stored configurations
    #[arg(long, default_value_t = 4)]
    pub every: usize,
    /// Training configurations
    #[arg(long, default_value_t = 400)]
    pub train: usize,
    /// Held-out configurations (evaluation and Jacobians)
    #[arg(long, default_value_t = 200)]
    pub test: usize,
    /// Hidden channels of the encoder and of the decoder
    #[arg(long, default_value_t = 8)]
    pub channels: usize,
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Adam's learning rate at the start of the cosine schedule
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Test configurations whose Jacobians are computed (one backward pass per output site each)
    #[arg(long, default_value_t = 20)]
    pub jacobians: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory: blockspin.json, report.html, loss.svg, propagator.svg, singular.svg
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub quiet: bool,
}

/// ⟨|M|⟩, χ, U_L, ⟨φ²⟩ (jackknife errors) and `G(t)` of a set of configurations.
#[derive(Serialize, Clone, Debug)]
pub struct Observables {
    pub extent: usize,
    pub abs_m: [f64; 2],
    pub chi: [f64; 2],
    pub binder: [f64; 2],
    pub phi2: [f64; 2],
    /// `G(t) = ⟨Φ(t) Φ(0)⟩ / L`, t = 0 … L/2, Φ(t) the sum over time slice t (direction 1)
    pub propagator: Vec<[f64; 2]>,
}

/// Singular values of one Jacobian, averaged over configurations (mean and standard error).
#[derive(Serialize, Clone, Debug)]
pub struct Spectrum {
    pub what: String,
    pub rows: usize,
    pub columns: usize,
    pub singular_values: Vec<[f64; 2]>,
}

/// The Jacobian row `∂O(g(y))/∂y` of a scalar observable.
#[derive(Serialize, Clone, Debug)]
pub struct ObservableJacobian {
    pub observable: &'static str,
    /// `|∂h_O/∂y|`, mean and standard error over configurations
    pub norm: [f64; 2],
    /// `|Σ_j ∂h_O/∂y_j| / (√d |∂h_O/∂y|)`: the weight on the uniform latent direction
    /// (1: O depends on the block spins only through their mean)
    pub uniform_fraction: [f64; 2],
}

#[derive(Serialize, Debug)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub test_loss: f64,
}

#[derive(Serialize, Debug)]
pub struct BlockspinReport {
    pub program: String,
    pub action: &'static str,
    pub network: String,
    pub parameters: usize,
    pub lattice: usize,
    pub kappa: f64,
    pub lambda: f64,
    pub seed: u64,
    /// configurations whose Jacobians were computed
    pub jacobians: usize,
    pub train_configs: usize,
    pub test_configs: usize,
    pub epochs: Vec<EpochRecord>,
    /// The loss of naive block spinning (each site replaced by its 2x2 block's mean) on the test set
    pub block_mean_loss: f64,
    pub original: Observables,
    pub reconstructed: Observables,
    /// The block spins themselves, an (L/2) x (L/2) field (compare G at t with the original's at 2t)
    pub latent: Observables,
    pub decoder_jacobian: Spectrum,
    pub propagator_jacobian: Spectrum,
    pub observable_jacobians: Vec<ObservableJacobian>,
    pub seconds: f64,
}

/// The singular values of one configuration's Jacobians, and `(norm, uniform fraction)` of the
/// rows of M, M², M⁴.
struct ConfigJacobians {
    decoder: Vec<f64>,
    propagator: Vec<f64>,
    scalars: Vec<[f64; 2]>,
}

fn observables(configs: &[Vec<f64>], l: usize) -> Observables {
    let v = (l * l) as f64;
    let series: Vec<Phi4Measurement> = configs
        .iter()
        .map(|c| Phi4Measurement {
            m: c.iter().sum::<f64>() / v,
            phi2: c.iter().map(|x| x * x).sum::<f64>() / v,
            action_density: 0.0,
        })
        .collect();
    let s: Phi4Summary = summarise(&series, l * l, 20);
    let per_config: Vec<Vec<f64>> = configs.iter().map(|c| correlator(c, l)).collect();
    let g: Vec<[f64; 2]> = (0..=l / 2)
        .map(|t| {
            let per: Vec<f64> = per_config.iter().map(|c| c[t]).collect();
            let (m, e) = binned_mean_error(&per, 20);
            [m, e]
        })
        .collect();
    Observables {
        extent: l,
        abs_m: [s.abs_m.0, s.abs_m.1],
        chi: [s.chi.0, s.chi.1],
        binder: [s.binder.0, s.binder.1],
        phi2: [s.phi2.0, s.phi2.1],
        propagator: g,
    }
}

/// Slice sums `Φ(t) = Σ_{x₀} φ(x₀, t)`.
fn slices(c: &[f64], l: usize) -> Vec<f64> {
    c.chunks_exact(l).map(|r| r.iter().sum()).collect()
}

/// `C(t) = (1/L²) Σ_{t₀} Φ(t₀) Φ(t₀ + t)` of one configuration, t = 0 … L/2.
fn correlator(c: &[f64], l: usize) -> Vec<f64> {
    let phi = slices(c, l);
    (0..=l / 2).map(|t| (0..l).map(|t0| phi[t0] * phi[(t0 + t) % l]).sum::<f64>() / (l * l) as f64).collect()
}

/// `∂C(t)/∂x(x₀, t') = (Φ(t' + t) + Φ(t' − t)) / L²`.
fn correlator_gradient(c: &[f64], l: usize, t: usize) -> Vec<f64> {
    let phi = slices(c, l);
    let norm = (l * l) as f64;
    (0..l * l).map(|x| (phi[(x / l + t) % l] + phi[(x / l + l - t) % l]) / norm).collect()
}

fn mean_error(x: &[f64]) -> [f64; 2] {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0).max(1.0);
    [m, (var / n).sqrt()]
}

pub fn run(args: &BlockspinArgs) -> Result<BlockspinReport> {
    let start = std::time::Instant::now();
    let l = args.lattice;
    ensure!(l >= 4 && l.is_multiple_of(2), "--lattice {l}: use an even extent of at least 4");
    ensure!(args.train >= 2 && args.test >= 40, "--train must be at least 2 and --test at least 40 (20 bins of 2)");
    ensure!(
        args.every >= 1 && args.channels >= 1 && args.batch >= 1,
        "--every, --channels and --batch must be positive"
    );
    ensure!(args.lr > 0.0 && args.lr.is_finite(), "--lr must be a positive number");
    ensure!(args.jacobians >= 1 && args.jacobians <= args.test, "--jacobians must be between 1 and --test");
    let params = Phi4Params::validated(args.kappa, args.lambda).map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure_dir(&args.out)?;
    let g = Grid { n0: l, n1: l };
    let ae = Autoencoder { channels: args.channels };

    // Sampling: one chain, configurations every `every` steps after thermalisation.
    let n_conf = args.train + args.test;
    let bar =
        if args.quiet { ProgressBar::hidden() } else { ProgressBar::new((args.therm + n_conf * args.every) as u64) };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len}  ETA {eta}").unwrap().progress_chars("=> "),
    );
    bar.set_message("sampling");
    let mut chain = Phi4Chain::new(l, params, args.seed).map_err(|e| anyhow::anyhow!("--lattice: {e}"))?;
    chain.step = 1.5;
    chain.n_wolff = 2;
    for _ in 0..args.therm {
        chain.step();
        bar.inc(1);
    }
    let mut configs = Vec::with_capacity(n_conf);
    for _ in 0..n_conf {
        for _ in 0..args.every {
            chain.step();
        }
        bar.inc(args.every as u64);
        configs.push(chain.field.values().to_vec());
    }
    let (train_set, test_set) = configs.split_at(args.train);
    let train: Vec<&[f64]> = train_set.iter().map(|c| c.as_slice()).collect();
    let test: Vec<&[f64]> = test_set.iter().map(|c| c.as_slice()).collect();

    // Training.
    bar.set_length(args.epochs as u64);
    bar.set_position(0);
    bar.set_message("training");
    let mut p = ae.init_params(args.seed);
    let mut adam = Adam::new(p.len());
    let schedule = Schedule::Cosine { min_factor: 0.01 };
    let mut epochs = Vec::with_capacity(args.epochs);
    for e in 0..args.epochs {
        let lr = schedule.lr(args.lr, e, args.epochs);
        let epoch = Epoch { batch: args.batch, lr, seed: args.seed, index: e as u64 };
        let train_loss = train_epoch(&ae, &mut p, &mut adam, g, &train, epoch);
        ensure!(train_loss.is_finite(), "training diverged at epoch {e} (loss {train_loss}); lower --lr");
        let test_loss = mean_loss(&ae, &p, g, &test);
        epochs.push(EpochRecord { epoch: e, lr, train_loss, test_loss });
        bar.inc(1);
    }

    // Observables of the originals, reconstructions and block spins.
    bar.set_message("measuring");
    let latent: Vec<Vec<f64>> = test.iter().map(|x| ae.encode(&p, g, x)).collect();
    let recon: Vec<Vec<f64>> = latent.iter().map(|y| ae.decode(&p, g, y)).collect();
    let original = observables(test_set, l);
    let reconstructed = observables(&recon, l);
    let latent_obs = observables(&latent, l / 2);
    let block_mean_loss = test.iter().map(|c| block_mean_error(c, l)).sum::<f64>() / test.len() as f64;

    // Jacobians of observable ∘ decoder at the block spins of the first test configurations.
    bar.set_length(args.jacobians as u64);
    bar.set_position(0);
    bar.set_message("jacobians");
    let (v, d) = (l * l, (l / 2) * (l / 2));
    let per_config: Vec<ConfigJacobians> = fpa_core::par::map_slice(&latent[..args.jacobians], |y| {
        let x = ae.decode(&p, g, y);
        let row = |g_out: &[f64]| ae.decoder_vjp(&p, g, y, g_out);
        // The decoder's own Jacobian, one row per output site.
        let mut jac = Vec::with_capacity(v * d);
        let mut unit = vec![0.0; v];
        for site in 0..v {
            unit[site] = 1.0;
            jac.extend(row(&unit));
            unit[site] = 0.0;
        }
        let mut prop = Vec::with_capacity((l / 2 + 1) * d);
        for t in 0..=l / 2 {
            prop.extend(row(&correlator_gradient(&x, l, t)));
        }
        let m = x.iter().sum::<f64>() / v as f64;
        let scalar: Vec<[f64; 2]> = [1.0, 2.0 * m, 4.0 * m * m * m]
            .iter()
            .map(|&dm| {
                let r = row(&vec![dm / v as f64; v]);
                let norm = r.iter().map(|a| a * a).sum::<f64>().sqrt();
                let uniform = r.iter().sum::<f64>().abs() / ((d as f64).sqrt() * norm.max(f64::MIN_POSITIVE));
                [norm, uniform]
            })
            .collect();
        ConfigJacobians { decoder: svd(&jac, v, d).s, propagator: svd(&prop, l / 2 + 1, d).s, scalars: scalar }
    });
    bar.finish_and_clear();
    let values = |which: usize, n: usize| -> Vec<[f64; 2]> {
        (0..n)
            .map(|k| {
                let xs: Vec<f64> =
                    per_config.iter().map(|c| if which == 0 { c.decoder[k] } else { c.propagator[k] }).collect();
                mean_error(&xs)
            })
            .collect()
    };
    let decoder_jacobian = Spectrum {
        what: "dx_hat/dy: the decoder's Jacobian (V x V/4)".into(),
        rows: v,
        columns: d,
        singular_values: values(0, d),
    };
    let propagator_jacobian = Spectrum {
        what: "dC(t)/dy for t = 0 .. L/2: the Jacobian of the per-configuration propagator after the decoder".into(),
        rows: l / 2 + 1,
        columns: d,
        singular_values: values(1, d.min(l / 2 + 1)),
    };
    let observable_jacobians = ["M", "M^2", "M^4"]
        .iter()
        .enumerate()
        .map(|(k, &name)| ObservableJacobian {
            observable: name,
            norm: mean_error(&per_config.iter().map(|c| c.scalars[k][0]).collect::<Vec<_>>()),
            uniform_fraction: mean_error(&per_config.iter().map(|c| c.scalars[k][1]).collect::<Vec<_>>()),
        })
        .collect();

    let report = BlockspinReport {
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        action: "S = sum_x [ -2 kappa sum_mu phi(x) phi(x+mu) + (1 - 2 lambda) phi(x)^2 + lambda phi(x)^4 ]",
        network: format!(
            "encoder: conv 3x3 1->{c}, tanh, conv 2x2 stride 2 {c}->1; decoder: transposed conv 2x2 stride 2 1->{c}, tanh, conv 3x3 {c}->1; periodic, no biases (Z2-odd)",
            c = args.channels
        ),
        parameters: p.len(),
        lattice: l,
        kappa: args.kappa,
        lambda: args.lambda,
        seed: args.seed,
        jacobians: args.jacobians,
        train_configs: args.train,
        test_configs: args.test,
        epochs,
        block_mean_loss,
        original,
        reconstructed,
        latent: latent_obs,
        decoder_jacobian,
        propagator_jacobian,
        observable_jacobians,
        seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&args.out.join("blockspin.json"), &report)?;
    plot(args, &report)?;
    write_report(&args.out, &report)?;
    if !args.quiet {
        print_summary(&report);
    }
    Ok(report)
}

/// `(1/V) Σ_x (φ(x) − mean of x's 2×2 block)²`.
fn block_mean_error(c: &[f64], l: usize) -> f64 {
    (0..l * l)
        .map(|x| {
            let (b0, b1) = (x % l / 2 * 2, x / l / 2 * 2);
            let m = (c[b0 + l * b1] + c[b0 + 1 + l * b1] + c[b0 + l * (b1 + 1)] + c[b0 + 1 + l * (b1 + 1)]) / 4.0;
            (c[x] - m) * (c[x] - m)
        })
        .sum::<f64>()
        / (l * l) as f64
}

fn plot(args: &BlockspinArgs, r: &BlockspinReport) -> Result<()> {
    let title = format!("phi^4 {l}x{l}, kappa = {}, lambda = {}", r.kappa, r.lambda, l = r.lattice);
    let ep = |f: &dyn Fn(&EpochRecord) -> f64| r.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect::<Vec<_>>();
    let flat = |y: f64| vec![(0.0, y), ((r.epochs.len().max(2) - 1) as f64, y)];
    line_chart(
        &args.out.join("loss.svg"),
        &title,
        "epoch",
        "reconstruction loss (1/V) sum (x_hat - x)^2",
        &[
            Series { name: "training", points: ep(&|e| e.train_loss) },
            Series { name: "test", points: ep(&|e| e.test_loss) },
            Series { name: "2x2 block means (test)", points: flat(r.block_mean_loss) },
        ],
        true,
    )?;
    let prop = |o: &Observables, scale: f64| {
        o.propagator.iter().enumerate().map(|(t, g)| (scale * t as f64, g[0])).collect::<Vec<_>>()
    };
    line_chart(
        &args.out.join("propagator.svg"),
        &title,
        "t (fine lattice units)",
        "G(t)",
        &[
            Series { name: "original", points: prop(&r.original, 1.0) },
            Series { name: "reconstructed", points: prop(&r.reconstructed, 1.0) },
            Series { name: "block spins (t = 2 t_coarse)", points: prop(&r.latent, 2.0) },
        ],
        true,
    )?;
    let sv = |s: &Spectrum| s.singular_values.iter().enumerate().map(|(k, v)| (k as f64, v[0])).collect::<Vec<_>>();
    line_chart(
        &args.out.join("singular.svg"),
        &title,
        "index",
        "singular value",
        &[
            Series { name: "decoder dx_hat/dy", points: sv(&r.decoder_jacobian) },
            Series { name: "propagator after decoder dC/dy", points: sv(&r.propagator_jacobian) },
        ],
        true,
    )
}

fn print_summary(r: &BlockspinReport) {
    let last = r.epochs.last();
    eprintln!(
        "autoencoder ({} weights): test loss {:.4} (2x2 block means {:.4}, <phi^2> {:.4})",
        r.parameters,
        last.map_or(f64::NAN, |e| e.test_loss),
        r.block_mean_loss,
        r.original.phi2[0]
    );
    eprintln!("                 <|M|>            chi               U_L             <phi^2>");
    for (name, o) in [("original", &r.original), ("reconstructed", &r.reconstructed), ("block spins", &r.latent)] {
        eprintln!(
            "{name:<14} {:.4}({:>4.0})  {:>9.3}({:>5.1})  {:.4}({:>4.0})  {:.4}({:>4.0})",
            o.abs_m[0],
            o.abs_m[1] * 1e4,
            o.chi[0],
            o.chi[1],
            o.binder[0],
            o.binder[1] * 1e4,
            o.phi2[0],
            o.phi2[1] * 1e4
        );
    }
    let top: Vec<String> = r.decoder_jacobian.singular_values.iter().take(5).map(|v| format!("{:.3}", v[0])).collect();
    eprintln!("decoder Jacobian singular values: {} ...", top.join(", "));
    for j in &r.observable_jacobians {
        eprintln!("d{}/dy: norm {:.3e}, uniform fraction {:.3}", j.observable, j.norm[0], j.uniform_fraction[0]);
    }
}

/// `report.html`: the run on one offline page (settings, observables table, Jacobians, plots inline).
fn write_report(dir: &std::path::Path, r: &BlockspinReport) -> Result<()> {
    use crate::report::{esc, page_start, svg};
    use std::fmt::Write;
    let mut h = page_start("fpa: neural block spinning");
    let last = r.epochs.last().map_or(f64::NAN, |e| e.test_loss);
    let _ = write!(
        h,
        "<h1>Neural block spinning, real &phi;<sup>4</sup></h1><p>{} — {}&times;{} lattice, &kappa; = {}, &lambda; = {}, \
         {} training and {} test configurations, {:.0} s.</p><p>Network: {} ({} weights). Test reconstruction loss \
         {:.4} against {:.4} for naive 2&times;2 block means and &lang;&phi;&sup2;&rang; = {:.4}.</p>",
        esc(&r.program),
        r.lattice,
        r.lattice,
        r.kappa,
        r.lambda,
        r.train_configs,
        r.test_configs,
        r.seconds,
        esc(&r.network),
        r.parameters,
        last,
        r.block_mean_loss,
        r.original.phi2[0]
    );
    h.push_str(
        "<h2>Observables</h2><table><tr><th></th><th>&lang;|M|&rang;</th><th>&chi;</th><th>U<sub>L</sub></th>\
         <th>&lang;&phi;&sup2;&rang;</th><th>G(L/2)</th></tr>",
    );
    for (name, o) in [("original", &r.original), ("reconstructed", &r.reconstructed), ("block spins", &r.latent)] {
        let g = o.propagator.last().copied().unwrap_or([f64::NAN; 2]);
        let _ = write!(
            h,
            "<tr><th>{name}</th><td>{:.4}({:.4})</td><td>{:.2}({:.2})</td><td>{:.4}({:.4})</td><td>{:.4}({:.4})</td>\
             <td>{:.3}({:.3})</td></tr>",
            o.abs_m[0], o.abs_m[1], o.chi[0], o.chi[1], o.binder[0], o.binder[1], o.phi2[0], o.phi2[1], g[0], g[1]
        );
    }
    h.push_str("</table><p>The block spins live on the (L/2)&sup2; lattice; their G(L/2) is at 2&times;(L/4) fine spacings.</p>");
    let sv =
        |s: &Spectrum| s.singular_values.iter().take(12).map(|v| format!("{:.3}", v[0])).collect::<Vec<_>>().join(", ");
    let _ = write!(
        h,
        "<h2>Latent space</h2><p>Singular values (mean over {} configurations) of {}: {} &hellip;</p><p>Of {}: {}</p><ul>",
        r.jacobians,
        esc(&r.decoder_jacobian.what),
        sv(&r.decoder_jacobian),
        esc(&r.propagator_jacobian.what),
        sv(&r.propagator_jacobian)
    );
    for j in &r.observable_jacobians {
        let _ = write!(
            h,
            "<li>&part;{}/&part;y: norm {:.3e}, weight on the uniform latent direction {:.3}</li>",
            j.observable, j.norm[0], j.uniform_fraction[0]
        );
    }
    h.push_str("</ul><h2>Plots</h2><div class=\"grid\">");
    for f in ["loss.svg", "propagator.svg", "singular.svg"] {
        h.push_str(&svg(&dir.join(f)));
    }
    h.push_str("</div></body></html>");
    crate::files::write_atomic(&dir.join("report.html"), h.as_bytes())
}
