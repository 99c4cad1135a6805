//! `fpa fp-data`: fixed point action values and derivatives of the
//! configurations of one or more Wilson ensembles, by minimisation.
//!
//! Output (readable with numpy alone; see the README):
//! * `index.json` — format, blocking parameters, right-hand side, minimiser
//!   settings, and one record per configuration (β_wil, `A_FP`, `A_W`, the
//!   split into `A[U_n]` and kernel terms, iterations, final gradient, time);
//!   configurations whose minimisation did not converge are listed under
//!   `failed` and get no data files;
//! * `<id>.links.npy` — the coarse links `V`, complex128, shape
//!   `(L_t, L_z, L_y, L_x, 4, 3, 3)` (x fastest, as NERSC);
//! * `<id>.dfp.npy` — `D_FP[V]_{x,μ,a}`, float64, shape `(L_t, L_z, L_y, L_x, 4, 8)`.

use crate::files::{ensure_dir, read_gauge, utc_now, write_atomic, write_json};
use crate::generate::Summary as EnsembleSummary;
use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use fpa_core::action::{Action, Wilson};
use fpa_core::io::npy;
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::observe::instanton::Instanton;
use fpa_core::rg::params::{staple_counts, DEFAULT_KAPPA, DEFAULT_STAPLES};
use fpa_core::rg::{Blocking, FixedPoint, FixedPointSettings, MinimizerSettings};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct FpDataArgs {
    /// Ensemble directory written by `fpa generate` (repeat for several couplings)
    #[arg(long = "ensemble", required_unless_present = "instantons")]
    pub ensembles: Vec<PathBuf>,
    /// A lattice instanton as a coarse configuration, `LATTICE:RHO[:site][:anti]`: SU(2)
    /// BPST of radius RHO (lattice units) in singular gauge, windowed to 1 at the boundary,
    /// centred in a hypercube (or on a site with `:site`); `:anti` for charge −1 (repeat;
    /// recorded with beta_wil = 0)
    #[arg(long = "instanton", value_name = "LATTICE:RHO")]
    pub instantons: Vec<String>,
    /// Action on the finest level: `wilson`, `inception:N` (N levels, Wilson on the finest), or a
    /// trained model file (`.safetensors`) as the right-hand side of the FP equation
    #[arg(long, default_value = "wilson")]
    pub rhs: String,
    /// Output directory (an existing dataset with the same settings is resumed)
    #[arg(long)]
    pub out: PathBuf,
    /// Blocking-kernel strength (convention T = (kappa/N_c) Σ [...])
    #[arg(long, default_value_t = DEFAULT_KAPPA)]
    pub kappa: f64,
    /// Planar staple weight (s0 is fixed by s0 + 6 s_pl + 12 s_d + 8 s_hd = 1)
    #[arg(long, default_value_t = DEFAULT_STAPLES[0])]
    pub s_pl: f64,
    /// Diagonal staple weight
    #[arg(long, default_value_t = DEFAULT_STAPLES[1])]
    pub s_d: f64,
    /// Hyperdiagonal staple weight
    #[arg(long, default_value_t = DEFAULT_STAPLES[2])]
    pub s_hd: f64,
    /// Stop the minimisation when the largest link gradient is below this
    #[arg(long, default_value_t = 1e-9)]
    pub tol: f64,
    /// Iteration limit of the minimiser
    #[arg(long, default_value_t = 20_000)]
    pub max_iter: usize,
    /// Evaluation limit of the minimiser (F and its gradient; converged 4^4 minimisations
    /// need at most ~260): a configuration that reaches it is listed as failed
    #[arg(long, default_value_t = DEFAULT_MAX_EVALUATIONS)]
    pub max_evals: usize,
    /// Use at most this many configurations per ensemble
    #[arg(long)]
    pub limit: Option<usize>,
    /// Enter every ensemble configuration smoothed by the Wilson flow to this flow time instead
    /// (coarse lattice units; Lüscher's RK3 in steps of at most 0.02; repeat for several, 0 for
    /// the configuration as it is). Each flowed copy is its own configuration (id `..._flowT`,
    /// recorded with the ensemble's beta_wil and its `flow_time`): FP data between the rough
    /// ensembles and smooth fields
    #[arg(long = "wilson-flow", value_name = "T")]
    pub flow_times: Vec<f64>,
    /// When resuming, minimise again the configurations the index lists as failed
    /// (e.g. after an fpa update that solves minima on kinks of N(Q)); without it they
    /// stay failed and are skipped
    #[arg(long)]
    pub retry_failed: bool,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
}

