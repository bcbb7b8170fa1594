//! Process helpers: children killed on drop, polling with deadlines, signals.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A child process that is killed (and reaped) when dropped, so a failing test leaves nothing
/// running.
#[derive(Debug)]
pub struct Running(pub Child);

impl Running {
    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> Self {
        Self(cmd.spawn().unwrap_or_else(|e| panic!("could not spawn {cmd:?}: {e}")))
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Waits for it to exit, at most `timeout`; panics if it does not (and the drop kills it).
    pub fn wait_timeout(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let child = &mut self.0;
        let status = wait_for(TICK, timeout, || child.try_wait().expect("try_wait"));
        status.unwrap_or_else(|| panic!("process {} did not exit within {timeout:?}", self.pid()))
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How often the waits below poll: fine enough for tests that wait for files and exits.
const TICK: Duration = Duration::from_millis(10);

/// Polls `check` every `every` until it returns `Some`, or `timeout` passes (then `None`).
/// Tests wait for conditions with a deadline instead of sleeping for a fixed time.
pub fn wait_for<T>(every: Duration, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Polls `check` every 10 ms until it returns `Some`, or `timeout` passes.
pub fn wait_some<T>(timeout: Duration, check: impl FnMut() -> Option<T>) -> Option<T> {
    wait_for(TICK, timeout, check)
}

/// Polls `check` every 10 ms until it is true or `timeout` passes; returns whether it became true.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    wait_for(TICK, timeout, || check().then_some(())).is_some()
}

/// Like [`wait_until`], polling every millisecond: fine enough to pick kill instants inside
/// phases that last a few milliseconds.
pub fn poll_fast(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    wait_for(Duration::from_millis(1), timeout, || check().then_some(())).is_some()
}

/// Sends `signal` to `pid`.
pub fn kill(pid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Whether process `pid` is running: it exists and is not a zombie (a zombie no longer runs; it
/// only waits for a parent, possibly a container's init that never reaps, to collect it).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence and permission.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain spaces.
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => !cfg!(target_os = "linux"),
    }
}
