//! Process start-up on Linux with glibc: what std's runtime does before `main`, minus what a warm
//! start cannot afford.
//!
//! std's `lang_start` also installs a stack-overflow handler: it asks glibc for the main thread's
//! stack bounds, which makes glibc read and parse `/proc/self/maps`, then maps an alternate signal
//! stack. Measured here that costs about 0.15 ms per start, of the 1 ms a warm start may add. The
//! launcher never recurses deeply (serde_json stops at 128 levels), so a stack overflow would be a
//! plain `SIGSEGV` without std's message; nothing else changes. std still reads the arguments
//! through glibc's `.init_array` call, which is why this is limited to glibc; elsewhere std's own
//! start-up runs. `std::process::exit` still flushes std's buffers.
//!
//! What is kept, because correctness depends on it:
//! * descriptors 0, 1 and 2 are open: a closed one is reopened on `/dev/null`, so that no file
//!   the launcher opens (a lock, the payload) ever becomes the app's stdin or stderr;
//! * `SIGPIPE` is ignored: a closed stderr is a write error, not the supervisor's death. The app
//!   gets the default action back (`spawn`).

/// Runs once, first thing in `main`, before any other thread exists.
pub(crate) fn init() {
    open_standard_descriptors();
    // SAFETY: single-threaded at this point; `signal` has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Reopens any of descriptors 0-2 that is closed on `/dev/null`; aborts when that fails, as std
/// does (there is no stderr to report on).
fn open_standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    loop {
        // SAFETY: `fds` is a valid array of three `pollfd`.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } != -1 {
            break;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            // poll cannot run (resource limits): ask each descriptor instead.
            _ => {
                for pfd in &mut fds {
                    // SAFETY: F_GETFD only reads the descriptor's flags.
                    if unsafe { libc::fcntl(pfd.fd, libc::F_GETFD) } == -1 {
                        pfd.revents = libc::POLLNVAL;
                    }
                }
                break;
            }
        }
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a constant NUL-terminated path; the lowest free descriptor is the closed one.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != pfd.fd {
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn leaves_open_descriptors_and_ignores_sigpipe() {
        super::init();
        // SAFETY: reading the current disposition only.
        let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        assert_eq!(old, libc::SIG_IGN);
        for fd in 0..3 {
            // SAFETY: F_GETFD only reads flags.
            assert_ne!(unsafe { libc::fcntl(fd, libc::F_GETFD) }, -1);
        }
    }
}
