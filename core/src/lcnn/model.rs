//! An L-CNN model: a spec (layer list), a flat parameter vector, and the
//! forward and backward passes through all layers, generic over the scalar.
//!
//! The state flowing through the network is the link field `U` (changed only
//! by L-Exp) and a feature map `W`. The action is the read-out summed over
//! sites, minus its value on the trivial field (`subtract_trivial`, so that
//! `A[1] = 0` exactly, as for the FP action).

use super::activation::Activation;
use super::features::Features;
use super::head::{self, HeadShape, Seed};
pub use super::layer::Layer;
use super::layer::{BackwardInput, LayerOp, LayerTape};
use crate::lattice::{GaugeField, Geometry};
use crate::real::Real;
use crate::rng::{domain, Rng};
use crate::su3::Mat3;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

/// One layer of the spec file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum LayerSpec {
    /// Appends the plaquettes (D(D−1)/2 channels).
    Plaq {},
    /// Appends the Polyakov loops through every site (D channels).
    Poly {},
    /// Merged L-Conv + L-Bilin (lge-cnn `LConvBilin`).
    Lcb {
        out: usize,
        #[serde(default = "one")]
        kernel: usize,
        #[serde(default = "one")]
        dilation: usize,
        #[serde(default = "yes")]
        symmetric: bool,
        #[serde(default)]
        complex: bool,
    },
    /// L-Bilin: L-CB without transport.
    Lbilin {
        out: usize,
        #[serde(default)]
        complex: bool,
    },
    /// L-Conv with complex weights.
    Lconv {
        out: usize,
        #[serde(default = "one")]
        kernel: usize,
        #[serde(default = "one")]
        dilation: usize,
        #[serde(default = "yes")]
        symmetric: bool,
        #[serde(default = "yes")]
        unit: bool,
    },
    /// L-Act: `f(a Re Tr W + b) W`.
    Lact { activation: Activation },
    /// L-Exp: updates the links.
    Lexp {},
}

/// The gauge-invariant read-out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSpec {
    #[serde(default)]
    pub hidden: Vec<usize>,
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Use `Im Tr W` as well as `Re Tr W`.
    #[serde(default = "yes")]
    pub imag: bool,
    /// Add the degree-2 terms `Σ_{i≤j} q_ij f_i f_j` of the trace features
    /// `f` to every site's output (see [`super::head`]); the `q_ij` start at 0.
    #[serde(default, skip_serializing_if = "is_false")]
    pub quadratic: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_activation() -> Activation {
    Activation::Tanh
}

/// A model spec (the JSON file given to `fpa train --model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Lattice dimension.
    #[serde(default = "four")]
    pub dims: usize,
    pub layers: Vec<LayerSpec>,
    pub head: HeadSpec,
    #[serde(default = "yes")]
    pub subtract_trivial: bool,
    /// Scale of the random initial weights.
    #[serde(default = "unit_scale")]
    pub init_scale: f64,
    /// Where training starts: random weights, or the Wilson action plus random
    /// weights of size `init_scale` (see [`Init`]).
    #[serde(default, skip_serializing_if = "Init::is_random")]
    pub init: Init,
}

/// The starting point of training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Random weights only (lge-cnn's scheme).
    #[default]
    Random,
    /// The Wilson action exactly, plus the random weights: every L-CB layer passes
    /// the plaquette channels on unchanged (`ω_{c,c,1} = 1`: left factor `W_c`,
    /// right factor `1`), and the linear read-out weighs their `Re Tr` with
    /// `−1/N_c`, so that with the trivial value subtracted
    /// `A = Σ_x Σ_{μ<ν} (1 − Re Tr U_μν(x)/3)`. The FP action agrees with Wilson
    /// to leading order in the fields; training starts from that instead of
    /// from a random action hundreds of times too large.
    Wilson,
}

impl Init {
    fn is_random(&self) -> bool {
        *self == Init::Random
    }
}

fn four() -> usize {
    4
}
fn unit_scale() -> f64 {
    1.0
}

