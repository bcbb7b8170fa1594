//! Supervision: exit codes and deaths mirrored, signals forwarded exactly once (and a terminal's
//! Ctrl-C not forwarded a second time), no orphan when the launcher is killed, the app's
//! environment.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use sea_tests::proc::{Running, alive, wait_some};
use sea_tests::{Pty, RELAYED_SIGNALS, Sandbox, default_signals, lines, run, text};

/// Generous: debug builds on two shared cores.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An app that logs every relayed signal it receives (one line per handler call) to
/// `$SEA_T_DIR/log`, announces itself by writing its pid to `$SEA_T_DIR/ready` once its handlers
/// are installed, and exits 0 when `$SEA_T_DIR/stop` appears. With `SEA_T_SETPGID` set it first
/// moves into a process group of its own, with `SEA_T_SETSID` into a session of its own.
///
/// In C rather than `sh` on purpose: a shell runs a trap once for any number of deliveries that
/// arrive before it gets to it, which would hide a duplicate sent microseconds after the first
/// (exactly what a terminal's Ctrl-C plus a wrong forward looks like). A C handler runs once per
/// delivery. `cc` is there wherever these tests link.
const SIGNAL_LOGGER_C: &str = r#"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;

static void on_signal(int sig) {
    const char *line = "OTHER\n";
    switch (sig) {
    case SIGINT: line = "INT\n"; break;
    case SIGTERM: line = "TERM\n"; break;
    case SIGHUP: line = "HUP\n"; break;
    case SIGQUIT: line = "QUIT\n"; break;
    case SIGUSR1: line = "USR1\n"; break;
    case SIGUSR2: line = "USR2\n"; break;
    case SIGWINCH: line = "WINCH\n"; break;
    }
    ssize_t ignored = write(log_fd, line, strlen(line));
    (void)ignored;
}

int main(void) {
    const char *dir = getenv("SEA_T_DIR");
    char path[4096], tmp[4096];
    if (!dir) return 2;
    snprintf(path, sizeof path, "%s/log", dir);
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return 2;
    /* As shells and some TUIs do: a process group of its own, so the terminal's signals to the
       launcher's (foreground) group do not reach it directly. */
    if (getenv("SEA_T_SETPGID") && setpgid(0, 0) != 0) return 2;
    /* A session of its own: detached from the terminal, like a daemon. */
    if (getenv("SEA_T_SETSID") && setsid() < 0) return 2;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, 0) != 0) return 2;
    snprintf(tmp, sizeof tmp, "%s/ready.tmp", dir);
    snprintf(path, sizeof path, "%s/ready", dir);
    FILE *f = fopen(tmp, "w");
    if (!f) return 2;
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0) return 2;
    snprintf(path, sizeof path, "%s/stop", dir);
    struct timespec pause = {0, 20 * 1000 * 1000};
    int spin = getenv("SEA_T_SPIN") != 0;
    for (unsigned long i = 0;; i++) {
        if ((!spin || i % 100000 == 0) && access(path, F_OK) == 0) break;
        if (!spin) nanosleep(&pause, 0);
    }
    return 0;
}
"#;

/// A packed signal logger and the directory it reports into.
struct Logger {
    sb: Sandbox,
    bin: PathBuf,
    dir: PathBuf,
}

impl Logger {
    fn new() -> Logger {
        let sb = Sandbox::new();
        let source = sb.path("siglog.c");
        std::fs::write(&source, SIGNAL_LOGGER_C).expect("write siglog.c");
        let app = sb.app("siglog").file("bin/.keep", "");
        let out = run(sb.cmd("cc").args(["-O2", "-o"]).arg(app.path().join("bin/siglog")).arg(&source));
        assert!(out.status.success(), "cc siglog.c: {}", text(&out).1);
        let bin = sb.pack(app.path(), "siglog", "1.0.0", "bin/siglog", &[]);
        let dir = sb.path("t");
        std::fs::create_dir(&dir).expect("create report dir");
        Logger { sb, bin, dir }
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = self.sb.cmd(&self.bin);
        cmd.env("SEA_T_DIR", &self.dir).stdin(Stdio::null());
        default_signals(&mut cmd);
        cmd
    }

