//! `fpa hmc`: Hybrid Monte Carlo ensembles for the Wilson, Symanzik, Iwasaki
//! and DBW2 actions and for trained L-CNN (fixed point) actions.
//!
//! The run directory holds `config_NNNN.nersc`, `summary.json` (settings,
//! per-trajectory ΔH / acceptance / plaquette, statistics, timing, resume
//! state) and the plots `plaquette.svg`, `dh.svg`. Files are written
//! atomically; the random streams are keyed by trajectory number, so a killed
//! run resumed with the same command ends with the same bits as one that was
//! never interrupted, on any number of threads.

use crate::actions::ActionChoice;
use crate::chain::{
    initial_field, lattice_4d, resume_field, save, write_options, Engine, FileFormat, Opened, OutputArgs, RunOutput,
    RunRecord, Saver, Start,
};
use crate::files::{ensure_dir, load_run, utc_now};
use crate::plot::{line_chart, Series};
use anyhow::{bail, ensure, Result};
use clap::{Args, ValueEnum};
use fpa_core::action::Action;
use fpa_core::io::nersc::WriteOptions;
use fpa_core::lattice::{GaugeField, Geometry};
use fpa_core::mc::{HmcChain, HmcParams, Integrator};
use fpa_core::observe::average_plaquette;
use fpa_core::stats::{binned_mean_error, mean, tau_int};
use fpa_core::su3::Su3Alg;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegratorArg {
    Leapfrog,
    Omelyan,
}

