//! `fpa scaling`: a scaling study of gradient-flow scales. For each action,
//! HMC ensembles at several lattice spacings (ideally in a fixed physical
//! box), the flow scales `t0` and `w0` of each, and the dimensionless ratio
//! `sqrt(8 t0)/w0` against `a²/t0` with a linear continuum extrapolation
//! per action.
//!
//! Output directory: `ens/<action>-L<L>-b<β>/` (the HMC runs), `flow/...`
//! (the flow runs), `scaling.json` (every ensemble's scales and the fits) and
//! `scaling.svg`. Both steps resume on their own, so a killed study continues.

use crate::chain::{FileFormat, RunOutput, Start};
use crate::files::{ensure_dir, utc_now, write_json};
use crate::flow::FlowJob;
use crate::hmc::{HmcJob, IntegratorArg};
use crate::plot::{scatter_with_fits, Group};
use anyhow::{ensure, Context, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScalingPreset {
    /// Wilson and the shipped FP action at three spacings on 4^4, 6^4, 8^4 (under an hour on 2 cores)
    Small,
    /// A smoke test on 4^4 (tests use it)
    Tiny,
}

#[derive(Args, Debug)]
pub struct ScalingArgs {
    /// TOML config (every setting; missing ones come from the preset)
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "small")]
    pub preset: ScalingPreset,
    /// Output directory
    #[arg(long, default_value = "runs/scaling")]
    pub out: PathBuf,
    /// Print the effective config as TOML and exit
    #[arg(long)]
    pub print_config: bool,
    #[arg(long)]
    pub quiet: bool,
}

/// One ensemble of the study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// `wilson`, `symanzik`, `iwasaki`, `dbw2` or a model file.
    pub action: String,
    pub beta: f64,
    /// Spatial = temporal extent L (an L^4 lattice).
    pub l: usize,
    /// Largest flow time (default `L²/8`: `sqrt(8t) = L` at the end).
    #[serde(default)]
    pub tmax: Option<f64>,
    /// Integration steps per trajectory (default `hmc.steps`): `|ΔH|` grows as `sqrt(V) ε²`,
    /// so larger lattices need more steps for the same acceptance.
    #[serde(default)]
    pub steps: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmcConfig {
    pub tau: f64,
    pub steps: usize,
    pub therm: u64,
    pub warmup: u64,
    pub every: u64,
    pub configs: u64,
    pub seed: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// `wilson`, `symanzik`, `zeuthen`, or `own` (each ensemble's own action: the FP flow for an L-CNN).
    pub flow: String,
    pub dt: f64,
    /// The energy density for the scales: `clover` or `plaquette`.
    pub density: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingConfig {
    pub hmc: HmcConfig,
    pub flow: FlowConfig,
    pub ensembles: Vec<EnsembleSpec>,
}

impl ScalingConfig {
    pub fn preset(p: ScalingPreset) -> Self {
        let model = "models/fp-action.safetensors";
        let e = |action: &str, beta: f64, l: usize| EnsembleSpec {
            action: action.into(),
            beta,
            l,
            tmax: None,
            steps: Some(4 + l),
        };
        match p {
            // Three spacings, L = 4, 5, 6, the couplings stepped so that the box stays roughly fixed
            // (L/sqrt(8 t0) is reported per point): the FP action from t0/a² = 0.40 at β 2.5 on 4^4.
            // Sized by the L-CNN force (about 0.3 s on 4^4, 1.3 s on 6^4 with 2 threads).
            ScalingPreset::Small => ScalingConfig {
                hmc: HmcConfig { tau: 1.0, steps: 8, therm: 24, warmup: 8, every: 2, configs: 8, seed: 1 },
                flow: FlowConfig { flow: "wilson".into(), dt: 0.02, density: "clover".into() },
                ensembles: vec![
                    e("wilson", 5.2, 4),
                    e("wilson", 5.35, 5),
                    e("wilson", 5.5, 6),
                    e(model, 2.5, 4),
                    e(model, 2.62, 5),
                    e(model, 2.75, 6),
                ],
            },
            ScalingPreset::Tiny => ScalingConfig {
                hmc: HmcConfig { tau: 1.0, steps: 6, therm: 20, warmup: 5, every: 2, configs: 4, seed: 1 },
                flow: FlowConfig { flow: "wilson".into(), dt: 0.05, density: "clover".into() },
                ensembles: vec![e("wilson", 5.3, 4), e("wilson", 5.5, 4), e("symanzik", 3.8, 4)],
            },
        }
    }
}

/// One ensemble's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Point {
    pub action: String,
    pub beta: f64,
    pub l: usize,
    pub configs: usize,
    pub acceptance: Option<f64>,
    pub t0: Option<[f64; 2]>,
    pub w0: Option<[f64; 2]>,
    pub ratio: Option<[f64; 2]>,
    /// `a²/t0`.
    pub a2_over_t0: Option<f64>,
    /// `L / sqrt(8 t0)`: the box in units of the flow smoothing radius.
    pub box_over_sqrt8t0: Option<f64>,
}

