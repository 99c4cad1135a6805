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
use fpa_core::lcnn::train::{batch_loss, shuffled, Adam, LossWeights, Sample, SampleLoss, Schedule};
use fpa_core::lcnn::Model;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleArg {
    Constant,
    Cosine,
    Step,
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// FP dataset directory written by `fpa fp-data` (repeat to combine)
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Model spec: a JSON file, or `paper` (3 x L-CB 12 channels, kernels 2,2,1), `paper-12-24-24`, or
    /// `paper-k222` (kernels 2,2,2: the shipped FP action)
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
    /// Weight of the action-density loss L1
    #[arg(long, default_value_t = 1.0)]
    pub w1: f64,
    /// Weight of the invariant (derivative) loss L2
    #[arg(long, default_value_t = 1.0)]
    pub w2: f64,
    /// Fraction of configurations held out for validation
    #[arg(long, default_value_t = 0.2)]
    pub val: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start from the weights of this model (same spec), e.g. for fine-tuning
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
    /// linear least squares on the training data (objective 100 w1 ((A_FP - A)/A_FP)^2 + w2 L2,
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

/// An epoch whose validation loss at its end (without a validation split: its
/// mean training loss) exceeds the best one so far by this factor, or whose
/// loss or gradient is not finite, is taken back: the weights return to those of
/// the epoch with the lowest validation loss (the blow-up may have started late
/// in an earlier epoch), the optimiser starts afresh, and the epoch is redone
/// at half the learning rate.
const DIVERGENCE_FACTOR: f64 = 3.0;
/// How often the learning rate may be halved before the run gives up.
const MAX_HALVINGS: u32 = 10;

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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub lr: f64,
    pub train_l1: f64,
    pub train_l2: f64,
    pub val_l1: Option<f64>,
    pub val_l2: Option<f64>,
    pub seconds: f64,
    /// Epochs taken back because the loss diverged, before this one was kept.
    #[serde(default)]
    pub retries: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainLog {
    pub program: String,
    pub settings: TrainSettings,
    pub parameters: usize,
    pub train_configs: usize,
    pub val_configs: usize,
    pub epochs: Vec<EpochLog>,
    pub complete: bool,
    /// The learning rate is the schedule's times `2^-halvings` (halved after each divergence).
    #[serde(default)]
    pub halvings: u32,
    /// Epoch with the lowest validation loss (training loss without a validation split);
    /// its weights are the model written.
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Why training ended before the last epoch (early stopping).
    #[serde(default)]
    pub stopped_early: Option<String>,
    /// `(L1, L2)` on the training data before the first step (the reference for
    /// catching a first epoch that diverges).
    #[serde(default)]
    pub initial: Option<(f64, f64)>,
    /// The least-squares fit of the last layer before the first epoch (`--fit-readout`).
    #[serde(default)]
    pub readout_fit: Option<FitReport>,
    /// `(L1, L2)` on the validation configurations before the first step.
    #[serde(default)]
    pub initial_val: Option<(f64, f64)>,
}

impl EpochLog {
    /// The quantity early stopping and model selection look at: `w1 L1 + w2 L2` on the
    /// validation split, or on the training data without one.
    fn objective(&self, w: LossWeights) -> f64 {
        match (self.val_l1, self.val_l2) {
            (Some(a), Some(b)) => w.total((a, b)),
            _ => self.train_objective(w),
        }
    }
    fn train_objective(&self, w: LossWeights) -> f64 {
        w.total((self.train_l1, self.train_l2))
    }
}

fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn schedule(s: ScheduleArg) -> Schedule {
    match s {
        ScheduleArg::Constant => Schedule::Constant,
        ScheduleArg::Cosine => Schedule::Cosine { min_factor: 0.01 },
        ScheduleArg::Step => Schedule::Step { every: 10, gamma: 0.5 },
    }
}

fn mean_losses(l: &[SampleLoss]) -> (f64, f64) {
    let n = l.len().max(1) as f64;
    (l.iter().map(|x| x.l1).sum::<f64>() / n, l.iter().map(|x| x.l2).sum::<f64>() / n)
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

/// Runs `fpa train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    ensure!(args.batch >= 1, "--batch must be at least 1");
    ensure!(args.epochs >= 1 || args.fit_readout, "--epochs must be at least 1 (0 only with --fit-readout)");
    ensure!(args.lr > 0.0 && args.lr.is_finite(), "--lr must be a positive number");
    ensure!((0.0..1.0).contains(&args.val), "--val must be in [0, 1)");
    ensure!(args.w1 >= 0.0 && args.w2 >= 0.0 && args.w1 + args.w2 > 0.0, "--w1 and --w2 must be >= 0, not both 0");
    let model = model_io::spec(&args.model)?;
    let mut samples: Vec<Sample> = Vec::new();
    for d in &args.data {
        let (_, s) = crate::dataset::load(d)?;
        samples.extend(s);
    }
    ensure!(samples.len() >= 2, "the data hold {} configurations; training needs at least 2", samples.len());
    for s in &samples {
        ensure!(
            s.links.nd() == model.dims(),
            "the data are {}D, the model is for {}D lattices",
            s.links.nd(),
            model.dims()
        );
    }
    let settings = TrainSettings {
        spec: model.spec.clone(),
        data: args.data.iter().map(|d| d.display().to_string()).collect(),
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        schedule: args.schedule,
        weights: LossWeights { w1: args.w1, w2: args.w2 },
        val: args.val,
        seed: args.seed,
        init_from: args.init_from.as_ref().map(|p| p.display().to_string()),
        patience: args.patience,
        fit_readout: args.fit_readout,
        fit_directions: if args.fit_readout { args.fit_directions } else { 0 },
    };
    // Validation split: a fixed permutation of the configurations.
    let perm = shuffled(samples.len(), args.seed, u64::MAX);
    let n_val = ((samples.len() as f64 * args.val).round() as usize).min(samples.len() - 1);
    let val: Vec<&Sample> = perm[..n_val].iter().map(|&i| &samples[i]).collect();
    let train: Vec<&Sample> = perm[n_val..].iter().map(|&i| &samples[i]).collect();

    let _lock = crate::lock::OutputLock::file(&args.out)?;
    let ckpt = sibling(&args.out, ".checkpoint");
    let (mut params, mut best, mut adam, mut log) = if ckpt.exists() {
        let (p, b, a, l) = load_checkpoint(&ckpt, model.n_params)?;
        if l.settings != settings {
            bail!("{} belongs to a run with other settings; remove it or use another --out", ckpt.display());
        }
        if !args.quiet {
            eprintln!("resuming from {} after epoch {}", ckpt.display(), l.epochs.len());
        }
        (p, b, a, l)
    } else {
        let mut p = match &args.init_from {
            Some(path) => {
                let (m, p, _) = model_io::load(path)?;
                ensure!(m.spec == model.spec, "--init-from {} has a different spec", path.display());
                p
            }
            None => model.init_params(args.seed),
        };
        let readout_fit = if args.fit_readout {
            let set = FitSettings {
                directions: args.fit_directions,
                value_weight: 100.0 * args.w1,
                derivative_weight: args.w2,
                seed: args.seed,
                ..Default::default()
            };
            if !args.quiet {
                eprintln!(
                    "read-out fit: {} configurations x {} directions (forward passes on dual numbers), then the normal equations …",
                    train.len(),
                    args.fit_directions
                );
            }
            let t = Instant::now();
            let r = fit_last_layer(&model, &mut p, &train, &set).map_err(|e| anyhow::anyhow!("--fit-readout: {e}"))?;
            if !args.quiet {
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
            epochs: vec![],
            complete: false,
            halvings: 0,
            best_epoch: None,
            stopped_early: None,
            initial: None,
            readout_fit,
            initial_val: None,
        };
        (p.clone(), p.clone(), Adam::new(p.len()), log)
    };
    let w = settings.weights;
    if !log.complete {
        let finished = train_epochs(args, &model, &train, &val, w, &ckpt, &mut params, &mut best, &mut adam, &mut log)?;
        if !finished {
            return Ok(());
        }
    } else if !args.quiet {
        eprintln!("{}: training already complete", args.out.display());
    }
    let mut meta = BTreeMap::new();
    meta.insert("training".into(), serde_json::to_string(&log)?);
    model_io::save(&args.out, &model, &best, &meta)?;
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3e}"));
    if log.epochs.is_empty() {
        let (t, v) = (log.initial.unwrap_or_default(), log.initial_val);
        if args.quiet {
            return Ok(());
        }
        eprintln!(
            "wrote {} ({} parameters, read-out fit only): train L1 {:.3e} L2 {:.3e}, validation L1 {} L2 {}",
            args.out.display(),
            model.n_params,
            t.0,
            t.1,
            fmt(v.map(|v| v.0)),
            fmt(v.map(|v| v.1))
        );
        return Ok(());
    }
    let b = &log.epochs[log.best_epoch.unwrap_or(log.epochs.len() - 1)];
    if !args.quiet {
        eprintln!(
            "wrote {} ({} parameters, weights of epoch {}{}): train L1 {:.3e} L2 {:.3e}, validation L1 {} L2 {}",
            args.out.display(),
            model.n_params,
            b.epoch + 1,
            log.stopped_early.as_ref().map_or(String::new(), |r| format!("; {r}")),
            b.train_l1,
            b.train_l2,
            fmt(b.val_l1),
            fmt(b.val_l2)
        );
    }
    Ok(())
}

/// The epochs of a run: one optimiser step per batch, then the validation
/// losses, divergence control, model selection, a checkpoint and the logs.
/// Returns whether training is complete (false: stopped by `--stop-after`).
fn train_epochs(
    args: &TrainArgs,
    model: &Model,
    train: &[&Sample],
    val: &[&Sample],
    w: LossWeights,
    ckpt: &Path,
    params: &mut Vec<f64>,
    best: &mut Vec<f64>,
    adam: &mut Adam,
    log: &mut TrainLog,
) -> Result<bool> {
    let steps_per_epoch = train.len().div_ceil(args.batch);
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new((args.epochs * steps_per_epoch) as u64) };
    bar.set_style(
        ProgressStyle::with_template("train [{bar:40}] {pos}/{len} steps, epoch {msg}  {elapsed} elapsed, ETA {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_position((log.epochs.len() * steps_per_epoch) as u64);
    bar.reset_eta();
    if log.initial.is_none() {
        let (l, _) = batch_loss(model, params, train, w, false);
        log.initial = Some(mean_losses(&l));
        if !val.is_empty() {
            let (l, _) = batch_loss(model, params, val, w, false);
            log.initial_val = Some(mean_losses(&l));
        }
        if args.epochs == 0 {
            log.complete = true;
            save_checkpoint(ckpt, params, best, adam, log)?;
            write_json(&sibling(&args.out, ".log.json"), log)?;
            return Ok(true);
        }
    }
    let sched = schedule(args.schedule);
    let mut done_here = 0;
    let mut retries = 0;
    while log.epochs.len() < args.epochs {
        let epoch = log.epochs.len();
        let t = Instant::now();
        let lr = sched.lr(args.lr, epoch, args.epochs) * 0.5f64.powi(log.halvings as i32);
        let order = shuffled(train.len(), args.seed, epoch as u64);
        let mut losses = Vec::with_capacity(train.len());
        let mut blew_up = None;
        for (step, chunk) in order.chunks(args.batch).enumerate() {
            let batch: Vec<&Sample> = chunk.iter().map(|&i| train[i]).collect();
            let (l, g) = batch_loss(model, params, &batch, w, true);
            let g = g.unwrap();
            if !g.iter().all(|x| x.is_finite()) || !l.iter().all(|x| x.l1.is_finite() && x.l2.is_finite()) {
                blew_up = Some(format!("a non-finite loss or gradient in epoch {} at batch {}", epoch + 1, step + 1));
                break;
            }
            adam.step(params, &g, lr);
            losses.extend(l);
            bar.inc(1);
        }
        let (t1, t2) = mean_losses(&losses);
        let initial = log.initial.map_or(f64::INFINITY, |l| w.total(l));
        let initial_val = log.initial_val.map_or(f64::INFINITY, |l| w.total(l));
        let best_train = log.epochs.iter().map(|e| e.train_objective(w)).fold(initial, f64::min);
        let now = w.total((t1, t2));
        // With a validation split the end-of-epoch validation loss decides (below): the
        // mean over an epoch can be low while its last steps already blew up.
        if blew_up.is_none() && val.is_empty() && now > DIVERGENCE_FACTOR * best_train {
            blew_up = Some(format!("the training loss rose from {best_train:.3e} to {now:.3e} in epoch {}", epoch + 1));
        }
        let (v1, v2) = if val.is_empty() || blew_up.is_some() {
            (None, None)
        } else {
            let (l, _) = batch_loss(model, params, val, w, false);
            let (a, b) = mean_losses(&l);
            (Some(a), Some(b))
        };
        if let (Some(a), Some(b)) = (v1, v2) {
            let best_val = log.epochs.iter().map(|e| e.objective(w)).fold(initial_val, f64::min);
            let v = w.total((a, b));
            if blew_up.is_none() && (v.is_nan() || v > DIVERGENCE_FACTOR * best_val) {
                blew_up =
                    Some(format!("the validation loss rose from {best_val:.3e} to {v:.3e} in epoch {}", epoch + 1));
            }
        }
        if let Some(why) = blew_up {
            // Take the epoch back and redo it at half the learning rate.
            ensure!(
                log.halvings < MAX_HALVINGS,
                "training diverged ({why}) after the learning rate was halved {MAX_HALVINGS} times; \
                 lower --lr or check the data"
            );
            // Back to the best weights (kept in the checkpoint, so a resumed run does the
            // same), with a fresh optimiser: the moments of a blow-up are no guide.
            params.clone_from(best);
            *adam = Adam::new(params.len());
            log.halvings += 1;
            retries += 1;
            bar.set_position((epoch * steps_per_epoch) as u64);
            bar.println(format!(
                "{why}: epoch taken back, learning rate halved (x{})",
                0.5f64.powi(log.halvings as i32)
            ));
            continue;
        }
        log.epochs.push(EpochLog {
            epoch,
            lr,
            train_l1: t1,
            train_l2: t2,
            val_l1: v1,
            val_l2: v2,
            seconds: t.elapsed().as_secs_f64(),
            retries,
        });
        retries = 0;
        let obj = log.epochs[epoch].objective(w);
        if log.best_epoch.is_none_or(|b| obj < log.epochs[b].objective(w)) {
            log.best_epoch = Some(epoch);
            best.clone_from(params);
        }
        let since_best = epoch - log.best_epoch.unwrap();
        bar.set_message(format!(
            "{}/{}: L1 {t1:.3e} L2 {t2:.3e}, val L1 {:.3e} L2 {:.3e} (best: epoch {})",
            epoch + 1,
            args.epochs,
            v1.unwrap_or(f64::NAN),
            v2.unwrap_or(f64::NAN),
            log.best_epoch.unwrap() + 1
        ));
        if args.patience > 0 && since_best >= args.patience {
            log.stopped_early =
                Some(format!("stopped after epoch {}: no improvement for {since_best} epochs", epoch + 1));
        }
        log.complete = log.epochs.len() == args.epochs || log.stopped_early.is_some();
        save_checkpoint(ckpt, params, best, adam, log)?;
        write_json(&sibling(&args.out, ".log.json"), log)?;
        plot(&sibling(&args.out, ".loss.svg"), log)?;
        if log.complete {
            break;
        }
        done_here += 1;
        if args.stop_after.is_some_and(|n| done_here >= n) {
            bar.abandon();
            eprintln!("stopped after epoch {}; run the same command to resume", log.epochs.len());
            return Ok(false);
        }
    }
    bar.finish_and_clear();
    Ok(true)
}

fn plot(path: &Path, log: &TrainLog) -> Result<()> {
    let pts = |f: &dyn Fn(&EpochLog) -> Option<f64>| -> Vec<(f64, f64)> {
        log.epochs.iter().filter_map(|e| f(e).map(|v| ((e.epoch + 1) as f64, v))).collect()
    };
    line_chart(
        path,
        "L-CNN training",
        "epoch",
        "loss",
        &[
            Series { name: "train L1 (action density)", points: pts(&|e| Some(e.train_l1)) },
            Series { name: "train L2 (invariant)", points: pts(&|e| Some(e.train_l2)) },
            Series { name: "validation L1", points: pts(&|e| e.val_l1) },
            Series { name: "validation L2", points: pts(&|e| e.val_l2) },
        ],
        true,
    )
}
