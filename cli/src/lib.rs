//! The drivers of the `fpa` program as a library (the binary is `src/main.rs`); the fuzz
//! targets use its parsers.

pub mod actions;
pub mod blockspin;
pub mod chain;
pub mod charged;
pub mod charged_cnn;
pub mod classical;
pub mod convert;
pub mod dataset;
pub mod eval;
pub mod files;
pub mod flow;
pub mod fp_data;
pub mod generate;
pub mod hmc;
pub mod lock;
pub mod measure;
pub mod model_io;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod phi4;
pub mod pipeline;
pub mod plot;
pub mod report;
pub mod scaling;
pub mod train;
