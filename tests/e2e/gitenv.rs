//! `safe.bareRepository=explicit` for the app through `GIT_CONFIG_*`, and real git obeying it.

use std::process::Command;

use sea_tests::{Sandbox, run, text};

/// Packs an app that prints its `GIT_CONFIG*` variables, sorted.
fn printer(sb: &Sandbox) -> std::path::PathBuf {
    let app = sb.app("gitenv").exec("bin/show", "#!/bin/sh\nenv | grep '^GIT_CONFIG' | sort\n");
    sb.pack(app.path(), "gitenv", "1.0.0", "bin/show", &[])
}

/// Runs the printer with `vars` and returns (stdout lines, stderr).
fn show(sb: &Sandbox, bin: &std::path::Path, vars: &[(&str, &str)]) -> (Vec<String>, String) {
    let mut cmd = sb.cmd(bin);
    cmd.envs(vars.iter().copied());
    let out = run(&mut cmd);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    (stdout.lines().map(str::to_owned).collect(), stderr)
}

#[test]
fn appended_at_index_0_when_absent() {
    let sb = Sandbox::new();
    let bin = printer(&sb);
    let (vars, _) = show(&sb, &bin, &[]);
    assert_eq!(vars, ["GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.bareRepository", "GIT_CONFIG_VALUE_0=explicit"]);
}

#[test]
fn appended_after_the_users_pairs() {
    let sb = Sandbox::new();
    let bin = printer(&sb);
    let (vars, _) =
        show(&sb, &bin, &[("GIT_CONFIG_COUNT", "1"), ("GIT_CONFIG_KEY_0", "user.name"), ("GIT_CONFIG_VALUE_0", "A")]);
    assert_eq!(
        vars,
        [
            "GIT_CONFIG_COUNT=2",
            "GIT_CONFIG_KEY_0=user.name",
            "GIT_CONFIG_KEY_1=safe.bareRepository",
            "GIT_CONFIG_VALUE_0=A",
            "GIT_CONFIG_VALUE_1=explicit"
        ]
    );
}

#[test]
fn a_users_setting_in_any_letter_case_is_kept() {
    let sb = Sandbox::new();
    let bin = printer(&sb);
    let user = [
        ("GIT_CONFIG_COUNT", "2"),
        ("GIT_CONFIG_KEY_0", "user.name"),
        ("GIT_CONFIG_KEY_1", "SAFE.BAREREPOSITORY"),
        ("GIT_CONFIG_VALUE_0", "A"),
        ("GIT_CONFIG_VALUE_1", "all"),
    ];
    let (vars, _) = show(&sb, &bin, &user);
    let expected: Vec<String> = user.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(vars, expected);
}

#[test]
fn a_key_at_or_above_the_count_is_ignored_and_overwritten() {
    let sb = Sandbox::new();
    let bin = printer(&sb);
    let (vars, _) = show(
        &sb,
        &bin,
        &[("GIT_CONFIG_COUNT", "0"), ("GIT_CONFIG_KEY_0", "safe.bareRepository"), ("GIT_CONFIG_VALUE_0", "all")],
    );
    assert_eq!(vars, ["GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.bareRepository", "GIT_CONFIG_VALUE_0=explicit"]);
}

#[test]
fn an_unparsable_count_is_left_alone_with_a_warning() {
    let sb = Sandbox::new();
    let bin = printer(&sb);
    for bad in ["abc", "-1", ""] {
        let (vars, stderr) = show(&sb, &bin, &[("GIT_CONFIG_COUNT", bad), ("GIT_CONFIG_KEY_0", "user.name")]);
        assert_eq!(vars, [format!("GIT_CONFIG_COUNT={bad}"), "GIT_CONFIG_KEY_0=user.name".to_owned()], "{bad:?}");
        assert!(stderr.starts_with("gitenv: warning:") && stderr.contains("GIT_CONFIG_COUNT"), "{bad:?}: {stderr}");
    }
}

#[test]
fn real_git_refuses_an_implicit_bare_repository_under_the_launcher() {
    let sb = Sandbox::new();
    if Command::new("git").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("skipped: git is not installed");
        return;
    }
    let bare = sb.path("evil.git");
    let git = |cmd: &mut Command| {
        // No system config (it could set safe.bareRepository); HOME is the sandbox's, so no global.
        cmd.env("GIT_CONFIG_NOSYSTEM", "1");
        run(cmd)
    };
    let init = git(sb.cmd("git").args(["init", "--bare", "-q"]).arg(&bare));
    assert!(init.status.success(), "git init --bare: {}", text(&init).1);

    // Without the launcher, git uses the bare repository it finds.
    let direct = git(sb.cmd("git").arg("-C").arg(&bare).args(["rev-parse", "--git-dir"]));
    assert!(direct.status.success(), "direct git should accept the bare repo: {}", text(&direct).1);

    let app = sb.app("gitrun").exec("bin/gitrun", "#!/bin/sh\nexec git -C \"$1\" rev-parse --git-dir\n");
    let bin = sb.pack(app.path(), "gitrun", "1.0.0", "bin/gitrun", &[]);
    let under = git(sb.cmd(&bin).arg(&bare));
    let (_, stderr) = text(&under);
    assert!(!under.status.success(), "git under the launcher must refuse the implicit bare repository");
    assert!(stderr.contains("bare"), "{stderr}");
}
