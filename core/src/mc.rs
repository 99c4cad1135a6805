//! Monte Carlo updates: Cabibbo–Marinari heatbath and overrelaxation.

pub mod heatbath;
pub mod su2_sampler;

pub use heatbath::{heatbath_sweep, overrelax_sweep, McError, WilsonChain};
