//! Large buffers kept for reuse inside the core.
//!
//! An L-CNN layer allocates feature maps of tens of MB per call (an 8⁴ L-CB
//! layer's transported blocks are 64 MB) and frees them when the call ends.
//! glibc serves blocks that large with `mmap` and returns them to the kernel
//! on `free`, so without this module every call pays the page faults and the
//! kernel's zeroing of the same memory again (30 % of an 8⁴ forward pass, 32 %
//! of forward + force). Buffers of at least [`MIN_BYTES`] that the core frees
//! go into a process-wide pool instead, and the next request takes the
//! smallest kept buffer that fits: the same alignment, a size that is a whole
//! number of elements, room for `len` to `2 len` of them (so one buffer serves
//! `f64` and `Dual<f64>` matrices alike), cleared and filled as a fresh one
//! would be. So an embedder gets the fast path with the C allocator at its
//! defaults; values do not depend on whether a buffer was reused.
//!
//! A request that no kept buffer fits first frees kept buffers of at least the
//! requested size (oldest first), so the pool does not add to the peak memory
//! of a computation whose buffers do not match one another. The pool holds at
//! most [`limit`] bytes (default [`DEFAULT_LIMIT`]; oldest freed first) and
//! [`release`] frees all of it. Only with the `std` feature on targets other
//! than wasm32: without `std` there is no lock for a process-wide pool, and
//! on wasm32 the allocator never returns memory to the host anyway.

use alloc::vec::Vec;

/// Buffers smaller than this are left to the allocator (glibc's default
/// `mmap` threshold is 128 KiB).
pub const MIN_BYTES: usize = 256 << 10;

/// The default bound on the bytes kept ([`set_limit`] changes it).
pub const DEFAULT_LIMIT: usize = 1 << 30;

/// A vector of `len` copies of `value` (written in parallel), in a kept buffer when one fits.
pub fn filled<T: Copy + Send + Sync + 'static>(len: usize, value: T) -> Vec<T> {
    let mut v = with_capacity(len);
    crate::par::extend_with(&mut v, len, |_| value);
    v
}

/// An empty vector with room for at least `cap` elements, a kept buffer when one fits.
pub fn with_capacity<T: Send + 'static>(cap: usize) -> Vec<T> {
    imp::take(cap).unwrap_or_else(|| Vec::with_capacity(cap))
}

/// Gives `v`'s buffer back for reuse (or to the allocator, if it is small or
/// the pool is full).
pub fn recycle<T: Send + 'static>(v: Vec<T>) {
    imp::give(v)
}

/// Frees every kept buffer.
pub fn release() {
    imp::release()
}

/// Bytes held by kept buffers now.
pub fn kept_bytes() -> usize {
    imp::kept_bytes()
}

/// The bound on the bytes kept.
pub fn limit() -> usize {
    imp::limit()
}

/// Sets the bound on the bytes kept (0 keeps nothing); frees the oldest
/// buffers until the pool is within it.
pub fn set_limit(bytes: usize) {
    imp::set_limit(bytes)
}

#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
mod imp {
    use super::{DEFAULT_LIMIT, MIN_BYTES};
    use alloc::alloc::{dealloc, Layout};
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;
    use core::mem::{align_of, size_of, ManuallyDrop};
    use core::ptr::NonNull;
    use std::sync::Mutex;

    /// One kept allocation: what a `Vec<T>` of capacity `bytes / size_of::<T>()`
    /// allocated (`Layout::array::<T>`: `bytes` bytes aligned to `align`). It
    /// can serve any element type with that alignment whose size divides
    /// `bytes`: the vector it becomes frees it with the same layout.
    pub(super) struct Kept {
        ptr: NonNull<u8>,
        bytes: usize,
        align: usize,
    }

    // SAFETY: a kept allocation is owned by the pool alone (no one else holds its pointer).
    unsafe impl Send for Kept {}

    impl Drop for Kept {
        fn drop(&mut self) {
            // SAFETY: allocated by the global allocator with exactly this layout (see `give`).
            unsafe { dealloc(self.ptr.as_ptr(), Layout::from_size_align_unchecked(self.bytes, self.align)) }
        }
    }

    /// The kept buffers. Its methods return the buffers they free, for the
    /// caller to drop after releasing the lock.
    pub(super) struct Pool {
        /// Oldest first.
        kept: VecDeque<Kept>,
        bytes: usize,
        limit: usize,
    }

