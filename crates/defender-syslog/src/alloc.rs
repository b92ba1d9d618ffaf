//! The global allocator: mimalloc, chosen by measurement (docs/performance.md). The packages
//! ship a static musl binary, and musl's own allocator made a 100,000-alert backlog cost 3.3×
//! the CPU of the glibc build (4.5× that of mimalloc). mimalloc keeps freed pages a little
//! longer: run with `MIMALLOC_PURGE_DELAY=0` (systemd `Environment=`) to keep peak RSS low.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
