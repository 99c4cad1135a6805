//! Lattice gauge-equivariant convolutional neural networks (L-CNNs) with
//! hand-written forward and backward passes, generic over the scalar type.

pub mod action;
pub mod activation;
pub mod features;
pub mod head;
pub mod lact;
pub mod layer;
pub mod layer_check;
pub mod lcb;
pub mod lconv;
pub mod lexp;
pub mod locality;
pub mod loops;
pub mod model;
pub mod model_file;
pub mod readout_fit;
pub mod shifts;
pub mod train;
pub mod trainer;
pub mod widen;

pub use activation::Activation;
pub use features::Features;
pub use model::{Init, Layer, LayerSpec, Model, ModelSpec};
