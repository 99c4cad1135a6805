//! Lattice geometry, gauge fields, gauge transformations and paths.

pub mod field;
pub mod gauge;
pub mod gauge_fix;
pub mod geometry;
pub mod huge_buf;
pub mod packed;
pub mod path;
pub mod slab;
pub mod symmetry;

pub use field::GaugeField;
pub use gauge::GaugeTransform;
pub use geometry::Geometry;
pub use path::{path_product, Step};
pub use slab::{Slab, SlabField};
pub use symmetry::Hypercubic;