/// The linear continuum extrapolation of one action.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fit {
    pub action: String,
    /// `ratio = c + s · a²/t0`: the continuum value `c` with its error, and the slope.
    pub continuum: Option<[f64; 2]>,
    pub slope: Option<f64>,
    pub points: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScalingReport {
    pub program: String,
    pub config: ScalingConfig,
    pub points: Vec<Point>,
    pub fits: Vec<Fit>,
    pub updated: String,
}

fn pair(v: Option<f64>, e: Option<f64>) -> Option<[f64; 2]> {
    Some([v?, e.unwrap_or(f64::NAN)])
}

/// Weighted least squares `y = c + s x` (weights `1/σ²`): `(c, σ_c, s)`.
pub fn linear_fit(pts: &[(f64, f64, f64)]) -> Option<(f64, f64, f64)> {
    if pts.len() < 2 {
        return None;
    }
    let w = |e: f64| if e.is_finite() && e > 0.0 { 1.0 / (e * e) } else { 1.0 };
    let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, y, e) in pts {
        let wi = w(e);
        sw += wi;
        sx += wi * x;
        sy += wi * y;
        sxx += wi * x * x;
        sxy += wi * x * y;
    }
    let det = sw * sxx - sx * sx;
    if det.abs() < 1e-300 {
        return None;
    }
    let c = (sxx * sy - sx * sxy) / det;
    let s = (sw * sxy - sx * sy) / det;
    Some((c, (sxx / det).sqrt(), s))
}

fn label(e: &EnsembleSpec) -> String {
    let name = Path::new(&e.action).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or(e.action.clone());
    format!("{name}-L{}-b{}", e.l, e.beta)
}

/// Runs `fpa scaling`.
pub fn run(args: &ScalingArgs) -> Result<()> {
    let config = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{} is not a valid scaling config", p.display()))?
        }
        None => ScalingConfig::preset(args.preset),
    };
    if args.print_config {
        print!("{}", toml::to_string(&config)?);
        return Ok(());
    }
    ensure!(!config.ensembles.is_empty(), "the config lists no ensembles");
    ensure!(matches!(config.flow.density.as_str(), "clover" | "plaquette"), "flow.density must be clover or plaquette");
    // Every action and flow is checked before the first (long) HMC run.
    for e in &config.ensembles {
        ensure!(e.l >= 2 && e.beta.is_finite() && e.beta > 0.0, "ensemble {}: needs L >= 2 and beta > 0", label(e));
        crate::actions::parse(&e.action).with_context(|| format!("ensemble {}", label(e)))?;
        let flow = if config.flow.flow == "own" { e.action.as_str() } else { config.flow.flow.as_str() };
        if flow != "zeuthen" {
            crate::actions::parse(flow)
                .context("flow.flow: wilson, symanzik, iwasaki, dbw2, zeuthen, own, or a model")?;
        }
    }
    ensure_dir(&args.out)?;
    let _lock = crate::lock::OutputLock::dir(&args.out)?;
    let mut points = vec![];
    for (i, e) in config.ensembles.iter().enumerate() {
        let name = label(e);
        if !args.quiet {
            eprintln!("[{}/{}] {name}", i + 1, config.ensembles.len());
        }
        let ens = args.out.join("ens").join(&name);
        let h = &config.hmc;
        crate::hmc::hmc(&HmcJob {
            settings: crate::hmc::Settings {
                action: e.action.clone(),
                beta: e.beta,
                lattice: format!("{0}x{0}x{0}x{0}", e.l),
                tau: h.tau,
                steps: e.steps.unwrap_or(h.steps),
                integrator: IntegratorArg::Omelyan,
                therm: h.therm,
                warmup: h.warmup,
                every: h.every,
                seed: h.seed + i as u64,
                start: Start::Cold,
                format: FileFormat::Full,
            },
            configs: h.configs,
            output: RunOutput { out: ens.clone(), stop_after: None, quiet: args.quiet },
        })
        .with_context(|| format!("HMC for {name}"))?;
        let flow_dir = args.out.join("flow").join(&name);
        let flow = if config.flow.flow == "own" { e.action.clone() } else { config.flow.flow.clone() };
        let report = crate::flow::compute(&FlowJob {
            configs: vec![ens.clone()],
            instantons: vec![],
            flow,
            tmax: e.tmax.unwrap_or((e.l * e.l) as f64 / 8.0),
            dt: config.flow.dt,
            every: 1,
            reference: 0.3,
            out: flow_dir.clone(),
            quiet: true,
        })
        .with_context(|| format!("flow for {name}"))?;
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ens.join("summary.json"))?)?;
        let c = report
            .curves
            .iter()
            .find(|c| c.definition == config.flow.density)
            .context("flow report without the requested density")?;
        let t0 = pair(c.t0.value, c.t0.error);
        points.push(Point {
            action: e.action.clone(),
            beta: e.beta,
            l: e.l,
            configs: report.configs.len(),
            acceptance: summary["statistics"]["acceptance"].as_f64(),
            t0,
            w0: pair(c.w0.value, c.w0.error),
            ratio: pair(c.sqrt8t0_over_w0.value, c.sqrt8t0_over_w0.error),
            a2_over_t0: t0.map(|t| 1.0 / t[0]),
            box_over_sqrt8t0: t0.map(|t| e.l as f64 / (8.0 * t[0]).sqrt()),
        });
    }
    // The actions in the order they first appear (one fit each).
    let mut actions: Vec<String> = Vec::new();
    for e in &config.ensembles {
        if !actions.contains(&e.action) {
            actions.push(e.action.clone());
        }
    }
    let fits = actions
        .iter()
        .map(|a| {
            let pts: Vec<(f64, f64, f64)> = points
                .iter()
                .filter(|p| &p.action == a)
                .filter_map(|p| Some((p.a2_over_t0?, p.ratio?[0], p.ratio?[1])))
                .collect();
            let f = linear_fit(&pts);
            Fit {
                action: a.clone(),
                continuum: f.map(|(c, e, _)| [c, e]),
                slope: f.map(|(_, _, s)| s),
                points: pts.len(),
            }
        })
        .collect();
    let report = ScalingReport {
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        config,
        points,
        fits,
        updated: utc_now(),
    };
    write_json(&args.out.join("scaling.json"), &report)?;
    plot(&args.out.join("scaling.svg"), &report)?;
    print_table(&report);
    eprintln!("wrote {}/scaling.json and scaling.svg", args.out.display());
    Ok(())
}

