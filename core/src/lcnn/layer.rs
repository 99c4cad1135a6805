//! The layer interface. Every L-CNN layer is one type implementing
//! [`LayerOp`] in its own file (`loops.rs`: Plaq, Poly; `lcb.rs`: L-CB and
//! L-Bilin; `lconv.rs`; `lact.rs`; `lexp.rs`). The model ([`super::model`])
//! runs a list of [`Layer`]s and never looks inside one.
//!
//! The state flowing through the network is the link field `U` (changed only
//! by L-Exp) and a feature map `W`. A forward pass maps `(U, W)` to a new `W`
//! (and, for L-Exp, a new `U`), and keeps on a tape what its backward pass
//! needs. The backward pass receives `G_out`, the gradient of the network
//! output with respect to the layer's output features (`δf = Σ Re Tr(G† δW)`),
//! and returns the gradients of the input features and of the layer's weights;
//! link gradients are accumulated in `g_u` (`δf = Σ Re Tr(G_U† δU)`).
//!
//! All methods are generic over the scalar: the same code runs in f32, f64
//! and on dual numbers (the tangent pass of the derivative loss L2).
//!
//! Adding a layer: a type implementing [`LayerOp`] in a new file, one variant
//! in [`Layer`] and in the `each_layer!` list below, and its spec in
//! [`super::model::LayerSpec`] with the resolution in [`Layer::resolve`].

use super::features::Features;
use super::lact::Lact;
use super::lcb::LcbShape;
use super::lconv::LConvShape;
use super::lexp::Lexp;
use super::loops::{Plaq, Poly};
use super::model::LayerSpec;
use super::shifts::Shifts;
use crate::lattice::GaugeField;
use crate::real::Real;
use crate::rng::Rng;
use crate::su3::Mat3;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;
use core::ops::Range;

/// What a layer keeps from its forward pass for the backward pass (beyond its
/// input feature map, which the model keeps for every layer).
pub type LayerTape = Box<dyn Any + Send + Sync>;

/// The result of a layer's forward pass.
pub struct Step<T: crate::real::Ring> {
    pub features: Features<T>,
    /// The new link field (L-Exp only).
    pub links: Option<GaugeField<T>>,
    pub tape: Option<LayerTape>,
}

impl<T: crate::real::Ring> Step<T> {
    /// A step that only produces features.
    pub fn features(features: Features<T>) -> Self {
        Step { features, links: None, tape: None }
    }
}

/// What a layer's backward pass is given.
pub struct BackwardInput<'a, T: crate::real::Ring> {
    /// The layer's weights.
    pub params: &'a [f64],
    /// The link field that entered the layer.
    pub links: &'a GaugeField<T>,
    /// The feature map that entered the layer.
    pub input: &'a Features<T>,
    /// What the forward pass put on the tape.
    pub tape: Option<&'a (dyn Any + Send + Sync)>,
    /// `G_out`: the gradient of the output feature map.
    pub g_out: &'a Features<T>,
    /// Whether the weight gradient is wanted (a force needs only `G_U`).
    pub need_params: bool,
}

impl<T: crate::real::Ring> BackwardInput<'_, T> {
    /// The tape entry of type `X` (a layer's own; a mismatch is a bug).
    pub fn tape<X: 'static>(&self, layer: &str) -> &X {
        self.tape.and_then(|t| t.downcast_ref::<X>()).unwrap_or_else(|| panic!("{layer}: tape missing"))
    }
}

/// One L-CNN layer with its shape resolved.
pub trait LayerOp {
    /// Short name (as in the spec file's `type`).
    fn kind(&self) -> &'static str;
    /// Channels of the feature map entering the layer.
    fn n_in(&self) -> usize;
    /// Channels of the feature map it produces.
    fn n_out(&self) -> usize;
    /// Number of real weights.
    fn n_params(&self) -> usize {
        0
    }
    /// Shape of the weight tensor (`layers.{i}.weight` in model files); its
    /// row-major flattening is the layer's slice of the parameter vector.
    fn weight_shape(&self) -> Option<Vec<usize>> {
        None
    }
    /// Random initial weights, `scale` being the spec's `init_scale`.
    fn init_weights(&self, _params: &mut [f64], _rng: &mut Rng, _scale: f64) {}
    /// Forward pass.
    fn forward<T: Real>(&self, params: &[f64], links: &GaugeField<T>, w: &Features<T>) -> Step<T>;
    /// Backward pass: `(G_in, weight gradient)`; adds to `g_u` the link
    /// gradients (L-Exp replaces `g_u`, the gradient of its output links, by
    /// that of its input links). The weight gradient may be empty when
    /// `need_params` is false.
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, g_u: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>);
    /// The Wilson start ([`super::model::Init::Wilson`]): given where the
    /// plaquettes sit in the incoming feature map, where they sit after this
    /// layer, or why the layer cannot pass them on.
    fn plaquettes_after(&self, _plaq: Option<Range<usize>>) -> Result<Option<Range<usize>>, String> {
        Err(alloc::format!("init \"wilson\" needs plaq, poly and lcb/lbilin layers only (this one is {})", self.kind()))
    }
    /// The Wilson start: sets the weights that copy the channels `plaq` of
    /// the input to the same output channels.
    fn pass_on(&self, _params: &mut [f64], _plaq: Range<usize>) {}
}

