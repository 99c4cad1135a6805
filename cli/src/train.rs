//! `fpa train`: fit an L-CNN to FP data (action density L1 + invariant loss),
//! with Adam, mini-batches processed in parallel, a validation split, a
//! learning-rate schedule, a checkpoint after every epoch (an interrupted run
//! resumes), a JSON log and a loss-curve plot.

use crate::files::{write_atomic, write_json};
use crate::model_io;
use crate::plot::{line_chart, Series};
use anyhow::{bail, ensure, Context, Result};
use clap::{Args, ValueEnum};
use fpa_core::io::safetensors::{self, NamedTensor};
use fpa_core::lcnn::readout_fit::{fit_last_layer, FitReport, FitSettings};
use fpa_core::lcnn::train::{Adam, LocalSamples, LossWeights, Precision, Sample, SampleMap, Schedule, ValueLoss};
use fpa_core::lcnn::trainer::{validation_indices, EpochLog, EpochOutcome, History, LoopSettings, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleArg {
    Constant,
    Cosine,
    Step,
}

/// `--value-loss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ValueLossArg {
    Density,
    RelativeSquared,
}

impl From<ValueLossArg> for ValueLoss {
    fn from(v: ValueLossArg) -> Self {
        match v {
            ValueLossArg::Density => ValueLoss::Density,
            ValueLossArg::RelativeSquared => ValueLoss::RelativeSquared,
        }
    }
}

/// `--precision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F64,
    F32,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::F64 => Precision::F64,
            PrecisionArg::F32 => Precision::F32,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// FP dataset directory written by `fpa fp-data` (repeat to combine); `DIR@W` counts each of
    /// its configurations W times (W > 0) in the loss, its gradient, the epoch and validation
    /// means and the read-out fit, as if DIR were given W times, at the cost of once
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Model spec: a JSON file, or `paper` (3 x L-CB 12 channels, kernels 2,2,1), `paper-12-24-24`, or
    /// `paper-k222` (kernels 2,2,2: the first shipped FP action's), `paper-deep` (4 x L-CB 12 channels,
    /// kernels 2,2,2,1), `paper-quadratic` (`paper` with the products of trace pairs in the read-out)
    #[arg(long)]
    pub model: String,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Output model file (safetensors); a checkpoint and logs are written beside it
    #[arg(long)]
    pub out: PathBuf,
    /// Configurations per optimiser step
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleArg,
    /// Weight of the value loss L1
    #[arg(long, default_value_t = 1.0)]
    pub w1: f64,
    /// Form of the value loss L1: `density` (|A - A_FP| / V, HIMW's) or `relative-squared`
    /// (((A - A_FP) / A_FP)^2, the evaluation's measure, smooth in the weights)
    #[arg(long, value_enum, default_value = "density")]
    pub value_loss: ValueLossArg,
    /// Weight of the invariant (derivative) loss L2
    #[arg(long, default_value_t = 1.0)]
    pub w2: f64,
    /// Linear learning-rate warm-up over the first N optimiser steps (and again after an epoch is
    /// taken back): Adam's first steps move every weight by about the full rate, which can undo
    /// the weights a fine-tuning run (--init-from) starts from
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Scalar of the passes behind each optimiser step: `f32` runs them about twice as fast; the
    /// weights, the optimiser and the losses that select the model (initial, validation) stay f64
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: PrecisionArg,
    /// Augment the training data by the lattice symmetries: each epoch every training configuration
    /// enters rotated and reflected by a random one of the 384 hypercubic elements (the FP action is
    /// invariant, its derivatives move with the links; an L-CNN has weights per direction and learns
    /// the symmetry only from data). Validation configurations are used as they are
    #[arg(long)]
    pub augment: bool,
    /// Fraction of configurations held out for validation
    #[arg(long, default_value_t = 0.2)]
    pub val: f64,
    /// Keep every configuration of this `--data` directory in training (repeat for several; the
    /// argument as given to `--data`, `DIR@W` included, or its directory): the split is drawn over
    /// all configurations as without the flag, then this directory's held-out ones train too, so
    /// the other directories' split does not change. For small sets that must be fitted, such as
    /// a few tuning instantons, whatever the seed
    #[arg(long = "train-only")]
    pub train_only: Vec<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start from the weights of this model: the same spec (fine-tuning), or a smaller network of the
    /// same layout (fewer channels per L-CB layer, fewer L-CB layers), whose weights are embedded so
    /// that the larger model starts from exactly the smaller model's action (function-preserving
    /// widening; L-CB layers without a partner start as the identity)
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    #[arg(long)]
    pub quiet: bool,
    /// Early stopping: end when the validation loss has not improved for this many epochs
    /// (0: never); the model written is the one with the lowest validation loss
    #[arg(long, default_value_t = 0)]
    pub patience: usize,
    /// Before the first epoch, fit the last layer (an L-CB layer with real weights, linear read-out of
    /// Re Tr) exactly by
    /// linear least squares on the training data (with a quadratic read-out, e.g. `paper-quadratic`, the
    /// read-out's linear weights and quadratic coefficients instead, the L-CB layers fixed) (objective c w1 ((A_FP - A)/A_FP)^2 + w2 L2, c = 100 with
    /// the density value loss and 1 with the relative-squared one,
    /// the derivative part sketched with --fit-directions random link directions per configuration)
    #[arg(long)]
    pub fit_readout: bool,
    /// Random link directions per configuration in the read-out fit (each a forward pass on dual numbers)
    #[arg(long, default_value_t = 64)]
    pub fit_directions: usize,
    /// Stop after this many epochs in this invocation (the run can be resumed)
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

