//! The launcher's own job: isolated extraction, concurrency, crash safety, repair, directories,
//! version choice, and the `--sea-*` commands.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sea_tests::faults::noise;
use sea_tests::layout::{self, names, pkg_dir, tree_matches};
use sea_tests::proc::Running;
use sea_tests::{Sandbox, require, require_root, run, set_mode, text};

/// A small app whose entry prints its tree and runs a helper from it.
fn hello(sb: &Sandbox, version: &str) -> PathBuf {
    let app = sb
        .app(&format!("hello-{version}"))
        .exec("bin/hello", "#!/bin/sh\necho \"v=$HELLO_APP_VERSION dir=$HELLO_PKG_DIR\"\nexec \"$HELLO_PKG_DIR/libexec/helper\" \"$@\"\n")
        .exec("libexec/helper", "#!/bin/sh\necho \"helper $*\"\n")
        .file("share/data.txt", "some data\n");
    sb.pack(app.path(), "hello", version, "bin/hello", &["--compression", "zstd:3"])
}

#[test]
fn cold_then_warm_runs_from_one_version_isolated_tree() {
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.2.3");
    let tree = pkg_dir(&sb.cache("hello")).join(layout::tree_id(&bin));
    assert!(layout::tree_id(&bin).starts_with("1.2.3-"));
    for _ in 0..2 {
        let out = run(sb.cmd(&bin).arg("x"));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stdout, format!("v=1.2.3 dir={}\nhelper x\n", tree.display()));
    }
    tree_matches(&bin, &tree).expect("complete tree");
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).expect("meta").permissions().mode() & 0o777
    };
    assert_eq!(mode(&sb.cache("hello")), 0o700);
    assert_eq!(mode(&sb.app_home("hello")), 0o700);
}

#[test]
fn two_binaries_never_share_or_touch_each_others_tree() {
    let sb = Sandbox::new();
    let one = hello(&sb, "1.0.0");
    let two = hello(&sb, "2.0.0");
    assert!(run(&mut sb.cmd(&one)).status.success());
    assert!(run(&mut sb.cmd(&two)).status.success());
    let pkg = pkg_dir(&sb.cache("hello"));
    let trees: Vec<String> = names(&pkg).into_iter().filter(|n| !n.ends_with(".lock")).collect();
    assert_eq!(trees, vec![layout::tree_id(&one), layout::tree_id(&two)]);
}

#[test]
fn twenty_four_simultaneous_cold_starts_extract_once() {
    let sb = Sandbox::new();
    let app = sb.app("big").exec("bin/app", "#!/bin/sh\necho ok\n");
    for i in 0..300 {
        fs::create_dir_all(app.path().join(format!("lib/{}", i % 10))).expect("mkdir");
        fs::write(app.path().join(format!("lib/{}/f{i}.js", i % 10)), format!("module {i}\n").repeat(200))
            .expect("write");
    }
    let bin = sb.pack(app.path(), "big", "1.0.0", "bin/app", &["--compression", "zstd:3"]);
    let mut children: Vec<Running> = (0..24)
        .map(|_| Running::spawn(sb.cmd(&bin).env("BIG_LOG", "info").stdout(Stdio::piped()).stderr(Stdio::piped())))
        .collect();
    let mut fresh = 0;
    for child in &mut children {
        let status = child.wait_timeout(Duration::from_secs(120));
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.0.stderr.as_mut().expect("stderr"), &mut stderr).expect("read");
        assert!(status.success(), "{stderr}");
        fresh += stderr.matches("Fresh").count();
    }
    assert_eq!(fresh, 1, "exactly one launcher extracted");
    let pkg = pkg_dir(&sb.cache("big"));
    let id = layout::tree_id(&bin);
    tree_matches(&bin, &pkg.join(&id)).expect("complete tree");
    let out = run(sb.cmd(&bin).arg("--sea-gc"));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(names(&pkg), vec![id.clone(), format!("{id}.extract.lock"), format!("{id}.lock")]);
}