/// One FP dataset to compute: what `fpa fp-data`'s arguments and the pipeline's data stages
/// describe.
#[derive(Clone, Debug)]
pub struct FpDataJob {
    /// Ensemble directories written by `fpa generate`.
    pub ensembles: Vec<PathBuf>,
    /// Lattice instantons, `LATTICE:RHO[:site][:anti]` (see `fpa fp-data --instanton`).
    pub instantons: Vec<String>,
    /// `wilson`, `inception:N`, or a model file (`.safetensors`).
    pub rhs: String,
    pub blocking: Blocking,
    /// Minimiser stopping rule: largest link gradient below `tol`, at most `max_iter`
    /// iterations and `max_evals` evaluations.
    pub tol: f64,
    pub max_iter: usize,
    pub max_evals: usize,
    /// At most this many configurations per ensemble.
    pub limit: Option<usize>,
    /// Wilson-flow times at which every ensemble configuration enters, smoothed (empty: as it
    /// is; 0: as it is, among others).
    pub flow_times: Vec<f64>,
    /// On resume, compute the configurations listed as failed again.
    pub retry_failed: bool,
    pub out: PathBuf,
    pub quiet: bool,
}

impl FpDataArgs {
    /// The job these arguments describe.
    pub fn job(&self) -> FpDataJob {
        FpDataJob {
            ensembles: self.ensembles.clone(),
            instantons: self.instantons.clone(),
            rhs: self.rhs.clone(),
            blocking: Blocking::normalised(self.kappa, self.s_pl, self.s_d, self.s_hd, 4),
            tol: self.tol,
            max_iter: self.max_iter,
            max_evals: self.max_evals,
            limit: self.limit,
            flow_times: self.flow_times.clone(),
            retry_failed: self.retry_failed,
            out: self.out.clone(),
            quiet: self.quiet,
        }
    }
}

/// Everything that determines the data (checked on resume).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSettings {
    pub blocking: BlockingRecord,
    /// "wilson" or "inception:N"
    pub rhs: String,
    pub depth: usize,
    pub grad_tol: f64,
    pub max_iterations: usize,
    /// Absent from datasets written before the limit existed (they read as the default).
    #[serde(default = "default_max_evaluations")]
    pub max_evaluations: usize,
}

/// `fpa fp-data --max-evals` and the pipeline's limit: about 12x the evaluations of the
/// slowest converged minimisation seen (β_wil = 5.0 on 4^4, 256).
pub const DEFAULT_MAX_EVALUATIONS: usize = 3000;

fn default_max_evaluations() -> usize {
    DEFAULT_MAX_EVALUATIONS
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockingRecord {
    pub kappa: f64,
    pub s0: f64,
    pub s_pl: f64,
    pub s_d: f64,
    pub s_hd: f64,
    pub convention: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub id: String,
    pub source: String,
    pub beta_wil: f64,
    pub lattice: Vec<usize>,
    pub links: String,
    pub d_fp: String,
    pub a_fp: f64,
    pub a_wilson: f64,
    /// `A[U_n]` on the finest level.
    pub rhs_action: f64,
    /// `T[U_1, V], T[U_2, U_1], …`
    pub kernel_values: Vec<f64>,
    pub iterations: usize,
    pub evaluations: usize,
    pub max_gradient: f64,
    pub seconds: f64,
    /// Instantons with ρ < 1.5: the minima from the standard start and by continuation in ρ
    /// (`a_fp` is the lower; README, "Small instantons have two minima"). Absent for other configurations and in
    /// indexes written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minima: Option<InstantonMinima>,
    /// The Wilson-flow time the ensemble configuration was smoothed to (`--wilson-flow`);
    /// absent for configurations taken as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_time: Option<f64>,
}

/// The two minima of a small instanton's FP minimisation ([`fpa_core::rg::instanton_fp`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstantonMinima {
    pub standard: f64,
    pub continuation: f64,
    /// The radii of the continuation, from 1.5 down to the instanton's own.
    pub radii: Vec<f64>,
    /// `"standard"` or `"continuation"`: which one `a_fp` is.
    pub kept: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailedRecord {
    pub id: String,
    pub source: String,
    pub beta_wil: f64,
    pub reason: String,
    pub max_gradient: f64,
    pub iterations: usize,
    /// Coarse links whose `N(Q)` is within 1e-3 of a kink at the last point
    /// ([`fpa_core::rg::Kernel::kinks`]); absent in older indexes.
    #[serde(default)]
    pub kink_links: usize,
}

/// `index.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Index {
    pub format: String,
    pub version: u32,
    pub program: String,
    pub settings: DataSettings,
    pub arrays: String,
    pub configs: Vec<ConfigRecord>,
    pub failed: Vec<FailedRecord>,
    pub updated: String,
}

