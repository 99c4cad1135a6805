//! Sampling SU(2) elements `y` with density `∝ exp(α y₀) dμ_Haar(y)`.
//!
//! The marginal of `y₀` is `∝ √(1−y₀²) e^{α y₀}` on `[−1, 1]`; the direction of
//! the vector part is uniform on the 2-sphere.
//!
//! [`sample_su2`] draws one element from one stream; [`sample_su2_lanes`]
//! draws several from several streams with the same bits per lane, taking the
//! logarithms of all lanes as one vector.

use crate::lanes::{F64x8, PACK};
use crate::real::{sqrt_f64, Real};
use crate::rng::Rng;

/// Below this `α` Creutz's method is used, above it Kennedy–Pendleton.
pub(super) const KP_THRESHOLD: f64 = 2.0;

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
    unit_su2(sample_y0(alpha, rng), rng)
}

/// The SU(2) element `(y₀, √(1−y₀²) n̂)` with `n̂` drawn uniform on the sphere.
#[inline]
fn unit_su2(y0: f64, rng: &mut Rng) -> [f64; 4] {
    let (u, v, s) = disk_point(rng);
    su2_from_disk(y0, u, v, s)
}

/// A point `(u, v)` uniform in the unit disk (rejection from the square), and
/// `s = u² + v² < 1`.
#[inline(always)]
fn disk_point(rng: &mut Rng) -> (f64, f64, f64) {
    loop {
        let u = 2.0 * rng.uniform() - 1.0;
        let v = 2.0 * rng.uniform() - 1.0;
        let s = u * u + v * v;
        if s < 1.0 {
            return (u, v, s);
        }
    }
}

/// `(y₀, √(1−y₀²) n̂)` with Marsaglia's `n̂` of the disk point `(u, v, s)`.
#[inline(always)]
fn su2_from_disk(y0: f64, u: f64, v: f64, s: f64) -> [f64; 4] {
    let r = sqrt_f64((1.0 - y0 * y0).max(0.0));
    let f = 2.0 * sqrt_f64(1.0 - s);
    [y0, r * u * f, r * v * f, r * (1.0 - 2.0 * s)]
}

/// How the heatbath kernel of a lane type draws the SU(2) elements of its
/// `PACK` lanes: by default [`sample_su2_lanes`] (each lane's rejection loops
/// on their own); the AVX-512 and AVX2 packs run all their lanes' streams in
/// registers (`super::su2_vector`). Either way lane `l` gets the bits of
/// `sample_su2(alpha[l], &mut rngs[l])`.
pub trait Su2Draws {
    #[inline(always)]
    fn draw_su2(alpha: &[f64; PACK], wanted: &[bool; PACK], rngs: &mut [Rng]) -> [[f64; PACK]; 4] {
        sample_su2_lanes(alpha, wanted, rngs)
    }
}

impl<T: Real> Su2Draws for T {}
impl Su2Draws for F64x8 {}

/// [`sample_su2`] for several streams at once: `y[c][l]` for each lane `l`
/// of `wanted` with `alpha[l]`, drawn from `rngs[l]` (one stream per lane, at
/// most `N`; lanes not wanted, and lanes from `rngs.len()` on, get zeros and
/// do not draw). Each lane gets the bits `sample_su2(alpha[l], &mut rngs[l])`
/// gives and leaves its stream where that leaves it: the draws run stream by
/// stream in the scalar order, and only the arithmetic on them (the
/// Kennedy–Pendleton logarithms, in a private helper, and the square
/// roots and products of the last step) runs for all lanes together.
#[inline(always)]
pub fn sample_su2_lanes<const N: usize>(alpha: &[f64; N], wanted: &[bool; N], rngs: &mut [Rng]) -> [[f64; N]; 4] {
    assert!(rngs.len() <= N, "{} streams for {N} lanes", rngs.len());
    let drawn: [bool; N] = core::array::from_fn(|l| l < rngs.len() && wanted[l]);
    let kp: [bool; N] = core::array::from_fn(|l| drawn[l] && alpha[l] >= KP_THRESHOLD);
    let mut y0 = kennedy_pendleton_lanes(alpha, &kp, rngs);
    let (mut u, mut v, mut s) = ([0.0; N], [0.0; N], [0.0; N]);
    for (l, rng) in rngs.iter_mut().enumerate().filter(|(l, _)| drawn[*l]) {
        if !kp[l] {
            y0[l] = sample_y0(alpha[l], rng);
        }
        (u[l], v[l], s[l]) = disk_point(rng);
    }
    // The square roots and products of all lanes at once (lanes not drawn: zeros).
    let mut y = [[0.0; N]; 4];
    for l in 0..N {
        let yl = su2_from_disk(y0[l], u[l], v[l], s[l]);
        for c in 0..4 {
            y[c][l] = if drawn[l] { yl[c] } else { 0.0 };
        }
    }
    y
}

