//! The global allocator: mimalloc, chosen by measurement (docs/performance.md). The packages
//! ship a static musl binary, and musl's own allocator made a 100,000-alert backlog cost 3.3×
//! the CPU of the glibc build; mimalloc brings the musl build to glibc's speed or better and
//! keeps peak memory low on both.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
