//! `sea-pack build --no-supervise`: the launcher `exec`s the app in place. The app is the
//! launcher's own process (same pid, signals and exit status its own), the tree's usage lock is
//! inherited, exit code 75 is only an exit code, and the background work runs detached — never
//! as the app's child and never holding the app's output open.
#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sea_tests::proc::{Running, kill, wait_until};
use sea_tests::{Sandbox, run, text};

/// Generous: debug builds on two shared cores.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The one tree of app `name` in the sandbox's default cache.
fn tree_of(sb: &Sandbox, name: &str) -> PathBuf {
    let pkg = sb.cache(name).join("pkg").join("linux-x64");
    let mut trees: Vec<PathBuf> = fs::read_dir(&pkg)
        .unwrap_or_else(|e| panic!("{}: {e}", pkg.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(trees.len(), 1, "{trees:?}");
    trees.remove(0)
}

/// An app that reports who it is: its pid, the variables the launcher sets, its signal masks.
fn reporter(sb: &Sandbox, name: &str, extra: &[&str]) -> PathBuf {
    let app = sb
        .app(name)
        .exec(
            "bin/app",
            "#!/bin/sh\n\
             echo \"pid=$$\"\n\
             echo \"run_app=$INPL_RUN_APP loader=$INPL_LOADER_PID restart=${INPL_RESTART_FILE-unset}\"\n\
             grep -E '^Sig(Ign|Blk):' /proc/self/status\n\
             exit \"${INPL_T_EXIT:-7}\"\n",
        )
        .file("data.txt", "data\n");
    sb.pack(app.path(), "inpl", "1.0.0", "bin/app", extra)
}

/// Starts `cmd` with its stdout piped and reads that to its end (the app's exit, unless someone
/// else holds the pipe); the process is still to be waited for.
fn output_of(cmd: &mut std::process::Command) -> (Running, String) {
    let mut child = Running::spawn(cmd.stdout(Stdio::piped()));
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    (child, out)
}

fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn mask(out: &str, key: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} in {out}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn the_app_is_the_launchers_own_process_with_its_variables_and_a_clean_signal_state() {
    let sb = Sandbox::new();
    let bin = reporter(&sb, "app", &["--no-supervise"]);
    let inspect = run(sb.sea_pack().arg("inspect").arg(&bin));
    assert!(text(&inspect).0.contains("in place of the launcher"), "{}", text(&inspect).0);
    let info = run(sb.cmd(&bin).arg("--sea-info"));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["payload"]["supervise"], false, "{info}");

    let (mut child, out) = output_of(&mut sb.cmd(&bin));
    let launcher_pid = child.pid();
    let status = child.wait_timeout(TIMEOUT);
    assert_eq!(status.code(), Some(7), "{out}");
    assert_eq!(field(&out, "pid"), launcher_pid.to_string(), "the app must be the launcher's process: {out}");
    assert_eq!(field(&out, "loader"), launcher_pid.to_string(), "{out}");
    assert_eq!(field(&out, "run_app"), "1", "{out}");
    assert_eq!(field(&out, "restart"), "unset", "no restart can be requested in place: {out}");
    // The launcher ignores SIGPIPE for itself; the app must not inherit that, nor a blocked mask.
    assert_eq!(mask(&out, "SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored in the app: {out}");
    assert_eq!(mask(&out, "SigBlk:"), 0, "{out}");

    // The same app supervised: a child of its own, with a restart file.
    let sb2 = Sandbox::new();
    let bin2 = reporter(&sb2, "app", &[]);
    let (mut child, out) = output_of(&mut sb2.cmd(&bin2));
    let launcher_pid = child.pid();
    assert_eq!(child.wait_timeout(TIMEOUT).code(), Some(7));
    assert_ne!(field(&out, "pid"), launcher_pid.to_string(), "{out}");
    assert_ne!(field(&out, "restart"), "unset", "{out}");
}

#[test]
fn exit_code_75_is_only_an_exit_code_in_place() {
    let sb = Sandbox::new();
    let app = sb.app("app").exec("bin/app", "#!/bin/sh\necho ran >> \"$INPL_T_LOG\"\nexit 75\n");
    let bin = sb.pack(app.path(), "inpl", "1.0.0", "bin/app", &["--no-supervise"]);
    let log = sb.path("runs.log");
    let out = run(sb.cmd(&bin).env("INPL_T_LOG", &log));
    assert_eq!(out.status.code(), Some(75), "{:?}", text(&out));
    assert_eq!(fs::read_to_string(&log).unwrap(), "ran\n", "ran more than once");
}

#[test]
fn a_signal_sent_to_the_launcher_is_the_apps_and_kills_it() {
    let sb = Sandbox::new();
    let app = sb.app("app").exec("bin/app", "#!/bin/sh\ntouch \"$INPL_T_READY\"\nexec sleep 30\n");
    let bin = sb.pack(app.path(), "inpl", "1.0.0", "bin/app", &["--no-supervise"]);
    let ready = sb.path("ready");
    let mut child = Running::spawn(sb.cmd(&bin).env("INPL_T_READY", &ready));
    assert!(wait_until(TIMEOUT, || ready.exists()), "the app did not start");
    kill(child.pid(), libc::SIGTERM);
    let status = child.wait_timeout(TIMEOUT);
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

/// Tries to take the tree's usage lock exclusively, as a clean-up does; `true` when it got it.
fn exclusive_lock_free(lock: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = fs::OpenOptions::new().read(true).write(true).open(lock).unwrap();
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    rc == 0
}

#[test]
fn the_usage_lock_is_inherited_and_held_while_the_app_runs() {
    let sb = Sandbox::new();
    let app = sb
        .app("app")
        .exec("bin/app", "#!/bin/sh\ntouch \"$INPL_T_READY\"\nwhile [ ! -e \"$INPL_T_STOP\" ]; do sleep 0.05; done\n");
    let bin = sb.pack(app.path(), "inpl", "1.0.0", "bin/app", &["--no-supervise"]);
    let (ready, stop) = (sb.path("ready"), sb.path("stop"));
    // A first run extracts and leaves its background work behind; let it finish.
    fs::write(&stop, "").unwrap();
    assert!(run(sb.cmd(&bin).env("INPL_T_READY", &ready).env("INPL_T_STOP", &stop)).status.success());
    let tree = tree_of(&sb, "inpl");
    let lock = PathBuf::from(format!("{}.lock", tree.display()));
    assert!(lock.exists(), "{}", lock.display());
    assert!(wait_until(TIMEOUT, || exclusive_lock_free(&lock)), "the first run's background work kept the lock");
    fs::remove_file(&stop).unwrap();
    fs::remove_file(&ready).unwrap();

    let mut child = Running::spawn(sb.cmd(&bin).env("INPL_T_READY", &ready).env("INPL_T_STOP", &stop));
    assert!(wait_until(TIMEOUT, || ready.exists()), "the app did not start");
    assert!(!exclusive_lock_free(&lock), "a clean-up could take the tree of a running app");
    // The lock is one of the app's own descriptors.
    let fds = fs::read_dir(format!("/proc/{}/fd", child.pid())).unwrap();
    let held = fds.filter_map(|e| fs::read_link(e.unwrap().path()).ok()).any(|target| target == lock);
    assert!(held, "the app does not hold {}", lock.display());
    fs::write(&stop, "").unwrap();
    assert!(child.wait_timeout(TIMEOUT).success());
    assert!(wait_until(TIMEOUT, || exclusive_lock_free(&lock)), "the lock outlived the app");
}

/// A process of the sandbox's packed binary `bin` other than `except`: the detached worker.
fn workers(bin: &Path, except: i32) -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != except && fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == bin))
        .collect()
}

