//! `fpa generate`: Wilson-action ensembles with the Cabibbo–Marinari heatbath.
//!
//! The run directory holds `config_NNNN.nersc` files, `summary.json` (settings,
//! plaquette history, configurations, timing, and the resume state) and
//! `plaquette.svg`. Every file is written to a temporary name and renamed, and
//! the chain's random streams are keyed by sweep number, so a killed run
//! resumed with the same command produces the same bits as one that was never
//! interrupted.

use crate::chain::{
    initial_field, lattice_4d, resume_field, save, write_options, Engine, Opened, RunOutput, RunRecord, Saver,
};
pub use crate::chain::{FileFormat, OutputArgs, Start};
use crate::files::{ensure_dir, load_run, utc_now};
use crate::plot::{line_chart, Series};
use anyhow::{bail, ensure, Result};
use clap::Args;
use fpa_core::lattice::GaugeField;
use fpa_core::lattice::Geometry;
use fpa_core::mc::heatbath::Phase;
use fpa_core::mc::WilsonChain;
use fpa_core::observe::{average_plaquette, polyakov_loop};
use fpa_core::stats::{binned_mean_error, mean, tau_int};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Lattice extents, x fastest: 8x8x8x8
    #[arg(long, default_value = "8x8x8x8")]
    pub lattice: String,
    /// Wilson coupling beta = 6/g^2
    #[arg(long, default_value_t = 6.0)]
    pub beta: f64,
    /// Compound sweeps (1 heatbath + OR overrelaxation) before the first configuration
    #[arg(long, default_value_t = 200)]
    pub therm: u64,
    /// Compound sweeps between saved configurations
    #[arg(long, default_value_t = 20)]
    pub every: u64,
    /// Number of configurations to save
    #[arg(long, default_value_t = 10)]
    pub configs: u64,
    /// Overrelaxation sweeps per heatbath sweep
    #[arg(long = "or", default_value_t = 4)]
    pub or_per_hb: usize,
    /// Random seed: the run is a pure function of it
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hot (Haar random) or cold (unit) start
    #[arg(long, value_enum, default_value = "hot")]
    pub start: Start,
    /// Fused multiply-add in the matrix products of the heatbath and overrelaxation (AVX-512 or
    /// AVX2+FMA kernels; one process): faster, but the configurations then have the bits of
    /// this kind of CPU, not those of the exact default that every machine reproduces
    #[arg(long)]
    pub fused: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Everything that determines the configurations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub lattice: String,
    pub beta: f64,
    pub therm: u64,
    pub every: u64,
    pub or_per_hb: usize,
    pub seed: u64,
    pub start: Start,
    pub format: FileFormat,
    /// `--fused`: fused multiply-add in the packed kernels (absent in runs before it: false).
    #[serde(default)]
    pub fused: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub file: String,
    pub sweep: u64,
    pub plaquette: f64,
    pub polyakov: [f64; 2],
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timing {
    pub seconds: f64,
    pub heatbath_seconds: f64,
    pub overrelax_seconds: f64,
    pub heatbath_link_updates: u64,
    pub overrelax_link_updates: u64,
    /// Wall-clock nanoseconds per link update times the number of cores (threads × ranks).
    pub heatbath_ns_per_link_per_core: f64,
    pub overrelax_ns_per_link_per_core: f64,
    pub threads: usize,
    /// MPI ranks sharing the lattice (1 without MPI).
    #[serde(default = "one")]
    pub ranks: usize,
}

fn one() -> usize {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlaquetteStats {
    pub mean: f64,
    pub error: f64,
    pub tau_int: f64,
    pub measurements: usize,
}

/// `summary.json`: the run's record and its resume state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub program: String,
    pub settings: Settings,
    pub configs_requested: u64,
    pub complete: bool,
    /// Compound sweeps done.
    pub sweeps: u64,
    /// File holding the field after `sweeps` sweeps.
    pub checkpoint: Option<String>,
    pub plaquette_history: Vec<f64>,
    pub plaquette: Option<PlaquetteStats>,
    pub configs: Vec<ConfigRecord>,
    pub timing: Timing,
    pub updated: String,
}

