//! SU(3) matrices, the su(3) algebra, the exponential map, projections,
//! SU(2) subgroups and random elements.

/// `for $i in 0..3 $body`, written out three times (`$i` a constant in each
/// copy). The 3 × 3 loops of `Mat3` on lane packs ([`crate::lanes::F64x8`])
/// were turned into gathers by the loop vectoriser; written out, they go to
/// the straight-line (SLP) vectoriser, which keeps every pack in registers.
/// On scalars the operations and their order are the loop's.
macro_rules! for3 {
    ($i:ident, $body:block) => {{
        {
            let $i: usize = 0;
            $body
        }
        {
            let $i: usize = 1;
            $body
        }
        {
            let $i: usize = 2;
            $body
        }
    }};
}

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
pub use project::{project_su3, project_su3_branches, reunitarize, Branches, Projection};
