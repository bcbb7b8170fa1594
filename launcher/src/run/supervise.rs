//! Runs the app as a child process and supervises it until it exits.
//!
//! # Policy
//!
//! The signal policy (what is forwarded to the app and why: a `kill` aimed at the launcher is
//! forwarded once, a terminal-generated signal is not because the app already got it) is stated
//! at the top of `signals.rs`; this module applies it. In short:
//!
//! * The app is the launcher's child, in the launcher's process group (the terminal, job control
//!   and Ctrl-C work as if the app had been started directly; an app may move to a group of its
//!   own, and then gets the terminal's signals through the launcher), with inherited stdio, exactly the
//!   environment in [`Spawn::env`] and the working directory in [`Spawn::cwd`].
//! * It starts with an empty signal mask, no handler and `SIGPIPE` at its default action: the
//!   child resets every caught signal before it unblocks any ([`crate::run::spawn`]), since until
//!   `exec` it shares the launcher's memory; the launcher ignores `SIGPIPE` for itself (`startup`).
//! * Linux: the app gets `SIGKILL` if the launcher dies (`PR_SET_PDEATHSIG`), so it never runs on as
//!   an orphan when the launcher is killed outright. The death signal follows the *thread* that
//!   spawned the child, so [`run`] must be called from the main thread (or a thread that outlives
//!   the supervision).
//! * The launcher waits for its own child only (`waitpid(pid)`, never `waitpid(-1)`: other threads
//!   may run processes of their own) and mirrors the outcome: the same exit code, or death by the
//!   same signal ([`mirror`]).
//!
//! # Implementation
//!
//! [`crate::run::spawn`] starts the child the way `posix_spawn` does (a vfork-style clone that execs at
//! once), setting the parent-death signal and closing its race in the child (the launcher may
//! have died before the `prctl`: then `getppid()` no longer names it and the child gives up before
//! `exec`). The wait loop
//! blocks in `poll(2)` on the relay's self-pipe and acts on each record in arrival order: `SIGCHLD`
//! → `waitpid(pid, WNOHANG)`; another signal the app missed (sent to the launcher alone, a
//! hang-up sent to the launcher as session leader, a terminal signal while the app is in a process
//! group of its own: `needs_forwarding`) → `kill(pid, signo)`. It also checks the
//! child after every wake-up and at least every [`CHECK_INTERVAL`], so a lost wake-up cannot hang
//! the launcher.
//!
//! # Limitations
//!
//! * One supervised child per process at a time (the phase the signal handlers stamp is global).
//! * macOS has no parent-death signal: there, an app whose launcher is killed with `SIGKILL` runs
//!   on (it is not the terminal's business either way). Windows is not supported by this module.
//! * If the launcher is PID 1 of a container it does not reap orphaned grandchildren; run it under
//!   an init (`docker run --init`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::run::signals::{self, Origin, Phase, SignalRelay};
use crate::run::spawn::ChildProcess;

/// How long the wait loop sleeps at most before it checks on the child anyway.
const CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How long the app must have run before the launcher's background work starts: a short command
/// (most invocations of a CLI) finishes first and pays nothing for it.
pub(crate) const SETTLE: Duration = Duration::from_millis(200);

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Spawn {
    /// The executable (an absolute path inside the tree in use).
    pub(crate) program: PathBuf,
    /// Every argument after `argv[0]`.
    pub(crate) args: Vec<OsString>,
    /// The complete environment of the child: nothing else is inherited.
    pub(crate) env: BTreeMap<OsString, OsString>,
    /// The working directory; `None` inherits the launcher's.
    pub(crate) cwd: Option<PathBuf>,
}

/// How the app ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

/// The app's end, and how long it ran (from spawn to exit; the crash-on-start rule uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// How it ended.
    pub(crate) exit: Exit,
    /// Time from just before the spawn to the moment its exit was collected.
    pub(crate) ran_for: Duration,
}

