//! Running the app in place of the launcher (`sea-pack build --no-supervise`): one `execve`, no
//! second process.
//!
//! # Implementation
//! Measured side by side on this 2-core VM (README, "Warm start against wrappe"), a static C
//! program that only `posix_spawn`s the app and waits for it adds ~0.3 ms more to a start than
//! one that `execve`s it: the second process's creation, its exit, and the wake-ups between the
//! two, whatever the launcher does before. A package built `--no-supervise` trades what needs a
//! parent (exit-code-75 restarts, crash marking, the signal relay) for that time:
//!
//! * the tree's shared usage lock is inherited: its descriptor loses close-on-exec, so the lock
//!   lives as long as the app's process and whatever inherits the descriptor from it, which is
//!   what "held for the process's lifetime" asks (`SPEC.md`, clean-up);
//! * `SIGPIPE` gets its default action back (the launcher ignores it for itself, `startup`),
//!   the signal mask is emptied, and every caught signal is reset by `execve` itself, so the app
//!   starts as it would from a shell, and every signal sent to "the launcher" reaches it once;
//! * the variables are the supervised child's (`commands::run`), minus
//!   `<PREFIX>_RESTART_FILE`: no restart can be requested, and `<PREFIX>_LOADER_PID` is the
//!   app's own pid.
//!
//! When `execve` fails the launcher is still running: the caller falls back exactly as when a
//! supervised spawn fails (the next version, or an error naming a `noexec` cache), and the lock's
//! close-on-exec flag and `SIGPIPE`'s disposition are restored first.
//!
//! # Alternatives
//! A supervisor that is cheaper to run: a 20-line C one is already slower than wrappe's exec
//! (measured). Passing the lock to a process that outlives the launcher instead of to the app:
//! that process would have to be created on every start, which is the cost being avoided.
//!
//! # Limitations
//! An app that closes descriptors it did not open releases the usage lock early; a clean-up still
//! never removes a tree used within `<PREFIX>_GC_MIN_AGE_DAYS` or one of the two newest
//! versions, so only an app running for longer than that would lose its tree. Unix only (other
//! systems supervise: there is no in-place exec on Windows).

use std::fs::File;
use std::io;

#[cfg(unix)]
use crate::run::spawn::Blocks;
use crate::run::supervise::Spawn;

/// Replaces this process with the app, keeping `lock` open in it. Returns only when `execve`
/// failed, with its error, after putting back what it changed.
///
/// `execve` is called directly with the argument and environment blocks built once from
/// `spawn` (as `spawn` builds them for a child): std's `Command::exec` captures the environment
/// again into a map of its own and copies every variable twice, ~90,000 instructions of a warm
/// start (callgrind). A working directory (only a restart request sets one, and no restart
/// happens in place) goes through std's `Command`, which changes directory in the new image only.
#[cfg(unix)]
pub(crate) fn replace(spawn: &Spawn, lock: Option<&File>) -> io::Error {
    use std::os::fd::AsRawFd;

    let inherit = |fd: libc::c_int, on: bool| {
        // SAFETY: F_GETFD/F_SETFD on a descriptor this process owns (the lock file, open).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                let flags = if on { flags & !libc::FD_CLOEXEC } else { flags | libc::FD_CLOEXEC };
                libc::fcntl(fd, libc::F_SETFD, flags);
            }
        }
    };
    let blocks = match Blocks::new(&spawn.program, &spawn.args, &spawn.env) {
        Ok(blocks) => blocks,
        Err(e) => return e,
    };
    let fd = lock.map(|file| file.as_raw_fd());
    if let Some(fd) = fd {
        inherit(fd, true);
    }
    // The app starts with no signal blocked and SIGPIPE at its default action (the launcher
    // ignores it for itself); caught signals are reset by execve itself.
    // SAFETY: single-threaded at this point; plain values only.
    let old_mask = unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, &mut old);
        old
    };
    let error = match &spawn.cwd {
        None => {
            // SAFETY: NUL-terminated strings and NULL-terminated pointer arrays, alive across
            // the call (owned by `blocks`).
            unsafe { libc::execve(blocks.program.as_ptr(), blocks.argv.as_ptr(), blocks.envp.as_ptr()) };
            io::Error::last_os_error()
        }
        Some(cwd) => {
            use std::os::unix::process::CommandExt;
            let mut command = std::process::Command::new(&spawn.program);
            command.args(&spawn.args).env_clear().envs(&spawn.env).current_dir(cwd);
            command.exec()
        }
    };
    // Still the launcher: undo, so the fallback runs as before.
    // SAFETY: as above.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
    }
    if let Some(fd) = fd {
        inherit(fd, false);
    }
    error
}

/// No in-place exec: the caller supervises instead.
#[cfg(not(unix))]
pub(crate) fn replace(_spawn: &Spawn, _lock: Option<&File>) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "running the app in place of the launcher needs Unix")
}