impl From<IntegratorArg> for Integrator {
    fn from(a: IntegratorArg) -> Self {
        match a {
            IntegratorArg::Leapfrog => Integrator::Leapfrog,
            IntegratorArg::Omelyan => Integrator::Omelyan,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct HmcArgs {
    /// The action: wilson, symanzik, iwasaki, dbw2, or an L-CNN model file (.safetensors);
    /// the chain samples exp(-beta A[U])
    #[arg(long, default_value = "wilson")]
    pub action: String,
    /// Coupling beta in front of the action (beta = 6/g^2 for actions normalised like Wilson's)
    #[arg(long, default_value_t = 6.0)]
    pub beta: f64,
    /// Lattice extents, x fastest: 4x4x4x4
    #[arg(long, default_value = "4x4x4x4")]
    pub lattice: String,
    /// Trajectory length
    #[arg(long, default_value_t = 1.0)]
    pub tau: f64,
    /// Integration steps per trajectory
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    #[arg(long, value_enum, default_value = "omelyan")]
    pub integrator: IntegratorArg,
    /// Trajectories before the first saved configuration
    #[arg(long, default_value_t = 100)]
    pub therm: u64,
    /// The first this many trajectories (part of --therm) are accepted without the Metropolis
    /// test: from a cold or hot start on a large lattice every trajectory would be rejected
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    /// Trajectories between saved configurations
    #[arg(long, default_value_t = 5)]
    pub every: u64,
    /// Number of configurations to save
    #[arg(long, default_value_t = 10)]
    pub configs: u64,
    /// Random seed: the run is a pure function of it
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hot (Haar random) or cold (unit) start
    #[arg(long, value_enum, default_value = "cold")]
    pub start: Start,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Everything that determines the configurations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `wilson`, …, or `model:<file>:<hash>`.
    pub action: String,
    pub beta: f64,
    pub lattice: String,
    pub tau: f64,
    pub steps: usize,
    pub integrator: IntegratorArg,
    pub therm: u64,
    pub warmup: u64,
    pub every: u64,
    pub seed: u64,
    pub start: Start,
    pub format: FileFormat,
}

/// One trajectory.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct TrajectoryRecord {
    pub dh: f64,
    pub accepted: bool,
    /// Average plaquette after the accept/reject step.
    pub plaquette: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub file: String,
    pub trajectory: u64,
    pub plaquette: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Statistics {
    /// Over the trajectories after thermalisation.
    pub trajectories: usize,
    pub acceptance: f64,
    /// `<exp(-ΔH)>` (1 for an exact integrator) and its binned error.
    pub exp_minus_dh: [f64; 2],
    /// `sqrt(<ΔH²>)`.
    pub dh_rms: f64,
    /// `<P>`, its binned error, and the integrated autocorrelation time in trajectories.
    pub plaquette: [f64; 2],
    pub plaquette_tau_int: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timing {
    pub seconds: f64,
    /// Time inside the action's value + link derivatives (the force).
    pub force_seconds: f64,
    pub forces: u64,
    pub trajectories: u64,
    pub ms_per_trajectory: f64,
    pub ms_per_force: f64,
    pub force_fraction: f64,
    pub threads: usize,
    /// MPI ranks sharing the lattice (1 without MPI; force time is not measured then).
    #[serde(default = "one")]
    pub ranks: usize,
}

fn one() -> usize {
    1
}

/// `summary.json`: the run's record and its resume state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub program: String,
    pub settings: Settings,
    /// The action's name for people (`settings.action` identifies it).
    pub action_name: String,
    pub configs_requested: u64,
    pub complete: bool,
    pub trajectories: u64,
    /// File holding the field after `trajectories` trajectories.
    pub checkpoint: Option<String>,
    pub history: Vec<TrajectoryRecord>,
    pub statistics: Option<Statistics>,
    pub configs: Vec<ConfigRecord>,
    pub timing: Timing,
    pub updated: String,
}

/// Counts the time spent in an action's force.
pub struct Timed<'a> {
    inner: &'a dyn Action<f64>,
    nanos: AtomicU64,
}

impl Action<f64> for Timed<'_> {
    fn value(&self, u: &GaugeField<f64>) -> f64 {
        self.inner.value(u)
    }
    fn value_and_derivative(&self, u: &GaugeField<f64>, out: &mut [Su3Alg<f64>]) -> f64 {
        let t = Instant::now();
        let a = self.inner.value_and_derivative(u, out);
        self.nanos.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        a
    }
    fn name(&self) -> String {
        self.inner.name()
    }
}

/// One HMC run to make (or extend, or resume): what `fpa hmc`'s arguments and the scaling study
/// describe. `settings.action` names the action as a user does (`wilson`, …, or a model file);
/// the run's `summary.json` records it resolved (`model:<file>:<hash>`).
#[derive(Clone, Debug)]
pub struct HmcJob {
    pub settings: Settings,
    /// Number of configurations wanted in the run directory.
    pub configs: u64,
    pub output: RunOutput,
}

impl HmcArgs {
    /// The job these arguments describe.
    pub fn job(&self) -> HmcJob {
        HmcJob {
            settings: Settings {
                action: self.action.clone(),
                beta: self.beta,
                lattice: self.lattice.clone(),
                tau: self.tau,
                steps: self.steps,
                integrator: self.integrator,
                therm: self.therm,
                warmup: self.warmup,
                every: self.every,
                seed: self.seed,
                start: self.start,
                format: self.output.format,
            },
            configs: self.configs,
            output: self.output.run_output(),
        }
    }
}

fn validate(job: &HmcJob) -> Result<Arc<Geometry>> {
    let s = &job.settings;
    let geom = lattice_4d(&s.lattice, "HMC ensembles")?;
    ensure!(s.beta.is_finite() && s.beta > 0.0, "--beta {} must be a finite number > 0", s.beta);
    ensure!(s.tau.is_finite() && s.tau > 0.0, "--tau {} must be a finite number > 0", s.tau);
    ensure!(s.steps >= 1, "--steps must be at least 1");
    ensure!(s.every >= 1, "--every must be at least 1");
    ensure!(job.configs >= 1, "--configs must be at least 1");
    ensure!(s.warmup <= s.therm, "--warmup {} must not exceed --therm {}", s.warmup, s.therm);
    Ok(geom)
}

fn write_opts(s: &Settings, name: &str, trajectory: u64) -> WriteOptions {
    let label = format!("hmc {name} beta={} L={} seed={}", s.beta, s.lattice, s.seed);
    write_options(s.format, "fpa-hmc", label, trajectory)
}

fn statistics(s: &Summary) -> Option<Statistics> {
    let h = s.history.get(s.settings.therm as usize..).filter(|h| h.len() >= 2)?;
    let bins = 20.min(h.len());
    let edh: Vec<f64> = h.iter().map(|t| (-t.dh).exp()).collect();
    let plaq: Vec<f64> = h.iter().map(|t| t.plaquette).collect();
    let (e, ee) = binned_mean_error(&edh, bins);
    let (p, pe) = binned_mean_error(&plaq, bins);
    Some(Statistics {
        trajectories: h.len(),
        acceptance: h.iter().filter(|t| t.accepted).count() as f64 / h.len() as f64,
        exp_minus_dh: [e, ee],
        dh_rms: mean(&h.iter().map(|t| t.dh * t.dh).collect::<Vec<_>>()).sqrt(),
        plaquette: [p, pe],
        plaquette_tau_int: tau_int(&plaq),
    })
}

impl RunRecord for Summary {
    fn checkpoint_mut(&mut self) -> &mut Option<String> {
        &mut self.checkpoint
    }

