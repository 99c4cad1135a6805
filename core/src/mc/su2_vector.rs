//! The heatbath's SU(2) draws for all lanes of a register at once (AVX-512:
//! eight lanes, AVX2: four).
//!
//! [`super::su2_sampler::sample_su2_lanes`] runs each lane's rejection loops
//! on its own (one unpredictable branch per proposal) and only the
//! logarithms as a vector. Here the lanes' xoshiro256++ streams live in four
//! vector registers (word `i` of lane `l` in lane `l` of register `i`) and
//! every step of the sampler runs on all lanes at once; a rejection loop runs
//! until its last lane accepts. Each lane still draws exactly the numbers, in
//! exactly the order, that the one-lane sampler draws from its stream, and
//! gets the same bits: every operation is the IEEE operation of the scalar
//! code (no FMA), the floats made from random words are exact, and the
//! streams are advanced *speculatively*: inside a loop every lane's generator
//! steps on, and the state a lane must continue from (the one right after its
//! accepted proposal, or its state at the loop's start if it did not take
//! part) is kept aside under a mask and restored when the loop ends. So the
//! generator's own chain of dependencies does not wait for the acceptance
//! tests, which run beside it.
//!
//! The algorithm is written once over [`DrawRegs`], the few register
//! operations it needs; [`Avx512`] and [`Avx2`] implement them.
//!
//! SAFETY (every `unsafe fn` here): call only where the register type's
//! instruction set was detected. The functions are `#[inline(always)]` so
//! that they compile into the caller's kernel ([`super::packed`]), which
//! carries the `target_feature`.

use super::su2_sampler::{sample_y0, KP_THRESHOLD, LG, LN2_HI, LN2_LO};
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

