//! The training loop of an L-CNN, one home for `fpa train`, the Python package
//! and embedders: epochs of Adam steps over shuffled mini-batches, the
//! validation losses after each epoch, divergence control, model selection and
//! early stopping. Saving checkpoints, timing and progress display are the
//! caller's (between epochs, everything needed to resume is in [`Trainer`]'s
//! public fields).
//!
//! Divergence control: an epoch whose loss or gradient is not finite, or whose
//! validation objective at its end (without a validation split: its mean
//! training objective) exceeds the best so far by [`DIVERGENCE_FACTOR`], is
//! taken back: the weights return to the best ones, the optimiser starts
//! afresh, and the epoch is redone at half the learning rate (at most
//! [`MAX_HALVINGS`] times). The objective is `w1 L1 + w2 L2`; the weights kept
//! ([`Trainer::best`]) are those of the epoch with the lowest validation
//! objective.

use super::model::Model;
use super::train::{
    batch_loss_with, shuffled, Adam, LocalSamples, LossWeights, Precision, Sample, SampleLoss, SampleMap, Schedule,
};
use crate::lattice::{Geometry, Hypercubic};
use crate::rng::{domain, Rng};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Factor by which an epoch's objective may exceed the best one before the
/// epoch is taken back.
pub const DIVERGENCE_FACTOR: f64 = 3.0;
/// How often the learning rate may be halved before training gives up.
pub const MAX_HALVINGS: u32 = 10;

/// How the loop runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoopSettings {
    pub epochs: usize,
    /// Configurations per optimiser step.
    pub batch: usize,
    /// Base learning rate (the schedule's value at epoch 0).
    pub lr: f64,
    pub schedule: Schedule,
    pub weights: LossWeights,
    /// Seed of the batch order (epoch `e` uses the permutation keyed by `(seed, e)`).
    pub seed: u64,
    /// Stop when the validation objective has not improved for this many epochs (0: never).
    pub patience: usize,
    /// The scalar of the passes behind each optimiser step (the initial and
    /// validation losses, which select the model, are always `f64`).
    pub precision: Precision,
    /// Linear warm-up: optimiser step `t` (counted from 1 since the optimiser
    /// was created: the start, or an epoch taken back) uses `min(1, t/warmup)`
    /// times the epoch's rate. 0: none. Adam's first steps move every weight
    /// by about the full rate whatever its gradient; from trained weights
    /// (fine-tuning) that alone can undo them.
    pub warmup: u64,
    /// Data augmentation by the lattice symmetries: every training configuration
    /// of every epoch enters as `gV`, with `A_FP` unchanged and `D_FP` moved by
    /// [`Hypercubic::apply_derivative`], `g` drawn uniformly from the hypercubic
    /// elements that map its lattice onto itself (keyed by `(seed, epoch,
    /// configuration)`). The FP action is invariant, an L-CNN only as far as
    /// training teaches it. Validation configurations are used as they are.
    pub augment: bool,
}

/// The hypercubic element that augments training configuration `i` in `epoch`:
/// uniform over the elements that map `geom` onto itself.
pub fn augmentation(geom: &Geometry, seed: u64, epoch: usize, i: usize) -> Hypercubic {
    let mut rng = Rng::stream(seed, &[domain::AUGMENT, epoch as u64, i as u64]);
    loop {
        let g = Hypercubic::random(geom.nd(), &mut rng);
        if g.check(geom).is_ok() {
            return g;
        }
    }
}

/// The configuration `gV` with its FP data: `A_FP` unchanged, `D_FP` moved with the links.
pub fn augmented(s: &Sample, g: &Hypercubic) -> Sample {
    Sample { links: g.apply(&s.links), a_fp: s.a_fp, d_fp: g.apply_derivative(&s.links, &s.d_fp), ..*s }
}

/// One kept epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub lr: f64,
    pub train_l1: f64,
    pub train_l2: f64,
    pub val_l1: Option<f64>,
    pub val_l2: Option<f64>,
    /// Wall time (set by the caller; 0 if not measured).
    pub seconds: f64,
    /// Epochs taken back because the loss diverged, before this one was kept.
    #[serde(default)]
    pub retries: u32,
}

impl EpochLog {
    /// What model selection and early stopping look at: `w1 L1 + w2 L2` on the
    /// validation split, or on the training data without one.
    pub fn objective(&self, w: LossWeights) -> f64 {
        match (self.val_l1, self.val_l2) {
            (Some(a), Some(b)) => w.total((a, b)),
            _ => self.train_objective(w),
        }
    }