/// One ensemble to generate (or extend, or resume): what `fpa generate`'s arguments and the
/// pipeline's ensemble stages describe.
#[derive(Clone, Debug)]
pub struct EnsembleJob {
    /// What determines the configurations (`lattice` as `8x8x8x8`, x fastest).
    pub settings: Settings,
    /// Number of configurations wanted in the run directory.
    pub configs: u64,
    pub output: RunOutput,
}

impl GenerateArgs {
    /// The job these arguments describe.
    pub fn job(&self) -> EnsembleJob {
        EnsembleJob {
            settings: Settings {
                lattice: self.lattice.clone(),
                beta: self.beta,
                therm: self.therm,
                every: self.every,
                or_per_hb: self.or_per_hb,
                seed: self.seed,
                start: self.start,
                format: self.output.format,
                fused: self.fused,
            },
            configs: self.configs,
            output: self.output.run_output(),
        }
    }
}

fn validate(job: &EnsembleJob) -> Result<Arc<Geometry>> {
    let s = &job.settings;
    let geom = lattice_4d(&s.lattice, "ensembles")?;
    ensure!(
        geom.has_checkerboard(),
        "--lattice {}: every extent must be even for the checkerboard heatbath",
        s.lattice
    );
    ensure!(s.beta.is_finite() && s.beta >= 0.0, "--beta {} must be a finite number >= 0", s.beta);
    ensure!(s.every >= 1, "--every must be at least 1");
    ensure!(job.configs >= 1, "--configs must be at least 1");
    if s.fused {
        ensure!(
            fpa_core::lattice::packed::PackedLayout::new(&geom).is_some(),
            "--fused: lattice {} has no lane-packed layout (three extents divisible by 4 are needed); its updates are always exact",
            s.lattice
        );
        let kernel = fpa_core::simd::kernel();
        ensure!(
            kernel.has_fma(),
            "--fused: this machine runs the {} kernel, which has no fused multiply-add (AVX-512 or AVX2+FMA needed)",
            kernel.name()
        );
    }
    Ok(geom)
}

impl RunRecord for Summary {
    fn checkpoint_mut(&mut self) -> &mut Option<String> {
        &mut self.checkpoint
    }

    fn finish(&mut self) {
        let therm = self.settings.therm as usize;
        if self.plaquette_history.len() > therm + 1 {
            let h = &self.plaquette_history[therm..];
            let (m, e) = binned_mean_error(h, 20.min(h.len()));
            self.plaquette = Some(PlaquetteStats { mean: m, error: e, tau_int: tau_int(h), measurements: h.len() });
        }
        self.updated = utc_now();
    }
}

fn write_opts(s: &Settings, sweep: u64) -> fpa_core::io::nersc::WriteOptions {
    let label = format!("wilson beta={} L={} seed={}", s.beta, s.lattice, s.seed);
    write_options(s.format, "fpa-wilson", label, sweep)
}

/// Runs `fpa generate`.
pub fn run(args: &GenerateArgs) -> Result<()> {
    generate(&args.job()).map(|_| ())
}

/// Generates (extends, resumes) the ensemble `job` describes: the run's summary, or `None` when
/// the invocation stopped early (`stop_after`) and the run is to be resumed.
pub fn generate(job: &EnsembleJob) -> Result<Option<Summary>> {
    let (summary, field, _lock) = match open(job)? {
        Opened::Complete(s) => return Ok(Some(s)),
        Opened::Run { summary, field, lock } => (summary, field, lock),
    };
    let s = &summary.settings;
    let mut chain = WilsonChain::new(field, s.beta, s.or_per_hb, s.seed, summary.sweeps)?;
    if s.fused {
        chain.arithmetic = fpa_core::fused::Arithmetic::Fused;
    }
    drive(job, summary, &mut chain)
}

