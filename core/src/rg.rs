//! The renormalisation-group blocking transformation and the fixed point
//! equation `A_FP[V] = min_U { A[U] + T[U,V] }`.

pub mod fixed_point;
pub mod instanton;
pub mod kernel;
pub mod minimize;
pub mod params;
pub mod smear;
pub mod stencil;
pub mod tape;

pub use fixed_point::{FixedPoint, FixedPointResult, FixedPointSettings};
pub use instanton::{instanton_fp, InstantonMinimum};
pub use kernel::{Kernel, KernelEval, Kink, RidgeLink};
pub use minimize::{MinimizerReport, MinimizerSettings};
pub use params::Blocking;
