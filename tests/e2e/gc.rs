//! Clean-up never removes a tree in use — the bug this project exists to make impossible: a
//! second install of the same CLI deleting the first one's native-module directory while it runs,
//! after which every spawn of a helper from that directory fails with ENOENT.

use std::fs;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use sea_tests::layout::{self, names, pkg_dir};
use sea_tests::proc::{Running, wait_until};
use sea_tests::{Sandbox, run, text};

/// Version `version` of a long-lived app: it writes `ready`, then waits for `go`, then spawns
/// its helper binary from its own tree and records the result in `result`.
fn server(sb: &Sandbox, version: &str) -> PathBuf {
    let app = sb
        .app(&format!("srv-{version}"))
        .exec(
            "bin/srv",
            "#!/bin/sh\nd=\"$1\"\n: > \"$d/ready\"\nwhile [ ! -e \"$d/go\" ]; do sleep 0.05; done\n\
             if \"$SRV_PKG_DIR/libexec/spawn-helper\" > \"$d/result\" 2>&1; then :; else echo \"failed: $?\" >> \"$d/result\"; fi\n",
        )
        .exec("libexec/spawn-helper", "#!/bin/sh\necho helper-ok\n");
    sb.pack(app.path(), "srv", version, "bin/srv", &["--compression", "zstd:3"])
}

fn seed_race(unshare: bool) {
    let sb = Sandbox::new();
    let bins: Vec<PathBuf> = ["1.0.0", "2.0.0", "3.0.0", "4.0.0"].iter().map(|v| server(&sb, v)).collect();
    let ids: Vec<String> = bins.iter().map(|b| layout::tree_id(b)).collect();
    let pkg = pkg_dir(&sb.cache("srv"));
    // Every version has run once (so each has a tree), the old ones long ago.
    for bin in &bins[1..] {
        let dir = sb.path(&format!("once-{}", layout::tree_id(bin)));
        fs::create_dir(&dir).expect("mkdir");
        fs::write(dir.join("go"), "").expect("go");
        assert!(run(sb.cmd(bin).arg(&dir)).status.success());
    }
    // The oldest one runs a long-lived app — possibly from another PID namespace.
    let work = sb.path("work");
    fs::create_dir(&work).expect("mkdir");
    let mut cmd = if unshare {
        let mut c = sb.cmd("unshare");
        c.args(["--pid", "--fork", "--mount-proc"]).arg(&bins[0]);
        c
    } else {
        sb.cmd(&bins[0])
    };
    let _oldest = Running::spawn(cmd.arg(&work).stdout(Stdio::null()).stderr(Stdio::null()));
    assert!(wait_until(Duration::from_secs(60), || work.join("ready").exists()), "the old app started");
    // The newest binary cleans up with every age pushed back.
    let out = run(sb.cmd(&bins[3]).arg("--sea-gc").env("SRV_GC_MIN_AGE_DAYS", "0"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let present = names(&pkg);
    assert!(present.contains(&ids[0]), "the tree in use survived: {stdout}");
    assert!(!present.contains(&ids[1]), "the unused old tree was removed: {stdout}");
    assert!(present.contains(&ids[2]) && present.contains(&ids[3]), "the two newest stayed: {stdout}");
    assert!(stdout.contains(&format!("{}: kept: in use", ids[0])), "{stdout}");
    // The running app can still spawn its helper from its tree.
    fs::write(work.join("go"), "").expect("go");
    assert!(
        wait_until(Duration::from_secs(30), || fs::read_to_string(work.join("result")).is_ok_and(|r| !r.is_empty()))
    );
    assert_eq!(fs::read_to_string(work.join("result")).expect("result"), "helper-ok\n");
}

#[test]
fn cleanup_never_removes_a_tree_in_use() {
    seed_race(false);
}

#[test]
fn cleanup_never_removes_a_tree_in_use_from_another_pid_namespace() {
    let probe = std::process::Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
    if !sea_tests::require(probe.is_ok_and(|o| o.status.success()), "`unshare --pid --fork` is not available here") {
        return;
    }
    seed_race(true);
}

#[test]
fn cleanup_keeps_recently_used_trees_and_what_it_did_not_create() {
    let sb = Sandbox::new();
    let bins: Vec<PathBuf> = ["1.0.0", "2.0.0", "3.0.0"].iter().map(|v| server(&sb, v)).collect();
    for bin in &bins {
        let dir = sb.path(&format!("once-{}", layout::tree_id(bin)));
        fs::create_dir(&dir).expect("mkdir");
        fs::write(dir.join("go"), "").expect("go");
        assert!(run(sb.cmd(bin).arg(&dir)).status.success());
    }
    let pkg = pkg_dir(&sb.cache("srv"));
    fs::create_dir(pkg.join("0.1.0-000000000000")).expect("a look-alike directory without .sea");
    fs::write(pkg.join("notes.txt"), "mine").expect("a user's file");
    // Default minimum age (7 days): everything was used just now.
    let out = run(sb.cmd(&bins[2]).arg("--sea-gc"));
    assert!(out.status.success());
    assert!(names(&pkg).contains(&layout::tree_id(&bins[0])), "{}", text(&out).0);
    let out = run(sb.cmd(&bins[2]).arg("--sea-gc").env("SRV_GC_MIN_AGE_DAYS", "0"));
    assert!(out.status.success());
    let left = names(&pkg);
    assert!(!left.contains(&layout::tree_id(&bins[0])), "{left:?}");
    assert!(left.contains(&"0.1.0-000000000000".to_owned()) && left.contains(&"notes.txt".to_owned()), "{left:?}");
}
