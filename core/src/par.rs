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
