//! Hostile servers and hostile environments: slow retrieval (a server dripping a byte a
//! second), absurd variable values, `<PREFIX>_AUTO_UPDATE` spellings, and a refused home met by
//! `--sea-update`. Every test runs the real packed launcher against a loopback server.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sea_tests::faults::Publisher;
use sea_tests::layout::names;
use sea_tests::proc::{Running, wait_until};
use sea_tests::server::Fault;
use sea_tests::{run, set_mode, text};

/// The drip of the slow-retrieval attack: one byte a second.
const DRIP: Duration = Duration::from_secs(1);

/// A feed world for app `hello` with 1.0.0 installed locally and 2.0.0 published. The entry
/// prints its version, then waits until the file named by its first argument exists (if any).
fn world() -> (Publisher, PathBuf) {
    let w = Publisher::new("hello");
    let script = "#!/bin/sh\necho \"hello $HELLO_APP_VERSION\"\nif [ -n \"$1\" ]; then while [ ! -e \"$1\" ]; do sleep 0.05; done; fi\n";
    let v1_app = w.sb.app("hello-1").exec("bin/app", script);
    let v1 = w.pack(v1_app.path(), "1.0.0");
    let v1_dest = w.sb.path("hello-1.0.0");
    fs::rename(&v1, &v1_dest).expect("rename");
    let v2_app = w.sb.app("hello-2").exec("bin/app", script);
    let v2 = w.pack(v2_app.path(), "2.0.0");
    w.release(&[&v2]);
    (w, v1_dest)
}

/// The signed size of the published payload artifact: the `.sea` file the feed names.
fn artifact_size(w: &Publisher) -> u64 {
    let sea = names(&w.dir).into_iter().find(|n| n.ends_with(".sea")).expect("a .sea artifact");
    fs::metadata(w.dir.join(sea)).expect("stat").len()
}

/// Runs `cmd`, killing it if it has not exited within `limit` (then the test fails): the old
/// code kept a dripping download running for as long as the drip lasted.
fn run_bounded(cmd: &mut Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Running::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()));
    let status = child.wait_timeout(limit);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child.stdout.take().expect("stdout").read_to_end(&mut stdout).expect("read stdout");
    child.stderr.take().expect("stderr").read_to_end(&mut stderr).expect("read stderr");
    (Output { status, stdout, stderr }, started.elapsed())
}

/// Only 1.0.0's own tree is in the cache (nothing was installed).
fn nothing_installed(w: &Publisher) {
    let trees: Vec<String> =
        names(&w.pkg()).into_iter().filter(|n| !n.ends_with(".lock") && !n.starts_with('.')).collect();
    assert!(trees.iter().all(|t| t.starts_with("1.0.0-")), "nothing may be installed: {trees:?}");
    assert!(!names(&w.pkg()).iter().any(|n| n.contains(".tmp-")), "no temporary tree: {:?}", names(&w.pkg()));
}

/// Whether `<cache>/update.lock` can be taken exclusively right now (no update holds it).
fn update_lock_free(w: &Publisher) -> bool {
    let path = w.sb.cache("hello").join("update.lock");
    let Ok(file) = fs::OpenOptions::new().read(true).write(true).open(&path) else { return true };
    file.try_lock().is_ok()
}

