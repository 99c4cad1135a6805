//! The heatbath's SU(2) draws for eight lanes at once on AVX-512.
//!
//! [`super::su2_sampler::sample_su2_lanes`] runs each lane's rejection loops
//! on its own (one unpredictable branch per proposal) and only the
//! logarithms as a vector. Here the eight lanes' xoshiro256++ streams live in
//! four 512-bit registers (word `i` of lane `l` in lane `l` of register `i`)
//! and every step of the sampler runs on all lanes at once; a rejection loop
//! runs until its last lane accepts. Each lane still draws exactly the
//! numbers, in exactly the order, that the one-lane sampler draws from its
//! stream, and gets the same bits: every operation is the IEEE operation of
//! the scalar code (no FMA), the conversions from random words to floats are
//! exact, and the streams are advanced *speculatively*: inside a loop every
//! lane's generator steps on, and the state a lane must continue from (the
//! one right after its accepted proposal, or its state at the loop's start if
//! it did not take part) is kept aside under a mask and restored when the
//! loop ends. So the generator's own chain of dependencies does not wait for
//! the acceptance tests, which run beside it.
//!
//! SAFETY (every function here): call only where AVX-512F was detected; the
//! functions are `#[inline(always)]` so that they compile into the caller's
//! AVX-512 kernel ([`super::packed`]).

use super::su2_sampler::{sample_y0, KP_THRESHOLD};
use crate::lanes::PACK;
use crate::rng::Rng;
use core::arch::x86_64::*;

/// `2^52` as the bits of an `f64`: OR-ing an integer `n < 2^52` into its
/// mantissa gives the `f64` `2^52 + n` exactly.
const MAGIC_BITS: i64 = 0x4330_0000_0000_0000;
const TWO_52: f64 = 4_503_599_627_370_496.0;
/// The bits of `1.0` and `2.0`.
const ONE_BITS: i64 = 0x3ff0_0000_0000_0000;
const TWO_BITS: i64 = 0x4000_0000_0000_0000;

/// Eight xoshiro256++ streams side by side, advanced on every lane.
struct Streams8 {
    s: [__m512i; 4],
}

impl Streams8 {
    /// The streams of `rngs` (eight of them).
    #[inline(always)]
    unsafe fn load(rngs: &[Rng]) -> Self {
        assert_eq!(rngs.len(), PACK);
        let w: [[u64; 4]; PACK] = core::array::from_fn(|l| rngs[l].words());
        Streams8 {
            s: core::array::from_fn(|i| {
                _mm512_loadu_si512(core::array::from_fn::<u64, PACK, _>(|l| w[l][i]).as_ptr().cast())
            }),
        }
    }

    /// Hands each lane's stream back to its `Rng`.
    #[inline(always)]
    unsafe fn store(&self, rngs: &mut [Rng]) {
        let mut w = [[0u64; PACK]; 4];
        for (wi, si) in w.iter_mut().zip(&self.s) {
            _mm512_storeu_si512(wi.as_mut_ptr().cast(), *si);
        }
        for (l, rng) in rngs.iter_mut().enumerate() {
            rng.set_words(core::array::from_fn(|i| w[i][l]));
        }
    }

    /// `next_u64` on every lane.
    #[inline(always)]
    unsafe fn next(&mut self) -> __m512i {
        let [s0, s1, s2, s3] = self.s;
        let result = _mm512_add_epi64(_mm512_rol_epi64::<23>(_mm512_add_epi64(s0, s3)), s0);
        let t = _mm512_slli_epi64::<17>(s1);
        let s2 = _mm512_xor_si512(s2, s0);
        let s3 = _mm512_xor_si512(s3, s1);
        let s1 = _mm512_xor_si512(s1, s2);
        let s0 = _mm512_xor_si512(s0, s3);
        let s2 = _mm512_xor_si512(s2, t);
        let s3 = _mm512_rol_epi64::<45>(s3);
        self.s = [s0, s1, s2, s3];
        result
    }

