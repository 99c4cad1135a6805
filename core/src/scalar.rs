//! Scalar field theories of the seed talks, on the same streams, statistics and
//! conventions as the gauge code: real φ⁴ in two dimensions ([`phi4`]) and complex φ⁴ at
//! finite chemical potential in its dual (flux) formulation ([`charged`]).

pub mod charged;
pub mod phi4;