/// Everything that determines the training run (checked on resume).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub spec: fpa_core::lcnn::ModelSpec,
    pub data: Vec<String>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub schedule: ScheduleArg,
    pub weights: LossWeights,
    pub val: f64,
    pub seed: u64,
    pub init_from: Option<String>,
    #[serde(default)]
    pub patience: usize,
    #[serde(default)]
    pub fit_readout: bool,
    #[serde(default)]
    pub fit_directions: usize,
    /// Absent in runs from before it existed: f64.
    #[serde(default)]
    pub precision: Precision,
    /// Absent in runs from before it existed: 0.
    #[serde(default)]
    pub warmup: u64,
    /// Absent in runs from before it existed: false.
    #[serde(default)]
    pub augment: bool,
    /// `--train-only` directories (absent in runs from before it existed: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub train_only: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainLog {
    pub program: String,
    pub settings: TrainSettings,
    pub parameters: usize,
    pub train_configs: usize,
    pub val_configs: usize,
    /// Epochs, best epoch, learning-rate halvings, early stopping, initial losses.
    #[serde(flatten)]
    pub history: History,
    /// The least-squares fit of the last layer before the first epoch (`--fit-readout`).
    #[serde(default)]
    pub readout_fit: Option<FitReport>,
}

fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn schedule(s: ScheduleArg) -> Schedule {
    let name = match s {
        ScheduleArg::Constant => "constant",
        ScheduleArg::Cosine => "cosine",
        ScheduleArg::Step => "step",
    };
    Schedule::named(name).expect("every --schedule value is a named schedule")
}

fn save_checkpoint(path: &Path, params: &[f64], best: &[f64], adam: &Adam, log: &TrainLog) -> Result<()> {
    let mk = |name: &str, v: &[f64]| NamedTensor { name: name.into(), shape: vec![v.len()], data: v.to_vec() };
    let ts = vec![
        mk("params", params),
        mk("best", best),
        mk("adam.m", &adam.m),
        mk("adam.v", &adam.v),
        mk("adam.v_max", &adam.v_max),
    ];
    let mut meta = BTreeMap::new();
    meta.insert("log".into(), serde_json::to_string(log)?);
    meta.insert("adam.t".into(), adam.t.to_string());
    write_atomic(path, &safetensors::encode(&ts, &meta))
}

/// Parameters, the best parameters so far, optimiser state and log of a checkpoint.
type Checkpoint = (Vec<f64>, Vec<f64>, Adam, TrainLog);

fn load_checkpoint(path: &Path, n: usize) -> Result<Checkpoint> {
    let bytes = std::fs::read(path)?;
    let (ts, meta) =
        safetensors::decode(&bytes).with_context(|| format!("checkpoint {} is corrupt", path.display()))?;
    let get = |name: &str| -> Result<Vec<f64>> {
        let t = ts.iter().find(|t| t.name == name).with_context(|| format!("checkpoint lacks {name}"))?;
        ensure!(t.data.len() == n, "checkpoint tensor {name} has {} entries, the model has {n}", t.data.len());
        Ok(t.data.clone())
    };
    let log: TrainLog = serde_json::from_str(meta.get("log").context("checkpoint lacks its log")?)?;
    let mut adam = Adam::new(n);
    adam.m = get("adam.m")?;
    adam.v = get("adam.v")?;
    adam.v_max = get("adam.v_max")?;
    adam.t = meta.get("adam.t").and_then(|t| t.parse().ok()).context("checkpoint lacks adam.t")?;
    Ok((get("params")?, get("best")?, adam, log))
}

