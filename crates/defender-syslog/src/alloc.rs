//! The global allocator: mimalloc, chosen by measurement (docs/performance.md). The packages
//! ship a static musl binary, and musl's own allocator made a 100,000-alert backlog cost 3.3×
//! the CPU of the glibc build (4.5× that of mimalloc). mimalloc keeps freed pages a little
//! longer: run with `MIMALLOC_PURGE_DELAY=0` (systemd `Environment=`) to keep peak RSS low.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for them
/// (`MADV_HUGEPAGE`) on its segments, and on a kernel in `madvise` mode khugepaged then fills
/// half-used 2 MiB regions in the background: measured, an idle daemon grew from 34 to 54 MB
/// in 40 s after a 1M backlog. Best effort: a kernel without the prctl changes nothing.
pub fn no_huge_pages() {
    let _ = nix::sys::prctl::set_thp_disable(true);
}
