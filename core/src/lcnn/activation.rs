//! Scalar activation functions and their derivatives, generic over the scalar
//! (so they run on dual numbers in the second-order pass).

use crate::real::Real;

/// A pointwise nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Identity,
    Tanh,
    Sigmoid,
    Softplus,
    Relu,
}

impl Activation {
    /// `f(z)` and `f'(z)`.
    #[inline]
    pub fn eval<T: Real>(self, z: T) -> (T, T) {
        let one = T::one();
        match self {
            Activation::Identity => (z, one),
            Activation::Tanh => {
                // tanh z = 1 − 2/(e^{2z} + 1), stable for large |z|
                let t = if z.to_f64() > 20.0 {
                    one
                } else if z.to_f64() < -20.0 {
                    -one
                } else {
                    one - T::from_f64(2.0) / ((z + z).exp() + one)
                };
                (t, one - t * t)
            }
            Activation::Sigmoid => {
                let s = one / (one + (-z).exp());
                (s, s * (one - s))
            }
            Activation::Softplus => {
                // ln(1 + e^z) = max(z,0) + ln(1 + e^{−|z|})
                let e = (-z.abs()).exp();
                let base = if z.to_f64() > 0.0 { z } else { T::zero() };
                (base + (one + e).ln(), one / (one + (-z).exp()))
            }
            Activation::Relu => {
                if z.to_f64() > 0.0 {
                    (z, one)
                } else {
                    (T::zero(), T::zero())
                }
            }
        }
    }
}