impl ModelSpec {
    /// The built-in specs by name: `paper` (or `paper-12`), `paper-12-24-24`, `paper-k222`,
    /// `paper-deep`, `paper-quadratic`.
    pub fn builtin(name: &str) -> Option<ModelSpec> {
        match name {
            "paper" | "paper-12" => Some(Self::paper_12()),
            "paper-12-24-24" => Some(Self::paper_12_24_24()),
            "paper-k222" => Some(Self::paper_k222()),
            "paper-deep" => Some(Self::paper_deep()),
            "paper-quadratic" => Some(Self::paper_quadratic()),
            _ => None,
        }
    }

    /// The paper's architecture: three L-CB layers of 12 channels with kernel
    /// sizes 2, 2, 1 (transport by ±1 in the first two), linear read-out;
    /// training starts from the Wilson action plus random weights of size 0.02.
    pub fn paper_12() -> Self {
        Self { init: Init::Wilson, init_scale: 0.02, ..Self::lcb_stack(&[(12, 2), (12, 2), (12, 1)]) }
    }
    /// The 12/24/24 variant of the slides (same start).
    pub fn paper_12_24_24() -> Self {
        Self { init: Init::Wilson, init_scale: 0.02, ..Self::lcb_stack(&[(12, 2), (24, 2), (24, 1)]) }
    }
    /// The shipped FP action's architecture: the paper's three 12-channel L-CB
    /// layers with transport (kernel 2) in the last one too, so that the
    /// read-out fit's features include products of neighbouring sites' maps.
    pub fn paper_k222() -> Self {
        Self { init: Init::Wilson, init_scale: 0.02, ..Self::lcb_stack(&[(12, 2), (12, 2), (12, 2)]) }
    }
    /// The paper's network one L-CB layer deeper: four 12-channel layers with
    /// kernel sizes 2, 2, 2, 1. The third layer widens the receptive field by one
    /// more transport step and doubles the degree of the products of loops;
    /// `paper` embeds in it with that layer as the identity (`--init-from`).
    pub fn paper_deep() -> Self {
        Self { init: Init::Wilson, init_scale: 0.02, ..Self::lcb_stack(&[(12, 2), (12, 2), (12, 2), (12, 1)]) }
    }
    /// The paper's network with a quadratic read-out: the linear read-out of
    /// the 12 traces plus their 78 products `Σ_{i≤j} q_ij Re Tr W_i Re Tr W_j`
    /// per site (the `q_ij` start at 0); `paper` embeds in it exactly.
    pub fn paper_quadratic() -> Self {
        let mut s = Self::paper_12();
        s.head.quadratic = true;
        s
    }
    /// Plaq → L-CB layers `(channels, kernel)` → linear read-out of Re Tr.
    pub fn lcb_stack(layers: &[(usize, usize)]) -> Self {
        let mut l = alloc::vec![LayerSpec::Plaq {}];
        for &(out, kernel) in layers {
            l.push(LayerSpec::Lcb { out, kernel, dilation: 1, symmetric: true, complex: false });
        }
        ModelSpec {
            dims: 4,
            layers: l,
            head: HeadSpec { hidden: Vec::new(), activation: Activation::Tanh, imag: false, quadratic: false },
            subtract_trivial: true,
            init_scale: 1.0,
            init: Init::Random,
        }
    }
}

/// Why a spec was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model spec: {}", self.0)
    }
}
impl core::error::Error for SpecError {}

/// A named parameter tensor inside the flat vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

/// A model: resolved layers, read-out and parameter layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub spec: ModelSpec,
    pub layers: Vec<Layer>,
    pub head: HeadShape,
    /// Offsets of each layer's parameters, then the head's, then the end.
    offsets: Vec<usize>,
    pub n_params: usize,
}

/// Intermediate results of a forward pass.
pub struct Tape<T: crate::real::Ring> {
    /// Link fields: the input, then after every L-Exp.
    links: Vec<GaugeField<T>>,
    /// Input feature map of every layer, then the final one.
    inputs: Vec<Features<T>>,
    /// Index in `links` of the link field entering every layer.
    entering: Vec<usize>,
    /// What every layer kept for its backward pass.
    tapes: Vec<Option<LayerTape>>,
}

