//! Bytes the kernel still holds for a TCP socket: unsent + sent-but-unacknowledged
//! (`SIOCOUTQ`, the same ioctl number as `TIOCOUTQ`, tcp(7)).

use std::os::fd::AsRawFd;

/// Returns the socket's send queue length in bytes.
///
/// No safe wrapper exists in socket2, nix or rustix for SIOCOUTQ on sockets, so this is the one
/// `unsafe` call of the crate.
#[allow(unsafe_code)]
pub(crate) fn unacked_bytes(sock: &impl AsRawFd) -> std::io::Result<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: `sock` is an open TCP socket owned by the caller for the duration of the call;
    // SIOCOUTQ writes exactly one c_int through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(u64::try_from(n).unwrap_or(0))
}
