//! Starting the app's process: as cheaply as `posix_spawn`, with the Linux parent-death signal.
//!
//! # Implementation
//! std's `Command` forks when a `pre_exec` hook is set, and the hook is the only way to set
//! `PR_SET_PDEATHSIG` in the child; copying the launcher's page tables for a child that execs at
//! once cost ~0.2 ms of the warm start here. So on Linux the child is made the way glibc's
//! `posix_spawn` makes it: `clone(CLONE_VM | CLONE_VFORK)` on a small stack of its own, sharing
//! the launcher's memory and suspending the launcher until the child has exec'd (or failed to).
//! Between clone and exec the child only makes async-signal-safe system calls through a
//! [`ChildPlan`] prepared entirely in advance — no allocation, no lock, no unwinding:
//!
//! 1. `prctl(PR_SET_PDEATHSIG, SIGKILL)`, then `getppid()`: if the launcher is already gone the
//!    child gives up (the death signal would never come);
//! 2. the launcher's signal handlers are reset to the default action, `SIGPIPE` too (std ignores
//!    it in the launcher), then the signal mask — fully blocked by the launcher around the clone,
//!    so no handler can run on the shared memory — is emptied;
//! 3. `chdir`, then `execve`. A failure stores `errno` in the plan (shared memory) and `_exit`s.
//!
//! Other Unix systems have no parent-death signal, so std's `Command` without a hook (which uses
//! `posix_spawn`) does the same job there.
//!
//! # Limitations
//! The program must be a path (no `PATH` search): the launcher always runs an absolute path inside
//! its tree.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::io;
use std::path::Path;
use std::process::ExitStatus;

use std::os::unix::process::ExitStatusExt;

/// A spawned child, known by pid until it is reaped.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    pid: libc::pid_t,
}

impl ChildProcess {
    /// Its pid.
    pub(crate) fn id(&self) -> u32 {
        self.pid.unsigned_abs()
    }

    /// Reaps it if it has exited.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        wait(self.pid, libc::WNOHANG)
    }

    /// Waits for it to exit and reaps it.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = wait(self.pid, 0)? {
                return Ok(status);
            }
        }
    }
}

fn wait(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer; `pid` is our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, flags) };
        match rc {
            0 => return Ok(None),
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            _ => return Ok(Some(ExitStatus::from_raw(status))),
        }
    }
}

/// Starts `program` with exactly `args` and `env`, in `cwd` if given, stdio inherited; the
/// signals in `reset` (the launcher's handlers) get their default action back in the child.
pub(crate) fn spawn(
    program: &Path,
    args: &[OsString],
    env: &BTreeMap<OsString, OsString>,
    cwd: Option<&Path>,
    reset: &[i32],
) -> io::Result<ChildProcess> {
    #[cfg(target_os = "linux")]
    {
        linux::spawn(program, args, env, cwd, reset)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = reset;
        let mut command = std::process::Command::new(program);
        command.args(args).env_clear().envs(env);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let child = command.spawn()?;
        Ok(ChildProcess { pid: child.id() as libc::pid_t })
    }
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "an argument or variable contains a NUL byte"))
}

/// The bytes of `s`, with room for the NUL that `CString::new` appends: one allocation, where
/// `to_vec` and then the NUL meant a second one (a `realloc`) for every argument.
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = Vec::with_capacity(s.len() + 1);
    bytes.extend_from_slice(s.as_bytes());
    bytes
}