pub const FORMAT: &str = "fpa-fp-data";

/// A content hash (FNV-1a) of a file, so that a dataset records which model it used.
pub fn file_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:016x}", fpa_core::checksum::fnv1a(bytes)))
}

fn parse_depth(rhs: &str) -> Result<usize> {
    match rhs {
        "wilson" => Ok(1),
        r if r.ends_with(".safetensors") => Ok(1),
        r if r.starts_with("inception:") => {
            let n: usize =
                r["inception:".len()..].parse().with_context(|| format!("--rhs {rhs}: N is not a number"))?;
            ensure!((1..=3).contains(&n), "--rhs {rhs}: inception depth must be 1, 2 or 3");
            Ok(n)
        }
        other => bail!("--rhs {other}: use 'wilson', 'inception:N' or a model file MODEL.safetensors"),
    }
}

/// Where a coarse configuration comes from.
enum Source {
    Nersc(PathBuf),
    /// An ensemble configuration after the Wilson flow to time `t`.
    Flowed(PathBuf, f64),
    Instanton {
        lattice: String,
        inst: Instanton,
    },
}

/// Largest Runge–Kutta step of `--wilson-flow` (the last step ends exactly at `t`).
pub const FLOW_STEP: f64 = 0.02;

impl Source {
    fn field(&self) -> Result<GaugeField<f64>> {
        match self {
            Source::Nersc(path) => Ok(read_gauge(path)?.field),
            Source::Flowed(path, t) => {
                let mut v = read_gauge(path)?.field;
                let wilson = fpa_core::observe::flow::FlowKind::Action(&Wilson);
                fpa_core::observe::flow::flow(wilson, &mut v, *t, FLOW_STEP, usize::MAX, |_| {});
                Ok(v)
            }
            Source::Instanton { lattice, inst } => {
                let g = Geometry::parse(lattice)?;
                Ok(inst.field(std::sync::Arc::new(g)))
            }
        }
    }
    fn describe(&self) -> String {
        match self {
            Source::Nersc(path) => path.display().to_string(),
            Source::Flowed(path, t) => format!("{}, Wilson flow to t = {t}", path.display()),
            Source::Instanton { lattice, inst } => format!(
                "{}instanton rho={} centre={:?} on {lattice}",
                if inst.anti { "anti-" } else { "" },
                inst.rho,
                inst.centre
            ),
        }
    }
}

pub(crate) struct Job {
    id: String,
    source: Source,
    beta: f64,
}

