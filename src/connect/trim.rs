//! Giving back the binary's start-up pages once `connect` is connected
//! (docs/connect.md#memory).
//!
//! One binary serves every command, so the code and tables that parsing the
//! command line, reading the config and opening the first TLS socket touched
//! stay mapped into the daemon for as long as it runs, although an idle
//! connection only ever runs the event loop, the ping timer and the socket
//! reader. Those pages are the executable's read-only segments: clean copies
//! of the file, never written. `MADV_DONTNEED` unmaps them from this process
//! only (they stay in the page cache for the next command); what the daemon
//! runs again afterwards is faulted back in from the page cache.
//!
//! Only the segments the program headers mark not writable are touched: the
//! writable one (with the relocated RELRO data) holds private copies that
//! `MADV_DONTNEED` would throw away, so it is never named.

use std::sync::atomic::{AtomicBool, Ordering};

static DONE: AtomicBool = AtomicBool::new(false);

/// Release the executable's read-only pages from this process, once per
/// process (later calls do nothing). Returns the bytes advised.
pub fn release_startup_pages() -> usize {
    if DONE.swap(true, Ordering::SeqCst) {
        return 0;
    }
    imp::release()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::c_void;

    /// The main program's read-only `PT_LOAD` ranges, page-aligned inwards.
    fn readonly_ranges() -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        // SAFETY: the callback only reads the `dl_phdr_info` the loader hands
        // it for the duration of the call, and writes to `out` through the
        // pointer passed as `data`, which outlives the call.
        unsafe {
            libc::dl_iterate_phdr(Some(callback), (&mut out as *mut Vec<(usize, usize)>).cast::<c_void>());
        }
        out
    }

    unsafe extern "C" fn callback(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: see `readonly_ranges`; the first object is the main program.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<(usize, usize)>>()) };
        let page = page_size();
        if info.dlpi_phdr.is_null() || page == 0 {
            return 1;
        }
        // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers.
        let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
            let start = (info.dlpi_addr as usize).saturating_add(h.p_vaddr as usize);
            let end = start.saturating_add(h.p_memsz as usize);
            let (start, end) = (start.div_ceil(page) * page, end / page * page);
            if end > start {
                out.push((start, end));
            }
        }
        // Stop after the main program (the first object listed).
        1
    }

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(p).unwrap_or(0)
    }

    pub fn release() -> usize {
        let mut advised = 0;
        for (start, end) in readonly_ranges() {
            // SAFETY: the range is inside a read-only, file-backed mapping of
            // the executable that is never written: dropping its pages only
            // makes the next access read them from the page cache again.
            let r = unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) };
            if r == 0 {
                advised += end - start;
            }
        }
        advised
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn release() -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readonly_segments_are_released_once_and_the_program_keeps_running() {
        let first = release_startup_pages();
        if cfg!(target_os = "linux") {
            assert!(first > 0, "the executable has read-only segments");
        }
        assert_eq!(release_startup_pages(), 0, "a second call does nothing");
        // Code and constant data are read back from the page cache.
        let v: Vec<String> = (0..1000).map(|i| format!("{i:04}")).collect();
        assert_eq!(v.join("").len(), 4000);
    }
}