    /// Copies the state of the lanes of `m` into `kept`.
    #[inline(always)]
    unsafe fn keep(&self, kept: &mut [__m512i; 4], m: __mmask8) {
        for (k, s) in kept.iter_mut().zip(self.s) {
            *k = _mm512_mask_mov_epi64(*k, m, s);
        }
    }

    /// `Rng::uniform`, `(x >> 11) · 2^-53`, on every lane.
    #[inline(always)]
    unsafe fn uniform(&mut self) -> __m512d {
        unit_float(self.next(), ONE_BITS, 1.0, 1.0 / (1u64 << 53) as f64)
    }

    /// `Rng::uniform_pos`, `((x >> 11) + 1) · 2^-53`, on every lane: the
    /// uniform plus `2^-53`, exact (`(n + 1) · 2^-53 ≤ 1` has at most 53 bits).
    #[inline(always)]
    unsafe fn uniform_pos(&mut self) -> __m512d {
        _mm512_add_pd(self.uniform(), _mm512_set1_pd(1.0 / (1u64 << 53) as f64))
    }

    /// `2 · uniform − 1` on every lane.
    #[inline(always)]
    unsafe fn symmetric(&mut self) -> __m512d {
        unit_float(self.next(), TWO_BITS, 3.0, 1.0 / (1u64 << 52) as f64)
    }
}

/// The scalar sampler's floats from a random word `x`, exactly: with
/// `base`, `offset`, `lsb` = bits of 1, 1, `2^-53` the uniform
/// `(x >> 11) · 2^-53`; with bits of 2, 3, `2^-52` the symmetric `2u − 1`.
/// Write `x >> 11 = 2m + b` (`m = x >> 12`, `b` bit 11 of `x`). The float with
/// the exponent of `c` (1 or 2) and mantissa `m` is `c + c·m·2^-52`; minus
/// `offset` that is `m·2^-52` (uniform) or `m·2^-51 − 1`; plus `b · lsb` it is
/// `(2m + b)·2^-53` or `(2m + b)·2^-52 − 1`. Every intermediate and the result
/// are multiples of their last bit of magnitude at most 2, so no step rounds
/// (Sterbenz for the subtractions), and the scalar products and difference
/// do not round either: the same values.
#[inline(always)]
unsafe fn unit_float(x: __m512i, base: i64, offset: f64, lsb: f64) -> __m512d {
    let high = _mm512_castsi512_pd(_mm512_or_si512(_mm512_srli_epi64::<12>(x), _mm512_set1_epi64(base)));
    let odd = _mm512_test_epi64_mask(x, _mm512_set1_epi64(1 << 11));
    _mm512_add_pd(_mm512_sub_pd(high, _mm512_set1_pd(offset)), _mm512_maskz_mov_pd(odd, _mm512_set1_pd(lsb)))
}