/// A training run as a library call: the settings that determine the weights (checked
/// when a checkpoint is resumed) and where and how to run it. `fpa train` and the pipeline
/// both go through [`train`].
#[derive(Clone, Debug)]
pub struct TrainJob {
    pub settings: TrainSettings,
    /// The model file; its checkpoint, JSON log and loss plot are written beside it.
    pub out: PathBuf,
    /// No progress bar or messages.
    pub quiet: bool,
    /// Stop after this many epochs in this call (the run can be resumed).
    pub stop_after: Option<usize>,
}

/// Runs `fpa train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    train(&TrainJob::from_args(args)?).map(|_| ())
}

impl TrainJob {
    /// The job `fpa train`'s arguments describe.
    pub fn from_args(args: &TrainArgs) -> Result<TrainJob> {
        let model = model_io::spec(&args.model)?;
        let settings = TrainSettings {
            spec: model.spec.clone(),
            data: args.data.iter().map(|d| d.display().to_string()).collect(),
            epochs: args.epochs,
            batch: args.batch,
            lr: args.lr,
            schedule: args.schedule,
            weights: LossWeights { w1: args.w1, w2: args.w2, value: args.value_loss.into() },
            val: args.val,
            seed: args.seed,
            init_from: args.init_from.as_ref().map(|p| p.display().to_string()),
            patience: args.patience,
            fit_readout: args.fit_readout,
            fit_directions: if args.fit_readout { args.fit_directions } else { 0 },
            precision: args.precision.into(),
            warmup: args.warmup,
            augment: args.augment,
            train_only: args.train_only.iter().map(|d| d.display().to_string()).collect(),
        };
        Ok(TrainJob { settings, out: args.out.clone(), quiet: args.quiet, stop_after: args.stop_after })
    }
}

/// Says how the validation split divides each `--data` directory: the split is drawn over all
/// configurations together, so a small set (a few tuning instantons) can lose some of its
/// configurations, or all of them, to validation by chance (unless it is `--train-only`); those
/// then take no part in the training or the read-out fit.
fn report_split(sources: &[(&str, Range<usize>)], held_out: &[usize]) {
    for (dir, range) in sources {
        let v = held_out.iter().filter(|i| range.contains(i)).count();
        eprintln!("{dir}: {} configurations for training, {v} held out for validation", range.len() - v);
    }
    if sources.iter().any(|(_, r)| r.len() <= 20 && held_out.iter().any(|i| r.contains(i))) {
        eprintln!(
            "(the split is drawn over all configurations together; --train-only DIR keeps DIR in training, --val 0 trains or fits on every one)"
        );
    }
}

/// `(train, validation)` indices of the configurations: [`validation_indices`]' fixed permutation,
/// then the held-out configurations of the `keep` ranges (the `--train-only` directories) moved
/// to the end of the training part, so that the split of every other directory is unchanged.
fn split_indices(n: usize, val: f64, seed: u64, keep: &[Range<usize>]) -> (Vec<usize>, Vec<usize>) {
    let (mut train, held_out) = validation_indices(n, val, seed);
    let (kept, held_out): (Vec<usize>, Vec<usize>) =
        held_out.into_iter().partition(|i| keep.iter().any(|r| r.contains(i)));
    train.extend(kept);
    (train, held_out)
}

/// The `--data` entries that a `--train-only` argument names: the entry as written, or else
/// every entry of that directory.
fn train_only_sources(data: &[String], train_only: &[String]) -> Result<Vec<usize>> {
    let mut picked = Vec::new();
    for t in train_only {
        let exact: Vec<usize> = (0..data.len()).filter(|&i| data[i] == *t).collect();
        let by_dir: Vec<usize> = if exact.is_empty() {
            let mut v = Vec::new();
            for (i, d) in data.iter().enumerate() {
                if crate::dataset::weighted_source(d)?.0 == Path::new(t) {
                    v.push(i);
                }
            }
            v
        } else {
            exact
        };
        ensure!(!by_dir.is_empty(), "--train-only {t}: not one of the --data directories ({})", data.join(", "));
        picked.extend(by_dir);
    }
    Ok(picked)
}