/// Parses `LATTICE:RHO[:site][:anti]` (as `--instanton` of `fp-data` and `flow`
/// spell it): the lattice, the instanton, and a name for files.
pub fn parse_instanton(spec: &str) -> Result<(String, Instanton, String)> {
    let bad = || format!("--instanton {spec}: use LATTICE:RHO[:site][:anti], e.g. 8x8x8x8:1.5");
    let mut parts = spec.split(':');
    let lattice = parts.next().with_context(bad)?.to_string();
    let rho: f64 = parts.next().with_context(bad)?.parse().with_context(bad)?;
    let g = Geometry::parse(&lattice).map_err(|e| anyhow::anyhow!("--instanton {spec}: {e}"))?;
    ensure!(g.nd() == 4 && g.has_checkerboard(), "--instanton {spec}: needs a 4D lattice with even extents");
    let smallest = *g.dims().iter().min().unwrap() as f64;
    ensure!(
        rho > 0.0 && rho.is_finite() && rho <= smallest / 2.0,
        "--instanton {spec}: rho must be in (0, {}] on this lattice",
        smallest / 2.0
    );
    let mut inst = Instanton::centred(&g, rho);
    let (mut site, mut anti) = (false, false);
    for flag in parts {
        match flag {
            "site" => site = true,
            "anti" => anti = true,
            _ => bail!(bad()),
        }
    }
    if site {
        for c in &mut inst.centre {
            *c += 0.5;
        }
    }
    inst.anti = anti;
    let id = format!("{}inst_{lattice}_rho{rho}{}", if anti { "anti" } else { "" }, if site { "_site" } else { "" });
    Ok((lattice, inst, id))
}

fn instanton_job(spec: &str) -> Result<Job> {
    let (lattice, inst, id) = parse_instanton(spec)?;
    Ok(Job { id, source: Source::Instanton { lattice, inst }, beta: 0.0 })
}

fn list_jobs(args: &FpDataJob) -> Result<Vec<Job>> {
    for (i, t) in args.flow_times.iter().enumerate() {
        ensure!(t.is_finite() && *t >= 0.0, "--wilson-flow {t}: the flow time must be a number >= 0");
        ensure!(!args.flow_times[..i].contains(t), "--wilson-flow {t} is given twice");
    }
    ensure!(
        args.flow_times.is_empty() || !args.ensembles.is_empty(),
        "--wilson-flow smooths ensemble configurations: give --ensemble"
    );
    let mut jobs = Vec::new();
    for dir in &args.ensembles {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} is not an ensemble directory (cannot read summary.json)", dir.display()))?;
        let s: EnsembleSummary = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid ensemble summary", path.display()))?;
        ensure!(!s.configs.is_empty(), "ensemble {} has no configurations yet", dir.display());
        let name: String = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "ensemble".into())
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        for c in s.configs.iter().take(args.limit.unwrap_or(usize::MAX)) {
            let stem = c.file.trim_end_matches(".nersc");
            let path = dir.join(&c.file);
            for &t in if args.flow_times.is_empty() { &[0.0][..] } else { &args.flow_times } {
                let (id, source) = if t == 0.0 {
                    (format!("{name}_{stem}"), Source::Nersc(path.clone()))
                } else {
                    (format!("{name}_{stem}_flow{t}"), Source::Flowed(path.clone(), t))
                };
                jobs.push(Job { id, source, beta: s.settings.beta });
            }
        }
    }
    for spec in &args.instantons {
        jobs.push(instanton_job(spec)?);
    }
    let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    ids.sort();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        bail!("two ensembles give the configuration id {}: use directories with different names", w[0]);
    }
    Ok(jobs)
}

/// `(L_t, L_z, L_y, L_x)` for numpy's C order (x fastest).
fn numpy_site_shape(u: &GaugeField<f64>) -> Vec<usize> {
    u.geometry().dims().iter().rev().copied().collect()
}

/// Runs `fpa fp-data`.
pub fn run(args: &FpDataArgs) -> Result<()> {
    fp_data(&args.job()).map(|_| ())
}

/// Computes (or resumes, or completes) the FP dataset `args` describes; returns its index.
/// Configurations run in parallel on the rayon pool; under MPI, [`crate::mpi::fp_data`]
/// hands them to the ranks instead, with the same files as the result.
pub fn fp_data(args: &FpDataJob) -> Result<Index> {
    let plan = Plan::new(args)?;
    let mut store = Store::open(args, &plan)?;
    let todo: Vec<&Job> = store.todo.iter().map(|&i| &plan.jobs[i]).collect();
    let bar = progress_bar(args.quiet, todo.len());
    let shared = Mutex::new(&mut store);
    let result: Result<()> = todo.par_iter().try_for_each(|job| -> Result<()> {
        let outcome = plan.compute(job, &args.out)?;
        shared.lock().unwrap().record(outcome, &bar)?;
        Ok(())
    });
    bar.finish_and_clear();
    result?;
    store.finish(&args.out)
}

