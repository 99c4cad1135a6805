//! Convolutional networks on 2D lattice fields for per-configuration
//! regression and classification (seed talk 002; Bulusu, Favoni, Ipp, Müller,
//! Schuh, PRD 104 (2021) 074504), with hand-written gradients.
//!
//! A network is a list of [`Layer`]s acting on a field of `channels × sites`
//! values (channels outermost, sites `x₀ + n₀ x₁`; see [`super::conv`]):
//! periodic convolutions, per-channel biases, SiLU, global average or maximum pooling (field → one value per
//! channel) and a dense layer on the flattened field or pooled vector.
//! The three architectures of the seed:
//!
//! * **EQ** (equivariant): stride-1 convolutions, then global pooling (average
//!   for regression, maximum for classification) and a dense read-out. Invariant under every translation; runs on any
//!   lattice size.
//! * **ST** (strided): stride-2 convolutions, then pooling and read-out.
//!   Invariant under translations by multiples of 4 sites (two strides);
//!   runs on sizes divisible by 4.
//! * **FL** (flattening): stride-1 convolutions, then a dense layer on the
//!   flattened field: tied to the training lattice size.

use super::conv::{Conv2d, Grid};
use crate::rng::Rng;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// One layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// A periodic convolution from `fine` to `coarse` channels (stride 1 or 2).
    Conv(Conv2d),
    /// `out[c, x] = in[c, x] + b[c]` on a field of this many channels.
    Bias(usize),
    /// `x σ(x)` (SiLU): smooth, linear for large arguments, so that a regression can
    /// extrapolate beyond the values it was trained on.
    Silu,
    /// `out[c] = (1/V) Σ_x in[c, x]`.
    MeanPool,
    /// `out[c] = max_x in[c, x]` (a local feature anywhere on the lattice).
    MaxPool,
    /// `out[o] = b[o] + Σ_i w[o, i] in[i]` on the flattened input (weights
    /// `[outputs, inputs]` row-major, then the biases).
    Dense { inputs: usize, outputs: usize },
}

/// The shape of the values between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Field { channels: usize, grid: Grid },
    Vector(usize),
}

impl Shape {
    fn len(&self) -> usize {
        match *self {
            Shape::Field { channels, grid } => channels * grid.sites(),
            Shape::Vector(n) => n,
        }
    }
}

/// The seed's architecture families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Equivariant,
    Strided,
    Flattening,
}

impl Architecture {
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "eq" | "EQ" => Some(Architecture::Equivariant),
            "st" | "ST" => Some(Architecture::Strided),
            "fl" | "FL" => Some(Architecture::Flattening),
            _ => None,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::Equivariant => "EQ",
            Architecture::Strided => "ST",
            Architecture::Flattening => "FL",
        }
    }
}

/// A network: layers, the input's channels, and the number of outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub layers: Vec<Layer>,
    pub inputs: usize,
    /// The lattice the network was built for (FL's dense layer depends on it).
    pub grid: Grid,
}

/// The values a backward pass needs: the input of every layer.
pub struct Tape {
    inputs: Vec<Vec<f64>>,
    shapes: Vec<Shape>,
    pub output: Vec<f64>,
}

impl Network {
    /// The seed's architecture `arch` with `channels` hidden channels in two
    /// convolutional layers (3×3 for EQ and FL, 2×2 stride 2 for ST), bias and
    /// SiLU after each, for `inputs` input channels on `grid` and `outputs` outputs;
    /// `pool` is the global pooling of EQ and ST ([`Layer::MeanPool`] or [`Layer::MaxPool`]).
    pub fn build(arch: Architecture, inputs: usize, channels: usize, outputs: usize, grid: Grid, pool: Layer) -> Self {
        let conv = |fine, coarse, kernel, stride| Layer::Conv(Conv2d { fine, coarse, kernel, stride });
        let c = channels;
        let (k, s) = if arch == Architecture::Strided { (2, 2) } else { (3, 1) };
        let mut layers = vec![conv(inputs, c, k, s), Layer::Bias(c), Layer::Silu];
        if arch == Architecture::Flattening {
            layers.extend([
                conv(c, 1, k, s),
                Layer::Bias(1),
                Layer::Silu,
                Layer::Dense { inputs: grid.sites(), outputs },
            ]);
        } else {
            layers.extend([conv(c, c, k, s), Layer::Bias(c), Layer::Silu, pool, Layer::Dense { inputs: c, outputs }]);
        }
        Network { layers, inputs, grid }
    }

