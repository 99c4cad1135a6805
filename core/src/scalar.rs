//! Scalar field theories of the seed talks, on the same streams, statistics and
//! conventions as the gauge code: real φ⁴ in two dimensions ([`phi4`]).

pub mod phi4;