/// The register operations of the vector sampler: `f64` lanes `F`, `u64`
/// lanes `I` and lane masks `M`, `LANES` of each. Arithmetic is the IEEE
/// operation lane by lane; shifts are logical; `rol::<L, R>` rotates left by
/// `L` (`R = 64 − L`).
pub(super) trait DrawRegs {
    const LANES: usize;
    type F: Copy;
    type I: Copy;
    type M: Copy;
    unsafe fn splat(x: f64) -> Self::F;
    unsafe fn load(x: &[f64]) -> Self::F;
    unsafe fn store(x: Self::F, out: &mut [f64]);
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn sub(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn div(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn sqrt(a: Self::F) -> Self::F;
    /// `max(a, b)`, `b` where `a` is NaN (as `f64::max(a, 0.0)` for `b = 0`).
    unsafe fn max(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn isplat(x: i64) -> Self::I;
    unsafe fn iload(x: &[u64]) -> Self::I;
    unsafe fn istore(x: Self::I, out: &mut [u64]);
    unsafe fn iadd(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn xor(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn and(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn or(a: Self::I, b: Self::I) -> Self::I;
    unsafe fn shl<const N: u32>(a: Self::I) -> Self::I;
    unsafe fn shr<const N: u32>(a: Self::I) -> Self::I;
    unsafe fn rol<const L: u32, const R: u32>(a: Self::I) -> Self::I;
    unsafe fn as_float(a: Self::I) -> Self::F;
    unsafe fn as_int(a: Self::F) -> Self::I;
    unsafe fn lt(a: Self::F, b: Self::F) -> Self::M;
    unsafe fn le(a: Self::F, b: Self::F) -> Self::M;
    unsafe fn gt(a: Self::F, b: Self::F) -> Self::M;
    /// Lanes where `a & bit` is not zero.
    unsafe fn test(a: Self::I, bit: i64) -> Self::M;
    unsafe fn mask_and(a: Self::M, b: Self::M) -> Self::M;
    /// `a & !b`.
    unsafe fn mask_and_not(a: Self::M, b: Self::M) -> Self::M;
    unsafe fn any(m: Self::M) -> bool;
    unsafe fn mask_of(flags: &[bool]) -> Self::M;
    /// `m ? t : f` lane by lane.
    unsafe fn select(m: Self::M, t: Self::F, f: Self::F) -> Self::F;
    unsafe fn iselect(m: Self::M, t: Self::I, f: Self::I) -> Self::I;
}

/// Eight lanes in 512-bit registers and `__mmask8` masks (AVX-512F).
pub(super) struct Avx512;

impl DrawRegs for Avx512 {
    const LANES: usize = 8;
    type F = __m512d;
    type I = __m512i;
    type M = __mmask8;
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m512d {
        _mm512_set1_pd(x)
    }
    #[inline(always)]
    unsafe fn load(x: &[f64]) -> __m512d {
        assert!(x.len() >= 8);
        _mm512_loadu_pd(x.as_ptr())
    }
    #[inline(always)]
    unsafe fn store(x: __m512d, out: &mut [f64]) {
        assert!(out.len() >= 8);
        _mm512_storeu_pd(out.as_mut_ptr(), x)
    }
    #[inline(always)]
    unsafe fn add(a: __m512d, b: __m512d) -> __m512d {
        _mm512_add_pd(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m512d, b: __m512d) -> __m512d {
        _mm512_sub_pd(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m512d, b: __m512d) -> __m512d {
        _mm512_mul_pd(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: __m512d, b: __m512d) -> __m512d {
        _mm512_div_pd(a, b)
    }
    #[inline(always)]
    unsafe fn sqrt(a: __m512d) -> __m512d {
        _mm512_sqrt_pd(a)
    }
    #[inline(always)]
    unsafe fn max(a: __m512d, b: __m512d) -> __m512d {
        _mm512_max_pd(a, b)
    }
    #[inline(always)]
    unsafe fn isplat(x: i64) -> __m512i {
        _mm512_set1_epi64(x)
    }
    #[inline(always)]
    unsafe fn iload(x: &[u64]) -> __m512i {
        assert!(x.len() >= 8);
        _mm512_loadu_si512(x.as_ptr().cast())
    }
    #[inline(always)]
    unsafe fn istore(x: __m512i, out: &mut [u64]) {
        assert!(out.len() >= 8);
        _mm512_storeu_si512(out.as_mut_ptr().cast(), x)
    }
    #[inline(always)]
    unsafe fn iadd(a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi64(a, b)
    }
    #[inline(always)]
    unsafe fn xor(a: __m512i, b: __m512i) -> __m512i {
        _mm512_xor_si512(a, b)
    }
    #[inline(always)]
    unsafe fn and(a: __m512i, b: __m512i) -> __m512i {
        _mm512_and_si512(a, b)
    }
    #[inline(always)]
    unsafe fn or(a: __m512i, b: __m512i) -> __m512i {
        _mm512_or_si512(a, b)
    }
    #[inline(always)]
    unsafe fn shl<const N: u32>(a: __m512i) -> __m512i {
        _mm512_slli_epi64::<N>(a)
    }
    #[inline(always)]
    unsafe fn shr<const N: u32>(a: __m512i) -> __m512i {
        _mm512_srli_epi64::<N>(a)
    }
    #[inline(always)]
    unsafe fn rol<const L: u32, const R: u32>(a: __m512i) -> __m512i {
        _mm512_rolv_epi64(a, _mm512_set1_epi64(L as i64))
    }
    #[inline(always)]
    unsafe fn as_float(a: __m512i) -> __m512d {
        _mm512_castsi512_pd(a)
    }
    #[inline(always)]
    unsafe fn as_int(a: __m512d) -> __m512i {
        _mm512_castpd_si512(a)
    }
    #[inline(always)]
    unsafe fn lt(a: __m512d, b: __m512d) -> __mmask8 {
        _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn le(a: __m512d, b: __m512d) -> __mmask8 {
        _mm512_cmp_pd_mask::<_CMP_LE_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn gt(a: __m512d, b: __m512d) -> __mmask8 {
        _mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn test(a: __m512i, bit: i64) -> __mmask8 {
        _mm512_test_epi64_mask(a, _mm512_set1_epi64(bit))
    }
    #[inline(always)]
    unsafe fn mask_and(a: __mmask8, b: __mmask8) -> __mmask8 {
        a & b
    }
    #[inline(always)]
    unsafe fn mask_and_not(a: __mmask8, b: __mmask8) -> __mmask8 {
        a & !b
    }
    #[inline(always)]
    unsafe fn any(m: __mmask8) -> bool {
        m != 0
    }
    #[inline(always)]
    unsafe fn mask_of(flags: &[bool]) -> __mmask8 {
        flags[..8].iter().enumerate().fold(0, |m, (l, &f)| m | ((f as u8) << l))
    }
    #[inline(always)]
    unsafe fn select(m: __mmask8, t: __m512d, f: __m512d) -> __m512d {
        _mm512_mask_mov_pd(f, m, t)
    }
    #[inline(always)]
    unsafe fn iselect(m: __mmask8, t: __m512i, f: __m512i) -> __m512i {
        _mm512_mask_mov_epi64(f, m, t)
    }
}

/// Four lanes in 256-bit registers, masks as all-ones lanes (AVX2).
pub(super) struct Avx2;

impl DrawRegs for Avx2 {
    const LANES: usize = 4;
    type F = __m256d;
    type I = __m256i;
    type M = __m256d;
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m256d {
        _mm256_set1_pd(x)
    }
    #[inline(always)]
    unsafe fn load(x: &[f64]) -> __m256d {
        assert!(x.len() >= 4);
        _mm256_loadu_pd(x.as_ptr())
    }
    #[inline(always)]
    unsafe fn store(x: __m256d, out: &mut [f64]) {
        assert!(out.len() >= 4);
        _mm256_storeu_pd(out.as_mut_ptr(), x)
    }
    #[inline(always)]
    unsafe fn add(a: __m256d, b: __m256d) -> __m256d {
        _mm256_add_pd(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m256d, b: __m256d) -> __m256d {
        _mm256_sub_pd(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m256d, b: __m256d) -> __m256d {
        _mm256_mul_pd(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: __m256d, b: __m256d) -> __m256d {
        _mm256_div_pd(a, b)
    }
    #[inline(always)]
    unsafe fn sqrt(a: __m256d) -> __m256d {
        _mm256_sqrt_pd(a)
    }
    #[inline(always)]
    unsafe fn max(a: __m256d, b: __m256d) -> __m256d {
        _mm256_max_pd(a, b)
    }
    #[inline(always)]
    unsafe fn isplat(x: i64) -> __m256i {
        _mm256_set1_epi64x(x)
    }
    #[inline(always)]
    unsafe fn iload(x: &[u64]) -> __m256i {
        assert!(x.len() >= 4);
        _mm256_loadu_si256(x.as_ptr().cast())
    }
    #[inline(always)]
    unsafe fn istore(x: __m256i, out: &mut [u64]) {
        assert!(out.len() >= 4);
        _mm256_storeu_si256(out.as_mut_ptr().cast(), x)
    }
    #[inline(always)]
    unsafe fn iadd(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi64(a, b)
    }
    #[inline(always)]
    unsafe fn xor(a: __m256i, b: __m256i) -> __m256i {
        _mm256_xor_si256(a, b)
    }
    #[inline(always)]
    unsafe fn and(a: __m256i, b: __m256i) -> __m256i {
        _mm256_and_si256(a, b)
    }
    #[inline(always)]
    unsafe fn or(a: __m256i, b: __m256i) -> __m256i {
        _mm256_or_si256(a, b)
    }
    #[inline(always)]
    unsafe fn shl<const N: u32>(a: __m256i) -> __m256i {
        _mm256_sll_epi64(a, _mm_set_epi64x(0, N as i64))
    }
    #[inline(always)]
    unsafe fn shr<const N: u32>(a: __m256i) -> __m256i {
        _mm256_srl_epi64(a, _mm_set_epi64x(0, N as i64))
    }
    #[inline(always)]
    unsafe fn rol<const L: u32, const R: u32>(a: __m256i) -> __m256i {
        _mm256_or_si256(Self::shl::<L>(a), Self::shr::<R>(a))
    }
    #[inline(always)]
    unsafe fn as_float(a: __m256i) -> __m256d {
        _mm256_castsi256_pd(a)
    }
    #[inline(always)]
    unsafe fn as_int(a: __m256d) -> __m256i {
        _mm256_castpd_si256(a)
    }
    #[inline(always)]
    unsafe fn lt(a: __m256d, b: __m256d) -> __m256d {
        _mm256_cmp_pd::<_CMP_LT_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn le(a: __m256d, b: __m256d) -> __m256d {
        _mm256_cmp_pd::<_CMP_LE_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn gt(a: __m256d, b: __m256d) -> __m256d {
        _mm256_cmp_pd::<_CMP_GT_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn test(a: __m256i, bit: i64) -> __m256d {
        let b = _mm256_set1_epi64x(bit);
        _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(a, b), b))
    }
    #[inline(always)]
    unsafe fn mask_and(a: __m256d, b: __m256d) -> __m256d {
        _mm256_and_pd(a, b)
    }
    #[inline(always)]
    unsafe fn mask_and_not(a: __m256d, b: __m256d) -> __m256d {
        _mm256_andnot_pd(b, a)
    }
    #[inline(always)]
    unsafe fn any(m: __m256d) -> bool {
        _mm256_movemask_pd(m) != 0
    }
    #[inline(always)]
    unsafe fn mask_of(flags: &[bool]) -> __m256d {
        let lane = |l: usize| -(flags[l] as i64);
        _mm256_castsi256_pd(_mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3)))
    }
    #[inline(always)]
    unsafe fn select(m: __m256d, t: __m256d, f: __m256d) -> __m256d {
        _mm256_blendv_pd(f, t, m)
    }
    #[inline(always)]
    unsafe fn iselect(m: __m256d, t: __m256i, f: __m256i) -> __m256i {
        _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(f), _mm256_castsi256_pd(t), m))
    }
}

/// `R::LANES` xoshiro256++ streams side by side, advanced on every lane.
struct Streams<R: DrawRegs> {
    s: [R::I; 4],
}

impl<R: DrawRegs> Streams<R> {
    /// The streams of `rngs` (`R::LANES` of them).
    #[inline(always)]
    unsafe fn load(rngs: &[Rng]) -> Self {
        assert_eq!(rngs.len(), R::LANES);
        let mut w = [[0u64; PACK]; 4];
        for (l, rng) in rngs.iter().enumerate() {
            for (i, word) in rng.words().into_iter().enumerate() {
                w[i][l] = word;
            }
        }
        Streams { s: w.map(|wi| R::iload(&wi)) }
    }

    /// Hands each lane's stream back to its `Rng`.
    #[inline(always)]
    unsafe fn store(&self, rngs: &mut [Rng]) {
        let mut w = [[0u64; PACK]; 4];
        for (wi, si) in w.iter_mut().zip(self.s) {
            R::istore(si, wi);
        }
        for (l, rng) in rngs.iter_mut().enumerate() {
            rng.set_words(core::array::from_fn(|i| w[i][l]));
        }
    }

    /// `next_u64` on every lane.
    #[inline(always)]
    unsafe fn next(&mut self) -> R::I {
        let [s0, s1, s2, s3] = self.s;
        let result = R::iadd(R::rol::<23, 41>(R::iadd(s0, s3)), s0);
        let t = R::shl::<17>(s1);
        let s2 = R::xor(s2, s0);
        let s3 = R::xor(s3, s1);
        let s1 = R::xor(s1, s2);
        let s0 = R::xor(s0, s3);
        let s2 = R::xor(s2, t);
        let s3 = R::rol::<45, 19>(s3);
        self.s = [s0, s1, s2, s3];
        result
    }

    /// Copies the state of the lanes of `m` into `kept`.
    #[inline(always)]
    unsafe fn keep(&self, kept: &mut [R::I; 4], m: R::M) {
        for (k, s) in kept.iter_mut().zip(self.s) {
            *k = R::iselect(m, s, *k);
        }
    }

    /// `Rng::uniform`, `(x >> 11) · 2^-53`, on every lane.
    #[inline(always)]
    unsafe fn uniform(&mut self) -> R::F {
        unit_float::<R>(self.next(), ONE_BITS, 1.0, 1.0 / (1u64 << 53) as f64)
    }

    /// `Rng::uniform_pos`, `((x >> 11) + 1) · 2^-53`, on every lane: the
    /// uniform plus `2^-53`, exact (`(n + 1) · 2^-53 ≤ 1` has at most 53 bits).
    #[inline(always)]
    unsafe fn uniform_pos(&mut self) -> R::F {
        R::add(self.uniform(), R::splat(1.0 / (1u64 << 53) as f64))
    }

    /// `2 · uniform − 1` on every lane.
    #[inline(always)]
    unsafe fn symmetric(&mut self) -> R::F {
        unit_float::<R>(self.next(), TWO_BITS, 3.0, 1.0 / (1u64 << 52) as f64)
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
unsafe fn unit_float<R: DrawRegs>(x: R::I, base: i64, offset: f64, lsb: f64) -> R::F {
    let high = R::as_float(R::or(R::shr::<12>(x), R::isplat(base)));
    let odd = R::test(x, 1 << 11);
    R::add(R::sub(high, R::splat(offset)), R::select(odd, R::splat(lsb), R::splat(0.0)))
}

/// `ln x` for positive normal `x` in every lane, bit for bit
/// [`super::su2_sampler::log_lanes`] (and so `libm::log`), in registers.
#[inline(always)]
unsafe fn log_regs<R: DrawRegs>(x: R::F) -> R::F {
    let (add, sub, mul, set) = (R::add, R::sub, R::mul, |v| R::splat(v));
    let bits = R::as_int(x);
    let hi = R::shr::<32>(bits);
    // hi < 0x7ff0_0000 for the inputs here, so the 32-bit sum does not wrap.
    let shifted = R::iadd(hi, R::isplat(0x3ff0_0000 - 0x3fe6_a09e));
    let k_biased = R::shr::<20>(shifted);
    let mant_hi = R::iadd(R::and(shifted, R::isplat(0x000f_ffff)), R::isplat(0x3fe6_a09e));
    let reduced = R::as_float(R::or(R::shl::<32>(mant_hi), R::and(bits, R::isplat(0xffff_ffff))));
    // k = k_biased − 1023, converted exactly through the mantissa of 2^52.
    let dk = sub(sub(R::as_float(R::or(k_biased, R::isplat(MAGIC_BITS))), set(TWO_52)), set(1023.0));
    let f = sub(reduced, set(1.0));
    let hfsq = mul(mul(set(0.5), f), f);
    let s = R::div(f, add(set(2.0), f));
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
unsafe fn disk_point<R: DrawRegs>(st: &mut Streams<R>, m: R::M, strict: bool) -> (R::F, R::F, R::F) {
    let (zero, one) = (R::splat(0.0), R::splat(1.0));
    let (mut u, mut v, mut s) = (zero, zero, zero);
    let mut kept = st.s;
    let mut pending = m;
    while R::any(pending) {
        let pu = st.symmetric();
        let pv = st.symmetric();
        let ps = R::add(R::mul(pu, pu), R::mul(pv, pv));
        let inside = if strict { R::lt(ps, one) } else { R::mask_and(R::gt(ps, zero), R::le(ps, one)) };
        let ok = R::mask_and(pending, inside);
        u = R::select(ok, pu, u);
        v = R::select(ok, pv, v);
        s = R::select(ok, ps, s);
        st.keep(&mut kept, ok);
        pending = R::mask_and_not(pending, ok);
    }
    st.s = kept;
    (u, v, s)
}

/// Kennedy–Pendleton `y₀` on the lanes of `m`, 0 elsewhere; rounds of
/// `r₁, r₃`, the angle, `r₄` per pending lane as in the one-lane sampler.
#[inline(always)]
unsafe fn kennedy_pendleton<R: DrawRegs>(alpha: R::F, m: R::M, st: &mut Streams<R>) -> R::F {
    let (one, two) = (R::splat(1.0), R::splat(2.0));
    let inv = R::div(one, R::mul(two, alpha));
    let mut y0 = R::splat(0.0);
    let mut kept = st.s;
    let mut pending = m;
    while R::any(pending) {
        let r1 = st.uniform_pos();
        let r3 = st.uniform_pos();
        // cos²φ = x²/(x² + y²) of a point in the disk.
        let (x, _, r2) = disk_point(st, pending, false);
        let c2 = R::div(R::mul(x, x), r2);
        let r4 = st.uniform();
        // r₁, r₃ are in (0, 1] on every lane, so the logarithms are defined.
        let sum = R::add(log_regs::<R>(r1), R::mul(c2, log_regs::<R>(r3)));
        let minus_sum = R::as_float(R::xor(R::as_int(sum), R::isplat(i64::MIN)));
        let lambda2 = R::mul(minus_sum, inv);
        let ok = R::mask_and(pending, R::le(R::mul(r4, r4), R::sub(one, lambda2)));
        y0 = R::select(ok, R::sub(one, R::mul(two, lambda2)), y0);
        st.keep(&mut kept, ok);
        pending = R::mask_and_not(pending, ok);
    }
    st.s = kept;
    y0
}

/// [`super::su2_sampler::sample_su2_lanes`] for the `R::LANES` lanes of one
/// register (`R::LANES` streams; the entries of `alpha` and `wanted` from
/// `R::LANES` on are ignored and their outputs are 0), the same bits per lane
/// and the same stream positions afterwards.
#[inline(always)]
pub(super) unsafe fn sample_su2_regs<R: DrawRegs>(
    alpha: &[f64; PACK],
    wanted: &[bool; PACK],
    rngs: &mut [Rng],
) -> [[f64; PACK]; 4] {
    assert_eq!(rngs.len(), R::LANES, "one stream per lane");
    let kp_flags: [bool; PACK] = core::array::from_fn(|l| wanted[l] && alpha[l] >= KP_THRESHOLD);
    let (drawn, kp) = (R::mask_of(wanted), R::mask_of(&kp_flags));
    let mut y0 = [0.0; PACK];
    // Lanes below the Kennedy–Pendleton threshold (rare at the usual couplings)
    // draw y₀ from their own stream first, one by one.
    for (l, rng) in rngs.iter_mut().enumerate() {
        if wanted[l] && !kp_flags[l] {
            y0[l] = sample_y0(alpha[l], rng);
        }
    }
    let mut st = Streams::<R>::load(rngs);
    let y0 = R::select(kp, kennedy_pendleton(R::load(alpha), kp, &mut st), R::load(&y0));
    // A point in the unit disk for Marsaglia's direction, every drawn lane.
    let (u, v, s) = disk_point(&mut st, drawn, true);
    st.store(rngs);
    // (y₀, r u f, r v f, r (1 − 2s)) with r = √max(1 − y₀², 0), f = 2√(1 − s).
    let (zero, one, two) = (R::splat(0.0), R::splat(1.0), R::splat(2.0));
    let r = R::sqrt(R::max(R::sub(one, R::mul(y0, y0)), zero));
    let f = R::mul(two, R::sqrt(R::sub(one, s)));
    let y = [y0, R::mul(R::mul(r, u), f), R::mul(R::mul(r, v), f), R::mul(r, R::sub(one, R::mul(two, s)))];
    let mut out = [[0.0; PACK]; 4];
    for (o, yc) in out.iter_mut().zip(y) {
        R::store(R::select(drawn, yc, zero), o);
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
    unsafe fn draws_avx512(alpha: &[f64; PACK], wanted: &[bool; PACK], rngs: &mut [Rng]) -> [[f64; PACK]; 4] {
        sample_su2_regs::<Avx512>(alpha, wanted, rngs)
    }

    #[target_feature(enable = "avx2")]
    unsafe fn draws_avx2(alpha: &[f64; PACK], wanted: &[bool; PACK], rngs: &mut [Rng]) -> [[f64; PACK]; 4] {
        sample_su2_regs::<Avx2>(alpha, wanted, rngs)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn log_and_floats_avx512(x: &[f64; PACK], w: &[u64; PACK]) -> [[f64; PACK]; 3] {
        log_and_floats::<Avx512>(x, w)
    }

    #[target_feature(enable = "avx2")]
    unsafe fn log_and_floats_avx2(x: &[f64; PACK], w: &[u64; PACK]) -> [[f64; PACK]; 3] {
        log_and_floats::<Avx2>(x, w)
    }

    /// `ln x`, the uniform and `2u − 1` of the words `w`, on the first `R::LANES` lanes.
    #[inline(always)]
    unsafe fn log_and_floats<R: DrawRegs>(x: &[f64; PACK], w: &[u64; PACK]) -> [[f64; PACK]; 3] {
        let mut out = [[0.0; PACK]; 3];
        R::store(log_regs::<R>(R::load(x)), &mut out[0]);
        let words = R::iload(w);
        R::store(unit_float::<R>(words, ONE_BITS, 1.0, 1.0 / (1u64 << 53) as f64), &mut out[1]);
        R::store(unit_float::<R>(words, TWO_BITS, 3.0, 1.0 / (1u64 << 52) as f64), &mut out[2]);
        out
    }

    type LogAndFloats = unsafe fn(&[f64; PACK], &[u64; PACK]) -> [[f64; PACK]; 3];

    type Draws = unsafe fn(&[f64; PACK], &[bool; PACK], &mut [Rng]) -> [[f64; PACK]; 4];

    /// The register kernels this machine runs, with their lane counts.
    fn kernels() -> Vec<(&'static str, usize, Draws)> {
        let mut k: Vec<(&'static str, usize, Draws)> = Vec::new();
        if Kernel::Avx512.available() {
            k.push(("avx512", 8, draws_avx512));
        }
        if Kernel::Avx2Fma.available() {
            k.push(("avx2", 4, draws_avx2));
        }
        k
    }

    /// Every lane gets the one-lane sampler's bits and leaves its stream where
    /// the one-lane sampler leaves it: couplings across both methods'
    /// ranges (Creutz below α = 2, the Haar limit near 0, Kennedy–Pendleton
    /// above), lanes not wanted, many rounds; every register kernel.
    #[test]
    fn register_draws_are_the_one_lane_draws_bit_for_bit() {
        for (name, lanes, draws) in kernels() {
            let mut pick = Rng::stream(11, &[domain::TEST, 1]);
            for round in 0..4000u64 {
                let alpha: [f64; PACK] = core::array::from_fn(|_| match pick.next_u64() % 6 {
                    0 => 1e-8,
                    1 => 3.0 * pick.uniform(),
                    2 => 2.0,
                    _ => 2.0 + 40.0 * pick.uniform(),
                });
                let wanted: [bool; PACK] = core::array::from_fn(|_| !pick.next_u64().is_multiple_of(8));
                let mut fast: Vec<Rng> = (0..lanes).map(|l| Rng::stream(5, &[domain::TEST, round, l as u64])).collect();
                let mut slow = fast.clone();
                // SAFETY: the kernel's instruction set was detected.
                let got = unsafe { draws(&alpha, &wanted, &mut fast) };
                let mut want_wanted = wanted;
                want_wanted[lanes..].fill(false);
                let want = sample_su2_lanes(&alpha, &want_wanted, &mut slow);
                for c in 0..4 {
                    for l in 0..PACK {
                        assert_eq!(
                            got[c][l].to_bits(),
                            want[c][l].to_bits(),
                            "{name}: round {round} component {c} lane {l} (α {})",
                            alpha[l]
                        );
                    }
                }
                for l in 0..lanes {
                    assert_eq!(
                        fast[l].next_u64(),
                        slow[l].next_u64(),
                        "{name}: round {round}: stream of lane {l} moved differently"
                    );
                }
            }
        }
    }

    /// The register logarithm is `libm::log` bit for bit on `(0, 1]`, and the
    /// floats made from random words are the scalar sampler's.
    #[test]
    fn register_log_and_unit_floats_are_exact() {
        let mut runs: Vec<(&str, usize, LogAndFloats)> = Vec::new();
        if Kernel::Avx512.available() {
            runs.push(("avx512", 8, log_and_floats_avx512));
        }
        if Kernel::Avx2Fma.available() {
            runs.push(("avx2", 4, log_and_floats_avx2));
        }
        for (name, lanes, run) in runs {
            let mut r = Rng::stream(12, &[domain::TEST]);
            for round in 0..20_000 {
                let x: [f64; PACK] = core::array::from_fn(|l| {
                    if l == 0 {
                        1.0
                    } else {
                        r.uniform_pos() * libm::exp2(-((r.next_u64() % 60) as f64))
                    }
                });
                // Edge words in the first lanes of every fourth round.
                let w: [u64; PACK] = core::array::from_fn(|l| match (round % 4, l) {
                    (0, 0) => 0,
                    (0, 1) => u64::MAX,
                    (0, 2) => 1 << 63,
                    (0, 3) => ((1 << 63) - 1) | (1 << 11),
                    _ => r.next_u64(),
                });
                // SAFETY: the kernel's instruction set was detected.
                let [ln, u, sym] = unsafe { run(&x, &w) };
                for l in 0..lanes {
                    assert_eq!(ln[l].to_bits(), libm::log(x[l]).to_bits(), "{name}: ln {}", x[l]);
                    let want = (w[l] >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                    assert_eq!(u[l].to_bits(), want.to_bits(), "{name}: uniform of {:#x}", w[l]);
                    assert_eq!(sym[l].to_bits(), (2.0 * want - 1.0).to_bits(), "{name}: 2u - 1 of {:#x}", w[l]);
                }
            }
        }
    }
}