/// The layers fpa knows.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    Plaq(Plaq),
    Poly(Poly),
    /// L-CB and L-Bilin (kernel 1).
    Lcb(LcbShape),
    Lconv(LConvShape),
    Lact(Lact),
    Lexp(Lexp),
}

/// `each_layer!(l, x => expr)`: `expr` with `x` bound to the layer inside `l`.
macro_rules! each_layer {
    ($l:expr, $x:ident => $e:expr) => {
        match $l {
            Layer::Plaq($x) => $e,
            Layer::Poly($x) => $e,
            Layer::Lcb($x) => $e,
            Layer::Lconv($x) => $e,
            Layer::Lact($x) => $e,
            Layer::Lexp($x) => $e,
        }
    };
}

impl LayerOp for Layer {
    fn kind(&self) -> &'static str {
        each_layer!(self, l => l.kind())
    }
    fn n_in(&self) -> usize {
        each_layer!(self, l => l.n_in())
    }
    fn n_out(&self) -> usize {
        each_layer!(self, l => l.n_out())
    }
    fn n_params(&self) -> usize {
        each_layer!(self, l => l.n_params())
    }
    fn weight_shape(&self) -> Option<Vec<usize>> {
        each_layer!(self, l => l.weight_shape())
    }
    fn init_weights(&self, params: &mut [f64], rng: &mut Rng, scale: f64) {
        each_layer!(self, l => l.init_weights(params, rng, scale))
    }
    fn forward<T: Real>(&self, params: &[f64], links: &GaugeField<T>, w: &Features<T>) -> Step<T> {
        each_layer!(self, l => l.forward(params, links, w))
    }
    fn backward<T: Real>(&self, b: BackwardInput<'_, T>, g_u: &mut Vec<Mat3<T>>) -> (Features<T>, Vec<T>) {
        each_layer!(self, l => l.backward(b, g_u))
    }
    fn plaquettes_after(&self, plaq: Option<Range<usize>>) -> Result<Option<Range<usize>>, String> {
        each_layer!(self, l => l.plaquettes_after(plaq))
    }
    fn pass_on(&self, params: &mut [f64], plaq: Range<usize>) {
        each_layer!(self, l => l.pass_on(params, plaq))
    }
}

impl Layer {
    /// The layer `spec` describes, given the incoming channels `n_in` and the
    /// lattice dimension `nd`, or why it is impossible.
    pub fn resolve(spec: &LayerSpec, n_in: usize, nd: usize) -> Result<Layer, String> {
        let needs_input = || if n_in == 0 { Err(String::from("needs input channels")) } else { Ok(()) };
        let sizes = |out: usize, kernel: usize, dilation: usize| {
            if n_in == 0 || out == 0 || kernel == 0 || dilation == 0 {
                Err(String::from("needs input channels, and out, kernel, dilation >= 1"))
            } else {
                Ok(())
            }
        };
        Ok(match *spec {
            LayerSpec::Plaq {} => Layer::Plaq(Plaq { n_in, nd }),
            LayerSpec::Poly {} => Layer::Poly(Poly { n_in, nd }),
            LayerSpec::Lcb { out, kernel, dilation, symmetric, complex } => {
                sizes(out, kernel, dilation)?;
                Layer::Lcb(LcbShape { n_in, n_out: out, kernel, dilation, symmetric, complex, nd })
            }
            LayerSpec::Lbilin { out, complex } => {
                if n_in == 0 || out == 0 {
                    return Err("needs input channels and out >= 1".into());
                }
                Layer::Lcb(LcbShape { n_in, n_out: out, kernel: 1, dilation: 1, symmetric: true, complex, nd })
            }
            LayerSpec::Lconv { out, kernel, dilation, symmetric, unit } => {
                sizes(out, kernel, dilation)?;
                Layer::Lconv(LConvShape { n_in, n_out: out, shifts: Shifts { nd, kernel, dilation, symmetric }, unit })
            }
            LayerSpec::Lact { activation } => {
                needs_input()?;
                Layer::Lact(Lact { n: n_in, activation })
            }
            LayerSpec::Lexp {} => {
                needs_input()?;
                Layer::Lexp(Lexp { n: n_in, nd })
            }
        })
    }
}