/// `ln x` for positive normal `x` in every lane, bit for bit
/// [`super::su2_sampler::log_lanes`] (and so `libm::log`), in registers.
#[inline(always)]
unsafe fn log8(x: __m512d) -> __m512d {
    use super::su2_sampler::{LG, LN2_HI, LN2_LO};
    let set = |v: f64| _mm512_set1_pd(v);
    let bits = _mm512_castpd_si512(x);
    let hi = _mm512_srli_epi64::<32>(bits);
    // hi < 0x7ff0_0000 for the inputs here, so the 32-bit sum does not wrap.
    let shifted = _mm512_add_epi64(hi, _mm512_set1_epi64(0x3ff0_0000 - 0x3fe6_a09e));
    let k_biased = _mm512_srli_epi64::<20>(shifted);
    let mant_hi =
        _mm512_add_epi64(_mm512_and_si512(shifted, _mm512_set1_epi64(0x000f_ffff)), _mm512_set1_epi64(0x3fe6_a09e));
    let reduced = _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_slli_epi64::<32>(mant_hi),
        _mm512_and_si512(bits, _mm512_set1_epi64(0xffff_ffff)),
    ));
    // k = k_biased − 1023, converted exactly.
    let magic = _mm512_set1_epi64(MAGIC_BITS);
    let dk =
        _mm512_sub_pd(_mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(k_biased, magic)), set(TWO_52)), set(1023.0));
    let (add, sub, mul) = (|a, b| _mm512_add_pd(a, b), |a, b| _mm512_sub_pd(a, b), |a, b| _mm512_mul_pd(a, b));
    let f = sub(reduced, set(1.0));
    let hfsq = mul(mul(set(0.5), f), f);
    let s = _mm512_div_pd(f, add(set(2.0), f));
    let z = mul(s, s);
    let w = mul(z, z);
    let t1 = mul(w, add(set(LG[1]), mul(w, add(set(LG[3]), mul(w, set(LG[5]))))));
    let t2 = mul(z, add(set(LG[0]), mul(w, add(set(LG[2]), mul(w, add(set(LG[4]), mul(w, set(LG[6]))))))));
    // s (hfsq + (t2 + t1)) + dk ln2_lo − hfsq + f + dk ln2_hi, left to right.
    let a = add(mul(s, add(hfsq, add(t2, t1))), mul(dk, set(LN2_LO)));
    add(add(sub(a, hfsq), f), mul(dk, set(LN2_HI)))
}

/// A point `(u, v)` uniform in the unit disk and `s = u² + v²` for the lanes of
/// `m` (the one-lane rejection from the square, every lane until it accepts;
/// `strict` the `s < 1` test of Marsaglia's direction, else the angle's
/// `0 < s ≤ 1`). The streams of the lanes of `m` continue right after their
/// accepted pair, the others where they were.
#[inline(always)]
unsafe fn disk_point8(st: &mut Streams8, m: __mmask8, strict: bool) -> (__m512d, __m512d, __m512d) {
    let (mut u, mut v, mut s) = (_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd());
    let one = _mm512_set1_pd(1.0);
    let mut kept = st.s;
    let mut pending = m;
    while pending != 0 {
        let pu = st.symmetric();
        let pv = st.symmetric();
        let ps = _mm512_add_pd(_mm512_mul_pd(pu, pu), _mm512_mul_pd(pv, pv));
        let ok = if strict {
            _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(pending, ps, one)
        } else {
            _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(pending, ps, _mm512_setzero_pd())
                & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(ps, one)
        };
        u = _mm512_mask_mov_pd(u, ok, pu);
        v = _mm512_mask_mov_pd(v, ok, pv);
        s = _mm512_mask_mov_pd(s, ok, ps);
        st.keep(&mut kept, ok);
        pending &= !ok;
    }
    st.s = kept;
    (u, v, s)
}

/// Kennedy–Pendleton `y₀` on the lanes of `m`, 0 elsewhere; rounds of
/// `r₁, r₃`, the angle, `r₄` per pending lane as in the one-lane sampler.
#[inline(always)]
unsafe fn kennedy_pendleton8(alpha: __m512d, m: __mmask8, st: &mut Streams8) -> __m512d {
    let one = _mm512_set1_pd(1.0);
    let inv = _mm512_div_pd(one, _mm512_mul_pd(_mm512_set1_pd(2.0), alpha));
    let mut y0 = _mm512_setzero_pd();
    let mut kept = st.s;
    let mut pending = m;
    while pending != 0 {
        let r1 = st.uniform_pos();
        let r3 = st.uniform_pos();
        // cos²φ = x²/(x² + y²) of a point in the disk.
        let (x, _, r2) = disk_point8(st, pending, false);
        let c2 = _mm512_div_pd(_mm512_mul_pd(x, x), r2);
        let r4 = st.uniform();
        // r₁, r₃ are in (0, 1] on every lane, so the logarithms are defined.
        let sum = _mm512_add_pd(log8(r1), _mm512_mul_pd(c2, log8(r3)));
        let minus_sum = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(sum), _mm512_set1_epi64(i64::MIN)));
        let lambda2 = _mm512_mul_pd(minus_sum, inv);
        let ok = _mm512_mask_cmp_pd_mask::<_CMP_LE_OQ>(pending, _mm512_mul_pd(r4, r4), _mm512_sub_pd(one, lambda2));
        y0 = _mm512_mask_mov_pd(y0, ok, _mm512_sub_pd(one, _mm512_mul_pd(_mm512_set1_pd(2.0), lambda2)));
        st.keep(&mut kept, ok);
        pending &= !ok;
    }
    st.s = kept;
    y0
}