#[test]
fn sigkill_during_extraction_never_leaves_a_partial_tree_in_use() {
    let sb = Sandbox::new();
    let app = sb.app("large").exec("bin/app", "#!/bin/sh\necho ran\n");
    // Enough files that extraction takes a while; pseudo-random content so it does not compress
    // to nothing.
    let mut seed = 0x9e3779b97f4a7c15u64;
    for i in 0..1500 {
        let mut bytes = Vec::with_capacity(16 * 1024);
        for _ in 0..2048 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.extend_from_slice(&(seed % 1000).to_le_bytes());
        }
        fs::create_dir_all(app.path().join(format!("d{}", i % 30))).expect("mkdir");
        fs::write(app.path().join(format!("d{}/f{i}", i % 30)), &bytes).expect("write");
    }
    let bin = sb.pack(app.path(), "large", "1.0.0", "bin/app", &["--compression", "zstd:1"]);
    let pkg = pkg_dir(&sb.cache("large"));
    let tree = pkg.join(layout::tree_id(&bin));
    let mut kills = 0;
    for delay_ms in [1u64, 3, 5, 10, 20, 40, 60, 90, 130, 180, 250] {
        if tree.exists() {
            break;
        }
        let child = Running::spawn(sb.cmd(&bin).stdout(Stdio::null()).stderr(Stdio::null()));
        std::thread::sleep(Duration::from_millis(delay_ms));
        drop(child); // SIGKILL
        kills += 1;
        if tree.exists() {
            tree_matches(&bin, &tree).unwrap_or_else(|e| panic!("after a kill at {delay_ms} ms: {e}"));
        }
    }
    assert!(kills >= 3, "extraction finished too fast to test");
    let out = run(&mut sb.cmd(&bin));
    assert_eq!(text(&out), ("ran\n".to_owned(), String::new()));
    tree_matches(&bin, &tree).expect("complete tree after the kills");
    let out = run(sb.cmd(&bin).arg("--sea-gc").env("LARGE_GC_MIN_AGE_DAYS", "0"));
    assert!(out.status.success());
    assert!(names(&pkg).iter().all(|n| !n.contains(".tmp-") && !n.contains(".trash-")), "{:?}", names(&pkg));
}

#[test]
fn deleted_and_truncated_files_are_repaired() {
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    assert!(run(&mut sb.cmd(&bin)).status.success());
    let tree = pkg_dir(&sb.cache("hello")).join(layout::tree_id(&bin));
    // An executable deleted, another truncated: caught by the check at every start.
    fs::remove_file(tree.join("libexec/helper")).expect("rm");
    fs::write(tree.join("bin/hello"), "#!/bin/sh\n").expect("truncate");
    let out = run(sb.cmd(&bin).arg("again"));
    assert_eq!(text(&out).0, format!("v=1.0.0 dir={}\nhelper again\n", tree.display()));
    tree_matches(&bin, &tree).expect("repaired at once");
}

#[test]
fn damage_to_other_files_is_found_in_the_background_and_repaired_next_start() {
    let sb = Sandbox::new();
    let app =
        sb.app("slow").exec("bin/app", "#!/bin/sh\nsleep \"${1:-0}\"\necho done\n").file("share/data.txt", "data\n");
    let bin = sb.pack(app.path(), "slow", "1.0.0", "bin/app", &[]);
    assert!(run(&mut sb.cmd(&bin)).status.success());
    let tree = pkg_dir(&sb.cache("slow")).join(layout::tree_id(&bin));
    fs::remove_file(tree.join("share/data.txt")).expect("rm");
    // The background check runs about a second after start, while the app still runs.
    let out = run(sb.cmd(&bin).arg("2"));
    assert!(out.status.success());
    assert!(!tree.join("share/data.txt").exists(), "not repaired under the running app");
    assert!(tree.join(".sea/manifest.json.damaged").exists(), "damage recorded");
    assert!(run(&mut sb.cmd(&bin)).status.success());
    tree_matches(&bin, &tree).expect("repaired at the next start");
}

