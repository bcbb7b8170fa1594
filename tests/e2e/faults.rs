//! Fault injection through real mechanisms: SIGKILL at many instants of clean-up and of update
//! downloads and installs, a disk that fills up part-way through an extraction (`RLIMIT_FSIZE`),
//! trees damaged under running apps, clean-up racing a cold start, and an update that crashes on
//! start. (SIGKILL during extraction, full and `noexec` file systems, refused homes and mid-download
//! disk-full are in `launch.rs` and `update.rs`.)
//!
//! Kill instants are picked by short sleeps or by polling for the phase to interrupt; correctness
//! never depends on a sleep: every check runs after the process is gone.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sea_tests::faults::{Publisher, check_trees, fill, limit_file_size, no_core_dumps, noise, scratch};
use sea_tests::layout::{self, names, pkg_dir, tree_matches};
use sea_tests::proc::{Running, poll_fast, wait_until};
use sea_tests::{Sandbox, run, text};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Version `version` of app `name` whose entry prints `ran <version>`, plus `files` files of
/// `size` bytes of noise.
fn bulky(sb: &Sandbox, name: &str, version: &str, files: usize, size: usize) -> PathBuf {
    let prefix = name.to_uppercase();
    let app = sb
        .app(&format!("{name}-{version}"))
        .exec("bin/app", format!("#!/bin/sh\necho \"ran ${prefix}_APP_VERSION\"\n"));
    fill(app.path(), files, size, version.len() as u64 * 7919);
    sb.pack(app.path(), name, version, "bin/app", &["--compression", "zstd:1"])
}

#[test]
fn sigkill_of_gc_at_many_instants_never_leaves_a_tree_half_deleted_in_place() {
    let sb = Sandbox::new();
    let bins: Vec<PathBuf> =
        ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "3.0.0"].iter().map(|v| bulky(&sb, "gck", v, 800, 2048)).collect();
    let all: Vec<&Path> = bins.iter().map(PathBuf::as_path).collect();
    let pkg = pkg_dir(&sb.cache("gck"));
    let newest = &bins[4];
    let mut interrupted = 0;
    for delay_ms in [0u64, 4, 10, 20, 35, 60] {
        // Every version has a tree again; the three old ones are unused and removable.
        for bin in &bins {
            let out = run(&mut sb.cmd(bin));
            assert!(out.status.success(), "{}", text(&out).1);
        }
        let before = scratch(&pkg);
        let child = Running::spawn(
            sb.cmd(newest).arg("--sea-gc").env("GCK_GC_MIN_AGE_DAYS", "0").stdout(Stdio::null()).stderr(Stdio::null()),
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        drop(child); // SIGKILL, then reaped
        // Whatever the instant, every tree under its final name is complete: a tree is renamed
        // away before its files are deleted.
        check_trees(&pkg, &all).unwrap_or_else(|e| panic!("after a kill at {delay_ms} ms: {e}"));
        if scratch(&pkg).iter().any(|n| n.contains(".trash-") && !before.contains(n)) {
            interrupted += 1;
        }
    }
    assert!(interrupted >= 1, "no kill landed while a tree was being deleted");
    eprintln!("{interrupted} kills interrupted a deletion");
    let out = run(sb.cmd(newest).arg("--sea-gc").env("GCK_GC_MIN_AGE_DAYS", "0"));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(scratch(&pkg), Vec::<String>::new(), "the next clean-up removes the leftovers");
    check_trees(&pkg, &all).expect("complete trees");
    let trees: Vec<String> = names(&pkg).into_iter().filter(|n| !n.ends_with(".lock")).collect();
    assert_eq!(trees, vec![layout::tree_id(&bins[3]), layout::tree_id(&bins[4])], "the two newest are kept");
    for (bin, version) in bins.iter().zip(["1.0.0", "1.1.0", "1.2.0", "2.0.0", "3.0.0"]) {
        assert_eq!(text(&run(&mut sb.cmd(bin))).0, format!("ran {version}\n"), "every version still runs");
    }
}

