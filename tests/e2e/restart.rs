//! Exit code 75: restart, with and without a restart file; a malformed file; the restart cap.

use std::path::{Path, PathBuf};

use sea_tests::{Sandbox, lines, run, text};

/// An app that appends `args | cwd | $FOO` to `$SEA_T_DIR/runs` on every run, then, on its first
/// run (`SEA_T_MODE=once`) or always (`always`), writes `$SEA_T_REQUEST` (if set) to its restart
/// file and exits 75. Otherwise it notes whether the restart file still exists and exits 0.
const RESTARTER: &str = r#"#!/bin/sh
d="$SEA_T_DIR"
echo "$* | $(pwd -P) | ${FOO-unset}" >> "$d/runs"
n=$(wc -l < "$d/runs")
if [ "$SEA_T_MODE" = always ] || [ "$n" -lt 2 ]; then
  [ -n "${SEA_T_REQUEST+set}" ] && printf '%s' "$SEA_T_REQUEST" > "$RS_RESTART_FILE"
  exit 75
fi
[ -e "$RS_RESTART_FILE" ] && echo "restart file left behind" >> "$d/runs"
exit 0
"#;

struct Restarter {
    sb: Sandbox,
    bin: PathBuf,
    dir: PathBuf,
}

impl Restarter {
    fn new() -> Restarter {
        let sb = Sandbox::new();
        let app = sb.app("rs").exec("bin/rs", RESTARTER);
        let bin = sb.pack(app.path(), "rs", "1.0.0", "bin/rs", &[]);
        let dir = sb.path("t");
        std::fs::create_dir(&dir).expect("create report dir");
        Restarter { sb, bin, dir }
    }

    /// Runs the packed app with `args` in `mode`, optionally with a restart request; returns its
    /// exit code, stderr and the runs it logged.
    fn run(&self, mode: &str, request: Option<&str>, args: &[&str]) -> (Option<i32>, String, Vec<String>) {
        let mut cmd = self.sb.cmd(&self.bin);
        cmd.args(args).env("SEA_T_DIR", &self.dir).env("SEA_T_MODE", mode);
        if let Some(request) = request {
            cmd.env("SEA_T_REQUEST", request);
        }
        let out = run(&mut cmd);
        (out.status.code(), text(&out).1, lines(&self.dir.join("runs")))
    }

    fn root(&self) -> PathBuf {
        canonical(self.sb.root())
    }

    /// No restart file may outlive the launcher.
    fn assert_no_restart_files(&self) {
        let dir = self.sb.app_home("rs").join("restart");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("restart dir").collect();
        assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().expect("canonicalize")
}

#[test]
fn exit_75_without_a_file_restarts_with_the_same_arguments() {
    let t = Restarter::new();
    let (code, stderr, runs) = t.run("once", None, &["a", "b c"]);
    assert_eq!(code, Some(0), "{stderr}");
    let root = t.root().display().to_string();
    assert_eq!(runs, [format!("a b c | {root} | unset"), format!("a b c | {root} | unset")]);
    assert_eq!(stderr, "");
}

#[test]
fn a_restart_file_sets_args_cwd_and_env_and_is_deleted() {
    let t = Restarter::new();
    let wd = t.sb.path("wd");
    std::fs::create_dir(&wd).expect("mkdir wd");
    let request = serde_json::json!({
        "args": ["x", "y z"],
        "cwd": wd,
        "env": {"FOO": "bar"},
        "version": "1.0.0",
    })
    .to_string();
    let (code, stderr, runs) = t.run("once", Some(&request), &["a"]);
    assert_eq!(code, Some(0), "{stderr}");
    let root = t.root().display().to_string();
    let wd = canonical(&wd).display().to_string();
    assert_eq!(runs, [format!("a | {root} | unset"), format!("x y z | {wd} | bar")]);
    t.assert_no_restart_files();
}

#[test]
fn a_malformed_restart_file_is_reported_and_ignored() {
    let t = Restarter::new();
    let (code, stderr, runs) = t.run("once", Some("{\"args\": [\"x\""), &["a"]);
    assert_eq!(code, Some(0), "{stderr}");
    let root = t.root().display().to_string();
    assert_eq!(runs, [format!("a | {root} | unset"), format!("a | {root} | unset")]);
    assert!(stderr.starts_with("rs: ") && stderr.contains("malformed"), "{stderr}");
    assert!(stderr.contains("restart"), "{stderr}");
    t.assert_no_restart_files();
}

#[test]
fn more_than_10_restarts_within_60_s_stop_with_75() {
    let t = Restarter::new();
    let (code, stderr, runs) = t.run("always", Some("{\"args\": [\"again\"]}"), &["first"]);
    assert_eq!(code, Some(75), "{stderr}");
    // The first run plus 10 restarts; the 11th request to restart stops the loop.
    assert_eq!(runs.len(), 11, "{runs:?}");
    assert!(runs[0].starts_with("first |") && runs[10].starts_with("again |"), "{runs:?}");
    assert!(stderr.starts_with("rs: ") && stderr.contains("restart") && stderr.contains("60"), "{stderr}");
    t.assert_no_restart_files();
}