/// `key=value` for the environment block, allocated once at its final size (with the NUL).
fn env_entry(key: &std::ffi::OsStr, value: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut kv = Vec::with_capacity(key.len() + value.len() + 2);
    kv.extend_from_slice(key.as_bytes());
    kv.push(b'=');
    kv.extend_from_slice(value.as_bytes());
    kv
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::*;

    /// Everything the child needs, prepared before the clone.
    struct ChildPlan {
        program: CString,
        argv: Vec<*const libc::c_char>,
        envp: Vec<*const libc::c_char>,
        cwd: Option<CString>,
        launcher: libc::pid_t,
        reset: Vec<i32>,
        /// `errno` of a failure in the child; 0 when it exec'd.
        errno: AtomicI32,
    }

    /// Size of the child's stack: only a few syscall wrappers run on it.
    const STACK_SIZE: usize = 64 * 1024;

    pub(super) fn spawn(
        program: &Path,
        args: &[OsString],
        env: &BTreeMap<OsString, OsString>,
        cwd: Option<&Path>,
        reset: &[i32],
    ) -> io::Result<ChildProcess> {
        let program_c = c_string(os_bytes(program.as_os_str()))?;
        let args_c: Vec<CString> = args.iter().map(|a| c_string(os_bytes(a))).collect::<io::Result<_>>()?;
        let env_c: Vec<CString> = env.iter().map(|(k, v)| c_string(env_entry(k, v))).collect::<io::Result<_>>()?;
        let mut argv: Vec<*const libc::c_char> = Vec::with_capacity(args_c.len() + 2);
        argv.push(program_c.as_ptr());
        argv.extend(args_c.iter().map(|a| a.as_ptr()));
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = env_c.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        let plan = ChildPlan {
            cwd: cwd.map(|c| c_string(os_bytes(c.as_os_str()))).transpose()?,
            program: program_c,
            argv,
            envp,
            // SAFETY: getpid has no preconditions.
            launcher: unsafe { libc::getpid() },
            reset: reset.to_vec(),
            errno: AtomicI32::new(0),
        };
        // Uninitialised on purpose: `vec![0; STACK_SIZE]` was a `calloc` whose 64 KiB `memset`
        // touched 16 pages, ~80,000 instructions and 16 page faults per start (issue 11); the
        // child only writes the top few hundred bytes, and never reads what it did not write.
        let mut stack: Vec<std::mem::MaybeUninit<u8>> = Vec::with_capacity(STACK_SIZE);
        // SAFETY: the stack grows down from its (16-byte aligned) top, within the allocation of
        // `STACK_SIZE` bytes; `stack` outlives the child's use of it because CLONE_VFORK
        // suspends us until the child has exec'd or exited.
        let top = unsafe { stack.as_mut_ptr().add(STACK_SIZE) };
        let top = (top as usize & !15) as *mut libc::c_void;
        let pid = with_signals_blocked(|| {
            // SAFETY: `child_main` only reads `plan` (alive for the whole call: we are suspended
            // until the child execs or exits) and makes async-signal-safe calls; CLONE_VM|
            // CLONE_VFORK is the posix_spawn pattern; SIGCHLD makes it an ordinary child.
            unsafe {
                libc::clone(
                    child_main,
                    top,
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                    &plan as *const ChildPlan as *mut libc::c_void,
                )
            }
        })?;
        drop(stack);
        if pid == -1 {
            return Err(io::Error::last_os_error());
        }
        let mut child = ChildProcess { pid };
        match plan.errno.load(Ordering::SeqCst) {
            0 => Ok(child),
            errno => {
                let _ = child.wait();
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }

    /// Runs `f` with every signal blocked in this thread, then restores the mask. A child cloned
    /// meanwhile starts with all signals blocked, so no handler can run in it before it has reset
    /// them.
    fn with_signals_blocked(f: impl FnOnce() -> libc::c_int) -> io::Result<libc::c_int> {
        // SAFETY: plain sigset manipulation on local values.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            if libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) != 0 {
                return Err(io::Error::last_os_error());
            }
            let result = f();
            let clone_errno = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            if result == -1 {
                return Err(clone_errno);
            }
            Ok(result)
        }
    }

    /// The child, between clone and exec. Async-signal-safe calls only.
    extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `ChildPlan` of `spawn`, alive while we run (the parent is
        // suspended by CLONE_VFORK).
        let plan = unsafe { &*(arg as *const ChildPlan) };
        let fail = |plan: &ChildPlan| -> libc::c_int {
            // SAFETY: reads this thread's errno; `_exit` never returns and runs no destructors.
            unsafe {
                plan.errno.store(*libc::__errno_location(), Ordering::SeqCst);
                libc::_exit(127)
            }
        };
        // SAFETY: each call takes plain values or pointers into `plan`, all valid; none allocates.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return fail(plan);
            }
            if libc::getppid() != plan.launcher {
                *libc::__errno_location() = libc::ESRCH;
                return fail(plan);
            }
            for &signo in &plan.reset {
                libc::signal(signo, libc::SIG_DFL);
            }
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            if let Some(cwd) = &plan.cwd
                && libc::chdir(cwd.as_ptr()) != 0
            {
                return fail(plan);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::execve(plan.program.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
            fail(plan)
        }
    }
}