/// When to kill an update: how long to wait, or which phase to wait for.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    After(u64),
    DownloadStarted,
    DownloadHalfway,
    Downloaded,
    InstallStarted,
    InstallHalfway,
}

#[test]
fn sigkill_of_update_at_many_instants_never_exposes_a_partial_tree_and_a_later_update_succeeds() {
    let f = Publisher::new("upk");
    let small = f.sb.app("upk-1").exec("bin/app", "#!/bin/sh\necho \"upk $UPK_APP_VERSION\"\n");
    let v1 = f.pack(small.path(), "1.0.0");
    // 16 MB of noise in 64 files: downloading, verifying and installing each take a while.
    let big = f.sb.app("upk-2").exec("bin/app", "#!/bin/sh\necho \"upk $UPK_APP_VERSION\"\n");
    fill(big.path(), 64, 256 * 1024, 2);
    let v2 = f.pack(big.path(), "2.0.0");
    f.release(&[&v2]);
    let (pkg, downloads) = (f.pkg(), f.downloads());
    let id2 = layout::tree_id(&v2);
    let artifact_len = fs::read_dir(&f.dir)
        .expect("feed")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".sea"))
        .and_then(|e| e.metadata().ok())
        .map(|m| m.len())
        .expect("artifact");
    assert_eq!(text(&run(&mut f.sb.cmd(&v1))).0, "upk 1.0.0\n", "1.0.0 extracted before the updates");
    let part = || names(&downloads).into_iter().find(|n| n.ends_with(".part")).map(|n| downloads.join(n));
    let temps = || -> Vec<PathBuf> {
        names(&pkg).into_iter().filter(|n| n.starts_with(&format!(".{id2}.tmp-"))).map(|n| pkg.join(n)).collect()
    };
    let instants = [
        KillAt::After(0),
        KillAt::After(3),
        KillAt::DownloadStarted,
        KillAt::DownloadHalfway,
        KillAt::After(8),
        KillAt::Downloaded,
        KillAt::InstallStarted,
        KillAt::InstallHalfway,
        KillAt::After(20),
        KillAt::After(40),
        KillAt::After(80),
        KillAt::After(160),
    ];
    let (mut kills, mut left_part, mut left_temp) = (0, 0, 0);
    for instant in instants {
        if pkg.join(&id2).join(".sea/manifest.json").exists() {
            break;
        }
        // A leftover temporary tree from the previous kill would make "install started" ambiguous.
        let stale = temps();
        let fresh_temp = || temps().into_iter().find(|t| !stale.contains(t));
        let mut child = Running::spawn(f.update_cmd(&v1).stdout(Stdio::null()).stderr(Stdio::null()));
        let exited = |c: &mut Running| c.0.try_wait().expect("try_wait").is_some();
        let reached = match instant {
            KillAt::After(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                true
            }
            KillAt::DownloadStarted => poll_fast(TIMEOUT, || part().is_some() || exited(&mut child)),
            KillAt::DownloadHalfway => poll_fast(TIMEOUT, || {
                part().and_then(|p| fs::metadata(p).ok()).is_some_and(|m| m.len() >= artifact_len / 2)
                    || exited(&mut child)
            }),
            KillAt::Downloaded => {
                poll_fast(TIMEOUT, || names(&downloads).iter().any(|n| !n.ends_with(".part")) || exited(&mut child))
            }
            KillAt::InstallStarted => poll_fast(TIMEOUT, || fresh_temp().is_some() || exited(&mut child)),
            KillAt::InstallHalfway => poll_fast(TIMEOUT, || {
                fresh_temp().is_some_and(|t| names(&t.join("data/15")).len() >= 2) || exited(&mut child)
            }),
        };
        assert!(reached, "{instant:?} never came");
        let finished = exited(&mut child);
        drop(child); // SIGKILL, then reaped
        if !finished {
            kills += 1;
        }
        left_part += usize::from(part().is_some());
        left_temp += usize::from(fresh_temp().is_some());
        // No partial tree is visible under its final name, and the app runs: the old version,
        // or the new one if its tree was completely installed before the kill.
        check_trees(&pkg, &[&v1, &v2]).unwrap_or_else(|e| panic!("after a kill at {instant:?}: {e}"));
        let out = run(&mut f.sb.cmd(&v1));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "after a kill at {instant:?}: {stderr}");
        let installed = pkg.join(&id2).join(".sea/manifest.json").exists();
        let expected = if installed { "upk 2.0.0\n" } else { "upk 1.0.0\n" };
        assert_eq!(stdout, expected, "after a kill at {instant:?}");
    }
    eprintln!("{kills} kills; {left_part} left a partial download, {left_temp} an unfinished install");
    assert!(kills >= 4, "too few kills landed before the update finished: {kills}");
    assert!(left_part >= 1, "no kill landed during the download");
    // A later update succeeds: it resumes or restarts the download, and installs.
    let out = f.update(&v1);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("installed 2.0.0") || stderr.contains("up to date (2.0.0)"), "{stderr}");
    assert_eq!(text(&run(&mut f.sb.cmd(&v1))).0, "upk 2.0.0\n");
    tree_matches(&v2, &pkg.join(&id2)).expect("the installed tree");
    let out = run(f.sb.cmd(&v1).arg("--sea-gc").env("UPK_GC_MIN_AGE_DAYS", "0"));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(scratch(&pkg), Vec::<String>::new(), "clean-up removes interrupted installs");
    check_trees(&pkg, &[&v1, &v2]).expect("complete trees");
}

