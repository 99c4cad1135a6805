//! The renormalisation-group blocking transformation and the fixed point
//! equation `A_FP[V] = min_U { A[U] + T[U,V] }`.

pub mod kernel;
pub mod params;
pub mod smear;
pub mod stencil;

pub use kernel::{Kernel, KernelEval};
pub use params::Blocking;