    /// Waits for the app's readiness file; returns the app's pid.
    fn wait_ready(&self, launcher: &mut Child) -> i32 {
        let ready = self.dir.join("ready");
        let pid = wait_some(TIMEOUT, || {
            if let Ok(Some(status)) = launcher.try_wait() {
                panic!("the launcher exited before the app was ready: {status}");
            }
            std::fs::read_to_string(&ready).ok().and_then(|s| s.trim().parse::<i32>().ok())
        });
        pid.expect("the app did not become ready")
    }

    fn count(&self, name: &str) -> usize {
        lines(&self.dir.join("log")).iter().filter(|l| *l == name).count()
    }

    /// Waits until the app has logged `name` at least `n` times.
    fn wait_logged(&self, name: &str, n: usize) {
        let seen = wait_some(TIMEOUT, || (self.count(name) >= n).then_some(()));
        assert!(seen.is_some(), "the app did not log {name} {n} time(s); log: {:?}", lines(&self.dir.join("log")));
    }

    /// Lets the app exit and checks the launcher mirrors its success.
    fn stop(&self, launcher: &mut Running) {
        std::fs::write(self.dir.join("stop"), "").expect("write stop file");
        let status = launcher.wait_timeout(TIMEOUT);
        assert!(status.success(), "launcher: {status}");
    }
}

fn kill(pid: u32, signo: i32) {
    let pid = i32::try_from(pid).expect("pid fits");
    // SAFETY: sends a signal to the launcher process this test started.
    assert_eq!(unsafe { libc::kill(pid, signo) }, 0, "kill: {}", std::io::Error::last_os_error());
}

#[test]
fn exit_codes_are_mirrored() {
    let sb = Sandbox::new();
    let app = sb.app("code").exec("bin/code", "#!/bin/sh\nexit \"$1\"\n");
    let bin = sb.pack(app.path(), "code", "1.0.0", "bin/code", &[]);
    for code in [0, 1, 42, 255] {
        let out = run(sb.cmd(&bin).arg(code.to_string()));
        assert_eq!(out.status.code(), Some(code), "{}", text(&out).1);
    }
}

#[test]
fn deaths_by_signal_are_mirrored() {
    let sb = Sandbox::new();
    let app = sb.app("die").exec("bin/die", "#!/bin/sh\nulimit -c 0\nkill -\"$1\" $$\nsleep 10\nexit 3\n");
    let bin = sb.pack(app.path(), "die", "1.0.0", "bin/die", &[]);
    for (name, signo) in [("TERM", libc::SIGTERM), ("INT", libc::SIGINT), ("SEGV", libc::SIGSEGV)] {
        let out = run(default_signals(&mut sb.cmd(&bin)).arg(name));
        assert_eq!(out.status.signal(), Some(signo), "{name}: {} {}", out.status, text(&out).1);
        assert!(!out.status.core_dumped(), "{name}: the launcher must not dump core");

        // What a shell script sees: $? = 128+n.
        let mut sh = sb.cmd("/bin/sh");
        sh.args(["-c", "\"$0\" \"$1\"; echo $?"]).arg(&bin).arg(name);
        let out = run(default_signals(&mut sh));
        assert_eq!(text(&out).0.trim(), (128 + signo).to_string(), "{name}: {}", text(&out).1);
    }
    assert!(!sb.root().join("core").exists(), "no core file");
}

#[test]
fn each_signal_sent_to_the_launcher_reaches_the_app_exactly_once() {
    let t = Logger::new();
    let mut launcher = Running::spawn(&mut t.command());
    t.wait_ready(&mut launcher);
    // One at a time, each acknowledged before the next: the launcher handles records in order, so
    // a duplicate of one signal would be forwarded before the next signal is.
    for (name, signo) in RELAYED_SIGNALS {
        kill(launcher.id(), signo);
        t.wait_logged(name, 1);
    }
    t.stop(&mut launcher);
    let log = lines(&t.dir.join("log"));
    for (name, _) in RELAYED_SIGNALS {
        assert_eq!(t.count(name), 1, "{name} in {log:?}");
    }
    assert_eq!(log.len(), RELAYED_SIGNALS.len(), "{log:?}");
}