/// Trains the model of `job.settings` on its data, or resumes the run from its checkpoint,
/// and writes the model with the lowest validation loss to `job.out`. Returns the run's log,
/// or `None` when `stop_after` ended it before it was complete.
pub fn train(job: &TrainJob) -> Result<Option<TrainLog>> {
    train_with(job, &LocalSamples, true)
}

/// [`train`] with the configurations of each batch evaluated by `sample_map`; only a process
/// with `writes` takes the output lock, writes checkpoints, logs and the model, and reports
/// (the MPI ranks other than 0 run the same loop silently: `crate::mpi::train`).
pub fn train_with(job: &TrainJob, sample_map: &dyn SampleMap, writes: bool) -> Result<Option<TrainLog>> {
    let quiet_job;
    let job = if writes {
        job
    } else {
        quiet_job = TrainJob { quiet: true, ..job.clone() };
        &quiet_job
    };
    let settings = &job.settings;
    let w = settings.weights;
    ensure!(settings.batch >= 1, "--batch must be at least 1");
    ensure!(settings.epochs >= 1 || settings.fit_readout, "--epochs must be at least 1 (0 only with --fit-readout)");
    ensure!(settings.lr > 0.0 && settings.lr.is_finite(), "--lr must be a positive number");
    ensure!((0.0..1.0).contains(&settings.val), "--val must be in [0, 1)");
    ensure!(w.w1 >= 0.0 && w.w2 >= 0.0 && w.w1 + w.w2 > 0.0, "--w1 and --w2 must be >= 0, not both 0");
    let model = fpa_core::lcnn::Model::new(settings.spec.clone()).map_err(|e| anyhow::anyhow!("model spec: {e}"))?;
    let mut samples: Vec<Sample> = Vec::new();
    let mut sources = Vec::with_capacity(settings.data.len());
    for d in &settings.data {
        let s = crate::dataset::load_weighted(d)?;
        sources.push((d.as_str(), samples.len()..samples.len() + s.len()));
        samples.extend(s);
    }
    ensure!(samples.len() >= 2, "the data hold {} configurations; training needs at least 2", samples.len());
    let bad = samples.iter().filter(|s| !w.value.accepts(s.a_fp)).count();
    ensure!(bad == 0, "--value-loss relative-squared divides by A_FP, but {bad} configurations have A_FP <= 0");
    for s in &samples {
        ensure!(
            s.links.nd() == model.dims(),
            "the data are {}D, the model is for {}D lattices",
            s.links.nd(),
            model.dims()
        );
    }
    // Validation split: a fixed permutation of the configurations, `--train-only` ones kept.
    let keep: Vec<Range<usize>> =
        train_only_sources(&settings.data, &settings.train_only)?.into_iter().map(|i| sources[i].1.clone()).collect();
    let (train_idx, val_idx) = split_indices(samples.len(), settings.val, settings.seed, &keep);
    if !job.quiet && sources.len() > 1 {
        report_split(&sources, &val_idx);
    }
    let (train, val): (Vec<&Sample>, Vec<&Sample>) =
        (train_idx.iter().map(|&i| &samples[i]).collect(), val_idx.iter().map(|&i| &samples[i]).collect());

    if writes {
        if let Some(dir) = job.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    let _lock = if writes { Some(crate::lock::OutputLock::file(&job.out)?) } else { None };
    let ckpt = sibling(&job.out, ".checkpoint");
    let (params, best, adam, mut log) = if ckpt.exists() {
        let (p, b, a, l) = load_checkpoint(&ckpt, model.n_params)?;
        if l.settings != *settings {
            bail!("{} belongs to a run with other settings; remove it or use another --out", ckpt.display());
        }
        if !job.quiet {
            eprintln!("resuming from {} after epoch {}", ckpt.display(), l.history.epochs.len());
        }
        (p, b, a, l)
    } else {
        let mut p = match &settings.init_from {
            Some(path) => {
                let (m, p, _) = model_io::load(Path::new(path))?;
                if m.spec == model.spec {
                    p
                } else {
                    let wide = fpa_core::lcnn::widen::widen(&m, &p, &model, settings.seed).with_context(|| {
                        format!("--init-from {path} has a different spec and does not embed in --model")
                    })?;
                    if !job.quiet {
                        eprintln!(
                            "--init-from {path}: {} weights embedded in {} (same action)",
                            m.n_params, model.n_params
                        );
                    }
                    wide
                }
            }
            None => model.init_params(settings.seed),
        };
        let readout_fit = if settings.fit_readout {
            let set = FitSettings {
                directions: settings.fit_directions,
                // The fit's value term is the squared relative error: with the density loss,
                // w1 counts 100 times (a relative error of 1e-2 weighs as a density error of 1e-2
                // on an action density near 1).
                value_weight: match w.value {
                    ValueLoss::Density => 100.0 * w.w1,
                    ValueLoss::RelativeSquared => w.w1,
                },
                derivative_weight: w.w2,
                seed: settings.seed,
                ..Default::default()
            };
            if !job.quiet {
                eprintln!(
                    "read-out fit: {} configurations x {} directions (forward passes on dual numbers), then the normal equations …",
                    train.len(),
                    settings.fit_directions
                );
            }
            let t = Instant::now();
            let r = fit_last_layer(&model, &mut p, &train, &set).map_err(|e| anyhow::anyhow!("--fit-readout: {e}"))?;
            if !job.quiet {
                eprintln!(
                    "read-out fit: {} unknowns, {} equations, objective {:.4e} -> {:.4e} ({:.1} s)",
                    r.unknowns,
                    r.equations,
                    r.objective_before,
                    r.objective_after,
                    t.elapsed().as_secs_f64()
                );
            }
            Some(r)
        } else {
            None
        };
        let log = TrainLog {
            program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
            settings: settings.clone(),
            parameters: model.n_params,
            train_configs: train.len(),
            val_configs: val.len(),
            history: History::default(),
            readout_fit,
        };
        (p.clone(), p.clone(), Adam::new(p.len()), log)
    };
    let loop_settings = LoopSettings {
        epochs: settings.epochs,
        batch: settings.batch,
        lr: settings.lr,
        schedule: schedule(settings.schedule),
        weights: w,
        seed: settings.seed,
        patience: settings.patience,
        precision: settings.precision,
        warmup: settings.warmup,
        augment: settings.augment,
    };
    let history = std::mem::take(&mut log.history);
    let mut trainer =
        Trainer::resume(&model, &train, &val, loop_settings, params, best, adam, history).with_samples(sample_map);
    if !trainer.is_complete() {
        let finished = train_epochs(job, &mut trainer, &ckpt, &mut log, writes)?;
        if !finished {
            return Ok(None);
        }
    } else if !job.quiet {
        eprintln!("{}: training already complete", job.out.display());
    }
    log.history = trainer.history.clone();
    let mut meta = BTreeMap::new();
    meta.insert("training".into(), serde_json::to_string(&log)?);
    if !writes {
        return Ok(Some(log));
    }
    model_io::save(&job.out, &model, &trainer.best, &meta)?;
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3e}"));
    let h = &log.history;
    if h.epochs.is_empty() {
        let (t, v) = (h.initial.unwrap_or_default(), h.initial_val);
        if job.quiet {
            return Ok(Some(log));
        }
        eprintln!(
            "wrote {} ({} parameters, read-out fit only): train L1 {:.3e} L2 {:.3e}, validation L1 {} L2 {}",
            job.out.display(),
            model.n_params,
            t.0,
            t.1,
            fmt(v.map(|v| v.0)),
            fmt(v.map(|v| v.1))
        );
        return Ok(Some(log));
    }
    let b = &h.epochs[h.best_epoch.unwrap_or(h.epochs.len() - 1)];
    if !job.quiet {
        eprintln!(
            "wrote {} ({} parameters, weights of epoch {}{}): train L1 {:.3e} L2 {:.3e}, validation L1 {} L2 {}",
            job.out.display(),
            model.n_params,
            b.epoch + 1,
            h.stopped_early.as_ref().map_or(String::new(), |r| format!("; {r}")),
            b.train_l1,
            b.train_l2,
            fmt(b.val_l1),
            fmt(b.val_l2)
        );
    }
    Ok(Some(log))
}