#[test]
fn a_disk_that_fills_mid_extraction_is_a_clear_error_and_leaves_only_lock_files() {
    let sb = Sandbox::new();
    let app = sb.app("dfull").exec("bin/app", "#!/bin/sh\necho ok\n");
    // Small files first (they are written), then one larger than the limit: the write fails
    // part-way through the extraction, after the free-space check passed.
    fill(app.path(), 24, 64 * 1024, 5);
    fs::write(app.path().join("zz-large.bin"), noise(9, 3 << 20)).expect("write");
    let bin = sb.pack(app.path(), "dfull", "1.0.0", "bin/app", &["--compression", "zstd:1"]);
    let mut cmd = sb.cmd(&bin);
    limit_file_size(&mut cmd, 1 << 20);
    let out = run(&mut cmd);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert_eq!(stdout, "", "the app did not run");
    assert!(stderr.starts_with("dfull: the disk filled up while extracting"), "{stderr}");
    assert!(stderr.contains("DFULL_CACHE_HOME") && stderr.contains("free some space"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let pkg = pkg_dir(&sb.cache("dfull"));
    let left = names(&pkg);
    assert!(left.iter().all(|n| n.ends_with(".lock")), "nothing but lock files is left: {left:?}");
    assert!(!sb.cache("dfull").join("downloads").exists());
    // With room again, it works.
    let out = run(&mut sb.cmd(&bin));
    assert_eq!(text(&out).0, "ok\n", "{}", text(&out).1);
    tree_matches(&bin, &pkg.join(layout::tree_id(&bin))).expect("complete tree");
}

/// An app that writes `ready`, waits for `go`, then spawns its helper and reads a data file from
/// its tree, writing what happened to `result`.
const WAITER: &str = "#!/bin/sh\nd=\"$1\"\n: > \"$d/ready\"\nwhile [ ! -e \"$d/go\" ]; do sleep 0.02; done\n\
\"$DMG_PKG_DIR/libexec/helper\" > \"$d/result\" 2>&1 || echo \"helper failed: $?\" >> \"$d/result\"\n\
cat \"$DMG_PKG_DIR/share/data.txt\" >> \"$d/result\" 2>&1 || echo \"data failed\" >> \"$d/result\"\n";

fn work_dir(sb: &Sandbox, name: &str, go: bool) -> PathBuf {
    let dir = sb.path(name);
    fs::create_dir(&dir).expect("mkdir");
    if go {
        fs::write(dir.join("go"), "").expect("go");
    }
    dir
}

fn result(dir: &Path) -> String {
    assert!(wait_until(TIMEOUT, || dir.join("result").exists() && dir.join("done").exists()));
    fs::read_to_string(dir.join("result")).expect("result")
}

#[test]
fn a_tree_damaged_while_its_app_runs_is_repaired_by_the_next_start() {
    let sb = Sandbox::new();
    let app = sb
        .app("dmg")
        .exec("bin/app", format!("{WAITER}: > \"$d/done\"\n"))
        .exec("libexec/helper", "#!/bin/sh\necho helper ok\n")
        .file("share/data.txt", "data\n");
    let bin = sb.pack(app.path(), "dmg", "1.0.0", "bin/app", &[]);
    let tree = pkg_dir(&sb.cache("dmg")).join(layout::tree_id(&bin));
    let first = work_dir(&sb, "first", true);
    assert!(run(sb.cmd(&bin).arg(&first)).status.success());
    assert_eq!(result(&first), "helper ok\ndata\n");

    // 1. An executable and a data file deleted under a running app: the next start sees the
    //    executable missing and extracts the tree afresh at once; the running app's path names the
    //    repaired tree from then on.
    let a = work_dir(&sb, "a", false);
    let mut running = Running::spawn(sb.cmd(&bin).arg(&a).stdout(Stdio::null()));
    assert!(wait_until(TIMEOUT, || a.join("ready").exists()), "the app started");
    fs::remove_file(tree.join("libexec/helper")).expect("rm helper");
    fs::remove_file(tree.join("share/data.txt")).expect("rm data");
    let b = work_dir(&sb, "b", true);
    let out = run(sb.cmd(&bin).arg(&b));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(result(&b), "helper ok\ndata\n", "the next start repaired the tree at once");
    tree_matches(&bin, &tree).expect("repaired");
    fs::write(a.join("go"), "").expect("go");
    assert!(running.wait_timeout(TIMEOUT).success());
    assert_eq!(result(&a), "helper ok\ndata\n", "the running app's tree is whole again");

    // 2. Only a data file deleted under a running app: the launcher's background check finds it
    //    while the app runs and marks the tree; the next start repairs it.
    let c = work_dir(&sb, "c", false);
    let mut running = Running::spawn(sb.cmd(&bin).arg(&c).stdout(Stdio::null()));
    assert!(wait_until(TIMEOUT, || c.join("ready").exists()), "the app started");
    fs::remove_file(tree.join("share/data.txt")).expect("rm data");
    assert!(
        wait_until(TIMEOUT, || tree.join(".sea/manifest.json.damaged").exists()),
        "the background check of the running launcher marked the tree damaged"
    );
    let d = work_dir(&sb, "d", true);
    let out = run(sb.cmd(&bin).arg(&d));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(result(&d), "helper ok\ndata\n");
    tree_matches(&bin, &tree).expect("repaired at the next start");
    fs::write(c.join("go"), "").expect("go");
    assert!(running.wait_timeout(TIMEOUT).success());
    assert_eq!(result(&c), "helper ok\ndata\n");
    let leftovers = scratch(&pkg_dir(&sb.cache("dmg")));
    assert!(leftovers.is_empty(), "the damaged trees were deleted: {leftovers:?}");
}

#[test]
fn clean_up_racing_a_cold_start_of_the_same_version_never_takes_the_tree_from_it() {
    let sb = Sandbox::new();
    let make = |version: &str| {
        let app = sb
            .app(&format!("race-{version}"))
            .exec(
                "bin/app",
                "#!/bin/sh\nsleep 0.2\nfor f in \"$RACE_PKG_DIR\"/data/*/f1*; do [ -f \"$f\" ] || echo \"lost $f\"; done\n\
                 exec \"$RACE_PKG_DIR/libexec/helper\"\n",
            )
            .exec("libexec/helper", "#!/bin/sh\necho helper ok\n");
        fill(app.path(), 300, 2048, 3);
        sb.pack(app.path(), "race", version, "bin/app", &["--compression", "zstd:1"])
    };
    let bins: Vec<PathBuf> = ["1.0.0", "2.0.0", "3.0.0"].iter().map(|v| make(v)).collect();
    let all: Vec<&Path> = bins.iter().map(PathBuf::as_path).collect();
    let pkg = pkg_dir(&sb.cache("race"));
    for bin in &bins[1..] {
        assert!(run(&mut sb.cmd(bin)).status.success());
    }
    let gc = || {
        let mut cmd = sb.cmd(&bins[2]);
        cmd.arg("--sea-gc").env("RACE_GC_MIN_AGE_DAYS", "0").stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    };
    for i in 0..16u64 {
        // Even rounds start warm (1.0.0's tree exists, unused, removable); odd rounds start cold
        // (a clean-up removed it).
        if i % 2 == 0 {
            assert!(run(&mut sb.cmd(&bins[0])).status.success());
        } else {
            assert!(run(&mut gc()).status.success());
        }
        let mut start = Running::spawn(sb.cmd(&bins[0]).stdout(Stdio::piped()).stderr(Stdio::piped()));
        std::thread::sleep(Duration::from_millis(i * 7 % 25));
        // Clean-ups keep running while the app starts and runs.
        let mut cleanups = 0;
        while start.0.try_wait().expect("try_wait").is_none() && cleanups < 20 {
            let out = run(&mut gc());
            assert!(out.status.success(), "{}", text(&out).1);
            cleanups += 1;
        }
        let status = start.wait_timeout(TIMEOUT);
        let mut stdout = String::new();
        let mut stderr = String::new();
        std::io::Read::read_to_string(start.0.stdout.as_mut().expect("stdout"), &mut stdout).expect("read");
        std::io::Read::read_to_string(start.0.stderr.as_mut().expect("stderr"), &mut stderr).expect("read");
        assert!(status.success(), "round {i}: {stderr}");
        assert_eq!(stdout, "helper ok\n", "round {i}: the app kept its tree ({cleanups} clean-ups ran); {stderr}");
        check_trees(&pkg, &all).unwrap_or_else(|e| panic!("round {i}: {e}"));
    }
    assert!(run(&mut gc()).status.success());
    assert!(!pkg.join(layout::tree_id(&bins[0])).exists(), "unused once the app exited: removed");
    assert_eq!(scratch(&pkg), Vec::<String>::new());
}

#[test]
fn a_crash_looping_update_is_marked_bad_and_the_previous_version_runs_with_a_warning() {
    let f = Publisher::new("crash");
    let good = f.sb.app("crash-1").exec("bin/app", "#!/bin/sh\necho \"crash $CRASH_APP_VERSION\"\n");
    let v1 = f.pack(good.path(), "1.0.0");
    let bad = f.sb.app("crash-2").exec("bin/app", "#!/bin/sh\nkill -SEGV $$\n");
    let v2 = f.pack(bad.path(), "2.0.0");
    f.release(&[&v2]);
    let out = f.update(&v1);
    assert!(out.status.success() && text(&out).1.contains("installed 2.0.0"), "{}", text(&out).1);
    let id2 = layout::tree_id(&v2);
    for attempt in 1..=3 {
        let out = run(no_core_dumps(&mut f.sb.cmd(&v1)));
        let (_, stderr) = text(&out);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGSEGV),
            "attempt {attempt}: the launcher dies like its app: {stderr}"
        );
        let marked = stderr.contains("version 2.0.0 crashed on start 3 times in a row; it is marked bad");
        assert_eq!(marked, attempt == 3, "attempt {attempt}: {stderr}");
    }
    let health: serde_json::Value =
        serde_json::from_slice(&fs::read(f.sb.app_home("crash").join(format!("health/{id2}.json"))).expect("health"))
            .expect("json");
    assert_eq!(health["bad"], true, "{health}");
    for _ in 0..2 {
        let out = run(&mut f.sb.cmd(&v1));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stdout, "crash 1.0.0\n", "the previous version runs");
        assert!(
            stderr.starts_with("crash: warning: skipping version 2.0.0") && stderr.contains("marked bad"),
            "{stderr}"
        );
    }
    // The update stays installed (a pin still reaches it) and is not installed again.
    assert!(pkg_dir(&f.sb.cache("crash")).join(&id2).is_dir());
    let out = f.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!text(&out).1.contains("installed"), "{}", text(&out).1);
    let out = run(no_core_dumps(f.sb.cmd(&v1).env("CRASH_VERSION", "2.0.0")));
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "a pin overrides the mark: {}", text(&out).1);
    assert!(text(&out).1.contains("running pinned version 2.0.0 although it is marked bad"), "{}", text(&out).1);
}

