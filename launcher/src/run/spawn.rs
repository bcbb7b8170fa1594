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
//! 2. every signal with a handler is reset to the default action, as `posix_spawn` does with
//!    `POSIX_SPAWN_SETSIGDEF` for all signals: the relay's handlers and any other (std installs
//!    `SIGSEGV`/`SIGBUS` handlers in programs it starts itself) — a handler running in this child
//!    would run on the launcher's memory. `SIGPIPE` is reset too (the launcher ignores it for
//!    itself, `startup`); a signal the launcher inherited as ignored stays ignored, as across any
//!    exec. Then the signal mask — fully blocked by the launcher around the clone, so no handler
//!    can run before the reset — is emptied;
//! 3. `chdir`, then `execve`. A failure stores `errno` in the plan (shared memory) and `_exit`s.
//!
//! The child's stack is its own mapping with a `PROT_NONE` guard page below it: an overflow
//! faults there instead of writing over the launcher's heap.
//!
//! Other Unix systems have no parent-death signal, so std's `Command` without a hook (which uses
//! `posix_spawn`) does the same job there.
//!
//! # Alternatives
//! `posix_spawn` itself cannot set the parent-death signal, and std's `Command` with a `pre_exec`
//! hook forks (see above).
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

/// Starts `program` with exactly `args` and `env`, in `cwd` if given, stdio inherited; every
/// signal the launcher catches gets its default action back in the child.
pub(crate) fn spawn(
    program: &Path,
    args: &[OsString],
    env: &BTreeMap<OsString, OsString>,
    cwd: Option<&Path>,
) -> io::Result<ChildProcess> {
    #[cfg(target_os = "linux")]
    {
        linux::spawn(program, args, env, cwd)
    }
    #[cfg(not(target_os = "linux"))]
    {
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

/// `key=value` for the environment block, allocated once at its final size (with the NUL):
/// three `realloc`s per variable before (issue 11, ~40,000 instructions per warm start).
fn env_entry(key: &std::ffi::OsStr, value: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut kv = Vec::with_capacity(key.len() + value.len() + 2);
    kv.extend_from_slice(key.as_bytes());
    kv.push(b'=');
    kv.extend_from_slice(value.as_bytes());
    kv
}

/// `execve`'s program, `argv` and `envp`, built once, before anything is changed (an argument
/// with a NUL byte fails here): for the cloned child (`linux::spawn`) and for an in-place run
/// (`run::exec`).
#[cfg(unix)]
pub(crate) struct Blocks {
    pub(crate) program: CString,
    pub(crate) argv: Vec<*const libc::c_char>,
    pub(crate) envp: Vec<*const libc::c_char>,
    /// The strings `argv` and `envp` point into (a `CString`'s bytes do not move with it).
    _strings: Vec<CString>,
}

#[cfg(unix)]
impl Blocks {
    pub(crate) fn new(program: &Path, args: &[OsString], env: &BTreeMap<OsString, OsString>) -> io::Result<Self> {
        let program = c_string(os_bytes(program.as_os_str()))?;
        let mut strings = Vec::with_capacity(args.len() + env.len());
        for arg in args {
            strings.push(c_string(os_bytes(arg))?);
        }
        for (key, value) in env {
            strings.push(c_string(env_entry(key, value))?);
        }
        let (arg_strings, env_strings) = strings.split_at(args.len());
        let mut argv = Vec::with_capacity(arg_strings.len() + 2);
        argv.push(program.as_ptr());
        argv.extend(arg_strings.iter().map(|a| a.as_ptr()));
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = Vec::with_capacity(env_strings.len() + 1);
        envp.extend(env_strings.iter().map(|e| e.as_ptr()));
        envp.push(std::ptr::null());
        Ok(Self { program, argv, envp, _strings: strings })
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::*;

    /// Everything the child needs, prepared before the clone.
    struct ChildPlan {
        blocks: Blocks,
        cwd: Option<CString>,
        launcher: libc::pid_t,
        /// `errno` of a failure in the child; 0 when it exec'd.
        errno: AtomicI32,
    }

    /// Size of the child's stack: only a few syscall wrappers run on it.
    const STACK_SIZE: usize = 64 * 1024;

    /// Signals 1..`SIGNALS` exist on Linux (`_NSIG` is 65 on every architecture but MIPS, 129).
    const SIGNALS: libc::c_int = if cfg!(any(target_arch = "mips", target_arch = "mips64")) { 129 } else { 65 };

    /// The child's stack: an anonymous mapping whose lowest page is a `PROT_NONE` guard.
    struct Stack {
        base: *mut libc::c_void,
        len: usize,
    }

    impl Stack {
        fn new() -> io::Result<Self> {
            // SAFETY: sysconf has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(4096);
            let len = STACK_SIZE + page;
            // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let stack = Stack { base, len };
            // SAFETY: the first page of the mapping made above.
            if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(stack)
        }

        /// The (16-byte aligned) top: the stack grows down towards the guard page.
        fn top(&self) -> *mut libc::c_void {
            // SAFETY: one past the end of the mapping, which is page-aligned.
            unsafe { self.base.cast::<u8>().add(self.len).cast() }
        }
    }

    impl Drop for Stack {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, no longer used (the child has exec'd or exited).
            unsafe { libc::munmap(self.base, self.len) };
        }
    }

    pub(super) fn spawn(
        program: &Path,
        args: &[OsString],
        env: &BTreeMap<OsString, OsString>,
        cwd: Option<&Path>,
    ) -> io::Result<ChildProcess> {
        let plan = ChildPlan {
            blocks: Blocks::new(program, args, env)?,
            cwd: cwd.map(|c| c_string(os_bytes(c.as_os_str()))).transpose()?,
            // SAFETY: getpid has no preconditions.
            launcher: unsafe { libc::getpid() },
            errno: AtomicI32::new(0),
        };
        // `stack` outlives the child's use of it: CLONE_VFORK suspends us until the child has
        // exec'd or exited.
        let stack = Stack::new()?;
        let top = stack.top();
        let (pid, restored) = with_signals_blocked(|| {
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
        let pid = pid?;
        let mut child = ChildProcess { pid };
        if let Err(e) = restored {
            // The launcher's own handlers would stay blocked: not a state to supervise in.
            // SAFETY: `pid` is our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = child.wait();
            return Err(e);
        }
        match plan.errno.load(Ordering::SeqCst) {
            0 => Ok(child),
            errno => {
                let _ = child.wait();
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }

    /// Runs `f` (a `clone`: -1 and `errno` on failure) with every signal blocked in this thread,
    /// then restores the mask. A child cloned meanwhile starts with all signals blocked, so no
    /// handler can run in it before it has reset them. Returns `f`'s result and the restore's:
    /// `pthread_sigmask` returns its error number (it does not set `errno`).
    fn with_signals_blocked(f: impl FnOnce() -> libc::c_int) -> io::Result<(io::Result<libc::c_int>, io::Result<()>)> {
        // SAFETY: plain sigset manipulation on local values.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            let result = f();
            let result = if result == -1 { Err(io::Error::last_os_error()) } else { Ok(result) };
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            Ok((result, if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) }))
        }
    }

    /// Gives every signal that has a handler its default action back, and `SIGPIPE` too; leaves
    /// ignored signals ignored. Async-signal-safe (`sigaction` only): runs in the cloned child.
    /// Signals glibc reserves for itself (32, 33) are refused by its `sigaction` and skipped;
    /// their handlers do not survive exec.
    fn reset_caught_signals() {
        for signo in 1..SIGNALS {
            // SAFETY: queries then sets the disposition of one signal; plain values only.
            unsafe {
                let mut current: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signo, std::ptr::null(), &mut current) != 0 {
                    continue;
                }
                let caught = current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN;
                if caught || signo == libc::SIGPIPE {
                    let mut default: libc::sigaction = std::mem::zeroed();
                    default.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(signo, &default, std::ptr::null_mut());
                }
            }
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
            reset_caught_signals();
            if let Some(cwd) = &plan.cwd
                && libc::chdir(cwd.as_ptr()) != 0
            {
                return fail(plan);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
                return fail(plan);
            }
            libc::execve(plan.blocks.program.as_ptr(), plan.blocks.argv.as_ptr(), plan.blocks.envp.as_ptr());
            fail(plan)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        extern "C" fn handler(_: libc::c_int) {}

        /// The disposition of `signo` in this process.
        fn disposition(signo: libc::c_int) -> libc::sighandler_t {
            // SAFETY: a query into a local value.
            unsafe {
                let mut current: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signo, std::ptr::null(), &mut current);
                current.sa_sigaction
            }
        }

        /// In a forked child (the test process keeps its handlers): the relay's kind of handler
        /// (`SIGUSR1`), std's kind (`SIGSEGV`, `SIGBUS`) and any other are reset; an ignored signal
        /// stays ignored, `SIGPIPE` does not.
        #[test]
        fn the_child_reset_leaves_no_handler_and_keeps_ignored_signals_ignored() {
            let caught = [libc::SIGUSR1, libc::SIGSEGV, libc::SIGBUS, libc::SIGRTMIN() + 3];
            // SAFETY: the child only calls async-signal-safe functions (sigaction, _exit).
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
            if pid == 0 {
                // SAFETY: as above; plain values only.
                unsafe {
                    for signo in caught {
                        libc::signal(signo, handler as *const () as libc::sighandler_t);
                    }
                    libc::signal(libc::SIGHUP, libc::SIG_IGN);
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    reset_caught_signals();
                    let mut failed = 0;
                    for (bit, signo) in caught.into_iter().enumerate() {
                        if disposition(signo) != libc::SIG_DFL {
                            failed |= 1 << bit;
                        }
                    }
                    if (1..SIGNALS).any(|s| ![libc::SIG_DFL, libc::SIG_IGN].contains(&disposition(s))) {
                        failed |= 16;
                    }
                    if disposition(libc::SIGHUP) != libc::SIG_IGN {
                        failed |= 32;
                    }
                    if disposition(libc::SIGPIPE) != libc::SIG_DFL {
                        failed |= 64;
                    }
                    libc::_exit(failed)
                }
            }
            let mut status = 0;
            // SAFETY: waits for the child forked above.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status), "the child died: {status:#x}");
            assert_eq!(
                libc::WEXITSTATUS(status),
                0,
                "bits: 1-8 a caught signal kept its handler (USR1, SEGV, BUS, RTMIN+3), 16 another handler, 32 SIGHUP not ignored, 64 SIGPIPE ignored"
            );
        }

        #[test]
        fn the_stack_has_a_guard_page_below_it() {
            let stack = Stack::new().expect("stack");
            let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
            let base = stack.base as usize;
            let range = |l: &str| {
                let (from, to) = l.split_whitespace().next()?.split_once('-')?;
                Some(usize::from_str_radix(from, 16).ok()?..usize::from_str_radix(to, 16).ok()?)
            };
            let guard = maps
                .lines()
                .find(|l| range(l).is_some_and(|r| r.contains(&base)))
                .unwrap_or_else(|| panic!("no mapping at {base:#x}"));
            assert!(guard.split_whitespace().nth(1).is_some_and(|p| p.starts_with("---")), "{guard}");
            assert_eq!(stack.top() as usize % 16, 0);
        }
    }
}