/// One cold start of a fresh sandbox whose app prints a line; returns the sandbox, the binary,
/// the launcher's pid and the detached workers alive when the app's output ended.
fn cold_start_with_piped_output() -> (Sandbox, PathBuf, Running, Vec<i32>) {
    let sb = Sandbox::new();
    let app = sb.app("app").exec("bin/app", "#!/bin/sh\necho hello\n").file("lib/a.txt", "a\n");
    let bin = sb.pack(app.path(), "inpl", "1.0.0", "bin/app", &["--no-supervise"]);
    let bin = fs::canonicalize(&bin).unwrap();
    // A cold start: the tree is fresh (unflushed), the clean-up and the deep check are due.
    let (child, out) = output_of(&mut sb.cmd(&bin));
    assert_eq!(out, "hello\n");
    let found = workers(&bin, child.pid());
    (sb, bin, child, found)
}

#[test]
fn background_work_is_detached_flushes_the_fresh_tree_and_never_holds_the_apps_output() {
    // The app's output ends when the app exits. The worker waits a second before its deep check,
    // so it is normally still running then — unless it held the output open, in which case the
    // output ends only after the worker has gone: never seeing it alive three times in a row
    // means it holds the pipe (or this machine stalled three times for a second).
    let mut attempt = 0;
    let (sb, bin, mut child, found) = loop {
        let (sb, bin, child, found) = cold_start_with_piped_output();
        attempt += 1;
        if !found.is_empty() {
            break (sb, bin, child, found);
        }
        assert!(
            attempt < 3,
            "no background worker was alive when the app's output ended, 3 times: it keeps the output open"
        );
    };
    let launcher = child.pid();
    // SAFETY: getsid(0) has no preconditions.
    let our_sid = unsafe { libc::getsid(0) };
    for pid in &found {
        for fd in 0..3 {
            let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap_or_default();
            assert_eq!(target, Path::new("/dev/null"), "worker {pid} fd {fd}");
        }
        // SAFETY: as above.
        let sid = unsafe { libc::getsid(*pid) };
        // Its parent made the session and exited: the worker is in it, not its leader, so it can
        // never gain a controlling terminal.
        assert!(sid > 0 && sid != our_sid && sid != *pid, "worker {pid} is in session {sid} (ours: {our_sid})");
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)).unwrap_or("0");
        assert_ne!(ppid, launcher.to_string(), "worker {pid} is the app's child");
    }
    assert!(child.wait_timeout(TIMEOUT).success());
    let tree = tree_of(&sb, "inpl");
    assert!(wait_until(TIMEOUT, || !tree.join(".sea/unflushed").exists()), "the fresh tree was never flushed");
    assert!(wait_until(TIMEOUT, || tree.join(".sea/checked").exists()), "no deep check was done");
    assert!(sb.cache("inpl").join("gc.stamp").exists(), "no clean-up was done");
    assert!(wait_until(TIMEOUT, || workers(&bin, launcher).is_empty()), "the worker never exited");

    // Nothing is due any more: a warm start starts no process besides the app.
    let stamp = fs::metadata(tree.join(".sea/checked")).unwrap().modified().unwrap();
    if sea_tests::require_tool("strace") {
        let traced = run(sb
            .cmd("strace")
            .args(["-f", "-e", "trace=clone,clone3,fork,vfork", "-o"])
            .arg(sb.path("st"))
            .arg(&bin));
        assert!(traced.status.success(), "{:?}", text(&traced));
        let log = fs::read_to_string(sb.path("st")).unwrap();
        assert!(!log.contains("clone"), "a warm start with nothing due forked:\n{log}");
    }
    assert_eq!(fs::metadata(tree.join(".sea/checked")).unwrap().modified().unwrap(), stamp);
}