#[test]
fn homes_and_caches_that_others_can_write_are_refused() {
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    let home = sb.path("wide-home");
    fs::create_dir(&home).expect("mkdir");
    set_mode(&home, 0o777);
    let out = run(sb.cmd(&bin).env("HELLO_HOME", &home));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(stderr.starts_with("hello: refusing to use the home directory"), "{stderr}");
    assert!(stderr.contains("HELLO_HOME") && stderr.contains(&*home.to_string_lossy()), "{stderr}");
    let cache = sb.path("wide-cache");
    fs::create_dir(&cache).expect("mkdir");
    set_mode(&cache, 0o757);
    let out = run(sb.cmd(&bin).env("HELLO_CACHE_HOME", &cache));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains("HELLO_CACHE_HOME"), "{stderr}");
    assert!(names(&cache).is_empty(), "nothing written into a refused cache");
    let out = run(sb.cmd(&bin).env("HELLO_HOME", "relative/path"));
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out).1.contains("HELLO_HOME must be an absolute path"));
}

#[test]
#[ignore = "needs root: it chowns a directory to another user and drops privileges (scripts/test.sh runs it: CI is root)"]
fn foreign_owned_and_unwritable_homes_are_refused() {
    if !require_root("chown a directory to another user and drop privileges") {
        return;
    }
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    let foreign = sb.path("foreign");
    fs::create_dir(&foreign).expect("mkdir");
    set_mode(&foreign, 0o700);
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).expect("chown");
    let out = run(sb.cmd(&bin).env("HELLO_HOME", &foreign));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains("owned by uid 65534") && stderr.contains("HELLO_HOME"), "{stderr}");
    // A read-only home of an unprivileged user: run as `nobody` with setpriv.
    let world = sb.path("nobody");
    fs::create_dir_all(world.join("home")).expect("mkdir");
    fs::copy(&bin, world.join("hello")).expect("copy");
    for p in [world.clone(), world.join("home")] {
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown");
    }
    set_mode(sb.root(), 0o755);
    set_mode(&world, 0o755);
    set_mode(&world.join("home"), 0o500);
    let out = run(sb
        .cmd("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(world.join("hello"))
        .env("HOME", world.join("home"))
        .env("HELLO_CACHE_HOME", world.join("cache")));
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.starts_with("hello: "), "{stderr}");
    assert!(stderr.contains("HELLO_HOME"), "names the variable that moves it: {stderr}");
}

#[test]
fn a_pinned_version_that_does_not_exist_is_a_clear_error() {
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    let out = run(sb.cmd(&bin).env("HELLO_VERSION", "9.9.9"));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("version 9.9.9 is not available") && stderr.contains("1.0.0"), "{stderr}");
    let out = run(sb.cmd(&bin).env("HELLO_VERSION", "1.0.0"));
    assert!(out.status.success());
    let out = run(sb.cmd(&bin).env("HELLO_VERSION", "banana"));
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn sea_info_reports_versions_and_directories() {
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    let out = run(sb.cmd(&bin).arg("--sea-info"));
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(info["binary_version"], "1.0.0");
    assert_eq!(info["chosen"]["version"], "1.0.0");
    assert_eq!(info["chosen"]["source"], "bundled");
    assert_eq!(info["home"], sb.app_home("hello").to_string_lossy().as_ref());
    assert_eq!(info["cache"], sb.cache("hello").to_string_lossy().as_ref());
    assert!(info["launcher_version"].is_string());
    assert_eq!(info["candidates"].as_array().map(Vec::len), Some(1));
    // Launcher flags are only launcher flags in first position; everything else reaches the app.
    let out = run(sb.cmd(&bin).args(["x", "--sea-info"]));
    assert_eq!(text(&out).0.lines().nth(1), Some("helper x --sea-info"));
    let out = run(sb.cmd(&bin).args(["--help", "--version"]));
    assert_eq!(text(&out).0.lines().nth(1), Some("helper --help --version"));
}

