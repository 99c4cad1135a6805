//! The one place where loops become parallel.
//!
//! With the `rayon` feature these helpers run on the rayon pool; without it
//! they are plain loops. Reductions sum fixed-size chunks and then add the
//! partial sums in order, so floating-point results do not depend on the
//! number of threads.

use crate::real::Real;
use alloc::vec::Vec;
use core::ops::Range;

/// Chunk length for reductions: fixed, so the summation order is fixed.
pub const CHUNK: usize = 64;

/// Below this many (light, element-wise) items [`for_each_mut`] runs on the
/// calling thread: spreading tiny loops over the pool costs more than it
/// saves. The other helpers take items that may each be heavy (chunks,
/// configurations) and always use the pool. Results are the same either way.
pub const SERIAL_BELOW: usize = 32;

/// `(0..n).map(f).collect()`, in parallel when available.
pub fn map_range<R, F>(n: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..n).map(f).collect()
    }
}

/// `(0..n).map(|i| f(&mut scratch, i)).collect()` with one scratch value per
/// worker (made by `init`), in parallel when available. `f` must not let its
/// result depend on what an earlier call left in the scratch value.
pub fn map_range_init<S, R, I, F>(n: usize, init: I, f: F) -> Vec<R>
where
    R: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize) -> R + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map_init(init, f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut s = init();
        (0..n).map(|i| f(&mut s, i)).collect()
    }
}

/// `items.iter().map(f).collect()`, in parallel when available.
pub fn map_slice<I, R, F>(items: &[I], f: F) -> Vec<R>
where
    I: Sync,
    R: Send,
    F: Fn(&I) -> R + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        items.par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        items.iter().map(f).collect()
    }
}

/// Appends `f(0), …, f(n − 1)` to `v`, written in place and in parallel when
/// available (and `n` is not tiny).
pub fn extend_with<T, F>(v: &mut Vec<T>, n: usize, f: F)
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        if n >= 4096 {
            // An indexed parallel iterator: rayon reserves and writes each piece in place.
            v.par_extend((0..n).into_par_iter().map(f));
            return;
        }
    }
    v.extend((0..n).map(f));
}

/// Calls `f(i, &mut out[i])` for every element, in parallel when available.
pub fn for_each_mut<R, F>(out: &mut [R], f: F)
where
    R: Send,
    F: Fn(usize, &mut R) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        if out.len() < SERIAL_BELOW {
            out.iter_mut().enumerate().for_each(|(i, r)| f(i, r));
            return;
        }
        out.par_iter_mut().enumerate().for_each(|(i, r)| f(i, r));
    }
    #[cfg(not(feature = "rayon"))]
    {
        out.iter_mut().enumerate().for_each(|(i, r)| f(i, r));
    }
}

/// Calls `f(chunk_index, chunk)` on consecutive chunks of `out` of length
/// `len`, in parallel when available.
pub fn for_each_chunk_mut<R, F>(out: &mut [R], len: usize, f: F)
where
    R: Send,
    F: Fn(usize, &mut [R]) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
    }
    #[cfg(not(feature = "rayon"))]
    {
        out.chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// Like [`for_each_chunk_mut`] with one scratch value per worker (made by
/// `init`); `f` must not let results depend on what earlier calls left in it.
pub fn for_each_chunk_mut_init<R, S, I, F>(out: &mut [R], len: usize, init: I, f: F)
where
    R: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [R]) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each_init(init, |s, (i, c)| f(s, i, c));
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut s = init();
        out.chunks_mut(len).enumerate().for_each(|(i, c)| f(&mut s, i, c));
    }
}

/// `Σ_{i<n} term(i)` summed in fixed chunks: the same bits on any thread count.
pub fn sum<T: Real, F>(n: usize, term: F) -> T
where
    F: Fn(usize) -> T + Sync + Send,
{
    sum_ranges(n, |r: Range<usize>| r.map(&term).fold(T::zero(), |a, b| a + b))
}

/// Sums `part(range)` over the fixed chunks of `0..n`, in order.
pub fn sum_ranges<T: Real, F>(n: usize, part: F) -> T
where
    F: Fn(Range<usize>) -> T + Sync + Send,
{
    let chunks = n.div_ceil(CHUNK);
    let partial = map_range(chunks, |c| part(c * CHUNK..((c + 1) * CHUNK).min(n)));
    partial.into_iter().fold(T::zero(), |a, b| a + b)
}