/// The lanes whose flag is set, as a lane mask.
#[inline(always)]
fn mask_of(flags: &[bool; PACK]) -> __mmask8 {
    flags.iter().enumerate().fold(0, |m, (l, &f)| m | ((f as u8) << l))
}

/// [`super::su2_sampler::sample_su2_lanes`] for eight lanes (eight streams),
/// the same bits per lane and the same stream positions afterwards.
#[inline(always)]
pub(super) unsafe fn sample_su2_8(alpha: &[f64; PACK], wanted: &[bool; PACK], rngs: &mut [Rng]) -> [[f64; PACK]; 4] {
    assert_eq!(rngs.len(), PACK, "eight streams for eight lanes");
    let kp_flags: [bool; PACK] = core::array::from_fn(|l| wanted[l] && alpha[l] >= KP_THRESHOLD);
    let (drawn, kp) = (mask_of(wanted), mask_of(&kp_flags));
    let mut y0 = [0.0; PACK];
    // Lanes below the Kennedy–Pendleton threshold (rare at the usual couplings)
    // draw y₀ from their own stream first, one by one.
    if drawn & !kp != 0 {
        for (l, rng) in rngs.iter_mut().enumerate().filter(|(l, _)| wanted[*l] && !kp_flags[*l]) {
            y0[l] = sample_y0(alpha[l], rng);
        }
    }
    let mut st = Streams8::load(rngs);
    let y0_kp = kennedy_pendleton8(_mm512_loadu_pd(alpha.as_ptr()), kp, &mut st);
    let y0 = _mm512_mask_mov_pd(_mm512_loadu_pd(y0.as_ptr()), kp, y0_kp);
    // A point in the unit disk for Marsaglia's direction, every drawn lane.
    let (u, v, s) = disk_point8(&mut st, drawn, true);
    st.store(rngs);
    // (y₀, r u f, r v f, r (1 − 2s)) with r = √max(1 − y₀², 0), f = 2√(1 − s).
    let one = _mm512_set1_pd(1.0);
    let r = _mm512_sqrt_pd(_mm512_max_pd(_mm512_sub_pd(one, _mm512_mul_pd(y0, y0)), _mm512_setzero_pd()));
    let f = _mm512_mul_pd(_mm512_set1_pd(2.0), _mm512_sqrt_pd(_mm512_sub_pd(one, s)));
    let y = [
        y0,
        _mm512_mul_pd(_mm512_mul_pd(r, u), f),
        _mm512_mul_pd(_mm512_mul_pd(r, v), f),
        _mm512_mul_pd(r, _mm512_sub_pd(one, _mm512_mul_pd(_mm512_set1_pd(2.0), s))),
    ];
    let mut out = [[0.0; PACK]; 4];
    for (o, yc) in out.iter_mut().zip(y) {
        _mm512_storeu_pd(o.as_mut_ptr(), _mm512_maskz_mov_pd(drawn, yc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::su2_sampler::sample_su2_lanes;
    use super::*;
    use crate::rng::{domain, Rng};
    use crate::simd::Kernel;

    #[target_feature(enable = "avx512f")]
    unsafe fn draws_8(alpha: &[f64; PACK], wanted: &[bool; PACK], rngs: &mut [Rng]) -> [[f64; PACK]; 4] {
        sample_su2_8(alpha, wanted, rngs)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn log_8(x: &[f64; PACK]) -> [f64; PACK] {
        let mut out = [0.0; PACK];
        _mm512_storeu_pd(out.as_mut_ptr(), log8(_mm512_loadu_pd(x.as_ptr())));
        out
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn unit_floats_8(x: &[u64; PACK]) -> [[f64; PACK]; 2] {
        let x = _mm512_loadu_si512(x.as_ptr().cast());
        let mut out = [[0.0; PACK]; 2];
        _mm512_storeu_pd(out[0].as_mut_ptr(), unit_float(x, ONE_BITS, 1.0, 1.0 / (1u64 << 53) as f64));
        _mm512_storeu_pd(out[1].as_mut_ptr(), unit_float(x, TWO_BITS, 3.0, 1.0 / (1u64 << 52) as f64));
        out
    }

    /// Every lane gets the one-lane sampler's bits and leaves its stream where
    /// the one-lane sampler leaves it: couplings across both methods'
    /// ranges (Creutz below α = 2, the Haar limit near 0, Kennedy–Pendleton
    /// above), lanes not wanted, many rounds.
    #[test]
    fn eight_lane_draws_are_the_one_lane_draws_bit_for_bit() {
        if !Kernel::Avx512.available() {
            return;
        }
        let mut pick = Rng::stream(11, &[domain::TEST, 1]);
        for round in 0..4000u64 {
            let alpha: [f64; PACK] = core::array::from_fn(|_| match pick.next_u64() % 6 {
                0 => 1e-8,
                1 => 3.0 * pick.uniform(),
                2 => 2.0,
                _ => 2.0 + 40.0 * pick.uniform(),
            });
            let wanted: [bool; PACK] = core::array::from_fn(|_| !pick.next_u64().is_multiple_of(8));
            let mut fast: [Rng; PACK] = core::array::from_fn(|l| Rng::stream(5, &[domain::TEST, round, l as u64]));
            let mut slow = fast.clone();
            // SAFETY: AVX-512F was detected.
            let got = unsafe { draws_8(&alpha, &wanted, &mut fast) };
            let want = sample_su2_lanes(&alpha, &wanted, &mut slow);
            for c in 0..4 {
                for l in 0..PACK {
                    assert_eq!(
                        got[c][l].to_bits(),
                        want[c][l].to_bits(),
                        "round {round} component {c} lane {l} (α {})",
                        alpha[l]
                    );
                }
            }
            for l in 0..PACK {
                assert_eq!(
                    fast[l].next_u64(),
                    slow[l].next_u64(),
                    "round {round}: stream of lane {l} moved differently"
                );
            }
        }
    }

    /// The register logarithm is `libm::log` bit for bit on `(0, 1]`, and the
    /// floats made from random words are the scalar sampler's.
    #[test]
    fn register_log_and_unit_floats_are_exact() {
        if !Kernel::Avx512.available() {
            return;
        }
        let mut r = Rng::stream(12, &[domain::TEST]);
        for _ in 0..20_000 {
            let x: [f64; PACK] = core::array::from_fn(|l| {
                if l == 0 {
                    1.0
                } else {
                    r.uniform_pos() * libm::exp2(-((r.next_u64() % 60) as f64))
                }
            });
            // SAFETY: AVX-512F was detected.
            let got = unsafe { log_8(&x) };
            for l in 0..PACK {
                assert_eq!(got[l].to_bits(), libm::log(x[l]).to_bits(), "ln {}", x[l]);
            }
            let w: [u64; PACK] = core::array::from_fn(|l| match l {
                0 => 0,
                1 => u64::MAX,
                2 => 1 << 63,
                3 => ((1 << 63) - 1) | (1 << 11),
                _ => r.next_u64(),
            });
            // SAFETY: as above.
            let [u, sym] = unsafe { unit_floats_8(&w) };
            for l in 0..PACK {
                let want = (w[l] >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                assert_eq!(u[l].to_bits(), want.to_bits(), "uniform of {:#x}", w[l]);
                assert_eq!(sym[l].to_bits(), (2.0 * want - 1.0).to_bits(), "2u - 1 of {:#x}", w[l]);
            }
        }
    }
}
