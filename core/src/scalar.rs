//! Scalar field theories of the seed talks, on the same streams, statistics and
//! conventions as the gauge code: real φ⁴ in two dimensions ([`phi4`]) with neural block
//! spinning ([`autoencoder`]), and complex φ⁴ at finite chemical potential in its dual (flux)
//! formulation ([`charged`]) with convolutional regression of its observables ([`cnn`]);
//! periodic 2D convolutions with their adjoints ([`conv`]) and the training loop ([`fit`]).

pub mod autoencoder;
pub mod charged;
pub mod cnn;
pub mod conv;
pub mod fit;
pub mod phi4;