// Regression tests: product bugs these tests and the stress run found, now fixed; each test
// fails on the code before its fix.

#[test]
fn concurrent_cleanups_do_not_fail_on_a_tree_the_other_one_removed() {
    let sb = Sandbox::new();
    let app = sb.app("twin").exec("bin/app", "#!/bin/sh\n");
    let bins: Vec<PathBuf> =
        (1..=16).map(|minor| sb.pack(app.path(), "twin", &format!("1.{minor}.0"), "bin/app", &[])).collect();
    let pkg = pkg_dir(&sb.cache("twin"));
    let gc = || {
        let mut cmd = sb.cmd(&bins[15]);
        cmd.arg("--sea-gc").env("TWIN_GC_MIN_AGE_DAYS", "0").stdout(Stdio::null()).stderr(Stdio::piped());
        Running::spawn(&mut cmd)
    };
    for round in 0..8u64 {
        for bin in &bins {
            assert!(run(&mut sb.cmd(bin)).status.success());
        }
        // The second clean-up trails the first by a few milliseconds, so it reaches trees the
        // first one has just removed.
        let mut first = gc();
        std::thread::sleep(Duration::from_millis(1 + round % 4));
        let mut second = gc();
        for (which, child) in [("first", &mut first), ("second", &mut second)] {
            let status = child.wait_timeout(TIMEOUT);
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.0.stderr.as_mut().expect("stderr"), &mut stderr).expect("read");
            assert!(status.success(), "round {round}, {which} clean-up: {status}: {stderr}");
        }
        let orphans: Vec<String> = names(&pkg)
            .into_iter()
            .filter(|n| n.strip_suffix(".lock").is_some_and(|id| !id.ends_with(".extract") && !pkg.join(id).exists()))
            .collect();
        assert!(orphans.is_empty(), "round {round}: lock files without a tree: {orphans:?}");
    }
}