    /// The shapes through the network on grid `g`, or why it does not run there.
    fn shapes(&self, g: Grid) -> Result<Vec<Shape>, String> {
        let mut s = Shape::Field { channels: self.inputs, grid: g };
        let mut out = vec![s];
        for (i, l) in self.layers.iter().enumerate() {
            s = match (*l, s) {
                (Layer::Conv(c), Shape::Field { channels, grid }) => {
                    if channels != c.fine || !c.fits(grid) {
                        return Err(alloc::format!("layer {i}: {c:?} on {channels} channels of {}x{}", grid.n0, grid.n1));
                    }
                    Shape::Field { channels: c.coarse, grid: grid.coarse(c.stride) }
                }
                (Layer::Bias(n), s @ Shape::Field { channels, .. }) if n == channels => s,
                (Layer::Silu, s) => s,
                (Layer::MeanPool | Layer::MaxPool, Shape::Field { channels, .. }) => Shape::Vector(channels),
                (Layer::Dense { inputs, outputs }, s) if s.len() == inputs => Shape::Vector(outputs),
                (l, s) => {
                    return Err(alloc::format!(
                        "layer {i}: {l:?} cannot take {} values (a {}x{} lattice; a flattening network runs only on the size it was built for)",
                        s.len(),
                        g.n0,
                        g.n1
                    ))
                }
            };
            out.push(s);
        }
        Ok(out)
    }

    /// Whether the network runs on grid `g`, and if not why.
    pub fn check(&self, g: Grid) -> Result<(), String> {
        self.shapes(g).map(|_| ())
    }

