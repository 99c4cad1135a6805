//! Monte Carlo updates: Cabibbo–Marinari heatbath and overrelaxation for the
//! Wilson action, Hybrid Monte Carlo for any action.

pub mod heatbath;
pub mod hmc;
pub mod packed;
pub mod su2_sampler;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod su2_vector;

pub use heatbath::{heatbath_sweep, overrelax_sweep, McError, SlabChain, WilsonChain};
pub use hmc::{HmcChain, HmcError, HmcParams, Integrator, Trajectory};
