//! `fpa flow`: the gradient flow of gauge configurations (Wilson, Symanzik,
//! Zeuthen, or the flow of a trained L-CNN action: the fixed point flow), the
//! energy densities along it and the scales t0 and w0 with jackknife errors.
//!
//! Output directory: `flow.json` (settings, every configuration's curve, the
//! ensemble means with errors, the scales), `t2e.svg` and `w.svg`, and a cache
//! `flows/<config>.json` per configuration so that an interrupted run resumes
//! where it stopped.

use crate::actions::ActionChoice;
use crate::files::{ensure_dir, utc_now, write_json};
use crate::plot::{line_chart, Series};
use anyhow::{ensure, Context, Result};
use clap::Args;
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::observe::flow::{flow, scales, t2e_and_w, FlowKind, FlowPoint};
use fpa_core::observe::instanton::{Instanton, ACTION as INSTANTON_ACTION};
use fpa_core::stats::jackknife;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `fpa flow`: the job and how to print its report.
#[derive(Args, Debug, Clone)]
pub struct FlowArgs {
    #[command(flatten)]
    pub job: FlowJob,
    /// Print flow.json to standard output instead of the table
    #[arg(long)]
    pub json: bool,
}

/// One flow measurement to make (or resume from the cache): what `fpa flow`'s arguments and the
/// scaling study describe.
#[derive(Args, Debug, Clone)]
pub struct FlowJob {
    /// NERSC gauge files, or directories (their *.nersc files except checkpoints)
    #[arg(required_unless_present = "instantons")]
    pub configs: Vec<PathBuf>,
    /// A smooth instanton as a configuration, `LATTICE:RHO[:site][:anti]` as in `fp-data` (repeat
    /// for several); the table then shows A/A_inst along the flow
    #[arg(long = "instanton", value_name = "LATTICE:RHO")]
    pub instantons: Vec<String>,
    /// What drives the flow: wilson, symanzik, iwasaki, dbw2, zeuthen, or an L-CNN model file
    /// (.safetensors: the fixed point flow)
    #[arg(long, default_value = "wilson")]
    pub flow: String,
    /// Largest flow time (lattice units)
    #[arg(long, default_value_t = 2.0)]
    pub tmax: f64,
    /// Runge–Kutta step
    #[arg(long, default_value_t = 0.02)]
    pub dt: f64,
    /// Measure every this many steps
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    /// Reference value of t^2 E and of W for the scales t0 and w0
    #[arg(long, default_value_t = 0.3)]
    pub reference: f64,
    /// Output directory
    #[arg(long, default_value = "flow")]
    pub out: PathBuf,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
}

/// What determines one configuration's flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `wilson`, …, `zeuthen`, or `model:<file>:<hash>`.
    pub flow: String,
    pub tmax: f64,
    pub dt: f64,
    pub every: usize,
}

/// One configuration's flow (also the cache file).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigFlow {
    pub file: String,
    /// FNV-1a hash of the gauge file.
    pub hash: String,
    pub settings: Settings,
    pub points: Vec<FlowPoint>,
    pub seconds: f64,
}

/// A quantity with its jackknife error (`null` when undefined).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Estimate {
    pub value: Option<f64>,
    pub error: Option<f64>,
}

impl Estimate {
    fn new((v, e): (f64, f64)) -> Self {
        Estimate { value: v.is_finite().then_some(v), error: e.is_finite().then_some(e) }
    }
}

/// The ensemble average of one energy-density definition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Curve {
    pub definition: String,
    pub t2e: Vec<Estimate>,
    /// `W(t) = t d/dt t^2 E`.
    pub w: Vec<Estimate>,
    pub t0: Estimate,
    pub w0: Estimate,
    /// `sqrt(8 t0) / w0`.
    pub sqrt8t0_over_w0: Estimate,
}

