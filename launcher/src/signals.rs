//! SHIM — replaced by the supervision branch. Minimal signal handling.

/// Relays signals to the child.
#[derive(Debug)]
pub(crate) struct SignalRelay;

impl SignalRelay {
    pub(crate) fn install() -> std::io::Result<SignalRelay> {
        Ok(SignalRelay)
    }

    pub(crate) fn take_pending_termination(&self) -> Option<i32> {
        None
    }
}

/// Dies of `signo`.
pub(crate) fn die_of(signo: i32) -> ! {
    // SAFETY: resetting a disposition and raising are async-signal-safe and have no preconditions.
    unsafe {
        libc::signal(signo, libc::SIG_DFL);
        libc::raise(signo);
    }
    std::process::exit(128 + signo)
}
