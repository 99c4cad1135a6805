//! Neural block spinning (seed talk 003): an autoencoder `A = g ∘ f` whose
//! encoder `f` maps an `L × L` configuration of the real φ⁴ theory to an
//! `(L/2) × (L/2)` one (the block spin) and whose decoder `g` maps it back,
//! trained on the reconstruction loss with hand-written gradients.
//!
//! Layers ([`Conv2d`], periodic, no biases):
//!
//! ```text
//! encoder  x  ──conv 3×3, 1 → C──▶ a₁ ──tanh──▶ h₁ ──conv 2×2 stride 2, C → 1──▶ y   (L/2 × L/2)
//! decoder  y  ──transposed conv 2×2 stride 2, 1 → C──▶ a₂ ──tanh──▶ h₂ ──conv 3×3, C → 1──▶ x̂
//! ```
//!
//! Without biases every layer is odd, so `f(−x) = −f(x)` and `g(−y) = −g(y)`:
//! the networks respect the Z₂ symmetry φ → −φ of the action exactly. Both are
//! equivariant under translations (by 2 fine sites = 1 coarse site).
//! Parameters, in order: the encoder's 3×3 weights `[C, 1, 9]`, its stride-2
//! weights `[1, C, 4]`, the decoder's transposed weights `[1, C, 4]`, its
//! 3×3 weights `[1, C, 9]` (each as [`Conv2d`] stores them).
//!
//! Loss per configuration: `ℓ = (1/V) Σ_x (x̂(x) − x(x))²`.
//!
//! Latent-space analysis: for a per-configuration observable `O(φ)` the
//! Jacobian of `h_O = O ∘ g` with respect to the latent field,
//! `∂h_O/∂y = (∂g/∂y)ᵀ ∂O/∂x̂`, is one backward pass through the decoder
//! ([`Autoencoder::decoder_vjp`]); stacking the rows of several observables (or
//! of all `V` outputs, the decoder's own Jacobian) gives a matrix whose
//! singular values ([`crate::svd`]) say how many latent directions the
//! observables depend on.

use super::conv::{Conv2d, Grid};
use super::fit::adam_epoch;
pub use super::fit::Epoch;
use crate::lcnn::train::Adam;
use crate::rng::Rng;
use alloc::vec::Vec;

/// The network's shape: `channels` hidden channels on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Autoencoder {
    pub channels: usize,
}

/// The intermediate values of one forward pass.
#[derive(Clone, Debug)]
pub struct Tape {
    pub h1: Vec<f64>,
    pub latent: Vec<f64>,
    pub h2: Vec<f64>,
    pub output: Vec<f64>,
}

