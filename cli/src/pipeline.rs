//! `fpa pipeline`: from nothing to a learned fixed point action with the
//! evidence that it is one — Wilson ensembles, FP data, training,
//! evaluation, self-consistent iterations, transfer to a larger volume,
//! instantons, locality, and an offline HTML report.
//!
//! Every stage writes into the run directory and records its settings in
//! `stages/<name>.json`; a stage whose record matches is skipped, and the
//! commands it runs resume on their own, so a killed pipeline continues where
//! it stopped.

use crate::chain::RunOutput;
use crate::eval::{evaluate, plot_rows, Report};
use crate::files::{ensure_dir, write_json};
use crate::fp_data::FpDataJob;
use crate::generate::{EnsembleJob, FileFormat, Settings as EnsembleSettings, Start};
use crate::plot::{line_chart, Series};
use crate::train::{ScheduleArg, TrainJob, TrainSettings};
use anyhow::{ensure, Context, Result};
use clap::{Args, ValueEnum};
use fpa_core::action::{Action, Wilson};
use fpa_core::lattice::Geometry;
use fpa_core::lcnn::action::LcnnAction;
use fpa_core::lcnn::locality::{decay_length, locality_profile, LocalityPoint};
use fpa_core::lcnn::train::{LossWeights, Precision};
use fpa_core::observe::instanton::{Instanton, ACTION};
use fpa_core::rg::{Blocking, FixedPoint, FixedPointSettings, MinimizerSettings};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small: finishes in minutes on 2 cores and shows the result
    Small,
    /// Stages 1 and 3 of the shipped FP action's recipe from scratch (Adam with f32 training passes, then the instanton refit; about 1 h 20 min on 2 cores; the shipped model has four more Adam runs between them, see the README's model card)
    Paper,
    /// Tiny: a smoke test (tests use it)
    Tiny,
}