#[test]
fn ctrl_c_typed_in_a_terminal_reaches_the_app_exactly_once() {
    let t = Logger::new();
    let pty = Pty::open();
    let mut cmd = t.command();
    // A busy app takes each delivery at once: a wrong second INT forwarded by the launcher a few
    // microseconds after the terminal's would otherwise often be merged by the kernel with the
    // first, still pending. Even so a duplicate is only caught in about half the rounds, hence
    // several rounds.
    cmd.env("SEA_T_SPIN", "1");
    pty.attach(&mut cmd);
    let mut launcher = Running::spawn(&mut cmd);
    t.wait_ready(&mut launcher);

    for round in 1..=5 {
        pty.type_bytes(b"\x03");
        t.wait_logged("INT", round);
        // Fence: USR1 sent to the launcher is forwarded after anything the launcher did about the
        // Ctrl-C (records are handled in arrival order), so once USR1 is logged, a second INT
        // would be too.
        kill(launcher.id(), libc::SIGUSR1);
        t.wait_logged("USR1", round);
        assert_eq!(t.count("INT"), round, "Ctrl-C delivered more than once: {:?}", lines(&t.dir.join("log")));
    }
    t.stop(&mut launcher);
    drop(pty);
}

#[cfg(target_os = "linux")]
#[test]
fn sigkill_to_the_launcher_leaves_no_running_app() {
    let t = Logger::new();
    let mut launcher = Running::spawn(&mut t.command());
    let app = t.wait_ready(&mut launcher);
    assert!(alive(app));
    kill(launcher.id(), libc::SIGKILL);
    let status = launcher.wait_timeout(TIMEOUT);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let gone = wait_some(Duration::from_secs(10), || (!alive(app)).then_some(()));
    if gone.is_none() {
        // SAFETY: clean up the orphan this test made before failing.
        unsafe { libc::kill(app, libc::SIGKILL) };
        panic!("the app (pid {app}) still runs after its launcher was killed");
    }
}

#[test]
fn the_app_gets_the_launcher_environment() {
    let sb = Sandbox::new();
    let app = sb.app("my-app").exec("bin/show", "#!/bin/sh\nenv | grep '^MY_APP_' | sort\n");
    let bin = sb.pack(app.path(), "my-app", "2.1.0", "bin/show", &[]);
    let mut cmd = sb.cmd(&bin);
    let out = run(cmd.env("MY_APP_USER_VAR", "kept"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let var = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("MY_APP_{name}=")))
            .unwrap_or_else(|| panic!("MY_APP_{name} missing in {stdout}"))
            .to_owned()
    };
    assert_eq!(var("RUN_APP"), "1");
    assert_eq!(var("APP_VERSION"), "2.1.0");
    assert_eq!(var("USER_VAR"), "kept");
    let canonical = |p: &Path| p.canonicalize().expect("canonicalize");
    assert_eq!(canonical(Path::new(&var("LAUNCHER"))), canonical(&bin));
    assert!(Path::new(&var("PKG_DIR")).join("bin/show").is_file());
    let pid = var("LOADER_PID");
    let restart = sb.app_home("my-app").join("restart");
    assert_eq!(PathBuf::from(var("RESTART_FILE")), restart.join(format!("{pid}.json")));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&restart).expect("restart dir").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    // <PREFIX>_HOME moves the home, and with it the restart file.
    let moved = sb.path("elsewhere");
    let out = run(sb.cmd(&bin).env("MY_APP_HOME", &moved));
    let stdout = text(&out).0;
    assert!(stdout.contains(&format!("MY_APP_RESTART_FILE={}/restart/", moved.display())), "{stdout}");
}

/// The parent of process `pid` (Linux: the fourth field of `/proc/<pid>/stat`).
#[cfg(target_os = "linux")]
fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    let after_name = stat.rsplit_once(')').expect("stat has a command name").1;
    after_name.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("ppid")
}

/// The session of process `pid`.
fn session_of(pid: u32) -> i32 {
    // SAFETY: getsid has no memory-safety preconditions.
    unsafe { libc::getsid(i32::try_from(pid).expect("pid fits")) }
}

