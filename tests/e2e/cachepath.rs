//! Attacks through the paths of the home and cache (issue 8), reproduced for real: an
//! unprivileged "attacker" (uid 65534, via `setpriv`) who can write a directory above the
//! victim's cache swaps the cache for a symlink to a tree of its own, whose entry has the same
//! size as the real one but other content; and a packed binary installed set-user-ID.
//!
//! The victim is the test itself (root): the worst case, and the one where an attacker's program
//! running as the victim matters most.

use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sea_tests::layout::{self, names, pkg_dir};
use sea_tests::proc::{Running, wait_for};
use sea_tests::{Sandbox, is_root, run, set_mode, text};

/// The attacker.
const NOBODY: u32 = 65534;

/// The genuine entry. The attacker's has exactly the same size (the start-up check compares
/// sizes only), see [`evil_entry`].
const GENUINE: &str = "#!/bin/sh\necho \"genuine $VICTIM_PKG_DIR\"\n# some padding to make room\n";

fn evil_entry() -> String {
    let head = "#!/bin/sh\necho PWNED\n#";
    let body = format!("{head}{}\n", "x".repeat(GENUINE.len() - head.len() - 1));
    assert_eq!(body.len(), GENUINE.len());
    body
}

fn victim(sb: &Sandbox) -> PathBuf {
    let app = sb.app("victim").exec("bin/app", GENUINE).file("share/data.txt", "data\n");
    sb.pack(app.path(), "victim", "1.0.0", "bin/app", &["--compression", "zstd:3"])
}

fn needs_root() {
    assert!(is_root(), "these tests need root: they chown to another user and run it with setpriv");
}

/// A command run as the unprivileged user `uid` (the attacker, or a user of an installed tool).
fn as_user(sb: &Sandbox, uid: u32) -> std::process::Command {
    let mut cmd = sb.cmd("setpriv");
    cmd.arg(format!("--reuid={uid}")).arg(format!("--regid={uid}")).arg("--clear-groups");
    cmd
}

fn cp_a(from: &Path, to: &Path) {
    let out = run(std::process::Command::new("cp").arg("-a").arg(from).arg(to));
    assert!(out.status.success(), "cp -a: {}", text(&out).1);
}

/// How the launches of one attack ended.
#[derive(Debug, Default)]
struct Tally {
    pwned: usize,
    genuine: usize,
    refused: usize,
    other: Vec<String>,
}