/// What every process of a run needs: the settings, the list of configurations, and the
/// right-hand side of the FP equation.
pub(crate) struct Plan {
    settings: DataSettings,
    pub(crate) jobs: Vec<Job>,
    fp_settings: FixedPointSettings,
    model_rhs: Option<fpa_core::lcnn::action::LcnnAction>,
}

impl Plan {
    pub(crate) fn new(args: &FpDataJob) -> Result<Plan> {
        let depth = parse_depth(&args.rhs)?;
        ensure!(args.tol > 0.0 && args.tol.is_finite(), "--tol must be a positive number");
        let blocking = args.blocking;
        blocking.validate()?;
        let settings = DataSettings {
            blocking: BlockingRecord {
                kappa: blocking.kappa,
                s0: blocking.s0,
                s_pl: blocking.s_pl,
                s_d: blocking.s_d,
                s_hd: blocking.s_hd,
                convention: format!(
                    "T = (kappa/3) Σ_(x_B,mu) [max_W Re Tr(W Q†) − Re Tr(V Q†)], Q = S(2x_B) S(2x_B+mu), \
                     S = s0 U + s_pl Σ planar + s_d Σ diagonal + s_hd Σ hyperdiagonal ({:?} staples), \
                     legs averaged over orderings independently",
                    staple_counts(4)
                ),
            },
            rhs: if args.rhs.ends_with(".safetensors") {
                format!("model:{} ({})", args.rhs, file_hash(Path::new(&args.rhs))?)
            } else {
                args.rhs.clone()
            },
            depth,
            grad_tol: args.tol,
            max_iterations: args.max_iter,
            max_evaluations: args.max_evals,
        };
        let jobs = list_jobs(args)?;
        let fp_settings = FixedPointSettings {
            blocking,
            depth,
            minimizer: MinimizerSettings {
                grad_tol: args.tol,
                max_iterations: args.max_iter,
                max_evaluations: args.max_evals,
                ..Default::default()
            },
        };
        let model_rhs = if args.rhs.ends_with(".safetensors") {
            let (m, p, _) = crate::model_io::load(Path::new(&args.rhs))?;
            ensure!(m.dims() == 4, "--rhs {}: the model is for {}D lattices", args.rhs, m.dims());
            Some(fpa_core::lcnn::action::LcnnAction::new(m, p, format!("lcnn {}", args.rhs)))
        } else {
            None
        };
        Ok(Plan { settings, jobs, fp_settings, model_rhs })
    }

    fn rhs(&self) -> &dyn Action<f64> {
        match &self.model_rhs {
            Some(m) => m,
            None => &Wilson,
        }
    }

