//! Scalar field theories of the seed talks, on the same streams, statistics and
//! conventions as the gauge code: real φ⁴ in two dimensions ([`phi4`]) with neural block
//! spinning ([`autoencoder`]), and complex φ⁴ at finite chemical potential in its dual (flux)
//! formulation ([`charged`]); periodic 2D convolutions with their adjoints ([`conv`]).

pub mod autoencoder;
pub mod charged;
pub mod conv;
pub mod phi4;
