//! Byte-level encoders and decoders. Opening and writing files is the caller's
//! business (the CLI writes to a temporary file and renames).
//!
//! Gauge fields: [`gauge_file`] recognises and reads NERSC, ILDG, openQCD and
//! MILC files and writes the first three.

pub mod gauge_file;
pub mod ildg;
pub mod lime;
pub mod link_array;
pub mod milc;
pub mod nersc;
pub mod npy;
pub mod openqcd;
pub mod safetensors;
