//! Process-level tuning for native programs that run the L-CNN or the
//! minimiser on large lattices (`std` only).
//!
//! A layer allocates fresh feature maps of tens of MB per call (an 8⁴ L-CB
//! layer's transported blocks are 64 MB). glibc serves such blocks with
//! `mmap` and returns them to the kernel on `free`, so every call pays page
//! faults and the kernel's zeroing of the same memory again: 30 % of an 8⁴
//! L-CNN forward pass (`cargo bench --bench lcnn`: 250 ms before, 175 ms after).

/// Asks the C allocator to keep freed memory for reuse instead of returning
/// it to the kernel: blocks up to 32 MB (glibc's largest allowed threshold)
/// come from the heap, and the heap is never trimmed. The resident size then
/// stays at its peak, which these programs reach on every step anyway.
/// Returns whether the setting took effect (only on Linux with glibc).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called
        // before this process's heavy allocation starts and is thread-safe.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
