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

/// `cos²φ` for a uniform angle φ, without trigonometry: `x²/(x² + y²)` for a
/// point uniform in the unit disk (rejection from the square).
#[inline]
fn cos2_uniform_angle(rng: &mut Rng) -> f64 {
    loop {
        let x = 2.0 * rng.uniform() - 1.0;
        let y = 2.0 * rng.uniform() - 1.0;
        let r2 = x * x + y * y;
        if r2 > 0.0 && r2 <= 1.0 {
            return x * x / r2;
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
        let r3 = rng.uniform_pos();
        let c2 = cos2_uniform_angle(rng);
        let lambda2 = -(libm::log(r1) + c2 * libm::log(r3)) * inv;
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

/// A full SU(2) element `(y₀, √(1−y₀²) n̂)` with `n̂` uniform on the sphere
/// (Marsaglia's method: `n̂ = (2u√(1−s), 2v√(1−s), 1−2s)` for `(u, v)`
/// uniform in the unit disk, `s = u² + v²`; no trigonometry).
#[inline]
pub fn sample_su2(alpha: f64, rng: &mut Rng) -> [f64; 4] {
    let y0 = sample_y0(alpha, rng);
    let r = crate::real::sqrt_f64((1.0 - y0 * y0).max(0.0));
    loop {
        let u = 2.0 * rng.uniform() - 1.0;
        let v = 2.0 * rng.uniform() - 1.0;
        let s = u * u + v * v;
        if s < 1.0 {
            let f = 2.0 * crate::real::sqrt_f64(1.0 - s);
            return [y0, r * u * f, r * v * f, r * (1.0 - 2.0 * s)];
        }
    }
}
