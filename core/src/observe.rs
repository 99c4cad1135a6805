//! Observables: plaquettes, Wilson loops, Polyakov loops, the gradient flow.

pub mod flow;
pub mod instanton;
pub mod loops;
pub mod plaquette;
pub mod polyakov;

pub use loops::{temporal_wilson_loop, wilson_loop};
pub use plaquette::{average_plaquette, plaquette, plaquette_sum};
pub use polyakov::{polyakov_loop, polyakov_loop_dir};