/// `flow.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlowReport {
    pub program: String,
    pub settings: Settings,
    pub flow_name: String,
    pub reference: f64,
    pub lattice: String,
    pub t: Vec<f64>,
    pub curves: Vec<Curve>,
    /// Clover topological charge at `tmax`, per configuration.
    pub charge_at_tmax: Vec<Option<f64>>,
    pub configs: Vec<ConfigFlow>,
    pub updated: String,
}

/// A configuration to flow: a gauge file or an instanton.
enum Source {
    File(PathBuf),
    Instanton { spec: String, lattice: Arc<Geometry>, inst: Instanton, id: String },
}

impl Source {
    /// The field, a name for the cache file, and the hash that identifies the content.
    fn load(&self, index: usize) -> Result<(GaugeField<f64>, String, String)> {
        match self {
            Source::File(f) => {
                let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
                let hash = format!("{:016x}", fpa_core::checksum::fnv1a(bytes.iter().copied()));
                let stem =
                    f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| format!("config{index}"));
                let u = fpa_core::io::gauge_file::decode(&bytes)
                    .with_context(|| format!("{} is not a usable gauge file", f.display()))?
                    .field;
                Ok((u, stem, hash))
            }
            Source::Instanton { spec, lattice, inst, id } => {
                let hash = format!("{:016x}", fpa_core::checksum::fnv1a(spec.bytes()));
                Ok((inst.field(lattice.clone()), id.clone(), hash))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::File(f) => f.display().to_string(),
            Source::Instanton { spec, .. } => format!("instanton {spec}"),
        }
    }
}

/// The gauge files named on the command line, directories expanded.
fn config_files(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in args {
        if p.is_dir() {
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    let n = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    n.ends_with(".nersc") && !n.starts_with("checkpoint_") && !n.starts_with('.')
                })
                .collect();
            in_dir.sort();
            ensure!(!in_dir.is_empty(), "{} holds no .nersc configurations", p.display());
            out.extend(in_dir);
        } else {
            ensure!(p.exists(), "{}: no such file", p.display());
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The energy density of `p` under `definition`.
fn density(p: &FlowPoint, definition: &str) -> f64 {
    match definition {
        "plaquette" => p.e_plaq,
        "clover" => p.e_clover,
        _ => p.e_action.unwrap_or(f64::NAN),
    }
}

/// Ensemble means with jackknife errors of `t²E`, `W`, `t0`, `w0` for one definition.
fn curve(t: &[f64], flows: &[ConfigFlow], definition: &str, reference: f64) -> Curve {
    let n = flows.len();
    let mean_e = |skip: Option<usize>| -> Vec<f64> {
        let kept: Vec<&ConfigFlow> =
            flows.iter().enumerate().filter(|(i, _)| Some(*i) != skip).map(|(_, f)| f).collect();
        (0..t.len())
            .map(|k| kept.iter().map(|f| density(&f.points[k], definition)).sum::<f64>() / kept.len() as f64)
            .collect()
    };
    // which = 0: t²E, 1: W.
    let at = |k: usize, which: usize| {
        Estimate::new(jackknife(n, |skip| {
            let (t2e, w) = t2e_and_w(t, &mean_e(skip));
            if which == 0 {
                t2e[k]
            } else {
                w[k]
            }
        }))
    };
    let scale = |which: usize| {
        Estimate::new(jackknife(n, |skip| {
            let (t0, w0) = scales(t, &mean_e(skip), reference);
            match which {
                0 => t0.unwrap_or(f64::NAN),
                1 => w0.unwrap_or(f64::NAN),
                _ => (8.0 * t0.unwrap_or(f64::NAN)).sqrt() / w0.unwrap_or(f64::NAN),
            }
        }))
    };
    Curve {
        definition: definition.into(),
        t2e: (0..t.len()).map(|k| at(k, 0)).collect(),
        w: (0..t.len()).map(|k| at(k, 1)).collect(),
        t0: scale(0),
        w0: scale(1),
        sqrt8t0_over_w0: scale(2),
    }
}

/// Runs `fpa flow`: [`compute`], then the table (or the JSON) on standard output.
pub fn run(args: &FlowArgs) -> Result<()> {
    let report = compute(&args.job)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
        eprintln!("wrote {}/flow.json and the plots t2e.svg, w.svg", args.job.out.display());
    }
    Ok(())
}

