//! The training loop shared by the scalar-field networks: mean losses and
//! gradients over configurations (in parallel, summed in order, so the numbers
//! do not depend on the thread count) and epochs of Adam over shuffled batches.

use crate::lcnn::train::{shuffled, Adam};
use alloc::vec::Vec;

/// The mean of `per(item)`'s losses and gradients over `items`.
pub fn mean_loss_and_gradient<I: Sync>(
    n_params: usize,
    items: &[I],
    per: impl Fn(&I) -> (f64, Vec<f64>) + Sync + Send,
) -> (f64, Vec<f64>) {
    let parts = crate::par::map_slice(items, per);
    let n = items.len().max(1) as f64;
    let mut grad = alloc::vec![0.0; n_params];
    let mut loss = 0.0;
    for (l, g) in &parts {
        loss += l;
        grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
    }
    grad.iter_mut().for_each(|a| *a /= n);
    (loss / n, grad)
}

/// The schedule of one training epoch.
#[derive(Clone, Copy, Debug)]
pub struct Epoch {
    /// Items per optimiser step.
    pub batch: usize,
    pub lr: f64,
    /// The shuffle of the items is fixed by `(seed, index)`.
    pub seed: u64,
    pub index: u64,
}

/// One epoch of Adam over `n` items: `batch_gradient(indices)` gives the mean
/// loss and gradient of a batch. Returns the mean of the batch losses.
pub fn adam_epoch(
    p: &mut [f64],
    adam: &mut Adam,
    n: usize,
    e: Epoch,
    mut batch_gradient: impl FnMut(&[f64], &[usize]) -> (f64, Vec<f64>),
) -> f64 {
    let order = shuffled(n, e.seed, e.index);
    let mut total = 0.0;
    let mut batches = 0;
    for chunk in order.chunks(e.batch.max(1)) {
        let (loss, grad) = batch_gradient(p, chunk);
        adam.step(p, &grad, e.lr);
        total += loss;
        batches += 1;
    }
    total / batches.max(1) as f64
}