/// Validates the job, takes the run directory and loads the state to continue from.
pub fn open(job: &EnsembleJob) -> Result<Opened<Summary>> {
    let geom = validate(job)?;
    let settings = Settings { lattice: geom.label(), ..job.settings.clone() };
    let dir = &job.output.out;
    ensure_dir(dir)?;
    let lock = crate::lock::OutputLock::dir(dir)?;
    let existing: Option<Summary> = load_run(dir, &settings, |s: &Summary| &s.settings)?;
    let total = settings.therm + settings.every * job.configs;
    let (summary, field) = match existing {
        Some(mut s) => {
            if s.sweeps >= total && s.configs.len() as u64 >= job.configs {
                eprintln!("{}: run already complete ({} configurations)", dir.display(), s.configs.len());
                return Ok(Opened::Complete(s));
            }
            if s.sweeps > total {
                bail!("{} already has {} sweeps, more than the {total} requested", dir.display(), s.sweeps);
            }
            let field = resume_field(dir, s.checkpoint.as_ref(), &geom, s.sweeps, "sweep", || {
                initial_field(settings.start, settings.seed, geom.clone())
            })?;
            s.configs_requested = job.configs;
            s.complete = false;
            if !job.output.quiet {
                eprintln!("resuming {} at sweep {} of {total}", dir.display(), s.sweeps);
            }
            (s, field)
        }
        None => {
            let s = Summary {
                program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
                settings: settings.clone(),
                configs_requested: job.configs,
                complete: false,
                sweeps: 0,
                checkpoint: None,
                plaquette_history: vec![],
                plaquette: None,
                configs: vec![],
                timing: Timing::default(),
                updated: utc_now(),
            };
            (s, initial_field(settings.start, settings.seed, geom.clone()))
        }
    };
    Ok(Opened::Run { summary, field, lock })
}

/// The compound sweeps of a Wilson chain, wherever its field lives.
pub trait Sweeps: Engine {
    /// Compound sweeps done.
    fn sweeps(&self) -> u64;
    /// One compound sweep; `after` as in [`WilsonChain::step_observed`].
    fn step_observed(&mut self, after: &mut dyn FnMut(Phase));
    /// Processes (MPI ranks) sharing the field.
    fn ranks(&self) -> usize {
        1
    }
}

impl Engine for WilsonChain<f64> {
    fn average_plaquette(&mut self) -> f64 {
        average_plaquette(self.field())
    }
    fn with_whole(&mut self, f: &mut dyn FnMut(&GaugeField<f64>) -> Result<()>) -> Result<()> {
        f(self.field())
    }
}

impl Sweeps for WilsonChain<f64> {
    fn sweeps(&self) -> u64 {
        self.sweeps
    }
    fn step_observed(&mut self, after: &mut dyn FnMut(Phase)) {
        WilsonChain::step_observed(self, after)
    }
}