    impl Pool {
        pub(super) const fn new(limit: usize) -> Self {
            Pool { kept: VecDeque::new(), bytes: 0, limit }
        }

        pub(super) fn bytes(&self) -> usize {
            self.bytes
        }

        /// Takes the oldest buffers out until at most `limit` bytes are kept.
        pub(super) fn shrink_to(&mut self, limit: usize) -> Vec<Kept> {
            let mut out = Vec::new();
            while self.bytes > limit {
                let Some(k) = self.kept.pop_front() else { break };
                self.bytes -= k.bytes;
                out.push(k);
            }
            out
        }

        pub(super) fn set_limit(&mut self, limit: usize) -> Vec<Kept> {
            self.limit = limit;
            self.shrink_to(limit)
        }

        /// A kept buffer with room for `cap` elements of `T` (at most `2 cap`),
        /// empty. On a miss, kept buffers of at least the requested size are
        /// freed (oldest first) before the caller allocates, so that the pool
        /// never adds to the peak memory of a computation whose buffers do not
        /// match one another.
        pub(super) fn take<T: Send + 'static>(&mut self, cap: usize) -> (Option<Vec<T>>, Vec<Kept>) {
            if !large::<T>(cap) {
                return (None, Vec::new());
            }
            let (size, want) = (size_of::<T>(), cap.saturating_mul(size_of::<T>()));
            let fits = |k: &Kept| {
                let n = k.bytes / size;
                k.align == align_of::<T>() && k.bytes.is_multiple_of(size) && n >= cap && n / 2 <= cap
            };
            let best =
                (self.kept.iter().enumerate()).filter(|(_, k)| fits(k)).min_by_key(|(_, k)| k.bytes).map(|(i, _)| i);
            let Some(k) = best.and_then(|i| self.kept.remove(i)) else {
                return (None, self.shrink_to(self.bytes.saturating_sub(want)));
            };
            self.bytes -= k.bytes;
            let k = ManuallyDrop::new(k);
            // SAFETY: the allocation has `T`'s alignment and `k.bytes = n · size_of::<T>()`
            // bytes, the layout of a `Vec<T>` of capacity `n`; it is empty (length 0)
            // and now owned by the vector alone.
            (Some(unsafe { Vec::from_raw_parts(k.ptr.as_ptr() as *mut T, 0, k.bytes / size) }), Vec::new())
        }

        /// Keeps `v`'s buffer (emptied) if it is large and within the bound.
        pub(super) fn give<T: Send + 'static>(&mut self, v: Vec<T>) -> Vec<Kept> {
            if !large::<T>(v.capacity()) {
                return Vec::new();
            }
            let bytes = v.capacity().saturating_mul(size_of::<T>());
            let mut v = ManuallyDrop::new(v);
            v.clear();
            // SAFETY: a vector's buffer is allocated with `Layout::array::<T>(capacity)`:
            // `bytes` bytes aligned to `align_of::<T>()`; `Kept` frees it with that layout.
            let k = Kept {
                ptr: unsafe { NonNull::new_unchecked(v.as_mut_ptr() as *mut u8) },
                bytes,
                align: align_of::<T>(),
            };
            if bytes > self.limit {
                return alloc::vec![k];
            }
            let freed = self.shrink_to(self.limit - bytes);
            self.bytes += bytes;
            self.kept.push_back(k);
            freed
        }
    }

    /// Whether `n` elements of `T` make a buffer the pool deals with at all.
    fn large<T>(n: usize) -> bool {
        size_of::<T>() > 0 && n.saturating_mul(size_of::<T>()) >= MIN_BYTES
    }

    static POOL: Mutex<Pool> = Mutex::new(Pool::new(DEFAULT_LIMIT));

    fn pool() -> std::sync::MutexGuard<'static, Pool> {
        // Every change to the pool is a push or a pop with its byte count, so a
        // lock poisoned by a panic elsewhere still guards a consistent pool.
        POOL.lock().unwrap_or_else(|e| e.into_inner())
    }

    // Each function below drops the freed buffers after the lock is released
    // (the guard is a temporary of the first statement).

    pub fn take<T: Send + 'static>(cap: usize) -> Option<Vec<T>> {
        // Small requests do not take the lock.
        if !large::<T>(cap) {
            return None;
        }
        let (v, freed) = pool().take(cap);
        drop(freed);
        v
    }

    pub fn give<T: Send + 'static>(v: Vec<T>) {
        if large::<T>(v.capacity()) {
            let freed = pool().give(v);
            drop(freed);
        }
    }

    pub fn release() {
        let freed = pool().shrink_to(0);
        drop(freed);
    }

    pub fn kept_bytes() -> usize {
        pool().bytes()
    }

    pub fn limit() -> usize {
        pool().limit
    }

    pub fn set_limit(bytes: usize) {
        let freed = pool().set_limit(bytes);
        drop(freed);
    }
}

