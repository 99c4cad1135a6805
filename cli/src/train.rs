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
use fpa_core::lcnn::train::{batch_loss, shuffled, Adam, LossWeights, Sample, SampleLoss, Schedule};
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
    /// Model spec: a JSON file, or `paper` (3 x L-CB 12 channels, kernels 2,2,1) or `paper-12-24-24`
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

fn save_checkpoint(path: &Path, params: &[f64], adam: &Adam, log: &TrainLog) -> Result<()> {
    let mk = |name: &str, v: &[f64]| NamedTensor { name: name.into(), shape: vec![v.len()], data: v.to_vec() };
    let ts = vec![mk("params", params), mk("adam.m", &adam.m), mk("adam.v", &adam.v), mk("adam.v_max", &adam.v_max)];
    let mut meta = BTreeMap::new();
    meta.insert("log".into(), serde_json::to_string(log)?);
    meta.insert("adam.t".into(), adam.t.to_string());
    write_atomic(path, &safetensors::encode(&ts, &meta))
}

fn load_checkpoint(path: &Path, n: usize) -> Result<(Vec<f64>, Adam, TrainLog)> {
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
    Ok((get("params")?, adam, log))
}

/// Runs `fpa train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    ensure!(args.epochs >= 1 && args.batch >= 1, "--epochs and --batch must be at least 1");
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
    };
    // Validation split: a fixed permutation of the configurations.
    let perm = shuffled(samples.len(), args.seed, u64::MAX);
    let n_val = ((samples.len() as f64 * args.val).round() as usize).min(samples.len() - 1);
    let val: Vec<&Sample> = perm[..n_val].iter().map(|&i| &samples[i]).collect();
    let train: Vec<&Sample> = perm[n_val..].iter().map(|&i| &samples[i]).collect();

    let ckpt = sibling(&args.out, ".checkpoint");
    let (mut params, mut adam, mut log) = if ckpt.exists() {
        let (p, a, l) = load_checkpoint(&ckpt, model.n_params)?;
        if l.settings != settings {
            bail!("{} belongs to a run with other settings; remove it or use another --out", ckpt.display());
        }
        if !args.quiet {
            eprintln!("resuming from {} after epoch {}", ckpt.display(), l.epochs.len());
        }
        (p, a, l)
    } else {
        let p = match &args.init_from {
            Some(path) => {
                let (m, p, _) = model_io::load(path)?;
                ensure!(m.spec == model.spec, "--init-from {} has a different spec", path.display());
                p
            }
            None => model.init_params(args.seed),
        };
        let log = TrainLog {
            program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
            settings: settings.clone(),
            parameters: model.n_params,
            train_configs: train.len(),
            val_configs: val.len(),
            epochs: vec![],
            complete: false,
        };
        (p.clone(), Adam::new(p.len()), log)
    };
    if log.complete {
        eprintln!("{}: training already complete", args.out.display());
        return Ok(());
    }
    let steps_per_epoch = train.len().div_ceil(args.batch);
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new((args.epochs * steps_per_epoch) as u64) };
    bar.set_style(
        ProgressStyle::with_template("train [{bar:40}] epoch {msg}  ETA {eta}").unwrap().progress_chars("=> "),
    );
    bar.set_position((log.epochs.len() * steps_per_epoch) as u64);
    let sched = schedule(args.schedule);
    let mut done_here = 0;
    while log.epochs.len() < args.epochs {
        let epoch = log.epochs.len();
        let t = Instant::now();
        let lr = sched.lr(args.lr, epoch, args.epochs);
        let order = shuffled(train.len(), args.seed, epoch as u64);
        let mut losses = Vec::with_capacity(train.len());
        for chunk in order.chunks(args.batch) {
            let batch: Vec<&Sample> = chunk.iter().map(|&i| train[i]).collect();
            let (l, g) = batch_loss(&model, &params, &batch, settings.weights, true);
            let g = g.unwrap();
            ensure!(g.iter().all(|x| x.is_finite()), "the gradient became non-finite in epoch {epoch}; lower --lr");
            adam.step(&mut params, &g, lr);
            losses.extend(l);
            bar.inc(1);
        }
        let (t1, t2) = mean_losses(&losses);
        let (v1, v2) = if val.is_empty() {
            (None, None)
        } else {
            let (l, _) = batch_loss(&model, &params, &val, settings.weights, false);
            let (a, b) = mean_losses(&l);
            (Some(a), Some(b))
        };
        log.epochs.push(EpochLog {
            epoch,
            lr,
            train_l1: t1,
            train_l2: t2,
            val_l1: v1,
            val_l2: v2,
            seconds: t.elapsed().as_secs_f64(),
        });
        bar.set_message(format!(
            "{}/{}: L1 {t1:.3e} L2 {t2:.3e} val L1 {:.3e}",
            epoch + 1,
            args.epochs,
            v1.unwrap_or(f64::NAN)
        ));
        log.complete = log.epochs.len() == args.epochs;
        save_checkpoint(&ckpt, &params, &adam, &log)?;
        write_json(&sibling(&args.out, ".log.json"), &log)?;
        plot(&sibling(&args.out, ".loss.svg"), &log)?;
        done_here += 1;
        if args.stop_after.is_some_and(|n| done_here >= n) && !log.complete {
            bar.abandon();
            eprintln!("stopped after epoch {}; run the same command to resume", log.epochs.len());
            return Ok(());
        }
    }
    bar.finish_and_clear();
    let mut meta = BTreeMap::new();
    meta.insert("training".into(), serde_json::to_string(&log)?);
    model_io::save(&args.out, &model, &params, &meta)?;
    let last = log.epochs.last().unwrap();
    eprintln!(
        "wrote {} ({} parameters): train L1 {:.3e} L2 {:.3e}, validation L1 {} L2 {}",
        args.out.display(),
        model.n_params,
        last.train_l1,
        last.train_l2,
        last.val_l1.map_or("-".into(), |v| format!("{v:.3e}")),
        last.val_l2.map_or("-".into(), |v| format!("{v:.3e}"))
    );
    Ok(())
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