    /// Minimises for one configuration; when it converges, writes its two arrays into `out`
    /// (each atomically). The same bits on any thread count and in any process.
    pub(crate) fn compute(&self, job: &Job, out: &Path) -> Result<Outcome> {
        let t = Instant::now();
        let v = job.source.field()?;
        let fp = FixedPoint::new(v.geometry().clone(), self.fp_settings, self.rhs())?;
        let failed = |e: fpa_core::rg::fixed_point::FixedPointError| anyhow::anyhow!("{}: {e}", job.source.describe());
        let (r, minima) = match &job.source {
            Source::Instanton { inst, .. } => {
                let m = fpa_core::rg::instanton_fp(&fp, inst).map_err(failed)?;
                let minima = m.continued.as_ref().map(|(c, radii)| InstantonMinima {
                    standard: m.standard.action,
                    continuation: c.action,
                    radii: radii.clone(),
                    kept: if m.from_continuation { "continuation" } else { "standard" }.into(),
                });
                (m.into_kept(), minima)
            }
            Source::Nersc(_) | Source::Flowed(..) => (fp.solve(&v, None).map_err(failed)?, None),
        };
        let seconds = t.elapsed().as_secs_f64();
        if !r.report.converged {
            // The usual cause on rough configurations: the minimum lies on a kink of
            // N(Q) = max_W Re Tr(W Q†) (see Kernel::kinks and the README).
            let kinks = fp.kernel(0).kinks(&r.minimizers[0], fpa_core::rg::fixed_point::KINK_GAP);
            let mut reason = r.report.reason.clone();
            if let Some(k) = kinks.first() {
                reason += &format!(
                    "; N(Q) is at a kink at {} blocked link(s) (first: coarse link {}, the two SU(3) maxima \
                     of Re Tr(W Q†) {:.1e} apart): the minimum lies on the kink",
                    kinks.len(),
                    k.link,
                    k.gap
                );
            }
            return Ok(Outcome::Failed(FailedRecord {
                id: job.id.clone(),
                source: job.source.describe(),
                beta_wil: job.beta,
                reason,
                max_gradient: r.report.max_gradient,
                iterations: r.report.iterations,
                kink_links: kinks.len(),
            }));
        }
        let sites = numpy_site_shape(&v);
        let links_file = format!("{}.links.npy", job.id);
        let dfp_file = format!("{}.dfp.npy", job.id);
        let mut shape = sites.clone();
        shape.extend([4, 3, 3]);
        let data: Vec<f64> = v.links().iter().flat_map(|m| m.m.iter().flatten().flat_map(|z| [z.re, z.im])).collect();
        write_atomic(&out.join(&links_file), &npy::encode(&shape, npy::Dtype::C128, &data))?;
        let mut shape = sites;
        shape.extend([4, 8]);
        let data: Vec<f64> = r.derivative.iter().flatten().copied().collect();
        write_atomic(&out.join(&dfp_file), &npy::encode(&shape, npy::Dtype::F64, &data))?;
        Ok(Outcome::Done(ConfigRecord {
            id: job.id.clone(),
            source: job.source.describe(),
            beta_wil: job.beta,
            lattice: v.geometry().dims().to_vec(),
            links: links_file,
            d_fp: dfp_file,
            a_fp: r.action,
            a_wilson: Wilson.value(&v),
            rhs_action: r.rhs_action,
            kernel_values: r.kernel_values.clone(),
            iterations: r.report.iterations,
            evaluations: r.report.evaluations,
            max_gradient: r.report.max_gradient,
            seconds,
            minima,
            flow_time: match job.source {
                Source::Flowed(_, t) => Some(t),
                _ => None,
            },
        }))
    }
}

/// What one configuration gave (sent from an MPI worker to rank 0 as JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    Done(ConfigRecord),
    Failed(FailedRecord),
}

/// The dataset's index, held by the one process that writes it, with the output lock and the
/// configurations still to do (indices into [`Plan::jobs`]).
pub(crate) struct Store {
    _lock: crate::lock::OutputLock,
    index_path: PathBuf,
    index: Index,
    pub(crate) todo: Vec<usize>,
}

impl Store {
    /// Opens (or starts) the dataset in `args.out`: refuses other settings and foreign
    /// directories, keeps the records whose files exist, and lists what is left.
    pub(crate) fn open(args: &FpDataJob, plan: &Plan) -> Result<Store> {
        ensure_dir(&args.out)?;
        let lock = crate::lock::OutputLock::dir(&args.out)?;
        let index_path = args.out.join("index.json");
        let mut index = if index_path.exists() {
            let text = std::fs::read_to_string(&index_path)?;
            let idx: Index = serde_json::from_str(&text)
                .with_context(|| format!("{} is corrupt; move it away to start again", index_path.display()))?;
            ensure!(idx.format == FORMAT, "{} is not an fpa FP dataset", index_path.display());
            if idx.settings != plan.settings {
                bail!(
                    "{} holds data computed with other settings:\n  existing: {:?}\n  requested: {:?}",
                    args.out.display(),
                    idx.settings,
                    plan.settings
                );
            }
            idx
        } else {
            if std::fs::read_dir(&args.out)?
                .filter_map(|e| e.ok())
                .any(|e| !e.file_name().to_string_lossy().starts_with('.'))
            {
                bail!("{} is not empty and holds no FP dataset; choose a new --out", args.out.display());
            }
            Index {
                format: FORMAT.into(),
                version: 1,
                program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
                settings: plan.settings.clone(),
                arrays: "links: complex128 (L_t, L_z, L_y, L_x, 4, 3, 3), x fastest; \
                         d_fp: float64 (L_t, L_z, L_y, L_x, 4, 8), D_FP[V]_{x,mu,a} = d/de A_FP[V_mu(x) -> exp(i e t^a) V_mu(x)], t^a = lambda^a/2"
                    .into(),
                configs: vec![],
                failed: vec![],
                updated: utc_now(),
            }
        };
        if args.retry_failed && !index.failed.is_empty() {
            // Dropped from the index now; each is listed again if it fails again, and
            // one that a kill leaves unrecorded is simply still to do.
            if !args.quiet {
                eprintln!("retrying {} failed configuration(s)", index.failed.len());
            }
            index.failed.clear();
        }
        let done: std::collections::HashSet<String> = index
            .configs
            .iter()
            .filter(|c| args.out.join(&c.links).exists() && args.out.join(&c.d_fp).exists())
            .map(|c| c.id.clone())
            .chain(index.failed.iter().map(|f| f.id.clone()))
            .collect();
        index.configs.retain(|c| done.contains(&c.id));
        let todo: Vec<usize> = (0..plan.jobs.len()).filter(|&i| !done.contains(&plan.jobs[i].id)).collect();
        if !args.quiet && !done.is_empty() {
            eprintln!("resuming {}: {} of {} configurations done", args.out.display(), done.len(), plan.jobs.len());
        }
        Ok(Store { _lock: lock, index_path, index, todo })
    }