/// The epochs of a run (the loop is [`Trainer`]'s) with what the program adds: a progress
/// bar, the wall time of every epoch, and after each one a checkpoint, the JSON log and the
/// loss plot. Returns whether training is complete (false: stopped by `--stop-after`).
fn train_epochs(job: &TrainJob, trainer: &mut Trainer, ckpt: &Path, log: &mut TrainLog, writes: bool) -> Result<bool> {
    let steps_per_epoch = trainer.steps_per_epoch();
    let bar = if job.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((job.settings.epochs * steps_per_epoch) as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("train [{bar:40}] {pos}/{len} steps, epoch {msg}  {elapsed} elapsed, ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_position((trainer.history.epochs.len() * steps_per_epoch) as u64);
    bar.reset_eta();
    // Without a terminal (nohup, CI, a batch system) indicatif draws nothing: say each epoch and
    // each taken-back epoch on its own line instead, with the ETA from this process's epochs.
    let lines = !job.quiet && !std::io::stderr().is_terminal();
    let say = |msg: String| if lines { eprintln!("{msg}") } else { bar.println(msg) };
    let started = Instant::now();
    let save = |trainer: &Trainer, log: &mut TrainLog| -> Result<()> {
        log.history = trainer.history.clone();
        if !writes {
            return Ok(());
        }
        save_checkpoint(ckpt, &trainer.params, &trainer.best, &trainer.adam, log)?;
        write_json(&sibling(&job.out, ".log.json"), log)
    };
    if trainer.history.initial.is_none() {
        trainer.measure_initial();
        if trainer.is_complete() {
            save(trainer, log)?;
            return Ok(true);
        }
    }
    let mut done_here = 0;
    while !trainer.is_complete() {
        let t = Instant::now();
        let epoch = trainer.history.epochs.len();
        let outcome = trainer.epoch(&mut || bar.inc(1))?;
        let kept = match outcome {
            EpochOutcome::TakenBack(why) => {
                bar.set_position((epoch * steps_per_epoch) as u64);
                say(format!(
                    "{why}: epoch taken back, learning rate halved (x{})",
                    0.5f64.powi(trainer.history.halvings as i32)
                ));
                continue;
            }
            EpochOutcome::Kept(k) => k,
        };
        trainer.history.epochs[kept].seconds = t.elapsed().as_secs_f64();
        let h = &trainer.history;
        let e = &h.epochs[kept];
        bar.set_message(format!(
            "{}/{}: L1 {:.3e} L2 {:.3e}, val L1 {:.3e} L2 {:.3e} (best: epoch {})",
            kept + 1,
            job.settings.epochs,
            e.train_l1,
            e.train_l2,
            e.val_l1.unwrap_or(f64::NAN),
            e.val_l2.unwrap_or(f64::NAN),
            h.best_epoch.unwrap() + 1
        ));
        if lines {
            let left = job.settings.epochs.saturating_sub(h.epochs.len());
            let eta = started.elapsed().as_secs_f64() / (done_here + 1) as f64 * left as f64;
            say(format!("epoch {}, {:.0} s, ETA {}", bar.message(), e.seconds, hms(eta)));
        }
        save(trainer, log)?;
        if writes {
            plot(&sibling(&job.out, ".loss.svg"), log)?;
        }
        if trainer.is_complete() {
            break;
        }
        done_here += 1;
        if job.stop_after.is_some_and(|n| done_here >= n) {
            bar.abandon();
            eprintln!("stopped after epoch {}; run the same command to resume", trainer.history.epochs.len());
            return Ok(false);
        }
    }
    bar.finish_and_clear();
    Ok(true)
}

/// Seconds as `h:mm:ss`.
fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn plot(path: &Path, log: &TrainLog) -> Result<()> {
    let value_name = match log.settings.weights.value {
        ValueLoss::Density => "train L1 (action density)",
        ValueLoss::RelativeSquared => "train L1 (relative error squared)",
    };
    let pts = |f: &dyn Fn(&EpochLog) -> Option<f64>| -> Vec<(f64, f64)> {
        log.history.epochs.iter().filter_map(|e| f(e).map(|v| ((e.epoch + 1) as f64, v))).collect()
    };
    line_chart(
        path,
        "L-CNN training",
        "epoch",
        "loss",
        &[
            Series { name: value_name, points: pts(&|e| Some(e.train_l1)) },
            Series { name: "train L2 (invariant)", points: pts(&|e| Some(e.train_l2)) },
            Series { name: "validation L1", points: pts(&|e| e.val_l1) },
            Series { name: "validation L2", points: pts(&|e| e.val_l2) },
        ],
        true,
    )
}