/// Sets up `shared` (owned by `owner`, `mode`) holding the victim's warm cache `shared/victim`
/// and the attacker's look-alike `shared/evil`; the attacker renames the real cache away and
/// flips `shared/victim` between symlinks to the real and the evil tree, as fast as it can,
/// while the victim launches `launches` times. Returns the tally and the stderr of a refusal.
fn attack(sb: &Sandbox, shared: &Path, owner: u32, mode: u32, launches: usize) -> (Tally, Option<String>) {
    needs_root();
    let bin = victim(sb);
    // The attacker must reach `shared`: the sandbox is 0700 by default.
    set_mode(sb.root(), 0o755);
    // The victim's cache, warm, made where nobody can interfere.
    let scratch = sb.path("scratch");
    let out = run(sb.cmd(&bin).env("VICTIM_CACHE_HOME", &scratch));
    assert!(out.status.success() && text(&out).0.starts_with("genuine"), "set-up run: {}", text(&out).1);
    fs::create_dir_all(shared).expect("mkdir shared");
    cp_a(&scratch, &shared.join("victim"));
    // The attacker's tree: the same files, the entry swapped for one of the same size.
    let evil = shared.join("evil");
    cp_a(&scratch, &evil);
    let entry = pkg_dir(&evil).join(layout::tree_id(&bin)).join("bin/app");
    fs::write(&entry, evil_entry()).expect("write evil entry");
    let out = run(std::process::Command::new("chown").args(["-R", "65534:65534"]).arg(&evil));
    assert!(out.status.success());
    chown(shared, Some(owner), Some(owner)).expect("chown shared");
    set_mode(shared, mode);

    let script = r#"
        chdir $ARGV[0] or die "chdir: $!";
        rename "victim", "real" or die "rename: $!";
        my $n = 0;
        open(my $f, ">", "ready") or die "ready: $!"; close $f;
        until (-e "stop") {
            symlink "evil", "t" or die "symlink: $!"; rename "t", "victim" or die "flip: $!";
            symlink "real", "t" or die "symlink: $!"; rename "t", "victim" or die "flip: $!";
            $n++;
        }
        print "$n\n";
    "#;
    let mut attacker = Running::spawn(
        as_user(sb, NOBODY).args(["perl", "-e", script]).arg(shared).stdout(Stdio::piped()).stderr(Stdio::piped()),
    );
    let started =
        wait_for(Duration::from_millis(10), Duration::from_secs(30), || shared.join("ready").exists().then_some(()));
    assert!(started.is_some(), "the attacker did not start: {:?}", attacker.try_wait());

    let mut tally = Tally::default();
    let mut refusal = None;
    for _ in 0..launches {
        let out = run(sb.cmd(&bin).env("VICTIM_CACHE_HOME", shared.join("victim")));
        let (stdout, stderr) = text(&out);
        if stdout.contains("PWNED") {
            tally.pwned += 1;
        } else if out.status.success() && stdout.starts_with("genuine") {
            tally.genuine += 1;
        } else if out.status.code() == Some(77) {
            tally.refused += 1;
            refusal.get_or_insert(stderr);
        } else {
            tally.other.push(format!("{:?}: {stderr}", out.status));
        }
    }
    fs::write(shared.join("stop"), b"").expect("stop");
    let status = attacker.wait_timeout(Duration::from_secs(30));
    let mut flips = String::new();
    std::io::Read::read_to_string(attacker.stdout.as_mut().expect("stdout"), &mut flips).expect("read");
    let mut errors = String::new();
    std::io::Read::read_to_string(attacker.stderr.as_mut().expect("stderr"), &mut errors).expect("read");
    assert!(status.success(), "the attacker failed: {errors}");
    let flips: u64 = flips.trim().parse().expect("flip count");
    assert!(flips > launches as u64, "the attacker barely ran ({flips} flips)");
    (tally, refusal)
}

fn assert_never_pwned(tally: &Tally, refusal: Option<&str>, ancestor: &Path, launches: usize, why: &str) {
    assert_eq!(tally.pwned, 0, "the attacker's program ran as the victim: {tally:?}");
    assert!(tally.other.is_empty(), "unclear failures: {tally:?}");
    assert_eq!(tally.refused, launches, "every launch refuses the cache: {tally:?}");
    let stderr = refusal.unwrap_or_default();
    assert!(stderr.starts_with("victim: refusing to use the cache directory"), "{stderr}");
    assert!(stderr.contains(&format!("{} {why}", ancestor.display())), "names the ancestor: {stderr}");
    assert!(stderr.contains("VICTIM_CACHE_HOME"), "names the variable: {stderr}");
}

/// The issue's sticky-`/tmp` case: `XDG_CACHE_HOME` in a directory the attacker created first
/// under a sticky, world-writable directory.
#[test]
#[ignore = "needs root: it chowns to another user and runs it with setpriv (scripts/test.sh runs it: CI is root)"]
fn an_attacker_owning_a_parent_of_the_cache_cannot_swap_the_tree() {
    let sb = Sandbox::new();
    let tmp = sb.path("tmp");
    fs::create_dir(&tmp).expect("mkdir");
    set_mode(&tmp, 0o1777);
    let shared = tmp.join("xdg");
    let (tally, refusal) = attack(&sb, &shared, NOBODY, 0o755, 150);
    assert_never_pwned(&tally, refusal.as_deref(), &shared, 150, "is owned by uid 65534");
}