/// The app could not be started (or, rarely, could no longer be waited for).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SuperviseError {
    /// `ENOENT`: the entry, or the interpreter named on its `#!` line, does not exist.
    #[error("could not run {}: it does not exist (or the interpreter on its #! line does not)", path.display())]
    NotFound {
        /// The program.
        path: PathBuf,
    },
    /// `EACCES`: not executable, or on a file system mounted `noexec`.
    #[error(
        "could not run {}: permission denied (is it executable, and is its file system mounted without noexec?)",
        path.display()
    )]
    PermissionDenied {
        /// The program.
        path: PathBuf,
    },
    /// `ENOEXEC`: not a format this system can execute.
    #[error("could not run {}: not an executable for this system (exec format error)", path.display())]
    NotExecutable {
        /// The program.
        path: PathBuf,
    },
    /// The requested working directory is not a usable directory.
    #[error("could not run {}: cannot change to the working directory {}: {source}", path.display(), cwd.display())]
    Cwd {
        /// The program.
        path: PathBuf,
        /// The directory.
        cwd: PathBuf,
        /// The error from the attempt.
        source: io::Error,
    },
    /// Any other spawn failure (too many processes, argument list too long, a NUL byte, …).
    #[error("could not run {}: {source}", path.display())]
    Other {
        /// The program.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The child's exit status could not be collected (someone else reaped it).
    #[error("lost track of the app {} (pid {pid}): {source}", path.display())]
    Wait {
        /// The program.
        path: PathBuf,
        /// Its pid.
        pid: u32,
        /// The error from `waitpid`.
        source: io::Error,
    },
}

/// Spawns the app (inherited stdio, `spawn.env` only, `spawn.cwd`), relays signals to it as the
/// policy says, and returns once it has exited and been reaped.
///
/// Signals recorded before the spawn that the app missed are forwarded right after it starts.
/// A spawn failure is an `Err`, never an exit code. Call from the main thread (see the module
/// docs: the Linux parent-death signal follows the spawning thread), after
/// [`SignalRelay::install`]. `on_spawned` runs once the app has started (the launcher starts its
/// background work there, so that work never delays the app's start).
pub(crate) fn run(spawn: &Spawn, relay: &SignalRelay, on_settled: &mut dyn FnMut()) -> Result<Outcome, SuperviseError> {
    signals::set_phase(Phase::Spawning);
    let started = Instant::now();
    let spawned = crate::run::spawn::spawn(&spawn.program, &spawn.args, &spawn.env, spawn.cwd.as_deref());
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            signals::set_phase(Phase::Idle);
            return Err(spawn_error(spawn, e));
        }
    };
    signals::set_phase(Phase::Running);
    tracing::debug!(pid = child.id(), program = %spawn.program.display(), "app started");

    let status = wait_forwarding(&mut child, relay, started, on_settled);
    let ran_for = started.elapsed();
    signals::set_phase(Phase::Idle);
    let status =
        status.map_err(|source| SuperviseError::Wait { path: spawn.program.clone(), pid: child.id(), source })?;
    let exit = exit_of(status);
    tracing::debug!(?exit, ?ran_for, "app exited");
    Ok(Outcome { exit, ran_for })
}

impl SuperviseError {
    /// The entry (or its interpreter) does not exist: shells say 127 for that.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, SuperviseError::NotFound { .. })
    }
}

/// Exits with the app's exit code, or dies of the signal that killed it.
pub(crate) fn mirror(exit: Exit) -> ! {
    match exit {
        Exit::Code(code) => std::process::exit(code),
        Exit::Signal(signo) => signals::die_of(signo),
    }
}