impl Autoencoder {
    fn enc1(&self) -> Conv2d {
        Conv2d { fine: 1, coarse: self.channels, kernel: 3, stride: 1 }
    }
    fn enc2(&self) -> Conv2d {
        Conv2d { fine: self.channels, coarse: 1, kernel: 2, stride: 2 }
    }
    fn dec1(&self) -> Conv2d {
        Conv2d { fine: self.channels, coarse: 1, kernel: 2, stride: 2 }
    }
    fn dec2(&self) -> Conv2d {
        Conv2d { fine: self.channels, coarse: 1, kernel: 3, stride: 1 }
    }
    fn layers(&self) -> [Conv2d; 4] {
        [self.enc1(), self.enc2(), self.dec1(), self.dec2()]
    }
    /// Offsets of the four weight blocks in the parameter vector, and its length.
    fn offsets(&self) -> [usize; 5] {
        let mut o = [0; 5];
        for (i, l) in self.layers().iter().enumerate() {
            o[i + 1] = o[i] + l.n_weights();
        }
        o
    }
    pub fn n_params(&self) -> usize {
        self.offsets()[4]
    }
    fn block<'a>(&self, p: &'a [f64], i: usize) -> &'a [f64] {
        let o = self.offsets();
        &p[o[i]..o[i + 1]]
    }

    /// Random weights, Gaussian with standard deviation `1/√fan-in`
    /// (fan-in: input channels × taps per output).
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut rng = Rng::stream(seed, &[crate::rng::domain::AUTOENCODER_INIT]);
        let mut p = Vec::with_capacity(self.n_params());
        for (i, l) in self.layers().iter().enumerate() {
            // The transposed convolution's outputs each receive k²/s² = 1 tap of one channel.
            let fan_in = match i {
                0 => l.kernel * l.kernel,
                2 => 1,
                _ => l.fine * l.kernel * l.kernel,
            };
            let std = 1.0 / crate::real::sqrt_f64(fan_in as f64);
            p.extend((0..l.n_weights()).map(|_| std * rng.gaussian()));
        }
        p
    }

    /// Whether an `n0 × n1` lattice can be encoded (even extents).
    pub fn fits(&self, g: Grid) -> bool {
        self.enc2().fits(g)
    }

    /// `y = f(x)` on the coarse grid, and the hidden layer.
    fn encode_with(&self, p: &[f64], g: Grid, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut h1 = self.enc1().gather(self.block(p, 0), g, x);
        h1.iter_mut().for_each(|a| *a = libm::tanh(*a));
        let y = self.enc2().gather(self.block(p, 1), g, &h1);
        (h1, y)
    }
    /// `x̂ = g(y)` on the fine grid `g`, and the hidden layer.
    fn decode_with(&self, p: &[f64], g: Grid, y: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut h2 = self.dec1().scatter(self.block(p, 2), g, y);
        h2.iter_mut().for_each(|a| *a = libm::tanh(*a));
        let out = self.dec2().gather(self.block(p, 3), g, &h2);
        (h2, out)
    }

    /// The block spin `f(x)` of a configuration on the fine grid `g`.
    pub fn encode(&self, p: &[f64], g: Grid, x: &[f64]) -> Vec<f64> {
        self.encode_with(p, g, x).1
    }
    /// The configuration `g(y)` on the fine grid `g` decoded from a block spin.
    pub fn decode(&self, p: &[f64], g: Grid, y: &[f64]) -> Vec<f64> {
        self.decode_with(p, g, y).1
    }
    /// `A(x) = g(f(x))` with everything the backward pass needs.
    pub fn forward(&self, p: &[f64], g: Grid, x: &[f64]) -> Tape {
        let (h1, latent) = self.encode_with(p, g, x);
        let (h2, output) = self.decode_with(p, g, &latent);
        Tape { h1, latent, h2, output }
    }

    /// Backward through the decoder: for `δℓ = Σ g_out · δx̂`, the gradient
    /// with respect to the decoder's weights (blocks 2 and 3) and to the
    /// latent field.
    fn decoder_backward(
        &self,
        p: &[f64],
        g: Grid,
        y: &[f64],
        h2: &[f64],
        g_out: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let dw4 = self.dec2().weight_grad(g, h2, g_out);
        let mut g_a2 = self.dec2().scatter(self.block(p, 3), g, g_out);
        g_a2.iter_mut().zip(h2).for_each(|(ga, h)| *ga *= 1.0 - h * h);
        // a₂ = scatter(w₃, y): the weight gradient pairs the output gradient with the input.
        let dw3 = self.dec1().weight_grad(g, &g_a2, y);
        let g_y = self.dec1().gather(self.block(p, 2), g, &g_a2);
        (dw3, dw4, g_y)
    }

    /// `∂(Σ_x g_out(x) x̂(x))/∂y` at the latent field `y`: one row of the
    /// Jacobian of `O ∘ g` when `g_out = ∂O/∂x̂`.
    pub fn decoder_vjp(&self, p: &[f64], g: Grid, y: &[f64], g_out: &[f64]) -> Vec<f64> {
        let (h2, _) = self.decode_with(p, g, y);
        self.decoder_backward(p, g, y, &h2, g_out).2
    }

    /// The reconstruction loss `ℓ = (1/V) Σ (x̂ − x)²` of one configuration
    /// and its gradient with respect to all weights.
    pub fn loss_and_gradient(&self, p: &[f64], g: Grid, x: &[f64]) -> (f64, Vec<f64>) {
        let t = self.forward(p, g, x);
        let v = g.sites() as f64;
        let diff: Vec<f64> = t.output.iter().zip(x).map(|(a, b)| a - b).collect();
        let loss = diff.iter().map(|d| d * d).sum::<f64>() / v;
        let g_out: Vec<f64> = diff.iter().map(|d| 2.0 * d / v).collect();
        let (dw3, dw4, g_y) = self.decoder_backward(p, g, &t.latent, &t.h2, &g_out);
        let dw2 = self.enc2().weight_grad(g, &t.h1, &g_y);
        let mut g_a1 = self.enc2().scatter(self.block(p, 1), g, &g_y);
        g_a1.iter_mut().zip(&t.h1).for_each(|(ga, h)| *ga *= 1.0 - h * h);
        let dw1 = self.enc1().weight_grad(g, x, &g_a1);
        let mut grad = dw1;
        grad.extend(dw2);
        grad.extend(dw3);
        grad.extend(dw4);
        (loss, grad)
    }
}

/// The mean loss and mean gradient over `configs` (each on the grid `g`),
/// independent of the thread count.
pub fn batch_loss_and_gradient(ae: &Autoencoder, p: &[f64], g: Grid, configs: &[&[f64]]) -> (f64, Vec<f64>) {
    super::fit::mean_loss_and_gradient(ae.n_params(), configs, |x| ae.loss_and_gradient(p, g, x))
}

/// The mean reconstruction loss over `configs`.
pub fn mean_loss(ae: &Autoencoder, p: &[f64], g: Grid, configs: &[&[f64]]) -> f64 {
    let losses = crate::par::map_slice(configs, |x| {
        let t = ae.forward(p, g, x);
        t.output.iter().zip(*x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / g.sites() as f64
    });
    losses.iter().sum::<f64>() / configs.len().max(1) as f64
}

/// One epoch of Adam over `configs`; returns the mean of the batch losses.
pub fn train_epoch(ae: &Autoencoder, p: &mut [f64], adam: &mut Adam, g: Grid, configs: &[&[f64]], e: Epoch) -> f64 {
    adam_epoch(p, adam, configs.len(), e, |p, batch| {
        let xs: Vec<&[f64]> = batch.iter().map(|&i| configs[i]).collect();
        batch_loss_and_gradient(ae, p, g, &xs)
    })
}
