//! Byte-level encoders and decoders. Opening and writing files is the caller's
//! business (the CLI writes to a temporary file and renames).

pub mod nersc;
pub mod npy;
pub mod safetensors;