/// The wait loop: act on every signal record in arrival order until the child is reaped. Once
/// the app has run for [`SETTLE`], `on_settled` runs (once).
fn wait_forwarding(
    child: &mut ChildProcess,
    relay: &SignalRelay,
    started: Instant,
    on_settled: &mut dyn FnMut(),
) -> io::Result<ExitStatus> {
    // The pid stays ours (a zombie keeps it) until `try_wait` has reaped it, after which this
    // function returns: nothing is ever sent to a pid we did not spawn or already reaped.
    let pid = libc::pid_t::try_from(child.id()).ok().filter(|&pid| pid > 0);
    let mut settled = false;
    loop {
        while let Some(record) = relay.next() {
            if record.signo == libc::SIGCHLD {
                if let Some(status) = child.try_wait()? {
                    return Ok(status);
                }
            } else if let Some(pid) = pid.filter(|&pid| needs_forwarding(&record, pid)) {
                if has_exited(pid) {
                    // Sending it to the zombie would lose it: keep it for the next run, or for
                    // `take_pending_termination` (a TERM that arrived as the app exited with 75
                    // stops the launcher instead of being swallowed), then collect the status.
                    relay.push_front(record);
                    return child.wait();
                }
                forward(pid, record.signo);
            } else {
                tracing::debug!(signo = record.signo, "not forwarded: the terminal delivered it to the app too");
            }
        }
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        let until_settled = SETTLE.saturating_sub(started.elapsed());
        if !settled && until_settled.is_zero() {
            settled = true;
            on_settled();
            continue;
        }
        let timeout = if settled { CHECK_INTERVAL } else { until_settled.min(CHECK_INTERVAL) };
        if let Err(e) = relay.wait(timeout) {
            // Cannot happen with our own pipe; without signals we can still wait.
            tracing::warn!("signal relay failed ({e}); waiting for the app without forwarding signals");
            return child.wait();
        }
    }
}

/// Whether the app must get `record`'s signal from the launcher to see it once (see
/// `signals.rs`): a process sent it to the launcher, or no app existed when it came; a hang-up
/// sent to the launcher as session leader, unless the app detached itself from the terminal
/// (`setsid`); a signal the kernel sent to the launcher's process group, when the app has moved
/// into a group of its own.
fn needs_forwarding(record: &signals::Record, pid: libc::pid_t) -> bool {
    if record.phase == Phase::Idle {
        return true;
    }
    match record.origin {
        Origin::Process => true,
        Origin::KernelToLauncher => signals::app_in_our_session(pid),
        Origin::KernelToGroup => signals::app_left_our_group(pid),
    }
}

/// Whether our child `pid` has already exited, without reaping it (`WNOWAIT`): its pid stays ours.
/// An error (which `try_wait`/`wait` will then report) counts as exited.
fn has_exited(pid: libc::pid_t) -> bool {
    let Ok(id) = libc::id_t::try_from(pid) else { return true };
    // SAFETY: `info` is a zeroed siginfo_t that waitid fills; WNOWAIT leaves the child unreaped.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        if libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) != 0 {
            return io::Error::last_os_error().kind() != io::ErrorKind::Interrupted;
        }
        child_pid_of(&info) != 0
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn child_pid_of(info: &libc::siginfo_t) -> libc::pid_t {
    // SAFETY: waitid filled the SIGCHLD member of the union, or left it zeroed (no state change).
    unsafe { info.si_pid() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn child_pid_of(info: &libc::siginfo_t) -> libc::pid_t {
    info.si_pid
}

fn forward(pid: libc::pid_t, signo: i32) {
    // SAFETY: kill has no memory-safety preconditions; `pid` is our unreaped child (> 0).
    if unsafe { libc::kill(pid, signo) } != 0 {
        tracing::debug!(pid, signo, "could not forward signal: {}", io::Error::last_os_error());
    } else {
        tracing::debug!(pid, signo, "signal forwarded");
    }
}

fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (_, Some(signo)) => Exit::Signal(signo),
        (Some(code), None) => Exit::Code(code),
        // waitpid without WUNTRACED reports only exits and deaths; keep a defined answer anyway.
        (None, None) => Exit::Code(1),
    }
}

pub(crate) fn spawn_error(spawn: &Spawn, source: io::Error) -> SuperviseError {
    let path = spawn.program.clone();
    if let Some(cwd) = &spawn.cwd
        && !cwd.is_dir()
    {
        return SuperviseError::Cwd { path, cwd: cwd.clone(), source };
    }
    match source.kind() {
        io::ErrorKind::NotFound => SuperviseError::NotFound { path },
        io::ErrorKind::PermissionDenied => SuperviseError::PermissionDenied { path },
        _ if source.raw_os_error() == Some(libc::ENOEXEC) => SuperviseError::NotExecutable { path },
        _ => SuperviseError::Other { path, source },
    }
}

#[cfg(test)]
mod tests {
    //! Real children (`/bin/sh -c`). The signal handlers are process-wide, so every test that
    //! spawns takes [`relay`], which serialises them and starts from an empty backlog.

    use std::path::Path;
    use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

