//! Sampling SU(2) elements `y` with density `∝ exp(α y₀) dμ_Haar(y)`.
//!
//! The marginal of `y₀` is `∝ √(1−y₀²) e^{α y₀}` on `[−1, 1]`; the direction of
//! the vector part is uniform on the 2-sphere.

use crate::rng::Rng;

/// Below this `α` Creutz's method is used, above it Kennedy–Pendleton.
const KP_THRESHOLD: f64 = 2.0;

/// `y₀` from `√(1−y₀²) e^{α y₀}` (α ≥ 0).
#[inline]
pub fn sample_y0(alpha: f64, rng: &mut Rng) -> f64 {
    if alpha >= KP_THRESHOLD {
        kennedy_pendleton(alpha, rng)
    } else if alpha > 1e-6 {
        creutz(alpha, rng)
    } else {
        // α → 0: the Haar marginal √(1−y₀²), by rejection from uniform.
        loop {
            let y0 = 2.0 * rng.uniform() - 1.0;
            let u = rng.uniform();
            if u * u <= 1.0 - y0 * y0 {
                return y0;
            }
        }
    }
}

/// Kennedy–Pendleton (Phys. Lett. B 156 (1985) 393): propose
/// `λ² = −(ln r₁ + cos²(2π r₂) ln r₃)/(2α)`, accept if `r₄² ≤ 1 − λ²`;
/// then `y₀ = 1 − 2λ²`.
#[inline]
fn kennedy_pendleton(alpha: f64, rng: &mut Rng) -> f64 {
    let inv = 1.0 / (2.0 * alpha);
    loop {
        let r1 = rng.uniform_pos();
        let r2 = rng.uniform();
        let r3 = rng.uniform_pos();
        let c = libm::cos(core::f64::consts::TAU * r2);
        let lambda2 = -(libm::log(r1) + c * c * libm::log(r3)) * inv;
        let r4 = rng.uniform();
        if r4 * r4 <= 1.0 - lambda2 {
            return 1.0 - 2.0 * lambda2;
        }
    }
}

/// Creutz (Phys. Rev. D 21 (1980) 2308): `y₀ = 1 + ln(u)/α` with `u` uniform in
/// `(e^{−2α}, 1]` has density `∝ e^{α y₀}`; accept with probability `√(1−y₀²)`.
#[inline]
fn creutz(alpha: f64, rng: &mut Rng) -> f64 {
    let low = libm::exp(-2.0 * alpha);
    loop {
        let u = low + (1.0 - low) * rng.uniform_pos();
        let y0 = 1.0 + libm::log(u) / alpha;
        let a = rng.uniform();
        if a * a <= 1.0 - y0 * y0 {
            return y0;
        }
    }
}

/// A full SU(2) element `(y₀, √(1−y₀²) n̂)` with `n̂` uniform on the sphere.
#[inline]
pub fn sample_su2(alpha: f64, rng: &mut Rng) -> [f64; 4] {
    let y0 = sample_y0(alpha, rng);
    let r = libm::sqrt((1.0 - y0 * y0).max(0.0));
    let cos_t = 2.0 * rng.uniform() - 1.0;
    let sin_t = libm::sqrt((1.0 - cos_t * cos_t).max(0.0));
    let phi = core::f64::consts::TAU * rng.uniform();
    [y0, r * sin_t * libm::cos(phi), r * sin_t * libm::sin(phi), r * cos_t]
}