/// Runs the sweeps of an opened run to its end (or `stop_after`) on `chain`, saving as it
/// goes. Every process of the engine runs it; only the writing one writes and reports.
pub fn drive(job: &EnsembleJob, mut summary: Summary, chain: &mut dyn Sweeps) -> Result<Option<Summary>> {
    let settings = summary.settings.clone();
    let dir = &job.output.out;
    let geom = lattice_4d(&settings.lattice, "ensembles")?;
    let total = settings.therm + settings.every * job.configs;
    let threads = rayon::current_num_threads();
    summary.timing.threads = threads;
    summary.timing.ranks = chain.ranks();
    let writes = chain.writes();
    let bar = if job.output.quiet || !writes { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} sweeps  {msg}  ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("beta {} {}", settings.beta, settings.lattice));
    bar.set_position(chain.sweeps());

    let links = geom.n_links() as u64;
    let mut saver = Saver::new(settings.therm, settings.every, total, job.output.stop_after);
    while chain.sweeps() < total {
        let t0 = Instant::now();
        let (mut t1, mut t2) = (t0, t0);
        chain.step_observed(&mut |phase| match phase {
            Phase::Heatbath => t1 = Instant::now(),
            Phase::Overrelax => t2 = Instant::now(),
        });
        let tm = &mut summary.timing;
        tm.heatbath_seconds += (t1 - t0).as_secs_f64();
        tm.overrelax_seconds += (t2 - t1).as_secs_f64();
        tm.seconds += (t2 - t0).as_secs_f64();
        tm.heatbath_link_updates += links;
        tm.overrelax_link_updates += links * settings.or_per_hb as u64;

        let p = chain.average_plaquette();
        summary.plaquette_history.push(p);
        let sweep = chain.sweeps();
        summary.sweeps = sweep;
        bar.set_position(sweep);
        bar.set_message(format!("P = {p:.5}"));

        let stopping =
            saver.after_step(dir, chain, sweep, &mut summary, write_opts(&settings, sweep), |s, file, field| {
                let pl = polyakov_loop(field);
                s.configs.retain(|c| c.file != file);
                s.configs.push(ConfigRecord { file: file.into(), sweep, plaquette: p, polyakov: [pl.re, pl.im] });
            })?;
        if stopping && sweep < total {
            bar.abandon();
            if writes {
                eprintln!("stopped at sweep {sweep} of {total}; run the same command to resume");
            }
            return Ok(None);
        }
    }
    bar.finish_and_clear();
    if !writes {
        return Ok(None);
    }
    let tm = &mut summary.timing;
    let cores = (threads * tm.ranks) as f64;
    tm.heatbath_ns_per_link_per_core = tm.heatbath_seconds * 1e9 * cores / tm.heatbath_link_updates.max(1) as f64;
    // 0 for a run without overrelaxation (its phase then only writes the field back).
    tm.overrelax_ns_per_link_per_core = if tm.overrelax_link_updates > 0 {
        tm.overrelax_seconds * 1e9 * cores / tm.overrelax_link_updates as f64
    } else {
        0.0
    };
    summary.complete = true;
    save(dir, &mut summary)?;
    plot_history(dir, &summary)?;
    report(dir, &summary);
    Ok(Some(summary))
}

fn plot_history(dir: &Path, s: &Summary) -> Result<()> {
    let points: Vec<(f64, f64)> = s.plaquette_history.iter().enumerate().map(|(i, &p)| ((i + 1) as f64, p)).collect();
    line_chart(
        &dir.join("plaquette.svg"),
        &format!("Wilson action, beta = {}, {}", s.settings.beta, s.settings.lattice),
        "compound sweep",
        "average plaquette",
        &[Series { name: "plaquette", points }],
        false,
    )
}

fn report(dir: &Path, s: &Summary) {
    let t = &s.timing;
    eprintln!("wrote {} configurations to {}", s.configs.len(), dir.display());
    if let Some(p) = &s.plaquette {
        eprintln!(
            "  <P> = {:.6} +- {:.6} over {} sweeps (tau_int {:.1}); last configs <P> = {:.6}",
            p.mean,
            p.error,
            p.measurements,
            p.tau_int,
            mean(&s.configs.iter().map(|c| c.plaquette).collect::<Vec<_>>())
        );
    }
    let overrelax = if t.overrelax_link_updates > 0 {
        format!("overrelaxation {:.0} ns", t.overrelax_ns_per_link_per_core)
    } else {
        "no overrelaxation".into()
    };
    eprintln!(
        "  {:.1} s on {} threads: heatbath {:.0} ns, {overrelax} per link update per core",
        t.seconds, t.threads, t.heatbath_ns_per_link_per_core
    );
}