    pub fn train_objective(&self, w: LossWeights) -> f64 {
        w.total((self.train_l1, self.train_l2))
    }
}

/// The history of a run (serialised into `fpa train`'s log and checkpoint).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct History {
    pub epochs: Vec<EpochLog>,
    pub complete: bool,
    /// The learning rate is the schedule's times `2^-halvings`.
    #[serde(default)]
    pub halvings: u32,
    /// Epoch with the lowest objective; its weights are [`Trainer::best`].
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Why training ended before the last epoch (early stopping).
    #[serde(default)]
    pub stopped_early: Option<String>,
    /// `(L1, L2)` on the training data before the first step.
    #[serde(default)]
    pub initial: Option<(f64, f64)>,
    /// `(L1, L2)` on the validation configurations before the first step.
    #[serde(default)]
    pub initial_val: Option<(f64, f64)>,
}

/// What one call of [`Trainer::epoch`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum EpochOutcome {
    /// The epoch was kept (its index in [`History::epochs`]).
    Kept(usize),
    /// The epoch diverged (why) and was taken back; the next call redoes it at half the rate.
    TakenBack(String),
}

/// Training gave up: the loss kept diverging.
#[derive(Clone, Debug, PartialEq)]
pub struct Diverged(pub String);

impl fmt::Display for Diverged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "training diverged ({}) after the learning rate was halved {MAX_HALVINGS} times; lower the learning rate or check the data",
            self.0
        )
    }
}

impl core::error::Error for Diverged {}

/// The validation split of `fpa train`: `round(n·val)` configurations (at most `n − 1`) chosen by
/// the fixed permutation keyed by `(seed, u64::MAX)`; returns `(train, validation)`.
pub fn validation_split(samples: &[Sample], val: f64, seed: u64) -> (Vec<&Sample>, Vec<&Sample>) {
    let (train, val) = validation_indices(samples.len(), val, seed);
    let pick = |idx: &[usize]| idx.iter().map(|&i| &samples[i]).collect::<Vec<_>>();
    (pick(&train), pick(&val))
}

/// The indices of [`validation_split`]'s `(train, validation)` parts of `n` configurations, in
/// the same order.
pub fn validation_indices(n: usize, val: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut perm = shuffled(n, seed, u64::MAX);
    let n_val = (libm::round(n as f64 * val) as usize).min(n.saturating_sub(1));
    let train = perm.split_off(n_val);
    (train, perm)
}

/// Mean `(L1, L2)` of per-configuration losses `l` of the configurations `samples` (in the
/// same order), each counted [`Sample::weight`] times: `Σ_i w_i L_i / Σ_i w_i` (0 when the
/// weights sum to 0). With all weights 1 this is the plain mean, bit for bit (`1·x` and a sum
/// of ones are exact).
pub fn mean_losses(l: &[SampleLoss], samples: &[&Sample]) -> (f64, f64) {
    assert_eq!(l.len(), samples.len(), "one loss per configuration");
    let total: f64 = samples.iter().map(|s| s.weight).sum();
    let mean = |f: fn(&SampleLoss) -> f64| {
        let sum: f64 = l.iter().zip(samples).map(|(x, s)| s.weight * f(x)).sum();
        if total > 0.0 {
            sum / total
        } else {
            0.0
        }
    };
    (mean(|x| x.l1), mean(|x| x.l2))
}

/// A training run in memory.
pub struct Trainer<'a> {
    pub model: &'a Model,
    pub train: &'a [&'a Sample],
    pub val: &'a [&'a Sample],
    pub settings: LoopSettings,
    /// The current weights.
    pub params: Vec<f64>,
    /// The weights of the best epoch so far (the initial ones before any).
    pub best: Vec<f64>,
    pub adam: Adam,
    pub history: History,
    /// Epochs taken back since the last kept one.
    retries: u32,
    /// Where the configurations of each batch are evaluated (this process unless
    /// [`Self::with_samples`] says otherwise).
    samples: &'a dyn SampleMap,
}