/// The issue's shared-directory case: a cache under a world-writable (not sticky) directory.
#[test]
#[ignore = "needs root: it chowns to another user and runs it with setpriv (scripts/test.sh runs it: CI is root)"]
fn an_attacker_who_can_write_a_parent_of_the_cache_cannot_swap_the_tree() {
    let sb = Sandbox::new();
    let shared = sb.path("shared");
    let (tally, refusal) = attack(&sb, &shared, 0, 0o777, 150);
    assert_never_pwned(&tally, refusal.as_deref(), &shared, 150, "is writable by other users (mode 777)");
}

fn refused(out: &std::process::Output, what: &str, var: &str, needle: &str) {
    let (_, stderr) = text(out);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(stderr.starts_with(&format!("victim: refusing to use the {what} directory")), "{stderr}");
    assert!(stderr.contains(var) && stderr.contains(needle), "expected {var} and {needle:?}: {stderr}");
}

#[test]
#[ignore = "needs root: it chowns to another user and runs it with setpriv (scripts/test.sh runs it: CI is root)"]
fn misconfigured_ancestors_and_symlinked_roots_are_refused() {
    needs_root();
    let sb = Sandbox::new();
    let bin = victim(&sb);
    let launch = |var: &str, value: &Path| run(sb.cmd(&bin).env(var, value));

    // Group-writable (not sticky) ancestor of the cache.
    let group = sb.path("group");
    fs::create_dir(&group).expect("mkdir");
    set_mode(&group, 0o775);
    let cache = group.join("deep/cache");
    refused(
        &launch("VICTIM_CACHE_HOME", &cache),
        "cache",
        "VICTIM_CACHE_HOME",
        &format!("{} is writable", group.display()),
    );
    assert!(names(&group).is_empty(), "nothing created under a refused ancestor");

    // World-writable ancestor of the home.
    let wide = sb.path("wide");
    fs::create_dir(&wide).expect("mkdir");
    set_mode(&wide, 0o777);
    refused(
        &launch("VICTIM_HOME", &wide.join("home")),
        "home",
        "VICTIM_HOME",
        &format!("{} is writable", wide.display()),
    );

    // An ancestor owned by another user, even one that only it can write.
    let theirs = sb.path("theirs");
    fs::create_dir(&theirs).expect("mkdir");
    chown(&theirs, Some(NOBODY), Some(NOBODY)).expect("chown");
    set_mode(&theirs, 0o755);
    let inside = theirs.join("cache");
    fs::create_dir(&inside).expect("mkdir");
    set_mode(&inside, 0o700);
    refused(&launch("VICTIM_CACHE_HOME", &inside), "cache", "VICTIM_CACHE_HOME", "is owned by uid 65534");

    // The root itself a symlink, even to a good directory of ours: the link is not a directory.
    let real = sb.path("real-cache");
    fs::create_dir(&real).expect("mkdir");
    set_mode(&real, 0o700);
    let link = sb.path("link-cache");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    refused(&launch("VICTIM_CACHE_HOME", &link), "cache", "VICTIM_CACHE_HOME", "symbolic link");
    assert!(names(&real).is_empty());

    // A symlink on the way that leads into a world-writable directory is followed and refused.
    let via = sb.path("via");
    std::os::unix::fs::symlink(&wide, &via).expect("symlink");
    refused(
        &launch("VICTIM_CACHE_HOME", &via.join("cache")),
        "cache",
        "VICTIM_CACHE_HOME",
        &format!("{} is writable", wide.display()),
    );

    // In a sticky directory, an entry of another user on the way (here a symlink it planted) is
    // refused: the sticky bit lets its owner swap it.
    let tmp = sb.path("tmp");
    fs::create_dir(&tmp).expect("mkdir");
    set_mode(&tmp, 0o1777);
    let planted = tmp.join("planted");
    std::os::unix::fs::symlink(&real, &planted).expect("symlink");
    std::os::unix::fs::lchown(&planted, Some(NOBODY), Some(NOBODY)).expect("lchown");
    refused(&launch("VICTIM_CACHE_HOME", &planted.join("c")), "cache", "VICTIM_CACHE_HOME", "is owned by uid 65534");
    assert!(names(&real).is_empty());
}