    /// Adds one configuration's record and rewrites the index (atomically).
    pub(crate) fn record(&mut self, outcome: Outcome, bar: &ProgressBar) -> Result<()> {
        match outcome {
            Outcome::Done(rec) => {
                bar.set_message(format!("A_FP/A_W = {:.4}", rec.a_fp / rec.a_wilson));
                self.index.configs.push(rec);
            }
            Outcome::Failed(f) => {
                bar.println(format!(
                    "warning: {} did not converge ({}; max gradient {:.2e} after {} iterations): no data written",
                    f.id, f.reason, f.max_gradient, f.iterations
                ));
                self.index.failed.push(f);
            }
        }
        save(&self.index_path, &mut self.index)?;
        bar.inc(1);
        Ok(())
    }

    /// Writes the final index, prints the per-beta summary, and returns the index.
    pub(crate) fn finish(mut self, out: &Path) -> Result<Index> {
        save(&self.index_path, &mut self.index)?;
        report(out, &self.index);
        Ok(self.index)
    }
}

pub(crate) fn progress_bar(quiet: bool, n: usize) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(n as u64) };
    bar.set_style(
        ProgressStyle::with_template("FP data [{bar:40}] {pos}/{len} configs  {msg}  ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar
}

fn save(path: &Path, idx: &mut Index) -> Result<()> {
    idx.configs.sort_by(|a, b| a.id.cmp(&b.id));
    idx.failed.sort_by(|a, b| a.id.cmp(&b.id));
    idx.updated = utc_now();
    write_json(path, idx)
}

fn report(dir: &Path, idx: &Index) {
    eprintln!("{}: {} configurations with FP data, {} failed", dir.display(), idx.configs.len(), idx.failed.len());
    let mut betas: Vec<f64> = idx.configs.iter().map(|c| c.beta_wil).collect();
    betas.sort_by(f64::total_cmp);
    betas.dedup();
    for b in betas {
        let cs: Vec<&ConfigRecord> = idx.configs.iter().filter(|c| c.beta_wil == b).collect();
        let n = cs.len() as f64;
        let vol = cs[0].lattice.iter().product::<usize>() as f64;
        let mean = |f: &dyn Fn(&ConfigRecord) -> f64| cs.iter().map(|c| f(c)).sum::<f64>() / n;
        eprintln!(
            "  beta_wil {b:>5}: {} configs, <A_FP>/V = {:.5}, <A_W>/V = {:.5}, {:.1} s and {:.0} iterations per config",
            cs.len(),
            mean(&|c| c.a_fp) / vol,
            mean(&|c| c.a_wilson) / vol,
            mean(&|c| c.seconds),
            mean(&|c| c.iterations as f64)
        );
    }
    for f in &idx.failed {
        eprintln!("  FAILED {}: {} (max gradient {:.2e})", f.id, f.reason, f.max_gradient);
    }
}