#[test]
fn a_dripping_artifact_ends_at_the_deadline_of_its_signed_size_and_resumes_later() {
    let (w, v1) = world();
    let size = artifact_size(&w);
    w.server.fault(".sea", Fault::Drip(DRIP));
    let mut cmd = w.update_cmd(&v1);
    cmd.env("HELLO_UPDATE_TIMEOUT", "3").env("HELLO_UPDATE_DEADLINE", "2");
    let (out, took) = run_bounded(&mut cmd, Duration::from_secs(90));
    let (_, stderr) = text(&out);
    // 2 s plus the size at 10 KiB/s; the read timeout (3 s) never fires on a drip.
    let deadline = 2.0 + size as f64 / 10_240.0;
    assert_eq!(out.status.code(), Some(69), "a server too slow is 'unavailable' (69): {stderr}");
    assert!(stderr.starts_with("hello: update failed: timed out"), "{stderr}");
    assert!(stderr.contains(&format!("deadline of {deadline:.1}s")), "names the deadline: {stderr}");
    assert!(stderr.contains(&format!("signed size of {size} bytes")), "names the size: {stderr}");
    assert!(stderr.contains("HELLO_UPDATE_DEADLINE"), "names the variable that raises it: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(took >= Duration::from_secs_f64(deadline), "ended by the deadline, not before: {took:?}");
    assert!(took < Duration::from_secs(60), "bounded: {took:?}");
    eprintln!("signed size {size} bytes, deadline {deadline:.2}s, the update took {took:?}");
    assert!(update_lock_free(&w), "the update lock is released");
    nothing_installed(&w);

    // What arrived is kept for a resumed attempt, as after a broken connection.
    let parts = names(&w.downloads());
    assert!(parts.len() == 1 && parts[0].ends_with(".part"), "{parts:?}");
    let kept = fs::metadata(w.downloads().join(&parts[0])).expect("stat").len();
    assert!(kept > 0 && kept < size, "a prefix of the drip is kept: {kept} of {size}");

    w.server.clear_faults();
    let out = w.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    let range = format!("bytes={kept}-");
    assert!(
        w.server.log().iter().any(|r| r.path.ends_with(".sea") && r.range.as_deref() == Some(range.as_str())),
        "the next run resumed with {range}: {:?}",
        w.server.log()
    );
    assert!(names(&w.downloads()).is_empty());
    let out = run(&mut w.sb.cmd(&v1));
    assert_eq!(text(&out).0.lines().next(), Some("hello 2.0.0"));
}

#[test]
fn a_dripping_feed_or_signature_ends_at_the_feed_deadline() {
    let (w, v1) = world();
    for path in ["stable.json", "stable.json.minisig"] {
        w.server.clear_faults();
        w.server.fault(path, Fault::Drip(DRIP));
        let mut cmd = w.update_cmd(&v1);
        cmd.env("HELLO_UPDATE_TIMEOUT", "3").env("HELLO_UPDATE_DEADLINE", "2");
        let (out, took) = run_bounded(&mut cmd, Duration::from_secs(90));
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(69), "{path}: {stderr}");
        assert!(stderr.contains("timed out") && stderr.contains("/stable.json"), "{path}: {stderr}");
        assert!(stderr.contains("deadline of 2s (HELLO_UPDATE_DEADLINE raises it)"), "{path}: {stderr}");
        assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(60), "{path}: {took:?}");
        assert!(update_lock_free(&w), "{path}: the update lock is released");
        nothing_installed(&w);
    }
}

#[test]
fn a_dripping_server_cannot_hold_the_update_lock_while_the_app_runs() {
    let (w, v1) = world();
    w.server.fault(".sea", Fault::Drip(DRIP));
    let release = w.sb.path("release-the-app");
    let mut cmd = w.sb.cmd(&v1);
    cmd.arg(&release).env("HELLO_UPDATE_DEADLINE", "2").stdout(Stdio::null()).stderr(Stdio::null());
    let mut app = Running::spawn(&mut cmd);
    // The background check is downloading (under the update lock) once the partial file exists.
    assert!(
        wait_until(Duration::from_secs(60), || names(&w.downloads()).iter().any(|n| n.ends_with(".part"))),
        "the background check started its download"
    );
    let started = Instant::now();
    assert!(wait_until(Duration::from_secs(30), || update_lock_free(&w)), "the lock is released at the deadline");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(app.try_wait().expect("try_wait").is_none(), "the app still runs");
    // An interactive update can now run at once (it would wait for the lock otherwise).
    w.server.clear_faults();
    let (out, took) = run_bounded(&mut w.update_cmd(&v1), Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(took < Duration::from_secs(30), "{took:?}");
    fs::write(&release, b"").expect("release the app");
    assert!(app.wait_timeout(Duration::from_secs(30)).success(), "the app ran to its end");
}

#[test]
fn absurd_timeouts_are_exit_64_in_the_foreground_and_the_default_in_the_background() {
    let (w, v1) = world();
    for (var, value) in [
        ("HELLO_UPDATE_TIMEOUT", "1e30"),
        ("HELLO_UPDATE_TIMEOUT", "inf"),
        ("HELLO_UPDATE_TIMEOUT", "-1"),
        ("HELLO_UPDATE_TIMEOUT", "0"),
        ("HELLO_UPDATE_TIMEOUT", "99999999999999999999"),
        ("HELLO_UPDATE_DEADLINE", "1e30"),
        ("HELLO_UPDATE_DEADLINE", "604801"),
        ("HELLO_AUTO_UPDATE", "maybe"),
    ] {
        let out = run(w.sb.cmd(&v1).arg("--sea-update").env(var, value));
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(64), "{var}={value}: {stderr}");
        assert!(stderr.starts_with(&format!("hello: update failed: {var}={value:?} is not valid")), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(w.server.log().is_empty(), "a refused setting sends no request: {:?}", w.server.log());
    for value in ["1e30", "-1", "36501"] {
        let out = run(w.sb.cmd(&v1).arg("--sea-gc").env("HELLO_GC_MIN_AGE_DAYS", value));
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(64), "GC_MIN_AGE_DAYS={value}: {stderr}");
        assert!(stderr.starts_with(&format!("hello: HELLO_GC_MIN_AGE_DAYS={value:?} is not valid")), "{stderr}");
    }

    // In the background the same values are logged and replaced by the default: the app runs to
    // its end (the old launcher aborted, exit 134, and its app died with it) and the check,
    // with the default timeouts, installs 2.0.0.
    let release = w.sb.path("release-the-app");
    let mut cmd = w.sb.cmd(&v1);
    cmd.arg(&release)
        .env("HELLO_UPDATE_TIMEOUT", "1e30")
        .env("HELLO_UPDATE_DEADLINE", "1e30")
        .env("HELLO_GC_MIN_AGE_DAYS", "1e30")
        .env("HELLO_LOG", "warn");
    let mut app = Running::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()));
    let pkg = w.pkg();
    let installed = wait_until(Duration::from_secs(60), || names(&pkg).iter().any(|n| n.starts_with("2.0.0-")));
    fs::write(&release, b"").expect("release the app");
    let status = app.wait_timeout(Duration::from_secs(30));
    let mut stderr = String::new();
    app.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read");
    assert!(status.success(), "the app ran to its end: {status:?}, {stderr}");
    assert!(installed, "the background check ran with the defaults: {stderr}");
    assert!(stderr.contains("HELLO_UPDATE_TIMEOUT=\"1e30\" is not valid"), "logged: {stderr}");
    assert!(stderr.contains("HELLO_GC_MIN_AGE_DAYS=\"1e30\" is not valid"), "logged: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn auto_update_is_off_for_0_false_no_off_in_any_letter_case() {
    let (w, v1) = world();
    for value in ["0", "false", "FALSE", "False", "no", "NO", "off", "Off"] {
        let out = run(w.sb.cmd(&v1).arg("--sea-update").env("HELLO_AUTO_UPDATE", value));
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(69), "{value}: {stderr}");
        assert!(stderr.contains(&format!("updates are disabled by HELLO_AUTO_UPDATE={value}")), "{stderr}");
        // The app starts on its bundled payload without a background check.
        let out = run(w.sb.cmd(&v1).env("HELLO_AUTO_UPDATE", value));
        assert_eq!(text(&out).0.lines().next(), Some("hello 1.0.0"), "{value}");
    }
    assert!(w.server.log().is_empty(), "no request at all: {:?}", w.server.log());
    // With 2.0.0 installed, off means the bundled payload only; an unknown value warns and keeps
    // updates on.
    assert!(w.update(&v1).status.success());
    let out = run(w.sb.cmd(&v1).env("HELLO_AUTO_UPDATE", "Off"));
    assert_eq!(text(&out).0.lines().next(), Some("hello 1.0.0"));
    let out = run(w.sb.cmd(&v1).env("HELLO_AUTO_UPDATE", "maybe"));
    let (stdout, stderr) = text(&out);
    assert_eq!(stdout.lines().next(), Some("hello 2.0.0"), "{stderr}");
    assert!(stderr.starts_with("hello: warning: HELLO_AUTO_UPDATE=\"maybe\" is not valid"), "{stderr}");
    assert_eq!(stderr.matches("warning").count(), 1, "one warning: {stderr}");
}