    fn n_layer_params(l: &Layer) -> usize {
        match *l {
            Layer::Conv(c) => c.n_weights(),
            Layer::Dense { inputs, outputs } => outputs * (inputs + 1),
            Layer::Bias(n) => n,
            _ => 0,
        }
    }
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(Self::n_layer_params).sum()
    }

    /// Random weights `N(0, 1/fan-in)`, biases zero.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut rng = Rng::stream(seed, &[crate::rng::domain::CNN_INIT]);
        let mut p = Vec::with_capacity(self.n_params());
        for l in &self.layers {
            match *l {
                Layer::Conv(c) => {
                    let std = 1.0 / crate::real::sqrt_f64((c.fine * c.kernel * c.kernel) as f64);
                    p.extend((0..c.n_weights()).map(|_| std * rng.gaussian()));
                }
                Layer::Dense { inputs, outputs } => {
                    let std = 1.0 / crate::real::sqrt_f64(inputs as f64);
                    p.extend((0..outputs * inputs).map(|_| std * rng.gaussian()));
                    p.extend(core::iter::repeat_n(0.0, outputs));
                }
                Layer::Bias(n) => p.extend(core::iter::repeat_n(0.0, n)),
                _ => {}
            }
        }
        p
    }

    /// The outputs on `x` (`inputs × sites` of grid `g`) with the tape for [`Network::backward`].
    /// Panics when the network does not run on `g` (see [`Network::check`]).
    pub fn forward(&self, p: &[f64], g: Grid, x: &[f64]) -> Tape {
        let shapes = self.shapes(g).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(x.len(), shapes[0].len(), "input of the wrong size");
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut cur = x.to_vec();
        let mut off = 0;
        for (l, s) in self.layers.iter().zip(&shapes) {
            let w = &p[off..off + Self::n_layer_params(l)];
            off += w.len();
            let next = match (*l, *s) {
                (Layer::Conv(c), Shape::Field { grid, .. }) => c.gather(w, grid, &cur),
                (Layer::Bias(_), Shape::Field { grid, .. }) => {
                    let v = grid.sites();
                    cur.iter().enumerate().map(|(k, &a)| a + w[k / v]).collect()
                }
                (Layer::Silu, _) => cur.iter().map(|&a| a * sigmoid(a)).collect(),
                (Layer::MeanPool, Shape::Field { channels, grid }) => {
                    let v = grid.sites();
                    (0..channels).map(|c| cur[c * v..][..v].iter().sum::<f64>() / v as f64).collect()
                }
                (Layer::MaxPool, Shape::Field { channels, grid }) => {
                    let v = grid.sites();
                    (0..channels).map(|c| cur[c * v..][..v].iter().fold(f64::NEG_INFINITY, |m, &a| m.max(a))).collect()
                }
                (Layer::Dense { inputs, outputs }, _) => (0..outputs)
                    .map(|o| {
                        w[outputs * inputs + o]
                            + w[o * inputs..][..inputs].iter().zip(&cur).map(|(a, b)| a * b).sum::<f64>()
                    })
                    .collect(),
                _ => unreachable!("shapes checked"),
            };
            inputs.push(core::mem::replace(&mut cur, next));
        }
        Tape { inputs, shapes, output: cur }
    }

    /// The gradient of `Σ_o g_out[o] · output[o]` with respect to the weights.
    pub fn backward(&self, p: &[f64], t: &Tape, g_out: &[f64]) -> Vec<f64> {
        let mut grad = vec![0.0; self.n_params()];
        let mut offsets = Vec::with_capacity(self.layers.len() + 1);
        offsets.push(0);
        for l in &self.layers {
            offsets.push(offsets.last().unwrap() + Self::n_layer_params(l));
        }
        let mut g = g_out.to_vec();
        for (i, l) in self.layers.iter().enumerate().rev() {
            let (w, dw) = (&p[offsets[i]..offsets[i + 1]], offsets[i]..offsets[i + 1]);
            let input = &t.inputs[i];
            g = match (*l, t.shapes[i]) {
                (Layer::Conv(c), Shape::Field { grid, .. }) => {
                    grad[dw].copy_from_slice(&c.weight_grad(grid, input, &g));
                    c.scatter(w, grid, &g)
                }
                (Layer::Bias(n), Shape::Field { grid, .. }) => {
                    let v = grid.sites();
                    for c in 0..n {
                        grad[offsets[i] + c] = g[c * v..][..v].iter().sum();
                    }
                    g
                }
                // d/da [a σ(a)] = σ(a) (1 + a (1 − σ(a)))
                (Layer::Silu, _) => input
                    .iter()
                    .zip(&g)
                    .map(|(&a, &gy)| {
                        let s = sigmoid(a);
                        gy * s * (1.0 + a * (1.0 - s))
                    })
                    .collect(),
                (Layer::MeanPool, Shape::Field { channels, grid }) => {
                    let v = grid.sites();
                    (0..channels * v).map(|k| g[k / v] / v as f64).collect()
                }
                // The gradient goes to the first site holding the maximum.
                (Layer::MaxPool, Shape::Field { channels, grid }) => {
                    let v = grid.sites();
                    let mut gin = vec![0.0; channels * v];
                    for c in 0..channels {
                        let row = &input[c * v..][..v];
                        let arg = (0..v).fold(0, |best, x| if row[x] > row[best] { x } else { best });
                        gin[c * v + arg] = g[c];
                    }
                    gin
                }
                (Layer::Dense { inputs, outputs }, _) => {
                    let d = &mut grad[dw];
                    for o in 0..outputs {
                        for k in 0..inputs {
                            d[o * inputs + k] = g[o] * input[k];
                        }
                        d[outputs * inputs + o] = g[o];
                    }
                    (0..inputs).map(|k| (0..outputs).map(|o| w[o * inputs + k] * g[o]).sum()).collect()
                }
                _ => unreachable!("shapes checked"),
            };
        }
        grad
    }

    /// Squared error `Σ_o (output[o] − target[o])²` of one configuration and its weight gradient.
    pub fn squared_error(&self, p: &[f64], g: Grid, x: &[f64], target: &[f64]) -> (f64, Vec<f64>) {
        let t = self.forward(p, g, x);
        let diff: Vec<f64> = t.output.iter().zip(target).map(|(a, b)| a - b).collect();
        let g_out: Vec<f64> = diff.iter().map(|d| 2.0 * d).collect();
        (diff.iter().map(|d| d * d).sum(), self.backward(p, &t, &g_out))
    }

    /// Logistic loss `ln(1 + e^{−s z})` of one configuration with label `s = ±1` (the
    /// network's first output is the logit `z`), and its weight gradient.
    pub fn logistic_loss(&self, p: &[f64], g: Grid, x: &[f64], label: bool) -> (f64, Vec<f64>) {
        let t = self.forward(p, g, x);
        let s = if label { 1.0 } else { -1.0 };
        let z = t.output[0];
        // ln(1 + e^{-sz}) and its derivative -s/(1 + e^{sz}), written to avoid overflow.
        let m = -s * z;
        let loss = if m > 0.0 { m + libm::log1p(libm::exp(-m)) } else { libm::log1p(libm::exp(m)) };
        let dz = -s / (1.0 + libm::exp(s * z));
        let mut g_out = vec![0.0; t.output.len()];
        g_out[0] = dz;
        (loss, self.backward(p, &t, &g_out))
    }
}

/// `1/(1 + e^{−a})`
fn sigmoid(a: f64) -> f64 {
    if a >= 0.0 {
        1.0 / (1.0 + libm::exp(-a))
    } else {
        let e = libm::exp(a);
        e / (1.0 + e)
    }
}