#[test]
fn sea_verify_finds_and_repairs_content_damage() {
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    assert!(run(&mut sb.cmd(&bin)).status.success());
    let tree = pkg_dir(&sb.cache("hello")).join(layout::tree_id(&bin));
    let out = run(sb.cmd(&bin).arg("--sea-verify"));
    assert!(out.status.success(), "{}", text(&out).1);
    // Same size, different bytes: only hashing finds it.
    fs::write(tree.join("share/data.txt"), "SOME DATA\n").expect("write");
    let out = run(sb.cmd(&bin).arg("--sea-verify"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("damaged: 'share/data.txt'") && stdout.contains("repaired"), "{stdout}");
    assert_eq!(fs::read_to_string(tree.join("share/data.txt")).expect("read"), "some data\n");
}

#[test]
fn a_corrupt_binary_fails_clearly_and_extracts_nothing() {
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    let mut bytes = fs::read(&bin).expect("read");
    let len = bytes.len();
    bytes[len - 300] ^= 0x01; // inside the manifest
    let bad = sb.path("bin/bad");
    fs::write(&bad, &bytes).expect("write");
    set_mode(&bad, 0o755);
    let out = run(&mut sb.cmd(&bad));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(stderr.starts_with("bad: ") && stderr.contains("damaged"), "{stderr}");
    assert!(!sb.cache("hello").exists());
}

#[test]
fn the_bare_stub_explains_itself() {
    let sb = Sandbox::new();
    let out = run(&mut sb.cmd(&sea_tests::bins().launcher));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr.contains("stub") && stderr.contains("sea-pack build"), "{stderr}");
}

#[test]
#[ignore = "needs root: it mounts a noexec file system (scripts/test.sh runs it: CI is root)"]
fn a_noexec_cache_is_named_with_the_variable_that_moves_it() {
    if !require_root("mount a noexec file system") {
        return;
    }
    let sb = Sandbox::new();
    let bin = hello(&sb, "1.0.0");
    let mount = sb.path("noexec");
    fs::create_dir(&mount).expect("mkdir");
    let mounted = run(sb.cmd("mount").args(["-t", "tmpfs", "-o", "size=64m,noexec,mode=0700", "tmpfs"]).arg(&mount));
    if !require(mounted.status.success(), &format!("cannot mount tmpfs here: {}", text(&mounted).1.trim())) {
        return;
    }
    let out = run(sb.cmd(&bin).env("HELLO_CACHE_HOME", &mount));
    let _ = run(sb.cmd("umount").arg(&mount));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(126), "{stderr}");
    assert!(stderr.contains("noexec") && stderr.contains("HELLO_CACHE_HOME"), "{stderr}");
}