#[test]
#[ignore = "needs root: it chowns a directory to another user (scripts/test.sh runs it: CI is root)"]
fn update_with_a_home_owned_by_another_user_exits_77_like_a_launch() {
    if !sea_tests::require_root("chown a directory to another user") {
        return;
    }
    let (w, v1) = world();
    let foreign = w.sb.path("foreign-home");
    fs::create_dir(&foreign).expect("mkdir");
    set_mode(&foreign, 0o700);
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).expect("chown");
    let launch = run(w.sb.cmd(&v1).env("HELLO_HOME", &foreign));
    let out = run(w.update_cmd(&v1).env("HELLO_HOME", &foreign));
    let (_, stderr) = text(&out);
    assert_eq!(launch.status.code(), Some(77), "{}", text(&launch).1);
    assert_eq!(out.status.code(), Some(77), "a refused home is 77 for --sea-update too: {stderr}");
    assert!(stderr.contains("owned by uid 65534") && stderr.contains("HELLO_HOME"), "{stderr}");
    let install = run(w.sb.cmd(&v1).arg("--sea-install").arg(&v1).env("HELLO_HOME", &foreign));
    assert_eq!(install.status.code(), Some(77), "and for --sea-install: {}", text(&install).1);
    assert!(names(&foreign).is_empty(), "nothing written into the refused home");
    assert!(w.server.log().is_empty(), "no request before the home is accepted");
    // --sea-gc sweeps stale temporary files in the home: not in a home it would refuse to run in.
    let stale = foreign.join(".state.json.tmp-12345");
    fs::write(&stale, "x").expect("write");
    let touched = run(w.sb.cmd("touch").arg("-d").arg("2 days ago").arg(&stale));
    assert!(touched.status.success(), "{}", text(&touched).1);
    let gc = run(w.sb.cmd(&v1).arg("--sea-gc").env("HELLO_HOME", &foreign));
    assert_eq!(gc.status.code(), Some(77), "and for --sea-gc: {}", text(&gc).1);
    assert!(stale.exists(), "--sea-gc removed a file in a home owned by another user");
}