    use super::*;

    fn relay() -> (MutexGuard<'static, ()>, &'static SignalRelay) {
        static LOCK: Mutex<()> = Mutex::new(());
        static RELAY: OnceLock<SignalRelay> = OnceLock::new();
        let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let relay = RELAY.get_or_init(|| SignalRelay::install().expect("install the relay"));
        relay.clear();
        (guard, relay)
    }

    fn sh(script: &str) -> Spawn {
        Spawn {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            cwd: None,
        }
    }

    /// A scratch directory (its path, and the `tempfile` guard that removes it on drop).
    struct Scratch(PathBuf, #[allow(dead_code)] tempfile::TempDir);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = tempfile::Builder::new().prefix(&format!("sea-supervise-{tag}-")).tempdir().expect("temp dir");
            Scratch(dir.path().to_owned(), dir)
        }
    }

    #[test]
    fn exit_codes_are_reported() {
        let (_guard, relay) = relay();
        for code in [0, 1, 42, 255] {
            let outcome = run(&sh(&format!("exit {code}")), relay, &mut || {}).expect("run");
            assert_eq!(outcome.exit, Exit::Code(code));
        }
    }

    #[test]
    fn deaths_by_signal_are_reported() {
        let (_guard, relay) = relay();
        for (name, signo) in [("TERM", libc::SIGTERM), ("INT", libc::SIGINT), ("SEGV", libc::SIGSEGV)] {
            let outcome = run(&sh(&format!("ulimit -c 0; kill -{name} $$; sleep 5")), relay, &mut || {}).expect("run");
            assert_eq!(outcome.exit, Exit::Signal(signo), "{name}");
        }
    }

    #[test]
    fn ran_for_covers_the_whole_run() {
        let (_guard, relay) = relay();
        let outcome = run(&sh("sleep 0.3"), relay, &mut || {}).expect("run");
        assert!(outcome.ran_for >= Duration::from_millis(300), "{:?}", outcome.ran_for);
        assert!(outcome.ran_for < Duration::from_secs(10), "{:?}", outcome.ran_for);
    }

    #[test]
    fn the_child_gets_exactly_the_given_env_and_cwd() {
        let (_guard, relay) = relay();
        let mut spawn = sh(r#"[ "$SEA_T" = "a b" ] && [ -z "${HOME+set}" ] && [ "$(pwd -P)" = / ]"#);
        spawn.env.insert("SEA_T".into(), "a b".into());
        spawn.cwd = Some("/".into());
        assert_eq!(run(&spawn, relay, &mut || {}).expect("run").exit, Exit::Code(0));
    }

    #[test]
    fn spawn_failures_are_errors_not_exit_codes() {
        let (_guard, relay) = relay();
        let scratch = Scratch::new("spawn-errors");
        let missing = sh("true");
        let missing = Spawn { program: scratch.0.join("missing"), ..missing };
        assert!(matches!(run(&missing, relay, &mut || {}), Err(SuperviseError::NotFound { .. })));

        let not_exec = scratch.0.join("not-exec");
        std::fs::write(&not_exec, "#!/bin/sh\nexit 0\n").expect("write");
        let spawn = Spawn { program: not_exec, ..sh("true") };
        let err = run(&spawn, relay, &mut || {}).expect_err("not executable");
        assert!(matches!(err, SuperviseError::PermissionDenied { .. }), "{err:?}");
        assert!(err.to_string().contains("permission denied"), "{err}");

        let spawn = Spawn { cwd: Some(scratch.0.join("no-such-dir")), ..sh("true") };
        assert!(matches!(run(&spawn, relay, &mut || {}), Err(SuperviseError::Cwd { .. })));
    }

    #[test]
    fn a_kill_to_the_launcher_reaches_the_child_once() {
        let (_guard, relay) = relay();
        // The child asks its parent (this test process, acting as the launcher) to forward USR1
        // and waits for it; then it sends USR2 as a fence: records are handled in order, so once
        // USR2 is back, any duplicate USR1 would have been forwarded before it. Builtins only
        // (bounded busy waits), so no fork of the shell races with the signals.
        let script = r#"
            n=0; done=
            trap 'n=$((n+1))' USR1
            trap 'done=1' USR2
            kill -USR1 $PPID
            i=0; while [ $n = 0 ] && [ $i -lt 3000000 ]; do i=$((i+1)); done
            kill -USR2 $PPID
            i=0; while [ -z "$done" ] && [ $i -lt 3000000 ]; do i=$((i+1)); done
            [ -n "$done" ] || exit 99
            exit $n"#;
        assert_eq!(run(&sh(script), relay, &mut || {}).expect("run").exit, Exit::Code(1));
    }

    #[test]
    fn a_signal_sent_before_the_spawn_is_forwarded_after_it() {
        let (_guard, relay) = relay();
        // SAFETY: raise to this thread (handled before raise returns); the relay only records it.
        unsafe { libc::raise(libc::SIGUSR1) };
        // The child keeps USR1's default action: the forwarded signal ends it.
        let outcome = run(&sh("sleep 5"), relay, &mut || {}).expect("run");
        assert_eq!(outcome.exit, Exit::Signal(libc::SIGUSR1));
    }

    #[test]
    fn a_termination_between_runs_is_pending_and_others_wait_for_the_next_spawn() {
        let (_guard, relay) = relay();
        assert_eq!(relay.take_pending_termination(), None);
        // SAFETY: raise to this thread (handled before raise returns); the relay only records them.
        unsafe {
            libc::raise(libc::SIGWINCH);
            libc::raise(libc::SIGTERM);
        }
        assert_eq!(relay.take_pending_termination(), Some(libc::SIGTERM));
        assert_eq!(relay.take_pending_termination(), None);
        // WINCH is still queued for the next app, which reports it.
        let script = r#"got=0; trap 'got=1' WINCH; i=0
            while [ $got = 0 ] && [ $i -lt 300000 ]; do i=$((i+1)); done; exit $got"#;
        // The child may not have set its trap when WINCH is forwarded (its default is to ignore
        // it), so this only checks that WINCH was consumed from the queue by the run.
        let _ = run(&sh(script), relay, &mut || {}).expect("run");
        while let Some(record) = relay.next() {
            assert_ne!(record.signo, libc::SIGWINCH, "WINCH still queued after the run");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_child_starts_with_an_empty_mask_and_default_sigpipe() {
        let (_guard, relay) = relay();
        let scratch = Scratch::new("mask");
        let out = scratch.0.join("status");
        // SAFETY: blocks SIGUSR2 for this test thread only; restored below.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        }
        // `exec`: grep reads the mask it was started with (a waiting shell blocks signals itself).
        let script = format!("exec grep -E '^Sig(Blk|Ign)' /proc/self/status > '{}'", out.display());
        let result = run(&sh(&script), relay, &mut || {});
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        assert_eq!(result.expect("run").exit, Exit::Code(0));
        let status = std::fs::read_to_string(&out).expect("read status");
        let field = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).expect("field");
            u64::from_str_radix(line.split_whitespace().nth(1).expect("value"), 16).expect("hex")
        };
        assert_eq!(field("SigBlk:"), 0, "{status}");
        assert_eq!(field("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored: {status}");
    }

    fn died_of(signo: i32) -> (bool, i32, bool) {
        // SAFETY: the forked child only calls die_of (async-signal-safe calls, then raise);
        // the parent waits for that exact pid.
        unsafe {
            let pid = libc::fork();
            assert!(pid >= 0, "fork");
            if pid == 0 {
                signals::die_of(signo);
            }
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            (libc::WIFSIGNALED(status), libc::WTERMSIG(status), libc::WCOREDUMP(status))
        }
    }

    #[test]
    fn die_of_dies_of_the_signal_without_a_core() {
        assert_eq!(died_of(libc::SIGTERM), (true, libc::SIGTERM, false));
        assert_eq!(died_of(libc::SIGSEGV), (true, libc::SIGSEGV, false));
        assert_eq!(died_of(libc::SIGQUIT), (true, libc::SIGQUIT, false));
    }

    #[test]
    fn spawn_errors_name_the_path() {
        let err = spawn_error(&Spawn { program: Path::new("/x/y").into(), ..sh("") }, io::ErrorKind::NotFound.into());
        assert!(err.to_string().contains("/x/y"), "{err}");
    }
}