fn plot(path: &Path, r: &ScalingReport) -> Result<()> {
    let names: Vec<String> = r
        .fits
        .iter()
        .map(|f| Path::new(&f.action).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
        .collect();
    let groups: Vec<Group> = r
        .fits
        .iter()
        .zip(&names)
        .map(|(f, name)| Group {
            name,
            points: r
                .points
                .iter()
                .filter(|p| p.action == f.action)
                .filter_map(|p| Some((p.a2_over_t0?, p.ratio?[0], p.ratio?[1])))
                .collect(),
            fit: f.continuum.zip(f.slope).map(|(c, s)| (c[0], s)),
        })
        .collect();
    scatter_with_fits(path, "gradient-flow scaling", "a^2 / t0", "sqrt(8 t0) / w0", &groups)
}

fn fmt(v: Option<[f64; 2]>) -> String {
    v.map_or("not reached".into(), |[v, e]| format!("{v:.4} +- {e:.4}"))
}

fn print_table(r: &ScalingReport) {
    println!(
        "{:>28} {:>5} {:>3} {:>6} | {:>18} {:>18} {:>18} | {:>7} {:>7}",
        "action", "beta", "L", "acc", "t0/a^2", "w0/a", "sqrt(8t0)/w0", "a2/t0", "L/s8t0"
    );
    for p in &r.points {
        let name = Path::new(&p.action).file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "{:>28} {:>5} {:>3} {:>6.3} | {:>18} {:>18} {:>18} | {:>7.3} {:>7.3}",
            name,
            p.beta,
            p.l,
            p.acceptance.unwrap_or(f64::NAN),
            fmt(p.t0),
            fmt(p.w0),
            fmt(p.ratio),
            p.a2_over_t0.unwrap_or(f64::NAN),
            p.box_over_sqrt8t0.unwrap_or(f64::NAN)
        );
    }
    for f in &r.fits {
        println!("continuum ({} points) {}: sqrt(8t0)/w0 = {}", f.points, f.action, fmt(f.continuum));
    }
}

#[cfg(test)]
mod tests {
    use super::linear_fit;

    #[test]
    fn linear_fit_recovers_a_line_and_its_intercept_error() {
        let pts = [(0.1, 1.2, 0.01), (0.2, 1.4, 0.01), (0.4, 1.8, 0.01)];
        let (c, e, s) = linear_fit(&pts).unwrap();
        assert!((c - 1.0).abs() < 1e-12 && (s - 2.0).abs() < 1e-12, "{c} {s}");
        // σ_c² = Σx²/(σ² det'), here with equal errors: (Σx²/n) / (n Var x) · σ².
        let (n, sx, sxx): (f64, f64, f64) = (3.0, 0.7, 0.21);
        let want = (sxx / (n * sxx - sx * sx)).sqrt() * 0.01;
        assert!((e - want).abs() < 1e-12, "{e} vs {want}");
        assert!(linear_fit(&pts[..1]).is_none());
    }
}