impl<'a> Trainer<'a> {
    /// A fresh run from `params`.
    pub fn new(
        model: &'a Model,
        train: &'a [&'a Sample],
        val: &'a [&'a Sample],
        settings: LoopSettings,
        params: Vec<f64>,
    ) -> Self {
        let n = params.len();
        Self::resume(model, train, val, settings, params.clone(), params, Adam::new(n), History::default())
    }

    /// A run continued from a checkpoint's state.
    #[allow(clippy::too_many_arguments)]
    pub fn resume(
        model: &'a Model,
        train: &'a [&'a Sample],
        val: &'a [&'a Sample],
        settings: LoopSettings,
        params: Vec<f64>,
        best: Vec<f64>,
        adam: Adam,
        history: History,
    ) -> Self {
        assert_eq!(params.len(), model.n_params, "parameter vector does not match the model");
        Trainer { model, train, val, settings, params, best, adam, history, retries: 0, samples: &LocalSamples }
    }

    /// Evaluates the configurations of every batch through `samples` (e.g. spread over MPI
    /// ranks); the weights stay the same bits.
    pub fn with_samples(mut self, samples: &'a dyn SampleMap) -> Self {
        self.samples = samples;
        self
    }

    /// The losses (and gradient) of `batch` at the current weights.
    fn batch_loss(
        &self,
        batch: &[&Sample],
        want_grad: bool,
        precision: Precision,
    ) -> (Vec<SampleLoss>, Option<Vec<f64>>) {
        batch_loss_with(self.model, &self.params, batch, self.settings.weights, want_grad, precision, self.samples)
    }

    /// Whether the run is over (all epochs, or stopped early).
    pub fn is_complete(&self) -> bool {
        self.history.complete
    }

    /// Steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.settings.batch.max(1))
    }

    /// The losses before the first step (once; a run of 0 epochs is then complete).
    pub fn measure_initial(&mut self) {
        if self.history.initial.is_none() {
            let (l, _) = self.batch_loss(self.train, false, Precision::F64);
            self.history.initial = Some(mean_losses(&l, self.train));
            if !self.val.is_empty() {
                let (l, _) = self.batch_loss(self.val, false, Precision::F64);
                self.history.initial_val = Some(mean_losses(&l, self.val));
            }
        }
        if self.settings.epochs == 0 {
            self.history.complete = true;
        }
    }

    /// The learning rate of the next epoch.
    pub fn next_lr(&self) -> f64 {
        let s = &self.settings;
        s.schedule.lr(s.lr, self.history.epochs.len(), s.epochs) * libm::pow(0.5, self.history.halvings as f64)
    }

    /// Runs the next epoch; `on_step` is called after every optimiser step.
    pub fn epoch(&mut self, on_step: &mut dyn FnMut()) -> Result<EpochOutcome, Diverged> {
        self.measure_initial();
        let (s, w) = (self.settings, self.settings.weights);
        let epoch = self.history.epochs.len();
        let lr = self.next_lr();
        let order = shuffled(self.train.len(), s.seed, epoch as u64);
        let mut losses = Vec::with_capacity(self.train.len());
        let mut seen: Vec<&Sample> = Vec::with_capacity(self.train.len());
        let mut blew_up = None;
        for (step, chunk) in order.chunks(s.batch.max(1)).enumerate() {
            let moved: Vec<Sample> = if s.augment {
                let geom = |i: usize| self.train[i].links.geometry().clone();
                chunk.iter().map(|&i| augmented(self.train[i], &augmentation(&geom(i), s.seed, epoch, i))).collect()
            } else {
                Vec::new()
            };
            let batch: Vec<&Sample> =
                if s.augment { moved.iter().collect() } else { chunk.iter().map(|&i| self.train[i]).collect() };
            let (l, g) = self.batch_loss(&batch, true, s.precision);
            let g = g.expect("gradient requested");
            if !g.iter().all(|x| x.is_finite()) || !l.iter().all(|x| x.l1.is_finite() && x.l2.is_finite()) {
                blew_up = Some(format!("a non-finite loss or gradient in epoch {} at batch {}", epoch + 1, step + 1));
                break;
            }
            let ramp = if s.warmup > 0 { ((self.adam.t + 1) as f64 / s.warmup as f64).min(1.0) } else { 1.0 };
            self.adam.step(&mut self.params, &g, lr * ramp);
            losses.extend(l);
            seen.extend(chunk.iter().map(|&i| self.train[i]));
            on_step();
        }
        let (t1, t2) = mean_losses(&losses, &seen);
        let h = &self.history;
        let initial = h.initial.map_or(f64::INFINITY, |l| w.total(l));
        let initial_val = h.initial_val.map_or(f64::INFINITY, |l| w.total(l));
        let best_train = h.epochs.iter().map(|e| e.train_objective(w)).fold(initial, f64::min);
        let now = w.total((t1, t2));
        // With a validation split the end-of-epoch validation loss decides (below): the
        // mean over an epoch can be low while its last steps already blew up.
        if blew_up.is_none() && self.val.is_empty() && now > DIVERGENCE_FACTOR * best_train {
            blew_up = Some(format!("the training loss rose from {best_train:.3e} to {now:.3e} in epoch {}", epoch + 1));
        }
        let (v1, v2) = if self.val.is_empty() || blew_up.is_some() {
            (None, None)
        } else {
            let (l, _) = self.batch_loss(self.val, false, Precision::F64);
            let (a, b) = mean_losses(&l, self.val);
            (Some(a), Some(b))
        };
        if let (Some(a), Some(b)) = (v1, v2) {
            let best_val = h.epochs.iter().map(|e| e.objective(w)).fold(initial_val, f64::min);
            let v = w.total((a, b));
            if blew_up.is_none() && (v.is_nan() || v > DIVERGENCE_FACTOR * best_val) {
                blew_up =
                    Some(format!("the validation loss rose from {best_val:.3e} to {v:.3e} in epoch {}", epoch + 1));
            }
        }
        if let Some(why) = blew_up {
            if self.history.halvings >= MAX_HALVINGS {
                return Err(Diverged(why));
            }
            // Back to the best weights with a fresh optimiser: the moments of a blow-up
            // are no guide.
            self.params.clone_from(&self.best);
            self.adam = Adam::new(self.params.len());
            self.history.halvings += 1;
            self.retries += 1;
            return Ok(EpochOutcome::TakenBack(why));
        }
        self.history.epochs.push(EpochLog {
            epoch,
            lr,
            train_l1: t1,
            train_l2: t2,
            val_l1: v1,
            val_l2: v2,
            seconds: 0.0,
            retries: self.retries,
        });
        self.retries = 0;
        let h = &mut self.history;
        let obj = h.epochs[epoch].objective(w);
        if h.best_epoch.is_none_or(|b| obj < h.epochs[b].objective(w)) {
            h.best_epoch = Some(epoch);
            self.best.clone_from(&self.params);
        }
        let since_best = epoch - h.best_epoch.unwrap();
        if s.patience > 0 && since_best >= s.patience {
            h.stopped_early =
                Some(format!("stopped after epoch {}: no improvement for {since_best} epochs", epoch + 1));
        }
        h.complete = h.epochs.len() >= s.epochs || h.stopped_early.is_some();
        Ok(EpochOutcome::Kept(epoch))
    }

    /// Runs the remaining epochs; `on_epoch` sees the trainer after every call of
    /// [`Self::epoch`] (for checkpoints, logs, progress).
    pub fn run(
        &mut self,
        on_step: &mut dyn FnMut(),
        on_epoch: &mut dyn FnMut(&Trainer, &EpochOutcome),
    ) -> Result<(), Diverged> {
        self.measure_initial();
        while !self.is_complete() {
            let o = self.epoch(on_step)?;
            on_epoch(self, &o);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::{GaugeField, Geometry};
    use crate::lcnn::ModelSpec;
    use alloc::sync::Arc;

    /// `warmup`: the first optimiser step moves the weights by `1/warmup` of
    /// the rate (Adam's first step moves each weight by about the full rate).
    #[test]
    fn warmup_scales_the_first_steps() {
        let m = Model::new(ModelSpec { init_scale: 0.3, ..ModelSpec::lcb_stack(&[(2, 1)]) }).unwrap();
        let g = Arc::new(Geometry::new(&[2, 2, 2, 2]).unwrap());
        let samples: Vec<Sample> = (0..2)
            .map(|i| {
                let links = GaugeField::hot(g.clone(), 10 + i);
                let d_fp = alloc::vec![[0.1; 8]; links.links().len()];
                Sample { links, a_fp: 5.0, d_fp, beta: 6.0, weight: 1.0 }
            })
            .collect();
        let refs: Vec<&Sample> = samples.iter().collect();
        let p0 = m.init_params(3);
        let largest_move = |warmup: u64| {
            let settings = LoopSettings {
                epochs: 1,
                batch: 2,
                lr: 1e-3,
                schedule: Schedule::Constant,
                weights: LossWeights::new(1.0, 1.0),
                seed: 1,
                patience: 0,
                precision: Precision::F64,
                warmup,
                augment: false,
            };
            let mut t = Trainer::new(&m, &refs, &[], settings, p0.clone());
            assert!(matches!(t.epoch(&mut || {}), Ok(EpochOutcome::Kept(0))));
            t.params.iter().zip(&p0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
        };
        let (full, quarter) = (largest_move(0), largest_move(4));
        assert!((full - 1e-3).abs() < 1e-6, "without warm-up: {full}");
        assert!((quarter - 0.25e-3).abs() < 1e-6, "warm-up over 4 steps: {quarter}");
    }
}