#[test]
fn an_update_whose_tree_was_lost_is_installed_again() {
    let f = Publisher::new("lost");
    let app = f.sb.app("lost-1").exec("bin/app", "#!/bin/sh\necho \"lost $LOST_APP_VERSION\"\n");
    let v1 = f.pack(app.path(), "1.0.0");
    let app2 = f.sb.app("lost-2").exec("bin/app", "#!/bin/sh\necho \"lost $LOST_APP_VERSION\"\n");
    let v2 = f.pack(app2.path(), "2.0.0");
    f.release(&[&v2]);
    assert!(f.update(&v1).status.success());
    assert_eq!(text(&run(&mut f.sb.cmd(&v1))).0, "lost 2.0.0\n");
    // The user clears the cache (or a tmp cleaner does).
    fs::remove_dir_all(f.sb.cache("lost")).expect("rm cache");
    assert_eq!(text(&run(&mut f.sb.cmd(&v1))).0, "lost 1.0.0\n", "the bundled version runs meanwhile");
    let out = f.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).1.contains("installed 2.0.0"), "the lost update is installed again: {}", text(&out).1);
    assert_eq!(text(&run(&mut f.sb.cmd(&v1))).0, "lost 2.0.0\n");
}

#[test]
fn a_partial_download_of_a_superseded_release_is_removed() {
    use sea_tests::server::Fault;
    let f = Publisher::new("stale");
    let app = f.sb.app("stale-1").exec("bin/app", "#!/bin/sh\necho \"stale $STALE_APP_VERSION\"\n");
    fill(app.path(), 4, 64 * 1024, 1);
    let v1 = f.pack(app.path(), "1.0.0");
    let app2 = f.sb.app("stale-2").exec("bin/app", "#!/bin/sh\necho \"stale $STALE_APP_VERSION\"\n");
    fill(app2.path(), 4, 64 * 1024, 2);
    let v2 = f.pack(app2.path(), "2.0.0");
    let app3 = f.sb.app("stale-3").exec("bin/app", "#!/bin/sh\necho \"stale $STALE_APP_VERSION\"\n");
    fill(app3.path(), 4, 64 * 1024, 3);
    let v3 = f.pack(app3.path(), "3.0.0");
    f.release(&[&v2]);
    f.server.fault(".sea", Fault::Truncate(4096));
    assert!(!f.update(&v1).status.success(), "the connection breaks off");
    assert_eq!(names(&f.downloads()).len(), 1, "a resumable partial download is kept");
    f.server.clear_faults();
    f.release(&[&v3]);
    let out = f.update(&v1);
    assert!(out.status.success() && text(&out).1.contains("installed 3.0.0"), "{}", text(&out).1);
    assert_eq!(names(&f.downloads()), Vec::<String>::new(), "2.0.0's partial download is garbage now");
}

