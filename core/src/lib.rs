//! # fpa-core
//!
//! SU(3) lattice gauge theory for machine-learning fixed point actions:
//! SU(3) algebra, lattices, the Wilson action and its heatbath, observables and
//! gauge-file codecs. `#![no_std]` with `alloc`; the `std` feature adds the
//! ability to link `std` and [`host`]'s process tuning, the `rayon` feature (which implies `std`)
//! parallelises loops over sites.
//!
//! Conventions (see `DESIGN.md`): links `U_mu(x)` go from `x` to `x + mu-hat`
//! and transform as `Ω(x) U_mu(x) Ω(x+mu)†`; generators `t^a = λ^a/2`; the
//! link derivative is `D_{x,mu,a} f = d/dε f(exp(iε t^a) U_mu(x))`.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod action;
pub mod checksum;
pub mod dual;
pub mod fused;
pub mod gemm;
#[cfg(feature = "std")]
pub mod host;
pub mod io;
pub mod lanes;
pub mod lattice;
pub mod lcnn;
pub mod mc;
pub mod observe;
pub mod par;
pub mod real;
pub mod recycle;
pub mod rg;
pub mod rng;
pub mod scalar;
pub mod simd;
pub mod stats;
pub mod su3;
pub mod svd;

pub use dual::Dual;
pub use real::{Real, Ring};