#[derive(Args, Debug)]
pub struct PipelineArgs {
    /// TOML config (every setting; missing ones come from the preset)
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "small")]
    pub preset: Preset,
    /// Run directory (overrides the config)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Self-consistent rounds after the first (overrides the config)
    #[arg(long)]
    pub iterations: Option<usize>,
    #[arg(long)]
    pub quiet: bool,
    /// Print the effective config as TOML and exit
    #[arg(long)]
    pub print_config: bool,
    /// Start from this trained model (e.g. models/fp-action.safetensors) instead of training
    /// one in round 0: it is evaluated on the run's FP data and used by the later stages
    #[arg(long)]
    pub model: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleConfig {
    pub lattice: String,
    pub betas: Vec<f64>,
    pub therm: u64,
    pub every: u64,
    pub configs: u64,
    pub overrelax: usize,
    /// Configurations per coupling of separate test ensembles (other seeds), on which the
    /// first round's model is evaluated (0: evaluate on the training data)
    #[serde(default)]
    pub test_configs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FpConfig {
    /// `wilson` or `inception:N` for the first round
    pub rhs: String,
    pub tol: f64,
    pub kappa: f64,
    pub s_pl: f64,
    pub s_d: f64,
    pub s_hd: f64,
}

fn is_f64(p: &Precision) -> bool {
    *p == Precision::F64
}

impl FpConfig {
    /// The blocking kernel these parameters describe (`s0` from the normalisation).
    pub fn blocking(&self) -> Blocking {
        Blocking::normalised(self.kappa, self.s_pl, self.s_d, self.s_hd, 4)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// `paper`, `paper-12-24-24`, `small`, or a spec file
    pub model: String,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub w1: f64,
    pub w2: f64,
    pub val: f64,
    /// Fit the last layer by least squares before the first epoch (`fpa train --fit-readout`)
    #[serde(default)]
    pub fit_readout: bool,
    /// Scalar of the training passes (`fpa train --precision`); not written when f64, so that
    /// the stage stamps of earlier runs stay valid
    #[serde(default, skip_serializing_if = "is_f64")]
    pub precision: Precision,
    /// Sketch directions per configuration of that fit
    #[serde(default = "default_fit_directions")]
    pub fit_directions: usize,
    /// Early stopping after this many epochs without a better validation loss (0: never)
    #[serde(default)]
    pub patience: usize,
}

fn default_fit_directions() -> usize {
    64
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IterateConfig {
    /// Rounds in which the trained L-CNN is the right-hand side of the FP equation
    pub iterations: usize,
    /// Configurations per coupling recomputed in each round
    pub configs_per_beta: usize,
    pub epochs: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    pub lattice: String,
    pub betas: Vec<f64>,
    pub configs: u64,
    /// Fine-tune on the larger volume for this many epochs (0: evaluate only)
    pub finetune_epochs: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstantonConfig {
    pub lattice: String,
    pub rhos: Vec<f64>,
    /// Levels of the FP equation for the exact values (1, or 2 for inception)
    pub depth: usize,
    /// Instanton sizes rho/a (on `lattice`) whose exact FP values and derivatives join the
    /// Wilson-ensemble data in a final exact least-squares refit of the last layer and read-out
    /// of the trained model (`fpa train --init-from M --fit-readout --epochs 0`): HIMW's
    /// instanton fine-tuning. Empty: no fine-tuning.
    #[serde(default)]
    pub tune_rhos: Vec<f64>,
    /// Weight of the derivative loss L2 in that refit
    #[serde(default = "default_tune_w2")]
    pub tune_w2: f64,
}

fn default_tune_w2() -> f64 {
    100.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalityConfig {
    pub lattice: String,
    pub beta: f64,
}

/// The whole configuration (the TOML file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub out: PathBuf,
    pub seed: u64,
    pub ensembles: EnsembleConfig,
    pub fp: FpConfig,
    pub train: TrainConfig,
    pub iterate: IterateConfig,
    pub transfer: TransferConfig,
    pub instantons: InstantonConfig,
    pub locality: LocalityConfig,
}

impl PipelineConfig {
    pub fn preset(p: Preset) -> Self {
        // Tolerance 1e-6: A_FP and D_FP within 1e-12 of the 1e-9 results for 24-33 % fewer
        // iterations (README, "Where the minimiser's time goes").
        let fp = FpConfig { rhs: "wilson".into(), tol: 1e-6, kappa: 8.8, s_pl: 0.07, s_d: 0.016, s_hd: 0.001 };
        match p {
            Preset::Tiny => PipelineConfig {
                out: "runs/tiny".into(),
                seed: 1,
                ensembles: EnsembleConfig {
                    lattice: "2x2x2x2".into(),
                    betas: vec![5.5, 6.5],
                    therm: 30,
                    every: 5,
                    configs: 4,
                    overrelax: 2,
                    test_configs: 0,
                },
                fp,
                train: TrainConfig {
                    precision: Precision::F64,
                    model: "tiny".into(),
                    epochs: 150,
                    batch: 4,
                    lr: 1e-2,
                    w1: 1.0,
                    w2: 1.0,
                    val: 0.25,
                    fit_readout: false,
                    fit_directions: 64,
                    patience: 0,
                },
                iterate: IterateConfig { iterations: 1, configs_per_beta: 2, epochs: 30 },
                transfer: TransferConfig {
                    lattice: "4x4x4x4".into(),
                    betas: vec![6.0],
                    configs: 1,
                    finetune_epochs: 0,
                },
                instantons: InstantonConfig {
                    lattice: "4x4x4x4".into(),
                    rhos: vec![1.0, 1.5],
                    depth: 1,
                    tune_rhos: vec![1.25],
                    tune_w2: 10.0,
                },
                locality: LocalityConfig { lattice: "4x4x4x4".into(), beta: 5.5 },
            },
            Preset::Small => PipelineConfig {
                out: "runs/pipeline".into(),
                seed: 1,
                ensembles: EnsembleConfig {
                    lattice: "4x4x4x4".into(),
                    betas: vec![5.0, 5.5, 6.0, 6.5, 7.0],
                    therm: 100,
                    every: 10,
                    configs: 8,
                    overrelax: 4,
                    test_configs: 0,
                },
                fp,
                train: TrainConfig {
                    precision: Precision::F64,
                    model: "tiny".into(),
                    epochs: 100,
                    batch: 4,
                    lr: 1e-2,
                    w1: 1.0,
                    // The derivative residual sits at the Wilson level (~1e-2) and is the
                    // harder target; with w2 = 1 the short run fit A_FP 7x better than
                    // Wilson but D_FP 15 % worse, with w2 = 10 both better (5x, 1.5x).
                    w2: 10.0,
                    val: 0.2,
                    fit_readout: false,
                    fit_directions: 64,
                    patience: 0,
                },
                // Each self-consistent round evaluates the L-CNN on the 8⁴ fine lattice in every
                // minimiser step: minutes per configuration. Ask for rounds with --iterations.
                iterate: IterateConfig { iterations: 0, configs_per_beta: 2, epochs: 10 },
                transfer: TransferConfig {
                    lattice: "6x6x6x6".into(),
                    betas: vec![6.0],
                    configs: 2,
                    finetune_epochs: 0,
                },
                instantons: InstantonConfig {
                    lattice: "6x6x6x6".into(),
                    rhos: vec![0.6, 0.8, 1.0, 1.25],
                    depth: 1,
                    tune_rhos: vec![],
                    tune_w2: 100.0,
                },
                locality: LocalityConfig { lattice: "6x6x6x6".into(), beta: 5.0 },
            },
            // Stages 1 and 3 of the shipped FP action's recipe (models/fp-action.json) in one run: 40 Wilson
            // configurations per coupling, Wilson start + read-out fit, Adam on L1 + 100 L2 with
            // early stopping (training passes in f32: the same model to 2.5e-5 in every evaluated
            // figure, epochs 1.7x faster), then the exact refit with four instantons. About 1 h 20 min
            // on 2 cores from scratch (stage timings in the README, "The whole program").
            Preset::Paper => PipelineConfig {
                out: "runs/paper".into(),
                seed: 1,
                ensembles: EnsembleConfig {
                    lattice: "4x4x4x4".into(),
                    betas: vec![5.0, 5.25, 5.5, 5.75, 6.0, 6.25, 6.5, 6.75, 7.0],
                    therm: 200,
                    every: 10,
                    configs: 40,
                    overrelax: 4,
                    test_configs: 10,
                },
                fp,
                train: TrainConfig {
                    precision: Precision::F32,
                    model: "paper".into(),
                    epochs: 30,
                    batch: 4,
                    lr: 1e-3,
                    w1: 1.0,
                    w2: 100.0,
                    val: 0.15,
                    fit_readout: true,
                    fit_directions: 32,
                    patience: 8,
                },
                iterate: IterateConfig { iterations: 0, configs_per_beta: 4, epochs: 10 },
                transfer: TransferConfig {
                    lattice: "8x8x8x8".into(),
                    betas: vec![6.0, 6.5],
                    configs: 1,
                    finetune_epochs: 0,
                },
                instantons: InstantonConfig {
                    lattice: "8x8x8x8".into(),
                    rhos: vec![1.0, 1.25, 1.5, 1.75, 2.0, 2.5],
                    depth: 1,
                    tune_rhos: vec![1.1, 1.4, 1.8, 2.3],
                    tune_w2: 100.0,
                },
                locality: LocalityConfig { lattice: "8x8x8x8".into(), beta: 5.0 },
            },
        }
    }
}

/// The built-in models `small` (Plaq → L-CB 6/6/6, kernel sizes 2, 2, 1 →
/// Re Tr) and `tiny` (L-CB 4/4, kernel sizes 2, 1), with small initial weights
/// (products of bilinear layers of unit-size weights start far from any
/// action). Other names are passed on (`paper`, a spec file).
fn model_arg(out: &Path, name: &str) -> Result<String> {
    let layers: &[(usize, usize)] = match name {
        "small" => &[(6, 2), (6, 2), (6, 1)],
        "tiny" => &[(4, 2), (4, 1)],
        other => return Ok(other.into()),
    };
    let path = out.join(format!("{name}-model.json"));
    let spec = fpa_core::lcnn::ModelSpec { init_scale: 0.1, ..fpa_core::lcnn::ModelSpec::lcb_stack(layers) };
    write_json(&path, &spec)?;
    Ok(path.display().to_string())
}

struct Ctx {
    dir: PathBuf,
    quiet: bool,
    started: Instant,
    /// Whether stage stamps and output tags name the run's own files relative to the run
    /// directory (see [`Ctx::key`]).
    relative: bool,
}

/// The file in `<run>/stages/` that marks a run whose stamps name its own files relative to
/// the run directory.
const RELATIVE_MARKER: &str = "paths-relative-to-run";

impl Ctx {
    /// The context of the run in `dir`: stamps relative to the run directory for a new run,
    /// or one that began so; as an earlier version wrote them (paths as given, so a moved run
    /// directory recomputes) for a run that an earlier version began, so that it does not
    /// recompute after the upgrade.
    fn new(dir: &Path, quiet: bool) -> Result<Self> {
        let stages = dir.join("stages");
        let earlier = std::fs::read_dir(&stages).map(|mut d| d.next().is_some()).unwrap_or(false);
        let relative = !earlier || stages.join(RELATIVE_MARKER).exists();
        if relative {
            ensure_dir(&stages)?;
            std::fs::write(
                stages.join(RELATIVE_MARKER),
                "stage stamps name the run's files relative to the run directory\n",
            )?;
        }
        Ok(Ctx { dir: dir.to_path_buf(), quiet, started: Instant::now(), relative })
    }

    /// How `path` appears in stage stamps and output tags: relative to the run directory
    /// where it lies inside it (so that a moved or copied run directory stays up to date),
    /// else as given.
    fn key(&self, path: &Path) -> String {
        match path.strip_prefix(&self.dir) {
            Ok(inside) if self.relative => inside.display().to_string(),
            _ => path.display().to_string(),
        }
    }

    fn keys(&self, paths: &[PathBuf]) -> Vec<String> {
        paths.iter().map(|p| self.key(p)).collect()
    }
}

/// A short content hash of a stage's settings: stage outputs are stored under
/// names that include it, so a changed setting never meets stale output (and
/// an unchanged one resumes where it stopped).
fn tag<S: Serialize>(settings: &S) -> String {
    let text = serde_json::to_string(settings).unwrap_or_default();
    format!("{:08x}", fpa_core::checksum::fnv1a(text.bytes()) >> 32)
}

impl Ctx {
    /// Runs `f` unless `stages/<name>.json` records the same `settings`.
    fn stage<S: Serialize>(&self, name: &str, settings: &S, f: impl FnOnce() -> Result<()>) -> Result<()> {
        let stamp = self.dir.join("stages").join(format!("{name}.json"));
        let want = serde_json::to_value(settings)?;
        if let Ok(text) = std::fs::read_to_string(&stamp) {
            if serde_json::from_str::<serde_json::Value>(&text).ok().as_ref() == Some(&want) {
                if !self.quiet {
                    eprintln!("[{:>6.0} s] {name}: up to date", self.started.elapsed().as_secs_f64());
                }
                return Ok(());
            }
        }
        if !self.quiet {
            eprintln!("[{:>6.0} s] {name}", self.started.elapsed().as_secs_f64());
        }
        f().with_context(|| format!("pipeline stage {name}"))?;
        ensure_dir(&self.dir.join("stages"))?;
        write_json(&stamp, &want)
    }
}

fn generate(
    ctx: &Ctx,
    dir: &Path,
    lattice: &str,
    beta: f64,
    e: &EnsembleConfig,
    configs: u64,
    seed: u64,
) -> Result<()> {
    let settings = EnsembleSettings {
        lattice: lattice.into(),
        beta,
        therm: e.therm,
        every: e.every,
        or_per_hb: e.overrelax,
        seed,
        start: Start::Hot,
        format: FileFormat::Full,
        fused: false,
    };
    let output = RunOutput { out: dir.to_path_buf(), stop_after: None, quiet: ctx.quiet };
    let job = EnsembleJob { settings, configs, output };
    crate::generate::generate(&job).map(|_| ())
}

/// Wilson ensembles at `betas` on `lattice` (seeds `1000·seed + seed_offset + i`, the other
/// settings from `[ensembles]`) and their FP data with the first round's right-hand side, in
/// `<run>/<label>/`, as stages `<label>-ensemble-b<β>` (recorded as `stamp(β, seed)`) and
/// `<label>-fp`. Returns the data directory.
fn ensembles_with_fp<S: Serialize>(
    ctx: &Ctx,
    cfg: &PipelineConfig,
    label: &str,
    lattice: &str,
    betas: &[f64],
    configs: u64,
    seed_offset: u64,
    stamp: impl Fn(f64, u64) -> S,
) -> Result<PathBuf> {
    let folder = ctx.dir.join(label);
    let mut dirs = Vec::new();
    for (i, &b) in betas.iter().enumerate() {
        let seed = cfg.seed * 1000 + seed_offset + i as u64;
        let st = stamp(b, seed);
        let d = folder.join(format!("b{b}-{}", tag(&st)));
        ctx.stage(&format!("{label}-ensemble-b{b}"), &st, || {
            generate(ctx, &d, lattice, b, &cfg.ensembles, configs, seed)
        })?;
        dirs.push(d);
    }
    let st = (&cfg.fp, ctx.keys(&dirs));
    let data = folder.join(format!("fp-{}", tag(&st)));
    ctx.stage(&format!("{label}-fp"), &st, || fp_data(ctx, &cfg.fp, dirs.clone(), vec![], &cfg.fp.rhs, &data, None))?;
    Ok(data)
}

fn fp_data(
    ctx: &Ctx,
    cfg: &FpConfig,
    ensembles: Vec<PathBuf>,
    instantons: Vec<String>,
    rhs: &str,
    out: &Path,
    limit: Option<usize>,
) -> Result<()> {
    // With a learned right-hand side a minimisation that has not converged in a
    // few thousand iterations is not going to: give up and report it.
    let max_iter = if rhs.ends_with(".safetensors") { 3000 } else { 20_000 };
    crate::fp_data::fp_data(&FpDataJob {
        ensembles,
        instantons,
        rhs: rhs.into(),
        blocking: cfg.blocking(),
        tol: cfg.tol,
        max_iter,
        max_evals: crate::fp_data::DEFAULT_MAX_EVALUATIONS,
        limit,
        flow_times: Vec::new(),
        retry_failed: false,
        out: out.to_path_buf(),
        quiet: ctx.quiet,
    })
    .map(|_| ())
}

fn train(
    ctx: &Ctx,
    t: &TrainConfig,
    model: &str,
    data: Vec<PathBuf>,
    out: &Path,
    epochs: usize,
    init: Option<PathBuf>,
    seed: u64,
) -> Result<()> {
    // Fine-tuning from an earlier model uses a smaller learning rate.
    let lr = if init.is_some() { t.lr / 5.0 } else { t.lr };
    // A fine-tuning run keeps the layer it starts from.
    let fit_readout = t.fit_readout && init.is_none();
    let settings = TrainSettings {
        spec: crate::model_io::spec(model)?.spec,
        data: data.iter().map(|d| d.display().to_string()).collect(),
        epochs,
        batch: t.batch,
        lr,
        schedule: ScheduleArg::Cosine,
        weights: LossWeights::new(t.w1, t.w2),
        val: t.val,
        seed,
        init_from: init.map(|p| p.display().to_string()),
        patience: t.patience,
        fit_readout,
        fit_directions: if fit_readout { t.fit_directions } else { 0 },
        precision: t.precision,
        warmup: 0,
        augment: false,
        train_only: Vec::new(),
    };
    crate::train::train(&TrainJob { settings, out: out.to_path_buf(), quiet: ctx.quiet, stop_after: None }).map(|_| ())
}

/// HIMW's instanton fine-tuning, as it made the shipped model: exact FP data of instantons of
/// sizes `tune_rhos`, then an exact refit of the last layer and read-out of `model` on the
/// round-0 Wilson data plus those instantons. Returns the refitted model and its evaluation
/// on `eval_on` (the held-out test data when there are any).
fn instanton_finetune(
    ctx: &Ctx,
    cfg: &PipelineConfig,
    model_arg: &str,
    model: &Path,
    wilson_data: &Path,
    eval_on: &Path,
) -> Result<(PathBuf, InstantonRefit)> {
    let inst = &cfg.instantons;
    let specs: Vec<String> = inst.tune_rhos.iter().map(|r| format!("{}:{r}", inst.lattice)).collect();
    let st = (&cfg.fp, &specs);
    let data = ctx.dir.join("instanton-tune").join(format!("fp-{}", tag(&st)));
    ctx.stage("instanton-tune-fp", &st, || fp_data(ctx, &cfg.fp, vec![], specs.clone(), &cfg.fp.rhs, &data, None))?;
    let st = (inst.tune_w2, &cfg.train, crate::fp_data::file_hash(model)?, ctx.key(&data), ctx.key(wilson_data));
    let out = ctx.dir.join("models").join(format!("instanton-refit-{}.safetensors", tag(&st)));
    ctx.stage("instanton-refit", &st, || {
        let settings = TrainSettings {
            spec: crate::model_io::spec(model_arg)?.spec,
            data: [wilson_data, data.as_path()].iter().map(|d| d.display().to_string()).collect(),
            epochs: 0,
            batch: cfg.train.batch,
            lr: cfg.train.lr,
            schedule: ScheduleArg::Cosine,
            weights: LossWeights::new(cfg.train.w1, inst.tune_w2),
            val: 0.1,
            seed: cfg.seed,
            init_from: Some(model.display().to_string()),
            patience: 0,
            fit_readout: true,
            fit_directions: cfg.train.fit_directions,
            precision: Precision::F64,
            warmup: 0,
            augment: false,
            train_only: Vec::new(),
        };
        crate::train::train(&TrainJob { settings, out: out.clone(), quiet: ctx.quiet, stop_after: None }).map(|_| ())
    })?;
    let before = load_eval(model, std::slice::from_ref(&data))?;
    let after = load_eval(&out, &[data])?;
    let ratio = |r: &Report| r.instantons.iter().map(|i| i.a_model / i.a_fp).collect::<Vec<_>>();
    let wilson_ensembles = load_eval(&out, &[eval_on.to_path_buf()])?;
    if !ctx.quiet {
        eprintln!("  instanton refit: A_L-CNN/A_FP {:.4?} -> {:.4?}", ratio(&before), ratio(&after));
    }
    Ok((
        out.clone(),
        InstantonRefit {
            model: out.display().to_string(),
            rhos: inst.tune_rhos.clone(),
            w2: inst.tune_w2,
            lcnn_over_fp_before: ratio(&before),
            lcnn_over_fp_after: ratio(&after),
            per_beta: wilson_ensembles.per_beta,
        },
    ))
}

fn load_eval(model: &Path, data: &[PathBuf]) -> Result<Report> {
    let (m, p, _) = crate::model_io::load(model)?;
    Ok(evaluate(&m, &p, None, &crate::eval::load_all(data)?, &[]))
}

/// One instanton radius: actions in units of the continuum value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstantonRow {
    pub rho: f64,
    pub wilson: f64,
    pub fp: f64,
    pub fp_converged: bool,
    pub lcnn: f64,
}

/// Headline numbers of a run (`summary.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub program: String,
    pub config: PipelineConfig,
    /// Per round: mean relative action error and invariant loss over all β (L-CNN), and Wilson's.
    pub rounds: Vec<RoundSummary>,
    /// The instanton fine-tuning, when `instantons.tune_rhos` asks for it.
    #[serde(default)]
    pub instanton_refit: Option<InstantonRefit>,
    pub transfer: Option<TransferSummary>,
    pub instantons: Vec<InstantonRow>,
    pub locality: Vec<LocalityPoint>,
    pub locality_decay_length: Option<f64>,
    /// A round whose FP data could not be computed: (round, failures, first reason).
    pub failed_round: Option<(usize, usize, String)>,
    /// The round whose model the transfer, instanton and locality stages use.
    pub best_round: usize,
    pub seconds: f64,
}

/// What the instanton refit did: `A_L-CNN / A_FP` on the tuning instantons before and after.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstantonRefit {
    pub model: String,
    pub rhos: Vec<f64>,
    pub w2: f64,
    pub lcnn_over_fp_before: Vec<f64>,
    pub lcnn_over_fp_after: Vec<f64>,
    /// The refitted model on the Wilson ensembles the rounds were evaluated on.
    pub per_beta: Vec<crate::eval::BetaRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoundSummary {
    pub round: usize,
    pub rhs: String,
    pub lcnn_rel_error: f64,
    pub wilson_rel_error: f64,
    pub lcnn_invariant_loss: f64,
    pub wilson_invariant_loss: f64,
    /// Mean |A_FP(this round) − A_FP(previous round)| / A_FP over the recomputed configurations.
    pub fp_change: Option<f64>,
    /// Minimisations of this round that failed (e.g. a right-hand side unbounded below).
    pub fp_failed: usize,
    pub per_beta: Vec<crate::eval::BetaRow>,
    /// "held-out test ensembles" or "the training data".
    #[serde(default)]
    pub evaluated_on: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransferSummary {
    pub lattice: String,
    pub lcnn_rel_error: f64,
    pub wilson_rel_error: f64,
    pub lcnn_invariant_loss: f64,
    pub wilson_invariant_loss: f64,
}

fn means(r: &Report) -> (f64, f64, f64, f64) {
    let n = r.per_beta.len() as f64;
    let s = |f: &dyn Fn(&crate::eval::BetaRow) -> f64| r.per_beta.iter().map(f).sum::<f64>() / n;
    (
        s(&|b| b.lcnn.rel_error),
        s(&|b| b.wilson.rel_error),
        s(&|b| b.lcnn.invariant_loss),
        s(&|b| b.wilson.invariant_loss),
    )
}

/// Largest lattice (sites) a pipeline config may ask for: checked before any lattice is built,
/// so that a typo cannot exhaust memory (64⁴ = 2²⁴).
pub const MAX_SITES: usize = 1 << 24;

impl PipelineConfig {
    /// Reads a config from TOML text (missing settings are an error; see `--print-config`).
    pub fn from_toml(text: &str) -> Result<Self> {
        Ok(toml::from_str(text)?)
    }

    /// Refuses settings no run could use: no couplings, lattices that are not 4D with even
    /// extents, or larger than [`MAX_SITES`].
    pub fn check(&self) -> Result<()> {
        ensure!(!self.ensembles.betas.is_empty(), "ensembles.betas is empty");
        ensure!(self.ensembles.betas.iter().all(|b| b.is_finite() && *b > 0.0), "ensembles.betas must be positive");
        for l in [&self.ensembles.lattice, &self.transfer.lattice, &self.instantons.lattice, &self.locality.lattice] {
            let dims = Geometry::parse_dims(l)?;
            let sites = dims.iter().try_fold(1usize, |v, &d| v.checked_mul(d)).unwrap_or(usize::MAX);
            ensure!(sites <= MAX_SITES, "lattice {l}: {sites} sites, more than a pipeline handles ({MAX_SITES})");
            let g = Geometry::new(&dims).map_err(|e| anyhow::anyhow!("lattice {l}: {e}"))?;
            ensure!(
                g.nd() == 4 && g.has_checkerboard(),
                "lattice {l}: the pipeline needs 4D lattices with even extents"
            );
        }
        let inst = &self.instantons;
        for &rho in &inst.tune_rhos {
            crate::fp_data::parse_instanton(&format!("{}:{rho}", inst.lattice))
                .with_context(|| format!("instantons.tune_rhos: {rho}"))?;
        }
        ensure!(inst.tune_w2.is_finite() && inst.tune_w2 >= 0.0, "instantons.tune_w2 must be a number >= 0");
        Ok(())
    }
}

/// Runs `fpa pipeline`.
pub fn run(args: &PipelineArgs) -> Result<()> {
    let mut cfg = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            PipelineConfig::from_toml(&text)
                .with_context(|| format!("{} is not a valid pipeline config", p.display()))?
        }
        None => PipelineConfig::preset(args.preset),
    };
    if let Some(o) = &args.out {
        cfg.out = o.clone();
    }
    if let Some(n) = args.iterations {
        cfg.iterate.iterations = n;
    }
    if args.print_config {
        print!("{}", toml::to_string_pretty(&cfg)?);
        return Ok(());
    }
    cfg.check()?;
    let dir = cfg.out.clone();
    ensure_dir(&dir)?;
    let _lock = crate::lock::OutputLock::dir(&dir)?;
    write_json(&dir.join("config.json"), &cfg)?;
    std::fs::write(dir.join("config.toml"), toml::to_string_pretty(&cfg)?)?;
    let ctx = Ctx::new(&dir, args.quiet)?;
    let model_arg = match &args.model {
        // Later rounds fine-tune the given model: they need its spec.
        Some(given) => {
            let (m, _, _) = crate::model_io::load(given).with_context(|| format!("--model {}", given.display()))?;
            let path = dir.join("given-model.json");
            write_json(&path, &m.spec)?;
            path.display().to_string()
        }
        None => model_arg(&dir, &cfg.train.model)?,
    };

    // 1. Wilson ensembles.
    let mut ens_dirs = Vec::new();
    for (i, &b) in cfg.ensembles.betas.iter().enumerate() {
        let seed = cfg.seed * 1000 + i as u64;
        let st = (&cfg.ensembles, b, seed);
        let d = dir.join("ensembles").join(format!("b{b}-{}", tag(&st)));
        ctx.stage(&format!("ensemble-b{b}"), &st, || {
            generate(&ctx, &d, &cfg.ensembles.lattice, b, &cfg.ensembles, cfg.ensembles.configs, seed)
        })?;
        ens_dirs.push(d);
    }
    // Held-out test ensembles and their FP data (first-round right-hand side).
    let test_data = if cfg.ensembles.test_configs > 0 {
        let e = &cfg.ensembles;
        Some(ensembles_with_fp(&ctx, &cfg, "test", &e.lattice, &e.betas, e.test_configs, 200, |b, seed| {
            (e, b, seed, "test")
        })?)
    } else {
        None
    };
    // 2-4. FP data, training, evaluation; then self-consistent rounds.
    let mut rounds = Vec::new();
    let mut models: Vec<(PathBuf, f64)> = Vec::new();
    let mut failed_round: Option<(usize, usize, String)> = None;
    let mut prev_model: Option<PathBuf> = None;
    let mut prev_data: Option<PathBuf> = None;
    let mut round0_data = PathBuf::new();
    for round in 0..=cfg.iterate.iterations {
        let rhs = match &prev_model {
            None => cfg.fp.rhs.clone(),
            Some(m) => m.display().to_string(),
        };
        let limit = if round == 0 { None } else { Some(cfg.iterate.configs_per_beta) };
        let rhs_key = prev_model.as_ref().map_or_else(|| rhs.clone(), |m| ctx.key(m));
        let fp_st = (&cfg.fp, &rhs_key, limit, ctx.keys(&ens_dirs));
        let data = dir.join("fp").join(format!("round{round}-{}", tag(&fp_st)));
        ctx.stage(&format!("fp-round{round}"), &fp_st, || {
            fp_data(&ctx, &cfg.fp, ens_dirs.clone(), vec![], &rhs, &data, limit)
        })?;
        if round == 0 {
            round0_data = data.clone();
        }
        let idx: crate::fp_data::Index = serde_json::from_str(&std::fs::read_to_string(data.join("index.json"))?)?;
        if round > 0 && idx.configs.len() < 2 {
            // The previous L-CNN is not a usable right-hand side (typically unbounded
            // below on the smooth fine fields it was never trained on): report it
            // and keep the last good model.
            eprintln!(
                "round {round}: {} of {} minimisations with the round-{} L-CNN as right-hand side failed; stopping the iteration",
                idx.failed.len(),
                idx.failed.len() + idx.configs.len(),
                round - 1
            );
            failed_round =
                Some((round, idx.failed.len(), idx.failed.first().map(|f| f.reason.clone()).unwrap_or_default()));
            break;
        }
        // Training data: this round's FP values (earlier rounds' data are not reused:
        // the right-hand side changed).
        let epochs = if round == 0 { cfg.train.epochs } else { cfg.iterate.epochs };
        ensure_dir(&dir.join("models"))?;
        let spec_text = std::fs::read_to_string(&model_arg).unwrap_or_else(|_| model_arg.clone());
        let tr_st = (&cfg.train, &spec_text, epochs, ctx.key(&data), prev_model.as_ref().map(|m| ctx.key(m)));
        let model = match (&args.model, round) {
            (Some(given), 0) => given.clone(),
            _ => {
                let model = dir.join("models").join(format!("round{round}-{}.safetensors", tag(&tr_st)));
                ctx.stage(&format!("train-round{round}"), &tr_st, || {
                    train(
                        &ctx,
                        &cfg.train,
                        &model_arg,
                        vec![data.clone()],
                        &model,
                        epochs,
                        prev_model.clone(),
                        cfg.seed,
                    )
                })?;
                model
            }
        };
        // Round 0 on the held-out configurations when there are any; later rounds on their
        // own data (their right-hand side differs).
        let eval_data = match (&test_data, round) {
            (Some(t), 0) => t.clone(),
            _ => data.clone(),
        };
        let report = load_eval(&model, std::slice::from_ref(&eval_data))?;
        ensure_dir(&dir.join("eval"))?;
        write_json(&dir.join("eval").join(format!("round{round}.json")), &report)?;
        plot_rows(
            &dir.join("eval").join(format!("round{round}")),
            &report.per_beta,
            &format!("L-CNN (round {round})"),
        )?;
        let fp_change = match &prev_data {
            Some(pd) => Some(fp_change(pd, &data)?),
            None => None,
        };
        let (l, w, li, wi) = means(&report);
        rounds.push(RoundSummary {
            round,
            rhs: rhs.clone(),
            lcnn_rel_error: l,
            wilson_rel_error: w,
            lcnn_invariant_loss: li,
            wilson_invariant_loss: wi,
            fp_change,
            fp_failed: idx.failed.len(),
            per_beta: report.per_beta.clone(),
            evaluated_on: if eval_data != data {
                "held-out test ensembles"
            } else if round == 0 && args.model.is_some() {
                "this run's ensembles (the given model was trained elsewhere)"
            } else {
                "the training data"
            }
            .into(),
        });
        models.push((model.clone(), rounds.last().unwrap().lcnn_rel_error));
        prev_model = Some(model);
        prev_data = Some(data);
    }
    // The later stages use the round whose model describes its own FP data best.
    let (mut final_model, _) = models.iter().min_by(|a, b| a.1.total_cmp(&b.1)).cloned().unwrap();
    let best_round = models.iter().position(|m| m.0 == final_model).unwrap();
    let mut instanton_refit = None;
    if !cfg.instantons.tune_rhos.is_empty() && args.model.is_none() {
        let eval_on = test_data.clone().unwrap_or_else(|| round0_data.clone());
        let (refit, report) = instanton_finetune(&ctx, &cfg, &model_arg, &final_model, &round0_data, &eval_on)?;
        final_model = refit;
        instanton_refit = Some(report);
    }
    let (fm, fpar, _) = crate::model_io::load(&final_model)?;
    let lcnn = LcnnAction::new(fm.clone(), fpar.clone(), "final L-CNN".into());
    let blocking = cfg.fp.blocking();

    // 5. Transfer to a larger volume.
    let mut transfer = None;
    if cfg.transfer.configs > 0 && !cfg.transfer.betas.is_empty() {
        let t = &cfg.transfer;
        let tdata = ensembles_with_fp(&ctx, &cfg, "transfer", &t.lattice, &t.betas, t.configs, 500, |b, seed| {
            (t, &cfg.ensembles, b, seed)
        })?;
        let mut eval_model = final_model.clone();
        if cfg.transfer.finetune_epochs > 0 {
            let st = (&cfg.transfer, &cfg.train, ctx.key(&final_model), ctx.key(&tdata));
            let ft = dir.join("models").join(format!("finetuned-{}.safetensors", tag(&st)));
            ctx.stage("transfer-finetune", &st, || {
                train(
                    &ctx,
                    &cfg.train,
                    &model_arg,
                    vec![tdata.clone()],
                    &ft,
                    cfg.transfer.finetune_epochs,
                    Some(final_model.clone()),
                    cfg.seed,
                )
            })?;
            eval_model = ft;
        }
        let r = load_eval(&eval_model, std::slice::from_ref(&tdata))?;
        write_json(&dir.join("eval").join("transfer.json"), &r)?;
        let (l, w, li, wi) = means(&r);
        transfer = Some(TransferSummary {
            lattice: cfg.transfer.lattice.clone(),
            lcnn_rel_error: l,
            wilson_rel_error: w,
            lcnn_invariant_loss: li,
            wilson_invariant_loss: wi,
        });
    }

    // 6. Instantons: A/A_inst against rho for Wilson, the exact FP value and the L-CNN.
    let inst_path = dir.join("instantons.json");
    ctx.stage(
        "instantons",
        &(&cfg.instantons, &cfg.fp, ctx.key(&final_model), crate::fp_data::file_hash(&final_model)?),
        || {
            let geom = Arc::new(Geometry::parse(&cfg.instantons.lattice)?);
            let fp = FixedPoint::new(
                geom.clone(),
                FixedPointSettings {
                    blocking,
                    depth: cfg.instantons.depth,
                    minimizer: MinimizerSettings {
                        grad_tol: cfg.fp.tol.max(1e-8),
                        max_iterations: 20_000,
                        ..Default::default()
                    },
                },
                &Wilson,
            )?;
            let mut rows = Vec::new();
            for &rho in &cfg.instantons.rhos {
                let inst = Instanton::centred(&geom, rho);
                let v = inst.field(geom.clone());
                // The lower of the minima from the standard start and by continuation in rho.
                let r = fpa_core::rg::instanton_fp(&fp, &inst)?.into_kept();
                rows.push(InstantonRow {
                    rho,
                    wilson: Wilson.value(&v) / ACTION,
                    fp: r.action / ACTION,
                    fp_converged: r.report.converged,
                    lcnn: Action::<f64>::value(&lcnn, &v) / ACTION,
                });
                if !ctx.quiet {
                    let last = rows.last().unwrap();
                    eprintln!(
                        "  rho {rho}: Wilson {:.4}, FP {:.4}, L-CNN {:.4} (x A_inst)",
                        last.wilson, last.fp, last.lcnn
                    );
                }
            }
            write_json(&inst_path, &rows)
        },
    )?;
    let instantons: Vec<InstantonRow> = serde_json::from_str(&std::fs::read_to_string(&inst_path)?)?;

    // 7. Locality of the learned couplings on a rough configuration.
    let loc_path = dir.join("locality.json");
    ctx.stage("locality", &(&cfg.locality, crate::fp_data::file_hash(&final_model)?), || {
        let d = dir.join("locality").join(format!("ensemble-{}", tag(&(&cfg.locality, &cfg.ensembles))));
        generate(&ctx, &d, &cfg.locality.lattice, cfg.locality.beta, &cfg.ensembles, 1, cfg.seed * 1000 + 900)?;
        let (u, _) = crate::files::read_nersc(&d.join("config_0001.nersc"))?;
        let prof = locality_profile(&fm, &fpar, &u, 0);
        write_json(&loc_path, &prof)
    })?;
    let locality: Vec<LocalityPoint> = serde_json::from_str(&std::fs::read_to_string(&loc_path)?)?;

    let summary = Summary {
        program: format!("fpa {}", env!("CARGO_PKG_VERSION")),
        config: cfg.clone(),
        rounds,
        instanton_refit,
        transfer,
        instantons,
        locality_decay_length: decay_length(&locality),
        locality,
        failed_round,
        best_round,
        seconds: ctx.started.elapsed().as_secs_f64(),
    };
    plots(&dir, &summary)?;
    write_json(&dir.join("summary.json"), &summary)?;
    crate::report::write(&dir, &summary)?;
    let r0 = &summary.rounds[summary.best_round];
    eprintln!(
        "done in {:.0} s: {}/report.html — relative action error L-CNN {:.2e} vs Wilson {:.2e}; invariant loss {:.2e} vs {:.2e}",
        summary.seconds,
        dir.display(),
        r0.lcnn_rel_error,
        r0.wilson_rel_error,
        r0.lcnn_invariant_loss,
        r0.wilson_invariant_loss
    );
    Ok(())
}

/// Mean relative change of A_FP between two datasets on their common configurations.
fn fp_change(prev: &Path, cur: &Path) -> Result<f64> {
    let (a, _) = crate::dataset::load(prev)?;
    let (b, _) = crate::dataset::load(cur)?;
    let mut s = 0.0;
    let mut n = 0;
    for c in &b.configs {
        if let Some(p) = a.configs.iter().find(|p| p.id == c.id) {
            s += ((c.a_fp - p.a_fp) / p.a_fp).abs();
            n += 1;
        }
    }
    ensure!(n > 0, "no common configurations between rounds");
    Ok(s / n as f64)
}

fn plots(dir: &Path, s: &Summary) -> Result<()> {
    let p = dir.join("plots");
    ensure_dir(&p)?;
    let inst = |f: &dyn Fn(&InstantonRow) -> f64| s.instantons.iter().map(|r| (r.rho, f(r))).collect::<Vec<_>>();
    line_chart(
        &p.join("instantons.svg"),
        "instanton action / continuum value",
        "rho / a",
        "A / A_inst",
        &[
            Series { name: "Wilson", points: inst(&|r| r.wilson) },
            Series { name: "FP (minimisation)", points: inst(&|r| r.fp) },
            Series { name: "L-CNN", points: inst(&|r| r.lcnn) },
            Series { name: "continuum", points: inst(&|_| 1.0) },
        ],
        false,
    )?;
    line_chart(
        &p.join("locality.svg"),
        "locality of the L-CNN couplings",
        "|x - y| (link midpoints)",
        "D2S (mean Frobenius norm)",
        &[
            Series { name: "mean", points: s.locality.iter().map(|q| (q.r, q.mean)).collect() },
            Series { name: "max", points: s.locality.iter().map(|q| (q.r, q.max)).collect() },
        ],
        true,
    )?;
    let series = |f: &dyn Fn(&RoundSummary) -> f64, g: &dyn Fn(&RoundSummary) -> f64| {
        vec![
            Series { name: "L-CNN", points: s.rounds.iter().map(|r| (r.round as f64, f(r))).collect() },
            Series { name: "Wilson", points: s.rounds.iter().map(|r| (r.round as f64, g(r))).collect() },
        ]
    };
    line_chart(
        &p.join("rounds.svg"),
        "self-consistent rounds",
        "round",
        "mean relative action error",
        &series(&|r| r.lcnn_rel_error, &|r| r.wilson_rel_error),
        true,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new run names its own files relative to the run directory in its stamps; a run whose
    /// stamps an earlier version wrote (no marker) keeps naming them as given, so that it
    /// finds its stages up to date after the upgrade.
    #[test]
    fn stamps_name_the_run_files_relative_to_the_run_except_in_earlier_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let new_run = tmp.path().join("new");
        let ctx = Ctx::new(&new_run, true).unwrap();
        let inside = new_run.join("fp").join("round0-1234abcd");
        let outside = tmp.path().join("model.safetensors");
        assert_eq!(ctx.key(&inside), Path::new("fp").join("round0-1234abcd").display().to_string());
        assert_eq!(ctx.key(&outside), outside.display().to_string());
        // The marker keeps the run relative when it is opened again.
        ctx.stage("one", &1, || Ok(())).unwrap();
        assert!(Ctx::new(&new_run, true).unwrap().relative);

        let earlier = tmp.path().join("earlier");
        ensure_dir(&earlier.join("stages")).unwrap();
        std::fs::write(earlier.join("stages").join("ensemble-b6.json"), "[1]").unwrap();
        let ctx = Ctx::new(&earlier, true).unwrap();
        let inside = earlier.join("ensembles").join("b6-0000");
        assert_eq!(ctx.key(&inside), inside.display().to_string());
        assert!(!earlier.join("stages").join(RELATIVE_MARKER).exists());
    }
}
