//! Process-level tuning for native programs (`std` only).
//!
//! The L-CNN's feature maps (tens of MB per call) no longer need it: they are
//! reused through [`crate::recycle`]'s pool whatever the allocator does. What
//! is left here is for the rest of a program's large, short-lived allocations
//! (the minimiser's fine fields, data sets): glibc serves blocks above its
//! `mmap` threshold with `mmap` and returns them to the kernel on `free`, so
//! every new one pays page faults and the kernel's zeroing again.

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

/// Asks the kernel to back `region` with transparent huge pages (2 MB instead
/// of 4 KB; `madvise(MADV_HUGEPAGE)` on the 4 KB pages inside it). Call it on
/// memory not yet written: pages that were touched already stay small. Only
/// 2 MB-aligned stretches can become huge pages
/// ([`crate::lattice::huge_buf::HugeBuf`] starts its buffers on one). A hint:
/// it changes no value, and where the kernel does not take it (no THP, not
/// Linux) nothing happens. Returns whether the kernel accepted it; a region
/// without a whole huge page in it is not submitted.
pub fn advise_huge_pages<T>(region: &mut [core::mem::MaybeUninit<T>]) -> bool {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = region.as_mut_ptr() as usize;
        let end = start + core::mem::size_of_val(region);
        let (first, last) = (start.div_ceil(PAGE) * PAGE, end / PAGE * PAGE);
        // SAFETY: the page-aligned range lies inside `region`; MADV_HUGEPAGE
        // changes how the kernel backs it, never its contents.
        last >= first + crate::lattice::huge_buf::HUGE_PAGE
            && unsafe { libc::madvise(first as *mut libc::c_void, last - first, libc::MADV_HUGEPAGE) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = region;
        false
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// (`.NAME.PID.tmp`) and a rename, so that a killed process or a full disk
/// never leaves a half-written `path`; the temporary file is removed on
/// failure. The one atomic write of the CLI, the C ABI and the Python package.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, alloc::format!("{} is not a file path", path.display()))
    })?;
    let tmp = dir.join(alloc::format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    /// The kernel takes the hint for a region with a whole huge page in it
    /// wherever THP exists (it accepts `MADV_HUGEPAGE` in every mode but a
    /// kernel built without THP); a smaller region is not submitted.
    #[test]
    fn huge_page_advice_needs_a_whole_huge_page() {
        let mut small: alloc::vec::Vec<u64> = alloc::vec::Vec::with_capacity(1000);
        assert!(!super::advise_huge_pages(small.spare_capacity_mut()));
        let mut big: alloc::vec::Vec<u64> = alloc::vec::Vec::with_capacity(3 << 20);
        let took = super::advise_huge_pages(big.spare_capacity_mut());
        if cfg!(target_os = "linux") && std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            assert!(took);
        }
        big.extend(0..3u64 << 20);
        assert!(big.iter().enumerate().all(|(i, &x)| x == i as u64));
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(alloc::format!("fpa-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.bin");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: alloc::vec::Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temporary files left: {names:?}");
        // A directory in the way of the rename: an error, the directory untouched, no temporary.
        let blocked = dir.join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("keep"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(blocked.join("keep")).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