/// `ssh -t host app`, `docker run -it`, `tmux new app`: the launcher leads the terminal's session,
/// so on a hang-up the kernel sends `SIGHUP` to the launcher alone. It used to take that for a
/// signal the foreground group (and so the app) had got too, and drop it: the app ran on without
/// a terminal.
#[test]
fn regression_a_hang_up_reaches_the_app_once_when_the_launcher_leads_the_session() {
    let t = Logger::new();
    let pty = Pty::open();
    let mut cmd = t.command();
    pty.attach(&mut cmd);
    let mut launcher = Running::spawn(&mut cmd);
    t.wait_ready(&mut launcher);
    assert_eq!(session_of(launcher.id()), i32::try_from(launcher.id()).expect("pid"), "the launcher leads its session");

    drop(pty); // the master closes: the terminal hangs up
    t.wait_logged("HUP", 1);
    // Fence, as in the Ctrl-C test: a duplicate HUP would be forwarded before this USR1.
    kill(launcher.id(), libc::SIGUSR1);
    t.wait_logged("USR1", 1);
    assert_eq!(t.count("HUP"), 1, "{:?}", lines(&t.dir.join("log")));
    t.stop(&mut launcher);
}

/// The same hang-up ends an app that keeps `SIGHUP`'s default action, and the launcher dies of
/// the same signal (the app alone would have).
#[test]
fn regression_a_hang_up_ends_the_app_and_the_launcher_mirrors_it() {
    let sb = Sandbox::new();
    let dir = sb.path("t");
    std::fs::create_dir(&dir).expect("mkdir");
    let app = sb.app("hup").exec("bin/hup", "#!/bin/sh\necho $$ > \"$SEA_T_DIR/ready.tmp\"\nmv \"$SEA_T_DIR/ready.tmp\" \"$SEA_T_DIR/ready\"\nexec sleep 600\n");
    let bin = sb.pack(app.path(), "hup", "1.0.0", "bin/hup", &[]);
    let pty = Pty::open();
    let mut cmd = sb.cmd(&bin);
    cmd.env("SEA_T_DIR", &dir);
    default_signals(&mut cmd);
    pty.attach(&mut cmd);
    let mut launcher = Running::spawn(&mut cmd);
    let ready = dir.join("ready");
    let app_pid =
        wait_some(TIMEOUT, || std::fs::read_to_string(&ready).ok().and_then(|s| s.trim().parse::<i32>().ok()))
            .expect("the app did not start");

    drop(pty);
    let status = launcher.wait_timeout(TIMEOUT);
    assert_eq!(status.signal(), Some(libc::SIGHUP), "launcher: {status}");
    assert!(!alive(app_pid), "the app still runs after the hang-up");
}

/// Behind a login shell that leads the session, the hang-up reaches the launcher's whole group
/// (the shell exits of it and the kernel then signals the foreground group): the app gets it
/// from the kernel, and the launcher must not add a second one.
#[cfg(target_os = "linux")]
#[test]
fn a_hang_up_behind_a_session_leader_shell_reaches_the_app_once() {
    let t = Logger::new();
    let pty = Pty::open();
    let mut cmd = t.sb.cmd("/bin/sh");
    // Not `exec`: the shell stays the session leader and the launcher runs in its group.
    cmd.args(["-c", "\"$0\"; exit $?"]).arg(&t.bin).env("SEA_T_DIR", &t.dir);
    default_signals(&mut cmd);
    pty.attach(&mut cmd);
    let mut shell = Running::spawn(&mut cmd);
    let app = t.wait_ready(&mut shell);
    let launcher = parent_of(app);
    assert_ne!(session_of(launcher.unsigned_abs()), launcher, "the shell leads the session, not the launcher");

    drop(pty);
    t.wait_logged("HUP", 1);
    kill(launcher.unsigned_abs(), libc::SIGUSR1);
    t.wait_logged("USR1", 1);
    assert_eq!(t.count("HUP"), 1, "{:?}", lines(&t.dir.join("log")));
    std::fs::write(t.dir.join("stop"), "").expect("write stop file");
    assert!(
        wait_some(TIMEOUT, || (!alive(app) && !alive(launcher)).then_some(())).is_some(),
        "app or launcher still runs"
    );
}