impl Model {
    pub fn new(spec: ModelSpec) -> Result<Self, SpecError> {
        let nd = spec.dims;
        if !(2..=4).contains(&nd) {
            return Err(SpecError(alloc::format!("dims = {nd} (use 2, 3 or 4)")));
        }
        if !(spec.init_scale.is_finite() && spec.init_scale >= 0.0) {
            return Err(SpecError("init_scale must be a finite number >= 0".into()));
        }
        let mut n = 0usize;
        let mut layers = Vec::new();
        let mut offsets = Vec::new();
        let mut off = 0;
        for (i, l) in spec.layers.iter().enumerate() {
            let layer = Layer::resolve(l, n, nd).map_err(|m| SpecError(alloc::format!("layer {i} ({l:?}): {m}")))?;
            n = layer.n_out();
            offsets.push(off);
            off += layer.n_params();
            layers.push(layer);
        }
        if n == 0 {
            return Err(SpecError("the network has no channels before the read-out (start with plaq)".into()));
        }
        let head = HeadShape {
            n_in: n,
            hidden: spec.head.hidden.clone(),
            activation: spec.head.activation,
            imag: spec.head.imag,
            quadratic: spec.head.quadratic,
        };
        offsets.push(off);
        off += head.n_params();
        offsets.push(off);
        let model = Model { spec, layers, head, offsets, n_params: off };
        if model.spec.init == Init::Wilson {
            model.plaquette_channels()?;
        }
        Ok(model)
    }

    /// Where the plaquettes sit in the final feature map when every L-CB layer
    /// passes its input channels on (the Wilson start); refuses models that
    /// cannot represent the Wilson action that way.
    pub fn plaquette_channels(&self) -> Result<core::ops::Range<usize>, SpecError> {
        let mut plaq: Option<core::ops::Range<usize>> = None;
        for (i, l) in self.layers.iter().enumerate() {
            plaq = l.plaquettes_after(plaq).map_err(|m| SpecError(alloc::format!("layer {i}: {m}")))?;
        }
        if !self.head.hidden.is_empty() {
            return Err(SpecError("init \"wilson\" needs a linear read-out (head.hidden = [])".into()));
        }
        plaq.ok_or_else(|| SpecError("init \"wilson\" needs a plaq layer".into()))
    }