#[test]
#[ignore = "needs root: it chowns to another user and runs it with setpriv (scripts/test.sh runs it: CI is root)"]
fn sticky_shared_directories_and_safe_symlinks_on_the_way_are_accepted() {
    needs_root();
    let sb = Sandbox::new();
    let bin = victim(&sb);
    // XDG_CACHE_HOME=/tmp-like: sticky and world-writable, our own cache inside.
    let tmp = sb.path("tmp");
    fs::create_dir(&tmp).expect("mkdir");
    set_mode(&tmp, 0o1777);
    let out = run(sb.cmd(&bin).env("XDG_CACHE_HOME", &tmp));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let tree = pkg_dir(&tmp.join("victim")).join(layout::tree_id(&bin));
    assert_eq!(stdout, format!("genuine {}\n", tree.display()));
    // A symlink of ours on the way (like macOS's /var): followed, and the pkg dir stays the path
    // the user gave.
    let real = sb.path("real");
    fs::create_dir(&real).expect("mkdir");
    let alias = sb.path("alias");
    std::os::unix::fs::symlink("real", &alias).expect("symlink");
    let out = run(sb.cmd(&bin).env("VICTIM_CACHE_HOME", alias.join("c")));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let tree = pkg_dir(&alias.join("c")).join(layout::tree_id(&bin));
    assert_eq!(stdout, format!("genuine {}\n", tree.display()));
    assert!(real.join("c/pkg").is_dir());
}

/// A packed binary installed set-user-ID or set-group-ID refuses to run: its app would run with
/// the owner's rights, controlled by whoever runs it (environment, cache, arguments).
#[test]
#[ignore = "needs root: it chowns to another user and runs it with setpriv (scripts/test.sh runs it: CI is root)"]
fn a_setuid_or_setgid_packed_binary_refuses_to_run() {
    needs_root();
    let sb = Sandbox::new();
    let bin = victim(&sb);
    set_mode(sb.root(), 0o755);
    let world = sb.path("world");
    fs::create_dir(&world).expect("mkdir");
    set_mode(&world, 0o755);
    let home = world.join("home");
    fs::create_dir(&home).expect("mkdir");
    chown(&home, Some(NOBODY), Some(NOBODY)).expect("chown");
    set_mode(&home, 0o700);
    for (name, owner, group, mode) in
        [("suid", NOBODY, NOBODY, 0o4755), ("sgid", 0, NOBODY, 0o2755), ("plain", NOBODY, NOBODY, 0o755)]
    {
        let copy = world.join(name);
        fs::copy(&bin, &copy).expect("copy");
        chown(&copy, Some(owner), Some(group)).expect("chown");
        set_mode(&copy, mode);
        // Run by another unprivileged user (uid 65533), as a user would run an installed tool.
        let out = run(as_user(&sb, 65533).arg(&copy).env("HOME", &home).env("VICTIM_CACHE_HOME", home.join("c")));
        let (stdout, stderr) = text(&out);
        if name == "plain" {
            // The same binary without the bit runs (as 65533, which cannot use nobody's home).
            assert!(!stderr.contains("set-user-ID"), "{stderr}");
            continue;
        }
        assert_eq!(out.status.code(), Some(77), "{name}: {stderr}");
        assert!(stderr.starts_with(&format!("{name}: refusing to run set-user-ID or set-group-ID")), "{stderr}");
        assert!(stderr.contains("chmod u-s,g-s"), "says how to fix it: {stderr}");
        assert!(stdout.is_empty(), "{name}: the app ran: {stdout}");
        assert!(names(&home).is_empty(), "{name}: nothing was created: {:?}", names(&home));
    }
}