/// An app that moved into a process group of its own (as shells and some TUIs do) is not in the
/// terminal's foreground group: a Ctrl-C reaches only the launcher, which must pass it on, once.
#[test]
fn regression_ctrl_c_reaches_an_app_in_its_own_process_group_once() {
    let t = Logger::new();
    let pty = Pty::open();
    let mut cmd = t.command();
    cmd.env("SEA_T_SETPGID", "1").env("SEA_T_SPIN", "1");
    pty.attach(&mut cmd);
    let mut launcher = Running::spawn(&mut cmd);
    let app = t.wait_ready(&mut launcher);
    // SAFETY: getpgid has no memory-safety preconditions.
    assert_eq!(unsafe { libc::getpgid(app) }, app, "the app leads a process group of its own");

    for round in 1..=3 {
        pty.type_bytes(b"\x03");
        t.wait_logged("INT", round);
        kill(launcher.id(), libc::SIGUSR1);
        t.wait_logged("USR1", round);
        assert_eq!(t.count("INT"), round, "Ctrl-C delivered more than once: {:?}", lines(&t.dir.join("log")));
    }
    t.stop(&mut launcher);
    drop(pty);
}

/// An app that left the terminal's session (`setsid`) detached itself from the terminal: the
/// hang-up the launcher gets as session leader is not passed on to it.
#[test]
fn a_hang_up_is_not_passed_to_an_app_that_left_the_session() {
    let t = Logger::new();
    let pty = Pty::open();
    let mut cmd = t.command();
    cmd.env("SEA_T_SETSID", "1");
    pty.attach(&mut cmd);
    let mut launcher = Running::spawn(&mut cmd);
    let app = t.wait_ready(&mut launcher);
    assert_eq!(session_of(app.unsigned_abs()), app, "the app leads a session of its own");

    drop(pty);
    // Fence: the launcher acts on records in order, so once USR1 is logged, a forwarded HUP
    // would be too. The kernel queued the HUP before the close returned; the pause only keeps
    // two threads of the launcher from taking HUP and USR1 at once and recording them swapped.
    std::thread::sleep(Duration::from_millis(500));
    kill(launcher.id(), libc::SIGUSR1);
    t.wait_logged("USR1", 1);
    assert_eq!(t.count("HUP"), 0, "{:?}", lines(&t.dir.join("log")));
    t.stop(&mut launcher);
}

/// The signal state the app starts with: `Sig*` masks of its `/proc/<pid>/status`.
#[cfg(target_os = "linux")]
fn signal_masks(stdout: &str) -> std::collections::BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, hex) = l.split_once(':')?;
            let name = name.strip_prefix("Sig")?;
            Some((name.to_owned(), u64::from_str_radix(hex.trim(), 16).ok()?))
        })
        .collect()
}

/// The app starts as a `posix_spawn`ed program would: nothing blocked, no handler, and `SIGPIPE`
/// (which the launcher ignores for itself) and the relayed signals at their default action. The
/// app `exec`s `cat`, which reads the state it was started with and installs no handler (GNU
/// grep would: its stack-overflow handler).
#[cfg(target_os = "linux")]
#[test]
fn the_app_starts_with_default_signal_dispositions_and_nothing_blocked() {
    let sb = Sandbox::new();
    let app = sb.app("sigs").exec("bin/sigs", "#!/bin/sh\nexec cat /proc/self/status\n");
    let bin = sb.pack(app.path(), "sigs", "1.0.0", "bin/sigs", &[]);
    let out = run(default_signals(&mut sb.cmd(&bin)));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let masks = signal_masks(&stdout);
    let bit = |signo: i32| 1u64 << (signo - 1);
    assert_eq!(masks.get("Blk"), Some(&0), "no signal blocked: {stdout}");
    assert_eq!(masks.get("Cgt"), Some(&0), "no handler: {stdout}");
    let ignored = *masks.get("Ign").unwrap_or_else(|| panic!("no SigIgn in {stdout}"));
    assert_eq!(ignored & bit(libc::SIGPIPE), 0, "SIGPIPE at its default action: {stdout}");
    for (name, signo) in RELAYED_SIGNALS {
        assert_eq!(ignored & bit(signo), 0, "SIG{name} at its default action: {stdout}");
    }
}