/// First run: writes a restart request far larger than the file-size limit (so the write stops
/// part-way, like a disk that fills up) and exits 75. Later runs print their arguments.
const BIG_RESTARTER: &str = "#!/bin/sh\nif [ ! -e \"$1/first\" ]; then\n  : > \"$1/first\"\n\
  { printf '{\"args\": [\"'; head -c 65536 /dev/zero | tr '\\0' x; printf '\"]}'; } > \"$RSF_RESTART_FILE\"\n\
  exit 75\nfi\necho \"again $*\"\n";

#[test]
fn a_disk_that_fills_while_the_app_writes_its_restart_file_is_reported_and_the_app_restarts() {
    let sb = Sandbox::new();
    let app = sb.app("rsf").exec("bin/app", BIG_RESTARTER);
    let bin = sb.pack(app.path(), "rsf", "1.0.0", "bin/app", &[]);
    let (warm, work) = (sb.path("warm"), sb.path("work"));
    for dir in [&warm, &work] {
        fs::create_dir(dir).expect("mkdir");
    }
    // Extracted beforehand (a plain run): the limit is for the restart file, not the extraction.
    fs::write(warm.join("first"), "").expect("write");
    let out = run(sb.cmd(&bin).arg(&warm));
    assert!(out.status.success(), "{}", text(&out).1);
    let pkg = pkg_dir(&sb.cache("rsf"));
    let before = names(&pkg);
    let mut cmd = sb.cmd(&bin);
    cmd.arg(&work);
    limit_file_size(&mut cmd, 8 * 1024);
    let out = run(&mut cmd);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, format!("again {}\n", work.display()), "restarted with the same arguments");
    let report: Vec<&str> = stderr.lines().filter(|l| l.starts_with("rsf: ")).collect();
    assert!(report.iter().any(|l| l.contains("restart") && l.contains("malformed")), "{stderr}");
    let requests: Vec<_> = fs::read_dir(sb.app_home("rsf").join("restart")).expect("restart dir").collect();
    assert!(requests.is_empty(), "the truncated request is deleted: {requests:?}");
    assert_eq!(names(&pkg), before, "the cache is as it was");
    tree_matches(&bin, &pkg.join(layout::tree_id(&bin))).expect("complete tree");
}
