//! A real Node CLI end to end: `examples/node-cli` packed by its own script with a pinned Node
//! runtime from the npm registry (`--entry runtime/bin/node --arg {pkg_dir}/app/main.js`), run
//! from a directory that holds a stranger's `app/main.js`, then hung up from a terminal whose
//! session the launcher leads (`ssh -t host app`).
//!
//! The runtime tarball is cached (`$SEA_FIXTURES`, default `~/.cache/sea-test-fixtures`) and
//! checked against its pinned sha512 by the script, so only the first run needs the network. When
//! the registry cannot be reached and nothing is cached, the test prints a `SKIP` line, and under
//! `CI=true` it fails instead, unless `SEA_ALLOW_SKIP=1`: in CI this test must really run.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sea_tests::proc::{Running, alive, wait_some};
use sea_tests::{Pty, Sandbox, bins, default_signals, lines, run, text};

/// Generous: a 120 MB runtime is packed and extracted by debug builds on two shared cores.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The Node version `examples/node-cli/pack.sh` pins.
const NODE_VERSION: &str = "v22.23.5";

/// Reports that the test cannot run; in CI (`CI=true`) that is a failure unless `SEA_ALLOW_SKIP=1`.
fn skip(reason: &str) {
    let set =
        |var: &str, yes: &[&str]| std::env::var(var).is_ok_and(|v| yes.contains(&v.to_ascii_lowercase().as_str()));
    if set("CI", &["true", "1"]) && !set("SEA_ALLOW_SKIP", &["1"]) {
        panic!("nodecli cannot run: {reason}. In CI it must; set SEA_ALLOW_SKIP=1 to let it skip");
    }
    eprintln!("SKIP nodecli: {reason}");
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/node-cli/pack.sh")
}

/// Runs `pack.sh build <out>` with the sea-pack under test; `None` (after [`skip`]) when the
/// registry cannot be reached.
fn pack(sb: &Sandbox) -> Option<PathBuf> {
    let out = sb.path("bin/node-cli");
    std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir bin");
    // The developer's environment (npm's proxy and registry settings, HOME for the fixture cache),
    // not the sandbox's: fetching the runtime is set-up, not what is tested.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(script()).arg("build").arg(&out).env("SEA_PACK", &bins().pack);
    let output = run(&mut cmd);
    let (stdout, stderr) = text(&output);
    match output.status.code() {
        Some(0) => Some(out),
        Some(3) => {
            let why = stderr.trim().lines().last().unwrap_or_default();
            skip(&format!("the npm registry cannot be reached to fetch the Node runtime ({why})"));
            None
        }
        _ => panic!("pack.sh build failed ({}):\n{stdout}\n{stderr}", output.status),
    }
}

/// Starts `node-cli <mode> <dir>` as the leader of a new session on a pty, waits for it to be
/// ready, hangs the terminal up, and returns the launcher's exit status and how long it took.
fn hang_up(sb: &Sandbox, bin: &Path, mode: &str) -> (std::process::ExitStatus, Duration, i32, PathBuf) {
    let dir = sb.path(mode);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let pty = Pty::open();
    let mut cmd = sb.cmd(bin);
    cmd.arg(mode).arg(&dir);
    default_signals(&mut cmd);
    pty.attach(&mut cmd);
    let mut launcher = Running::spawn(&mut cmd);
    let ready = dir.join("ready");
    let app = wait_some(TIMEOUT, || {
        if let Ok(Some(status)) = launcher.try_wait() {
            panic!("node-cli {mode} exited before it was ready: {status}");
        }
        std::fs::read_to_string(&ready).ok().and_then(|s| s.trim().parse::<i32>().ok())
    })
    .expect("node-cli did not become ready");
    let hung_up = Instant::now();
    drop(pty); // the master closes: the terminal hangs up
    let status = launcher.wait_timeout(Duration::from_secs(30));
    (status, hung_up.elapsed(), app, dir)
}

#[test]
fn node_cli_with_a_bundled_runtime_runs_its_own_tree_and_ends_on_a_hang_up() {
    let sb = Sandbox::new();
    let Some(bin) = pack(&sb) else { return };

    // {pkg_dir}: the script, the helper it spawns and the data file it reads are the tree's,
    // whatever the working directory holds.
    let cwd = sb.path("stranger");
    std::fs::create_dir_all(cwd.join("app")).expect("mkdir");
    std::fs::write(cwd.join("app/main.js"), "console.log('STRANGER');\n").expect("write");
    let started = Instant::now();
    let out = run(sb.cmd(&bin).current_dir(&cwd).args(["greet", "e2e"]));
    let cold = started.elapsed();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let tree = sb.cache("node-cli").join("pkg");
    assert!(!stdout.contains("STRANGER"), "ran the working directory's app/main.js: {stdout}");
    assert!(stdout.contains("Hello from the packed tree, e2e!\n"), "{stdout}");
    assert!(stdout.contains("helper: helper.js says hi to e2e\n"), "{stdout}");
    let runtime = stdout.lines().find_map(|l| l.strip_prefix("runtime: ")).expect("runtime line");
    assert!(runtime.starts_with(&format!("node {NODE_VERSION} at {}", tree.display())), "{runtime}");
    assert!(runtime.ends_with("/runtime/bin/node"), "{runtime}");
    let started = Instant::now();
    let out = run(sb.cmd(&bin).current_dir(&cwd).args(["greet", "again"]));
    let warm = started.elapsed();
    assert!(out.status.success(), "{}", text(&out).1);
    eprintln!("nodecli: greet took {cold:?} cold (extraction), {warm:?} warm");

    // The hang-up of a terminal whose session the launcher leads reaches the app once; the app
    // exits 128+1 and the launcher with it.
    let (status, took, app, dir) = hang_up(&sb, &bin, "wait");
    assert_eq!(status.code(), Some(129), "launcher: {status}");
    assert_eq!(lines(&dir.join("log")), ["SIGHUP"], "the app must see the hang-up exactly once");
    assert!(!alive(app), "the app still runs after the hang-up");
    eprintln!("nodecli: exited {took:?} after the hang-up (the app waits 0.5 s for a duplicate)");

    // An app that keeps SIGHUP's default action dies of it, and the launcher dies of the same.
    let (status, took, app, _) = hang_up(&sb, &bin, "idle");
    assert_eq!(status.signal(), Some(libc::SIGHUP), "launcher: {status}");
    assert!(!alive(app), "the app still runs after the hang-up");
    eprintln!("nodecli: died of SIGHUP {took:?} after the hang-up");
}