    fn finish(&mut self) {
        self.statistics = statistics(self);
        self.updated = utc_now();
    }
}

/// Runs `fpa hmc`.
pub fn run(args: &HmcArgs) -> Result<()> {
    hmc(&args.job()).map(|_| ())
}

/// Makes (extends, resumes) the HMC run `job` describes: the run's summary, or `None` when the
/// invocation stopped early (`stop_after`) and the run is to be resumed.
pub fn hmc(job: &HmcJob) -> Result<Option<Summary>> {
    let (summary, field, _lock) = match open(job)? {
        Opened::Complete(s) => return Ok(Some(s)),
        Opened::Run { summary, field, lock } => (summary, field, lock),
    };
    let ActionChoice { action, .. } = crate::actions::parse(&summary.settings.action)?;
    let timed = Timed { inner: action.as_ref(), nanos: AtomicU64::new(0) };
    let s = &summary.settings;
    let mut chain = HmcChain::new(&timed, field, params(s), s.seed, summary.trajectories)?;
    chain.warmup = s.warmup;
    drive(job, summary, &mut chain)
}

/// The trajectory parameters of a run's settings.
pub fn params(s: &Settings) -> HmcParams {
    HmcParams { beta: s.beta, tau: s.tau, steps: s.steps, integrator: s.integrator.into() }
}

/// Validates the job, takes the run directory and loads the state to continue from.
pub fn open(job: &HmcJob) -> Result<Opened<Summary>> {
    let geom = validate(job)?;
    let ActionChoice { action, id, .. } = crate::actions::parse(&job.settings.action)?;
    let settings = Settings { action: id, lattice: geom.label(), ..job.settings.clone() };
    let dir = &job.output.out;
    ensure_dir(dir)?;
    let lock = crate::lock::OutputLock::dir(dir)?;
    let total = settings.therm + settings.every * job.configs;
    let name = action.name();
    let existing: Option<Summary> = load_run(dir, &settings, |s: &Summary| &s.settings)?;
    let (summary, field) = match existing {
        Some(mut s) => {
            if s.trajectories >= total && s.configs.len() as u64 >= job.configs {
                eprintln!("{}: run already complete ({} configurations)", dir.display(), s.configs.len());
                return Ok(Opened::Complete(s));
            }
            if s.trajectories > total {
                bail!("{} already has {} trajectories, more than the {total} requested", dir.display(), s.trajectories);
            }
            let field = resume_field(dir, s.checkpoint.as_ref(), &geom, s.trajectories, "trajectory", || {
                initial_field(settings.start, settings.seed, geom.clone())
            })?;
            s.history.truncate(s.trajectories as usize);
            s.configs_requested = job.configs;
            s.complete = false;
            if !job.output.quiet {
                eprintln!("resuming {} at trajectory {} of {total}", dir.display(), s.trajectories);
            }
            (s, field)
        }
        None => (
            Summary {
                program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
                settings: settings.clone(),
                action_name: name.clone(),
                configs_requested: job.configs,
                complete: false,
                trajectories: 0,
                checkpoint: None,
                history: vec![],
                statistics: None,
                configs: vec![],
                timing: Timing::default(),
                updated: utc_now(),
            },
            initial_field(settings.start, settings.seed, geom.clone()),
        ),
    };
    Ok(Opened::Run { summary, field, lock })
}

/// The trajectories of an HMC chain, wherever its field lives.
pub trait Trajectories: Engine {
    /// Trajectories done.
    fn trajectories(&self) -> u64;
    /// One trajectory.
    fn step(&mut self) -> fpa_core::mc::Trajectory;
    /// Nanoseconds spent in force evaluations so far (0 where not measured).
    fn force_nanos(&self) -> u64 {
        0
    }
    /// Processes (MPI ranks) sharing the field.
    fn ranks(&self) -> usize {
        1
    }
}

impl Engine for HmcChain<'_, Timed<'_>> {
    fn average_plaquette(&mut self) -> f64 {
        average_plaquette(&self.field)
    }
    fn with_whole(&mut self, f: &mut dyn FnMut(&GaugeField<f64>) -> Result<()>) -> Result<()> {
        f(&self.field)
    }
}

impl Trajectories for HmcChain<'_, Timed<'_>> {
    fn trajectories(&self) -> u64 {
        self.trajectories
    }
    fn step(&mut self) -> fpa_core::mc::Trajectory {
        HmcChain::step(self)
    }
    fn force_nanos(&self) -> u64 {
        self.action.nanos.load(Ordering::Relaxed)
    }
}

/// Runs the trajectories of an opened run to its end (or `stop_after`) on `chain`, saving as
/// it goes. Every process of the engine runs it; only the writing one writes and reports.
pub fn drive(job: &HmcJob, mut summary: Summary, chain: &mut dyn Trajectories) -> Result<Option<Summary>> {
    let settings = summary.settings.clone();
    let name = summary.action_name.clone();
    let dir = &job.output.out;
    let total = settings.therm + settings.every * job.configs;
    summary.timing.threads = rayon::current_num_threads();
    summary.timing.ranks = chain.ranks();
    let writes = chain.writes();
    let bar = if job.output.quiet || !writes { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} trajectories  {msg}  ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{name} beta {} {}", settings.beta, settings.lattice));
    bar.set_position(chain.trajectories());
    let mut saver = Saver::new(settings.therm, settings.every, total, job.output.stop_after);
    while chain.trajectories() < total {
        let t0 = Instant::now();
        let before = chain.force_nanos();
        let t = chain.step();
        ensure!(
            t.dh.is_finite(),
            "trajectory {} gave a non-finite energy change (dH = {}): the step size is far too large, or the action \
             is not defined on this field",
            chain.trajectories() - 1,
            t.dh
        );
        let tm = &mut summary.timing;
        tm.seconds += t0.elapsed().as_secs_f64();
        tm.force_seconds += (chain.force_nanos() - before) as f64 * 1e-9;
        tm.forces += t.forces as u64;
        tm.trajectories += 1;
        let p = chain.average_plaquette();
        summary.history.push(TrajectoryRecord { dh: t.dh, accepted: t.accepted, plaquette: p });
        let n = chain.trajectories();
        summary.trajectories = n;
        bar.set_position(n);
        let acc = summary.history.iter().filter(|r| r.accepted).count() as f64 / summary.history.len() as f64;
        bar.set_message(format!("P = {p:.5}  dH = {:+.3}  acc = {acc:.2}", t.dh));

        let opts = write_opts(&settings, &name, n);
        let stopping = saver.after_step(dir, chain, n, &mut summary, opts, |s, file, _| {
            s.configs.retain(|c| c.file != file);
            s.configs.push(ConfigRecord { file: file.into(), trajectory: n, plaquette: p });
        })?;
        if stopping && n < total {
            bar.abandon();
            if writes {
                eprintln!("stopped at trajectory {n} of {total}; run the same command to resume");
            }
            return Ok(None);
        }
    }
    bar.finish_and_clear();
    if !writes {
        return Ok(None);
    }
    let tm = &mut summary.timing;
    tm.ms_per_trajectory = 1e3 * tm.seconds / tm.trajectories.max(1) as f64;
    tm.ms_per_force = 1e3 * tm.force_seconds / tm.forces.max(1) as f64;
    tm.force_fraction = tm.force_seconds / tm.seconds.max(1e-300);
    summary.complete = true;
    save(dir, &mut summary)?;
    plot(dir, &summary)?;
    if !job.output.quiet {
        report(dir, &summary);
    }
    Ok(Some(summary))
}

fn plot(dir: &Path, s: &Summary) -> Result<()> {
    let title = format!("HMC {}, beta = {}, {}", s.action_name, s.settings.beta, s.settings.lattice);
    let series = |f: fn(&TrajectoryRecord) -> f64| -> Vec<(f64, f64)> {
        s.history.iter().enumerate().map(|(i, t)| ((i + 1) as f64, f(t))).collect()
    };
    line_chart(
        &dir.join("plaquette.svg"),
        &title,
        "trajectory",
        "average plaquette",
        &[Series { name: "plaquette", points: series(|t| t.plaquette) }],
        false,
    )?;
    line_chart(
        &dir.join("dh.svg"),
        &title,
        "trajectory",
        "dH",
        &[Series { name: "dH", points: series(|t| t.dh) }],
        false,
    )
}

fn report(dir: &Path, s: &Summary) {
    let t = &s.timing;
    eprintln!("wrote {} configurations to {}", s.configs.len(), dir.display());
    if let Some(st) = &s.statistics {
        eprintln!(
            "  {} trajectories after thermalisation: acceptance {:.3}, <exp(-dH)> = {:.4} +- {:.4}, rms dH {:.3}",
            st.trajectories, st.acceptance, st.exp_minus_dh[0], st.exp_minus_dh[1], st.dh_rms
        );
        eprintln!(
            "  <P> = {:.6} +- {:.6} (tau_int {:.1} trajectories)",
            st.plaquette[0], st.plaquette[1], st.plaquette_tau_int
        );
    }
    eprintln!(
        "  {:.1} ms per trajectory, {:.2} ms per force evaluation, {:.0} % of the time in the force ({} threads)",
        t.ms_per_trajectory,
        t.ms_per_force,
        100.0 * t.force_fraction,
        t.threads
    );
}
