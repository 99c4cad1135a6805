//! Counter-based random streams.
//!
//! Every random number in fpa comes from a stream keyed by the run's seed and
//! by *what* it is for (a domain tag, the sweep number, the site, the
//! direction), never from a generator shared between threads. A run therefore
//! gives the same bits with 1 thread or 16, and a resumed run continues with
//! exactly the numbers an uninterrupted run would have drawn.
//!
//! The key is hashed with the SplitMix64 finaliser into the state of a
//! xoshiro256++ generator (Blackman & Vigna), which then serves the stream.

/// Domain tags that keep streams used for different purposes apart.
pub mod domain {
    pub const HEATBATH: u64 = 1;
    pub const HOT_START: u64 = 2;
    pub const GAUGE_TRANSFORM: u64 = 3;
    pub const TEST: u64 = 4;
    pub const INIT_WEIGHTS: u64 = 5;
    pub const SHUFFLE: u64 = 6;
    pub const RESTART: u64 = 7;
    pub const SKETCH: u64 = 8;
    pub const HMC_MOMENTA: u64 = 9;
    pub const HMC_ACCEPT: u64 = 10;
    pub const PHI4_METROPOLIS: u64 = 11;
    pub const PHI4_WOLFF: u64 = 12;
    pub const CHARGED_WORM: u64 = 13;
    pub const CHARGED_DIRECT: u64 = 14;
    pub const AUTOENCODER_INIT: u64 = 15;
    pub const CNN_INIT: u64 = 16;
    pub const FLUX_VIOLATION: u64 = 17;
    pub const AUGMENT: u64 = 18;
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A xoshiro256++ stream.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

/// A stream key built word by word: `Rng::stream(seed, &[a, b])` is
/// `StreamKey::new(seed).with(a).with(b).rng()`. A key prefix shared by many
/// streams (seed, domain, sweep) is hashed once.
#[derive(Clone, Copy, Debug)]
pub struct StreamKey {
    h: u64,
    words: u64,
}

impl StreamKey {
    #[inline(always)]
    pub fn new(seed: u64) -> Self {
        StreamKey { h: mix(seed.wrapping_add(GOLDEN)), words: 0 }
    }

    /// The key extended by the word `k`.
    #[inline(always)]
    pub fn with(self, k: u64) -> Self {
        StreamKey { h: mix(self.h ^ mix(k.wrapping_add(word_salt(self.words)))), words: self.words + 1 }
    }

    /// The stream of this key.
    #[inline(always)]
    pub fn rng(self) -> Rng {
        Rng { s: state_of(self.h) }
    }

    /// The streams of the keys `self.with(lane_words[l]).with(last)`, one per lane
    /// (this key hashed once, the lanes side by side). Written out lane-wise, with the
    /// hash of `last` taken once, so that the lanes run as vector operations (about
    /// twice as fast as `with` per lane).
    #[inline(always)]
    pub fn lane_rngs<const N: usize>(self, lane_words: &[u64; N], last: u64) -> [Rng; N] {
        let last = mix(last.wrapping_add(word_salt(self.words + 1)));
        let salt = word_salt(self.words);
        let h: [u64; N] = core::array::from_fn(|l| mix(mix(self.h ^ mix(lane_words[l].wrapping_add(salt))) ^ last));
        h.map(|h| Rng { s: state_of(h) })
    }
}

/// What word `i` of a key is offset by before hashing.
#[inline(always)]
fn word_salt(i: u64) -> u64 {
    GOLDEN.wrapping_mul(i + 2)
}

/// The generator state of a hashed key `h`.
#[inline(always)]
fn state_of(h: u64) -> [u64; 4] {
    let mut s: [u64; 4] = core::array::from_fn(|i| mix(h.wrapping_add(GOLDEN.wrapping_mul(i as u64 + 1))));
    if s == [0; 4] {
        s[0] = GOLDEN;
    }
    s
}

impl Rng {
    /// The stream for `seed` and the key words `key` (domain, sweep, site, …).
    #[inline]
    pub fn stream(seed: u64, key: &[u64]) -> Self {
        key.iter().fold(StreamKey::new(seed), |k, &w| k.with(w)).rng()
    }

