//! SU(3) matrices, the su(3) algebra, the exponential map, projections,
//! SU(2) subgroups and random elements.

pub mod algebra;
pub mod complex;
pub mod expm;
pub mod mat3;
pub mod project;
pub mod random;
pub mod su2;

pub use algebra::{link_derivative, Su3Alg};
pub use complex::Complex;
pub use expm::{exp_anti_hermitian, exp_components, exp_i_hermitian, log_su3, sqrtm};
pub use mat3::Mat3;
pub use project::{project_su3, reunitarize};