#[test]
#[ignore = "needs root: it mounts a small file system (scripts/test.sh runs it: CI is root)"]
fn a_full_disk_is_a_clear_error_and_leaves_the_cache_as_it_was() {
    if !require_root("mount a small file system") {
        return;
    }
    let sb = Sandbox::new();
    let app = sb.app("fat").exec("bin/app", "#!/bin/sh\necho ok\n");
    for i in 0..40 {
        fs::write(app.path().join(format!("blob{i}")), noise(7 + i, 256 * 1024)).expect("write");
    }
    let bin = sb.pack(app.path(), "fat", "1.0.0", "bin/app", &["--compression", "zstd:1"]);
    let mount = sb.path("tiny");
    fs::create_dir(&mount).expect("mkdir");
    let mounted = run(sb.cmd("mount").args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"]).arg(&mount));
    if !require(mounted.status.success(), &format!("cannot mount tmpfs here: {}", text(&mounted).1.trim())) {
        return;
    }
    let out = run(sb.cmd(&bin).env("FAT_CACHE_HOME", &mount));
    let left = names(&pkg_dir(&mount));
    let _ = run(sb.cmd("umount").arg(&mount));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(stderr.contains("free") && stderr.contains("FAT_CACHE_HOME"), "{stderr}");
    assert!(left.iter().all(|n| n.ends_with(".lock")), "nothing but lock files left: {left:?}");
}

#[test]
fn closed_standard_descriptors_are_reopened_on_dev_null_for_the_app() {
    let sb = Sandbox::new();
    let report = sb.path("fds");
    let app = sb
        .app("fds")
        .exec("bin/app", "#!/bin/sh\nfor fd in 0 2; do readlink \"/proc/self/fd/$fd\" || echo closed; done > \"$1\"\n");
    let bin = sb.pack(app.path(), "fds", "1.0.0", "bin/app", &[]);
    let mut cmd = sb.cmd(&bin);
    cmd.arg(&report).stdout(Stdio::null());
    // Started with stdin and stderr closed: files the launcher opens (its lock, its payload) must
    // not take those numbers and reach the app as its stdin or stderr.
    // SAFETY: between fork and exec; close is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::close(0);
            libc::close(2);
            Ok(())
        });
    }
    for _ in 0..2 {
        let status = cmd.status().expect("run");
        assert!(status.success(), "{status}");
        let seen = fs::read_to_string(&report).expect("report");
        assert_eq!(seen, "/dev/null\n/dev/null\n", "cold, then warm");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_cold_start_is_flushed_in_the_background_and_an_unflushed_tree_from_another_boot_is_extracted_again() {
    let sb = Sandbox::new();
    let app = sb.app("fl").exec("bin/app", "#!/bin/sh\n[ -n \"$1\" ] && sleep \"$1\"\necho ran\n");
    let bin = sb.pack(app.path(), "fl", "1.0.0", "bin/app", &[]);
    let tree = pkg_dir(&sb.cache("fl")).join(layout::tree_id(&bin));
    let mark = tree.join(".sea/unflushed");
    let timeout = std::time::Duration::from_secs(30);
    // A short run publishes the tree before it reaches the disk, marked with this boot; the app
    // exits before the launcher's background work would start, so a detached process flushes
    // it (the mark would otherwise cost every start, and a whole extraction after a reboot).
    let out = run(&mut sb.cmd(&bin));
    assert_eq!(text(&out).0, "ran\n", "{}", text(&out).1);
    assert!(sea_tests::proc::wait_until(timeout, || !mark.exists()), "a short run left its fresh tree unflushed");
    // The mark of another boot (a power cut came before the flush): extracted again.
    fs::write(&mark, "00000000-0000-0000-0000-000000000000\n").expect("write");
    // Nothing else is wrong with the tree; a file of our own shows whether it was replaced.
    fs::write(tree.join("canary"), "").expect("write");
    let out = run(&mut sb.cmd(&bin));
    assert_eq!(text(&out).0, "ran\n", "{}", text(&out).1);
    assert!(!tree.join("canary").exists(), "the tree was extracted again");
    tree_matches(&bin, &tree).expect("complete tree");
    assert!(sea_tests::proc::wait_until(timeout, || !mark.exists()), "the new tree was never flushed");
    // An app that runs past the settling time gets a tree flushed by the launcher's own thread.
    fs::write(&mark, "00000000-0000-0000-0000-000000000000\n").expect("write");
    let out = run(sb.cmd(&bin).arg("1"));
    assert_eq!(text(&out).0, "ran\n", "{}", text(&out).1);
    assert!(!mark.exists(), "flushed by the background work");
    let out = run(&mut sb.cmd(&bin));
    assert_eq!(text(&out).0, "ran\n", "{}", text(&out).1);
    assert!(!mark.exists(), "a warm start writes nothing");
}