/// [`kennedy_pendleton`] for the lanes of `kp` (0 elsewhere). Each round draws
/// every pending lane's proposal from its own stream in the scalar order
/// (`r₁`, `r₃`, the disk point, `r₄`), then takes the `2N` logarithms as
/// one vector ([`log_lanes`]) and keeps the accepted lanes: the logarithms are
/// the costly part, and no draw depends on them within a round.
#[inline(always)]
fn kennedy_pendleton_lanes<const N: usize>(alpha: &[f64; N], kp: &[bool; N], rngs: &mut [Rng]) -> [f64; N] {
    let inv: [f64; N] = alpha.map(|a| 1.0 / (2.0 * a));
    let mut y0 = [0.0; N];
    let mut pending = *kp;
    while pending.contains(&true) {
        let (mut r1, mut r3, mut c2, mut r4) = ([1.0; N], [1.0; N], [0.0; N], [0.0; N]);
        for (l, rng) in rngs.iter_mut().enumerate().filter(|(l, _)| pending[*l]) {
            r1[l] = rng.uniform_pos();
            r3[l] = rng.uniform_pos();
            c2[l] = cos2_uniform_angle(rng);
            r4[l] = rng.uniform();
        }
        let (l1, l3) = (log_lanes(&r1), log_lanes(&r3));
        for l in 0..N {
            let lambda2 = -(l1[l] + c2[l] * l3[l]) * inv[l];
            if pending[l] && r4[l] * r4[l] <= 1.0 - lambda2 {
                y0[l] = 1.0 - 2.0 * lambda2;
                pending[l] = false;
            }
        }
    }
    y0
}

/// `ln 2` split into a high part with trailing zero bits and the rest (msun's `ln2_hi`, `ln2_lo`).
pub(super) const LN2_HI: f64 = f64::from_bits(0x3fe62e42_fee00000);
pub(super) const LN2_LO: f64 = f64::from_bits(0x3dea39ef_35793c76);
/// msun's `Lg1` … `Lg7`: the Remez polynomial `R(z)` of `e_log.c`.
pub(super) const LG: [f64; 7] = [
    f64::from_bits(0x3fe55555_55555593),
    f64::from_bits(0x3fd99999_9997fa04),
    f64::from_bits(0x3fd24924_94229359),
    f64::from_bits(0x3fcc71c5_1d8e78af),
    f64::from_bits(0x3fc74664_96cb03de),
    f64::from_bits(0x3fc39a09_d078c69f),
    f64::from_bits(0x3fc2f112_df3e5244),
];

/// `ln x` lane by lane, bit for bit [`libm::log`] (FreeBSD msun's `e_log.c`:
/// `x = 2^k (1 + f)` with `√2/2 < 1 + f < √2`, `s = f/(2 + f)`,
/// `ln(1 + f) = f − (f²/2 − s (f²/2 + R(s²)))` with the degree-14 Remez
/// polynomial `R`, `ln x = k ln2_hi + (… + k ln2_lo)`), written without
/// branches so that the lanes run as one vector; lanes outside the positive
/// normal numbers (zero, subnormal, negative, infinite, NaN) take `libm::log`.
#[inline(always)]
pub fn log_lanes<const N: usize>(x: &[f64; N]) -> [f64; N] {
    let mut out = [0.0; N];
    let mut special = false;
    for l in 0..N {
        let bits = x[l].to_bits();
        let hi = (bits >> 32) as u32;
        special |= !(0x0010_0000..0x7ff0_0000).contains(&hi);
        // Reduce x to [√2/2, √2): move the exponent so that the mantissas above
        // √2 (high word 0x3ff6a09e) fall into the next binade.
        let shifted = hi.wrapping_add(0x3ff0_0000 - 0x3fe6_a09e);
        let k = (shifted >> 20) as i32 - 0x3ff;
        let reduced = f64::from_bits(((((shifted & 0x000f_ffff) + 0x3fe6_a09e) as u64) << 32) | (bits & 0xffff_ffff));
        let f = reduced - 1.0;
        let hfsq = 0.5 * f * f;
        let s = f / (2.0 + f);
        let z = s * s;
        let w = z * z;
        let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
        let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
        let dk = k as f64;
        out[l] = s * (hfsq + (t2 + t1)) + dk * LN2_LO - hfsq + f + dk * LN2_HI;
    }
    if special {
        for l in 0..N {
            let hi = (x[l].to_bits() >> 32) as u32;
            if !(0x0010_0000..0x7ff0_0000).contains(&hi) {
                out[l] = libm::log(x[l]);
            }
        }
    }
    out
}