    /// The generator's four state words (for code that runs several
    /// streams side by side in vector registers and hands them back).
    #[cfg_attr(not(all(target_arch = "x86_64", target_feature = "sse2")), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn words(&self) -> [u64; 4] {
        self.s
    }

    /// The stream continued from the state words `s` (as [`Rng::words`] gave
    /// them, advanced by the same xoshiro256++ steps).
    #[cfg_attr(not(all(target_arch = "x86_64", target_feature = "sse2")), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn set_words(&mut self, s: [u64; 4]) {
        self.s = s;
    }

    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline(always)]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]` (safe to take the logarithm of).
    #[inline(always)]
    pub fn uniform_pos(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias worth noting
    /// (Lemire's multiply-shift).
    #[inline(always)]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A standard normal number (Box–Muller; one of the pair is discarded so
    /// the stream carries no hidden state).
    #[inline]
    pub fn gaussian(&mut self) -> f64 {
        let r = crate::real::sqrt_f64(-2.0 * libm::log(self.uniform_pos()));
        r * libm::cos(core::f64::consts::TAU * self.uniform())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_distinct_and_reproducible() {
        let a: alloc::vec::Vec<u64> = (0..4).map(|_| Rng::stream(1, &[2, 3]).next_u64()).collect();
        assert!(a.iter().all(|&x| x == a[0]));
        assert_ne!(Rng::stream(1, &[2, 3]).next_u64(), Rng::stream(1, &[3, 2]).next_u64());
        assert_ne!(Rng::stream(1, &[2, 3]).next_u64(), Rng::stream(2, &[2, 3]).next_u64());
    }

    /// A key built word by word, and lanes hashed side by side, give the streams of
    /// `Rng::stream` (the heatbath's packed path relies on it for its bits).
    #[test]
    fn key_prefixes_and_lane_streams_are_the_streams_of_the_whole_key() {
        for seed in [0, 1, u64::MAX, 0x1234_5678_9abc_def0] {
            let key = StreamKey::new(seed).with(domain::HEATBATH).with(17);
            let mut a = key.with(5).with(2).rng();
            let mut b = Rng::stream(seed, &[domain::HEATBATH, 17, 5, 2]);
            assert_eq!([a.next_u64(), a.next_u64()], [b.next_u64(), b.next_u64()]);
            let sites = [0, 1, 7, 8, 4095, 1 << 40, u64::MAX, 3];
            let mut lanes = key.lane_rngs(&sites, 3);
            for (l, r) in lanes.iter_mut().enumerate() {
                let mut want = Rng::stream(seed, &[domain::HEATBATH, 17, sites[l], 3]);
                assert_eq!([r.next_u64(), r.next_u64()], [want.next_u64(), want.next_u64()], "lane {l}");
            }
        }
        assert_eq!(StreamKey::new(1).rng().next_u64(), Rng::stream(1, &[]).next_u64());
    }

    #[test]
    fn uniform_moments() {
        let mut r = Rng::stream(7, &[domain::TEST]);
        let n = 200_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let u = r.uniform();
            s1 += u;
            s2 += u * u;
        }
        let m = s1 / n as f64;
        let v = s2 / n as f64 - m * m;
        // mean 1/2 ± 3σ, σ = sqrt(1/12/n) ≈ 6.5e-4
        assert!((m - 0.5).abs() < 2e-3, "mean {m}");
        assert!((v - 1.0 / 12.0).abs() < 2e-3, "var {v}");
    }

    #[test]
    fn gaussian_moments() {
        let mut r = Rng::stream(8, &[domain::TEST]);
        let n = 200_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let g = r.gaussian();
            s1 += g;
            s2 += g * g;
        }
        assert!((s1 / n as f64).abs() < 1e-2);
        assert!((s2 / n as f64 - 1.0).abs() < 1.5e-2);
    }
}