    /// Parses a JSON spec.
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let spec: ModelSpec = serde_json::from_str(text).map_err(|e| SpecError(alloc::format!("{e}")))?;
        Self::new(spec)
    }

    /// The parameter tensors, in order, with names and shapes.
    pub fn tensors(&self) -> Vec<Tensor> {
        let mut t = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            if let Some(shape) = l.weight_shape() {
                t.push(Tensor { name: alloc::format!("layers.{i}.weight"), shape, offset: self.offsets[i] });
            }
        }
        let sizes = self.head.sizes();
        let mut off = self.offsets[self.layers.len()];
        for (j, w) in sizes.windows(2).enumerate() {
            t.push(Tensor { name: alloc::format!("head.{j}.weight"), shape: alloc::vec![w[1], w[0]], offset: off });
            off += w[1] * w[0];
            t.push(Tensor { name: alloc::format!("head.{j}.bias"), shape: alloc::vec![w[1]], offset: off });
            off += w[1];
        }
        if self.head.quadratic {
            t.push(Tensor { name: "head.quadratic".into(), shape: alloc::vec![self.head.n_quadratic()], offset: off });
        }
        t
    }

    /// Random initial parameters (lge-cnn's scheme for L-CB: normal with
    /// `std = init/√(n_left·n_right)`, residual and bias couplings zero; the
    /// dense read-out uniform in `±1/√fan_in`; quadratic read-out terms 0).
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut p = alloc::vec![0.0; self.n_params];
        for (i, l) in self.layers.iter().enumerate() {
            let mut rng = Rng::stream(seed, &[domain::INIT_WEIGHTS, i as u64]);
            l.init_weights(&mut p[self.offsets[i]..self.offsets[i + 1]], &mut rng, self.spec.init_scale);
        }
        let mut rng = Rng::stream(seed, &[domain::INIT_WEIGHTS, 1 << 20]);
        let mut off = self.offsets[self.layers.len()];
        for w in self.head.sizes().windows(2) {
            let b = 1.0 / crate::real::sqrt_f64(w[0] as f64);
            for k in 0..w[1] * w[0] + w[1] {
                p[off + k] = b * (2.0 * rng.uniform() - 1.0);
            }
            off += w[1] * w[0] + w[1];
        }
        if self.spec.init == Init::Wilson {
            self.start_from_wilson(&mut p);
        }
        p
    }

    /// Turns random initial weights into "Wilson action + random weights of
    /// size `init_scale`" (see [`Init::Wilson`]).
    fn start_from_wilson(&self, p: &mut [f64]) {
        let plaq = self.plaquette_channels().expect("checked in Model::new");
        for (i, l) in self.layers.iter().enumerate() {
            l.pass_on(&mut p[self.offsets[i]..self.offsets[i + 1]], plaq.clone());
        }
        let off = self.offsets[self.layers.len()];
        let per = if self.head.imag { 2 } else { 1 };
        let n_w = self.head.n_in * per;
        for k in 0..n_w {
            p[off + k] *= self.spec.init_scale;
        }
        for ch in plaq {
            p[off + ch * per] = -1.0 / 3.0;
        }
        p[off + n_w] = 0.0;
    }

    /// Offset of layer `i`'s parameters (`i = layers.len()`: the read-out's).
    pub fn layer_offset(&self, i: usize) -> usize {
        self.offsets[i]
    }

    fn layer_params<'p>(&self, params: &'p [f64], i: usize) -> &'p [f64] {
        &params[self.offsets[i]..self.offsets[i + 1]]
    }

    fn check_field<T: Real>(&self, u: &GaugeField<T>) {
        assert_eq!(u.nd(), self.spec.dims, "model is for {}D lattices", self.spec.dims);
    }

    /// The raw network output `Σ_x head(x)` and the tape for [`Self::backward`].
    pub fn forward_raw<T: Real>(&self, params: &[f64], u: &GaugeField<T>) -> (T, Tape<T>) {
        let (mut tape, w) = self.forward_layers(params, u, self.layers.len());
        let a = head::forward(&self.head, self.layer_params(params, self.layers.len()), &w);
        tape.inputs.push(w);
        (a, tape)
    }

    /// The feature map entering layer `upto` (the layers before it run, the rest not).
    pub fn features_before<T: Real>(&self, params: &[f64], u: &GaugeField<T>, upto: usize) -> Features<T> {
        self.forward_layers(params, u, upto).1
    }

    /// Runs layers `0..upto`: the tape so far and the feature map they produce.
    fn forward_layers<T: Real>(&self, params: &[f64], u: &GaugeField<T>, upto: usize) -> (Tape<T>, Features<T>) {
        assert_eq!(params.len(), self.n_params, "parameter vector does not match the model");
        self.check_field(u);
        let vol = u.geometry().volume();
        let mut tape =
            Tape { links: alloc::vec![u.clone()], inputs: Vec::new(), entering: Vec::new(), tapes: Vec::new() };
        let mut w = Features::zeros(vol, 0);
        for (i, l) in self.layers.iter().enumerate().take(upto) {
            let step = l.forward(self.layer_params(params, i), tape.links.last().unwrap(), &w);
            tape.entering.push(tape.links.len() - 1);
            tape.links.extend(step.links);
            tape.tapes.push(step.tape);
            tape.inputs.push(core::mem::replace(&mut w, step.features));
        }
        (tape, w)
    }

    /// Gradients of `seed · Σ_x head(x)`: with respect to the parameters, and
    /// the gradient matrices `G` of the input links (`δf = Σ Re Tr(G† δU)`).
    pub fn backward<T: Real>(&self, params: &[f64], tape: &Tape<T>, seed: T) -> (Vec<T>, Vec<Mat3<T>>) {
        self.backward_seeded(params, tape, Seed::Uniform(seed))
    }

    /// The link gradient matrices only (the force): skips the parameter
    /// gradients of the expensive layers.
    pub fn backward_links<T: Real>(&self, params: &[f64], tape: &Tape<T>, seed: T) -> Vec<Mat3<T>> {
        self.backward_impl(params, tape, Seed::Uniform(seed), false).1
    }

    /// The per-site outputs `head(x)` of a forward pass.
    pub fn site_outputs<T: Real>(&self, params: &[f64], tape: &Tape<T>) -> Vec<T> {
        let nl = self.layers.len();
        head::forward_sites(&self.head, self.layer_params(params, nl), &tape.inputs[nl])
    }

    /// Gradients of `Σ_x seed_x · head(x)` (see [`Self::backward`]).
    pub fn backward_seeded<T: Real>(&self, params: &[f64], tape: &Tape<T>, seed: Seed<T>) -> (Vec<T>, Vec<Mat3<T>>) {
        self.backward_impl(params, tape, seed, true)
    }

    fn backward_impl<T: Real>(
        &self,
        params: &[f64],
        tape: &Tape<T>,
        seed: Seed<T>,
        need_params: bool,
    ) -> (Vec<T>, Vec<Mat3<T>>) {
        let mut g_params = alloc::vec![T::zero(); self.n_params];
        let nl = self.layers.len();
        let (mut g_w, gh) = head::backward(&self.head, self.layer_params(params, nl), &tape.inputs[nl], seed);
        g_params[self.offsets[nl]..].copy_from_slice(&gh);
        let mut g_u = alloc::vec![Mat3::zero(); tape.links[0].links().len()];
        for (i, l) in self.layers.iter().enumerate().rev() {
            let input = BackwardInput {
                params: self.layer_params(params, i),
                links: &tape.links[tape.entering[i]],
                input: &tape.inputs[i],
                tape: tape.tapes[i].as_deref(),
                g_out: &g_w,
                need_params,
            };
            let (g_in, gp) = l.backward(input, &mut g_u);
            if !gp.is_empty() {
                g_params[self.offsets[i]..self.offsets[i] + gp.len()].copy_from_slice(&gp);
            }
            g_w = g_in;
        }
        (g_params, g_u)
    }

    /// `(a₁, ∂a₁/∂θ)`: the raw output per site on the trivial field, and its
    /// parameter gradient (computed on the smallest lattice; the trivial
    /// field is translation invariant).
    pub fn trivial_per_site(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let nd = self.spec.dims;
        let g = Arc::new(Geometry::new(&alloc::vec![2; nd]).unwrap());
        let u = GaugeField::<f64>::cold(g.clone());
        let (a, tape) = self.forward_raw(params, &u);
        let (gp, _) = self.backward(params, &tape, 1.0);
        let v = g.volume() as f64;
        (a / v, gp.into_iter().map(|x| x / v).collect())
    }

    /// The raw output per site on the trivial field (value only).
    pub fn trivial_value_per_site(&self, params: &[f64]) -> f64 {
        let nd = self.spec.dims;
        let g = Arc::new(Geometry::new(&alloc::vec![2; nd]).unwrap());
        self.forward_raw(params, &GaugeField::<f64>::cold(g.clone())).0 / g.volume() as f64
    }

    /// The action `A[U]` (minus `A[1]` when `subtract_trivial`).
    pub fn action<T: Real>(&self, params: &[f64], u: &GaugeField<T>) -> T {
        let (a, _) = self.forward_raw(params, u);
        if self.spec.subtract_trivial {
            let t = self.trivial_value_per_site(params);
            a - T::from_f64(t * u.geometry().volume() as f64)
        } else {
            a
        }
    }

    /// Number of lattice dimensions the model is for.
    pub fn dims(&self) -> usize {
        self.spec.dims
    }
}
