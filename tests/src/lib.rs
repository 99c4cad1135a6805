//! Physics checks of `fpa-core`, written once and run natively (`tests/native.rs`)
//! and on wasm32. Every check panics with a message that names what failed.
//!
//! The checks are the project's evidence: finite-difference tests of every
//! derivative, random-gauge-transformation tests of every covariant or
//! invariant function, and Monte Carlo results against published values or
//! exact identities.

pub mod action;
pub mod fixed_point;
pub mod gauge;
pub mod instanton;
pub mod lcnn;
pub mod mc;
pub mod nersc;
pub mod rg;
pub mod training;
pub mod util;