/// Flows every configuration (or takes it from the cache), writes
/// `flow.json` and the plots, and returns the report.
pub fn compute(job: &FlowJob) -> Result<FlowReport> {
    ensure!(job.tmax.is_finite() && job.tmax > 0.0, "--tmax {} must be a finite number > 0", job.tmax);
    ensure!(job.dt.is_finite() && job.dt > 0.0 && job.dt <= job.tmax, "--dt {} must be in (0, tmax]", job.dt);
    ensure!(job.every >= 1, "--every must be at least 1");
    ensure!(job.reference.is_finite() && job.reference > 0.0, "--reference must be a finite number > 0");
    let mut sources: Vec<Source> = config_files(&job.configs)?.into_iter().map(Source::File).collect();
    for spec in &job.instantons {
        let (lattice, inst, id) = crate::fp_data::parse_instanton(spec)?;
        let g = Geometry::parse(&lattice).map_err(|e| anyhow::anyhow!("--instanton {spec}: {e}"))?;
        sources.push(Source::Instanton { spec: spec.clone(), lattice: Arc::new(g), inst, id });
    }
    let choice = match job.flow.as_str() {
        "zeuthen" => None,
        other => Some(crate::actions::parse(other).map_err(|e| anyhow::anyhow!("--flow: {e}"))?),
    };
    let (kind, id, name) = match &choice {
        None => (FlowKind::Zeuthen, "zeuthen".to_string(), "zeuthen".to_string()),
        Some(ActionChoice { action, id, .. }) => (FlowKind::Action(action.as_ref()), id.clone(), action.name()),
    };
    let settings = Settings { flow: id, tmax: job.tmax, dt: job.dt, every: job.every };
    let cache = job.out.join("flows");
    ensure_dir(&cache)?;
    let _lock = crate::lock::OutputLock::dir(&job.out)?;

    let steps = (job.tmax / job.dt - 1e-9).ceil() as u64;
    let bar = if job.quiet { ProgressBar::hidden() } else { ProgressBar::new(steps * sources.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} steps  {msg}  ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{name} flow"));
    let mut flows = vec![];
    let mut lattice = None;
    for (i, src) in sources.iter().enumerate() {
        let (mut u, stem, hash) = src.load(i)?;
        let label = u.geometry().label();
        ensure!(
            lattice.get_or_insert_with(|| label.clone()) == &label,
            "{} has lattice {label}, the first configuration {}",
            src.describe(),
            lattice.as_deref().unwrap_or("?")
        );
        let cached = cache.join(format!("{stem}.{}.json", &hash[..8]));
        if let Some(c) = std::fs::read_to_string(&cached).ok().and_then(|t| serde_json::from_str::<ConfigFlow>(&t).ok())
        {
            if c.settings == settings && c.hash == hash {
                bar.inc(steps);
                flows.push(c);
                continue;
            }
        }
        bar.set_message(stem.clone());
        let start = std::time::Instant::now();
        let points = flow(kind, &mut u, job.tmax, job.dt, job.every, |_| bar.inc(1));
        ensure!(
            points.iter().all(|p| p.e_plaq.is_finite()),
            "{}: the flow produced non-finite values (--dt {} too large for this action?)",
            src.describe(),
            job.dt
        );
        let c = ConfigFlow {
            file: src.describe(),
            hash,
            settings: settings.clone(),
            points,
            seconds: start.elapsed().as_secs_f64(),
        };
        write_json(&cached, &c)?;
        flows.push(c);
    }
    bar.finish_and_clear();
    let lattice = lattice.context("no configurations to flow")?;
    let t: Vec<f64> = flows[0].points.iter().map(|p| p.t).collect();
    let mut definitions = vec!["plaquette", "clover"];
    if choice.is_some() {
        definitions.push("action");
    }
    let report = FlowReport {
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        settings,
        flow_name: name,
        reference: job.reference,
        lattice,
        curves: definitions.iter().map(|d| curve(&t, &flows, d, job.reference)).collect(),
        charge_at_tmax: flows.iter().map(|f| f.points.last().and_then(|p| p.q)).collect(),
        t,
        configs: flows,
        updated: utc_now(),
    };
    write_json(&job.out.join("flow.json"), &report)?;
    plot(&job.out, &report)?;
    Ok(report)
}

fn plot(dir: &Path, r: &FlowReport) -> Result<()> {
    let title = format!("{} flow, {} configurations, {}", r.flow_name, r.configs.len(), r.lattice);
    for (file, label, pick) in [
        ("t2e.svg", "t^2 E(t)", (|c: &Curve| &c.t2e) as fn(&Curve) -> &Vec<Estimate>),
        ("w.svg", "W(t) = t d/dt t^2 E", |c: &Curve| &c.w),
    ] {
        let mut series: Vec<Series> = r
            .curves
            .iter()
            .map(|c| Series {
                name: &c.definition,
                points: r.t.iter().zip(pick(c)).filter_map(|(t, e)| e.value.map(|v| (*t, v))).collect(),
            })
            .collect();
        let tmax = r.t.last().copied().unwrap_or(1.0);
        series.push(Series { name: "reference", points: vec![(0.0, r.reference), (tmax, r.reference)] });
        line_chart(&dir.join(file), &title, "flow time t / a^2", label, &series, false)?;
    }
    Ok(())
}

fn fmt(e: &Estimate) -> String {
    match (e.value, e.error) {
        (Some(v), Some(err)) => format!("{v:.4} +- {err:.4}"),
        (Some(v), None) => format!("{v:.4}"),
        _ => "not reached".into(),
    }
}

/// `A/A_inst` at the start and the end of the flow of each instanton, from
/// `E_plaq` (the Wilson action) and `E_act` (the flow's own action).
fn print_instantons(r: &FlowReport) {
    let volume: f64 = r.lattice.split('x').filter_map(|d| d.parse::<f64>().ok()).product();
    let ratio = |e: f64| e * volume / 6.0 / INSTANTON_ACTION;
    for c in r.configs.iter().filter(|c| c.file.starts_with("instanton")) {
        let (first, last) = (&c.points[0], &c.points[c.points.len() - 1]);
        let own = |p: &FlowPoint| p.e_action.map_or("-".to_string(), |e| format!("{:.4}", ratio(e)));
        println!(
            "{}: A/A_inst at t = 0 -> {}: Wilson {:.4} -> {:.4}, own action {} -> {}, Q {:.3} -> {:.3}",
            c.file,
            last.t,
            ratio(first.e_plaq),
            ratio(last.e_plaq),
            own(first),
            own(last),
            first.q.unwrap_or(f64::NAN),
            last.q.unwrap_or(f64::NAN)
        );
    }
}

fn print_table(r: &FlowReport) {
    print_instantons(r);
    println!(
        "{} flow on {} configurations ({}), t up to {}:",
        r.flow_name,
        r.configs.len(),
        r.lattice,
        r.settings.tmax
    );
    println!("{:>10} | {:>20} | {:>20} | {:>20}", "E from", "t0/a^2", "w0/a", "sqrt(8 t0)/w0");
    for c in &r.curves {
        println!("{:>10} | {:>20} | {:>20} | {:>20}", c.definition, fmt(&c.t0), fmt(&c.w0), fmt(&c.sqrt8t0_over_w0));
    }
}