/// The share of [`sum`]`(n, term)` that the sites `part` (a sub-range of `0..n`) contribute,
/// so that parts held by different processes combine ([`combine_pieces`]) to the same bits as
/// the sum in one process: the partial sum of every fixed chunk that lies inside `part`, and
/// the single terms of the chunks cut by its ends, in order.
pub fn sum_pieces<T: Real, F>(part: Range<usize>, term: F) -> Vec<T>
where
    F: Fn(usize) -> T + Sync + Send,
{
    let first = part.start / CHUNK;
    let last = part.end.div_ceil(CHUNK);
    let per_chunk = map_range(last - first, |c| {
        let chunk = (first + c) * CHUNK..((first + c + 1) * CHUNK);
        let r = chunk.start.max(part.start)..chunk.end.min(part.end);
        if r == chunk {
            alloc::vec![r.map(&term).fold(T::zero(), |a, b| a + b)]
        } else {
            r.map(&term).collect()
        }
    });
    per_chunk.into_iter().flatten().collect()
}

/// [`sum`]`(n, term)` from the [`sum_pieces`] of consecutive parts that cover `0..n` (`n`
/// the end of the last part): each chunk's partial sum is taken whole where one part held
/// the chunk, or folded from the single terms in order where the chunk was cut; the partial
/// sums are then added in order, exactly as [`sum`] does.
pub fn combine_pieces<T: Real>(parts: &[(Range<usize>, &[T])]) -> T {
    let n = parts.last().map_or(0, |(r, _)| r.end);
    let mut partial: Vec<T> = alloc::vec![T::zero(); n.div_ceil(CHUNK)];
    for (range, pieces) in parts {
        let mut it = pieces.iter();
        let mut c = range.start / CHUNK;
        while c * CHUNK < range.end {
            let chunk = c * CHUNK..((c + 1) * CHUNK).min(n);
            let r = chunk.start.max(range.start)..chunk.end.min(range.end);
            let whole = r.start == c * CHUNK && r.end == (c + 1) * CHUNK;
            if whole {
                partial[c] = *it.next().expect("a piece per whole chunk");
            } else {
                for _ in r {
                    partial[c] += *it.next().expect("a piece per term of a cut chunk");
                }
            }
            c += 1;
        }
        assert!(it.next().is_none(), "more pieces than the part {range:?} has");
    }
    partial.into_iter().fold(T::zero(), |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terms of very different sizes, so that any change of summation order changes bits.
    fn term(i: usize) -> f64 {
        let x = (i as f64 * 0.618_033_988_749_894_9).fract();
        libm::exp(40.0 * x - 20.0) * if i.is_multiple_of(3) { -1.0 } else { 1.0 }
    }

    #[test]
    fn pieces_of_any_split_combine_to_the_bits_of_the_sum() {
        for n in [1usize, 63, 64, 65, 200, 1000, 1024] {
            let whole: f64 = sum(n, term);
            // Every split into up to four consecutive parts at awkward places.
            let cuts = [0, 1, 17, 63, 64, 100, 128, 129, 500, 640, 999, 1000];
            for &a in cuts.iter().filter(|&&c| c <= n) {
                for &b in cuts.iter().filter(|&&c| c >= a && c <= n) {
                    let ranges = [0..a, a..b, b..n];
                    let pieces: Vec<Vec<f64>> = ranges.iter().map(|r| sum_pieces(r.clone(), term)).collect();
                    let parts: Vec<(Range<usize>, &[f64])> =
                        ranges.iter().cloned().zip(pieces.iter().map(|p| &p[..])).collect();
                    assert_eq!(combine_pieces(&parts).to_bits(), whole.to_bits(), "n {n}, cuts {a} {b}");
                }
            }
            // A naive sum of per-part sums differs: the test can tell orders apart.
            if n == 1000 {
                let naive: f64 = (0..n).rev().map(term).sum();
                assert_ne!(naive.to_bits(), whole.to_bits());
            }
        }
    }
}
