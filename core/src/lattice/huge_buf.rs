//! A fixed-length buffer that huge pages can back whole.
//!
//! A sweep over a lattice whose field outgrows the caches (the packed field is
//! 37.7 MB at 16⁴) reads links from all over it, and with 4 KB pages nearly
//! every such read also misses the TLB. The kernel backs memory with 2 MB
//! pages only in 2 MB-aligned stretches, and the system allocator aligns a
//! large block to a 4 KB page at best, so a `Vec` of 4.7 MB gets one or two
//! huge pages and keeps the rest small. [`HugeBuf`] starts a buffer of 2 MB or
//! more on a 2 MB boundary and asks for huge pages before the first write
//! ([`crate::host::advise_huge_pages`]), so that all of it can be backed by them.

use alloc::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use core::mem::MaybeUninit;
use core::ptr::NonNull;

/// The huge page size of x86-64 and aarch64 Linux.
pub const HUGE_PAGE: usize = 2 << 20;

/// `len` values of `T` in one allocation, 2 MB-aligned when it spans at least
/// [`HUGE_PAGE`] bytes (otherwise aligned as `T`); read and written as a slice.
pub struct HugeBuf<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: a `HugeBuf` owns its values as a `Box<[T]>` does.
unsafe impl<T: Copy + Send> Send for HugeBuf<T> {}
// SAFETY: as above; `&HugeBuf` gives only `&[T]`.
unsafe impl<T: Copy + Sync> Sync for HugeBuf<T> {}

impl<T: Copy> HugeBuf<T> {
    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        Self::from_fn(len, |_| value)
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> Self {
        Self::from_fn(values.len(), |i| values[i])
    }

    /// The buffer `[f(0), f(1), …, f(len − 1)]`.
    fn from_fn(len: usize, f: impl Fn(usize) -> T) -> Self {
        let layout = Self::layout(len);
        if layout.size() == 0 {
            return HugeBuf { ptr: NonNull::dangling(), len };
        }
        // SAFETY: the layout's size is not zero.
        let raw = unsafe { alloc(layout) }.cast::<MaybeUninit<T>>();
        let Some(ptr) = NonNull::new(raw) else { handle_alloc_error(layout) };
        // SAFETY: `raw` is a fresh allocation of `len` slots of `T`, aligned for `T`.
        let slots = unsafe { core::slice::from_raw_parts_mut(raw, len) };
        #[cfg(feature = "std")]
        crate::host::advise_huge_pages(slots);
        for (i, s) in slots.iter_mut().enumerate() {
            s.write(f(i));
        }
        HugeBuf { ptr: ptr.cast(), len }
    }

    /// The allocation of `len` values.
    fn layout(len: usize) -> Layout {
        let bytes = len.checked_mul(core::mem::size_of::<T>()).expect("buffer size overflows usize");
        let align = if bytes >= HUGE_PAGE { HUGE_PAGE } else { core::mem::align_of::<T>() };
        Layout::from_size_align(bytes, align).expect("buffer too large")
    }
}

impl<T: Copy> Drop for HugeBuf<T> {
    fn drop(&mut self) {
        let layout = Self::layout(self.len);
        if layout.size() != 0 {
            // SAFETY: allocated in `from_fn` with this layout; `T: Copy` has no destructor.
            unsafe { dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

impl<T: Copy> core::ops::Deref for HugeBuf<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised values (or is dangling with no
        // bytes to read), and `self` borrows them.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> core::ops::DerefMut for HugeBuf<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, borrowed mutably through `&mut self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Clone for HugeBuf<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<T: Copy> Default for HugeBuf<T> {
    /// The empty buffer (no allocation).
    fn default() -> Self {
        HugeBuf { ptr: NonNull::dangling(), len: 0 }
    }
}

impl<T: Copy + core::fmt::Debug> core::fmt::Debug for HugeBuf<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_start_on_a_huge_page_and_hold_their_values() {
        for len in [0usize, 1, 1000, HUGE_PAGE / 8 - 1, HUGE_PAGE / 8, 3 * HUGE_PAGE / 8 + 17] {
            let mut b = HugeBuf::<u64>::from_slice(&(0..len as u64).collect::<alloc::vec::Vec<_>>());
            assert_eq!(b.len(), len);
            let align = if len * 8 >= HUGE_PAGE { HUGE_PAGE } else { 8 };
            assert!((b.as_ptr() as usize).is_multiple_of(align), "len {len}");
            assert!(b.iter().enumerate().all(|(i, &x)| x == i as u64), "len {len}");
            if len > 0 {
                b[len - 1] = 7;
            }
            let c = b.clone();
            assert_eq!(&*c, &*b);
            if len > 0 {
                assert_ne!(c.as_ptr(), b.as_ptr(), "a clone has its own storage");
            }
            assert!(HugeBuf::filled(len, 3u8).iter().all(|&x| x == 3));
        }
        assert!(HugeBuf::<f64>::default().is_empty());
    }
}