#[test]
fn an_entry_that_cannot_run_in_place_fails_as_when_supervised() {
    let mut results = Vec::new();
    for extra in [&["--no-supervise"][..], &[][..]] {
        let sb = Sandbox::new();
        let app = sb.app("app").exec("bin/app", "#!/nonexistent/interpreter\n");
        let bin = sb.pack(app.path(), "inpl", "1.0.0", "bin/app", extra);
        let out = run(&mut sb.cmd(&bin));
        let err = text(&out).1;
        assert!(err.contains("does not exist"), "{err}");
        results.push(out.status.code());
    }
    assert_eq!(results[0], results[1], "in place and supervised differ");
    assert_eq!(results[0], Some(127));
}

#[test]
fn the_daily_update_check_runs_in_the_detached_process_and_the_next_start_uses_it() {
    let w = sea_tests::faults::Publisher::new("inpl");
    let key = w.key.to_string_lossy().into_owned();
    let url = w.url();
    let flags = ["--compression", "zstd:1", "--feed", &url, "--public-key", &w.public_key, "--sign-key", &key];
    let build = |version: &str| {
        let app = w.sb.app(&format!("app-{version}")).exec("bin/app", format!("#!/bin/sh\necho {version}\n"));
        let mut all = flags.to_vec();
        all.push("--no-supervise");
        w.sb.pack(app.path(), "inpl", version, "bin/app", &all)
    };
    let v1 = build("1.0.0");
    let v2 = build("2.0.0");
    w.release(&[&v2]);
    let out = run(w.sb.cmd(&v1).env(w.var("UPDATE_TIMEOUT"), "10"));
    assert_eq!(text(&out).0, "1.0.0\n", "{}", text(&out).1);
    // The update check is due (never done): the detached process asks the feed and installs 2.0.0
    // while nothing waits for it.
    let installed = wait_until(TIMEOUT, || {
        fs::read_dir(w.pkg()).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("2.0.0-") && e.path().join(".sea/manifest.json").exists()
            })
        })
    });
    assert!(installed, "the background check never installed 2.0.0");
    assert!(w.server.log().iter().any(|r| r.path == "/stable.json"), "the feed was never asked");
    let out = run(&mut w.sb.cmd(&v1));
    assert_eq!(text(&out).0, "2.0.0\n", "{}", text(&out).1);
}