#[cfg(not(all(feature = "std", not(target_arch = "wasm32"))))]
mod imp {
    use alloc::vec::Vec;

    pub fn take<T>(_: usize) -> Option<Vec<T>> {
        None
    }
    pub fn give<T>(_: Vec<T>) {}
    pub fn release() {}
    pub fn kept_bytes() -> usize {
        0
    }
    pub fn limit() -> usize {
        0
    }
    pub fn set_limit(_: usize) {}
}

#[cfg(all(test, feature = "std", not(target_arch = "wasm32")))]
mod tests {
    use super::imp::Pool;
    use super::*;

    fn vec_of(n: usize) -> Vec<f64> {
        alloc::vec![1.0; n]
    }

    // On a pool of its own: the process-wide one is shared with whatever else runs.
    #[test]
    fn buffers_are_reused_by_layout_and_size_and_bounded() {
        let mut p = Pool::new(DEFAULT_LIMIT);
        let n = MIN_BYTES / 8 + 16;
        // Small buffers are not kept.
        drop(p.give(vec_of(16)));
        assert_eq!(p.bytes(), 0);
        // A large one is, and comes back, empty, for a request of its size.
        let v = vec_of(n);
        let ptr = v.as_ptr();
        drop(p.give(v));
        assert_eq!(p.bytes(), n * 8);
        let w: Vec<f64> = p.take(n - 3).0.unwrap();
        assert_eq!((w.as_ptr(), w.len(), w.capacity()), (ptr, 0, n));
        assert_eq!(p.bytes(), 0);
        // Another element type with the same alignment whose size divides the buffer's: reused.
        drop(p.give(w));
        let pairs: Vec<[f64; 2]> = p.take(n / 2).0.unwrap();
        assert_eq!((pairs.as_ptr() as *const f64, pairs.capacity()), (ptr, n / 2));
        drop(p.give(pairs));
        // Another alignment: not reused, and the miss frees the kept buffer
        // (kept buffers of at least the requested size go before a fresh allocation).
        let (none, freed) = p.take::<u32>(2 * n);
        assert!(none.is_none());
        assert_eq!((freed.len(), p.bytes()), (1, 0));
        // The smallest fitting buffer is taken; none for a request under half a buffer's capacity.
        let (big, small) = (vec_of(4 * n), vec_of(2 * n));
        let small_ptr = small.as_ptr();
        drop(p.give(big));
        drop(p.give(small));
        let got: Vec<f64> = p.take(2 * n).0.unwrap();
        assert_eq!(got.as_ptr(), small_ptr);
        assert_eq!(p.bytes(), 4 * n * 8);
        let (none, freed) = p.take::<f64>(n);
        assert!(none.is_none(), "a buffer of 4n for a request of n");
        assert_eq!((freed.len(), p.bytes()), (1, 0));
        // The bound: the oldest buffers go first; a buffer above the bound is not kept.
        drop(p.set_limit(3 * n * 8));
        let (a, b, c) = (vec_of(n), vec_of(2 * n), vec_of(n));
        let c_ptr = c.as_ptr();
        drop(p.give(a));
        drop(p.give(b));
        let freed = p.give(c);
        assert_eq!((freed.len(), p.bytes()), (1, 3 * n * 8));
        // `a` (older, same size) was freed to make room, so `c` is the fitting one.
        let got: Vec<f64> = p.take(n).0.unwrap();
        assert_eq!(got.as_ptr(), c_ptr);
        let freed = p.give(vec_of(4 * n));
        assert_eq!((freed.len(), p.bytes()), (1, 2 * n * 8));
        assert_eq!(p.set_limit(0).len(), 1);
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn filled_vectors_are_filled() {
        let n = MIN_BYTES / 8 + 5;
        let v = filled(n, 3.5f64);
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|&x| x == 3.5));
        recycle(v);
        let w = filled(n - 1, -1.0f64);
        assert_eq!(w.len(), n - 1);
        assert!(w.iter().all(|&x| x == -1.0));
        assert!(with_capacity::<f64>(n).is_empty());
    }
}
