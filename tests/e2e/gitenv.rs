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
    for bad in ["abc", "-1", "1x"] {
        let (vars, stderr) = show(&sb, &bin, &[("GIT_CONFIG_COUNT", bad), ("GIT_CONFIG_KEY_0", "user.name")]);
        assert_eq!(vars, [format!("GIT_CONFIG_COUNT={bad}"), "GIT_CONFIG_KEY_0=user.name".to_owned()], "{bad:?}");
        assert!(stderr.starts_with("gitenv: warning:") && stderr.contains("GIT_CONFIG_COUNT"), "{bad:?}: {stderr}");
    }
}

#[test]
fn real_git_refuses_an_implicit_bare_repository_under_the_launcher() {
    let sb = Sandbox::new();
    if !sea_tests::require_tool("git") {
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

/// Every spelling of `GIT_CONFIG_COUNT` git 2.47 accepts or refuses (`strtoul` rules: leading
/// blanks and a sign accepted, trailing junk "bogus", above `INT_MAX` "too many"), checked against
/// the real `git`: when git reads the user's pairs without the launcher, under the launcher it
/// reads them all plus `safe.bareRepository=explicit`; when git refuses the count, the launcher
/// leaves the environment alone with a warning and git refuses it the same way.
#[test]
fn every_count_git_reads_gets_the_pair_and_every_count_git_refuses_is_left_alone() {
    let sb = Sandbox::new();
    let Some(git) = ["/usr/local/bin/git", "/usr/bin/git"].into_iter().find(|g| std::path::Path::new(g).exists())
    else {
        panic!("git is required (scripts/test.sh installs it)");
    };
    let script = format!("#!/bin/sh\n{git} config --list\necho \"status=$?\"\n");
    let app = sb.app("gitlist").exec("bin/list", script);
    let bin = sb.pack(app.path(), "gitlist", "1.0.0", "bin/list", &[]);
    // Eight pairs, so that any count up to 8 finds every pair it asks for.
    let pairs: Vec<(String, String)> = (0..8)
        .flat_map(|i| {
            [
                (format!("GIT_CONFIG_KEY_{i}"), format!("sea.test{i}")),
                (format!("GIT_CONFIG_VALUE_{i}"), format!("v{i}")),
            ]
        })
        .collect();
    let env = |cmd: &mut Command, count: &str| {
        cmd.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_COUNT", count);
        cmd.envs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    };
    let spellings = [
        "1",
        " 1",
        "+1",
        "",
        "01",
        "007",
        "  +2",
        "\t3",
        "-0",
        "+0",
        "-18446744073709551615",
        "1x",
        "-1",
        " ",
        "+",
        "1 ",
        "0x1",
        "2147483647",
        "2147483648",
        "99999999999999999999",
        "-99999999999999999999",
    ];
    let mut read_by_git = 0;
    for count in spellings {
        let mut direct = sb.cmd(git);
        env(&mut direct, count);
        let direct = run(direct.args(["config", "--list"]));
        let (direct_out, direct_err) = text(&direct);

        let mut under = sb.cmd(&bin);
        env(&mut under, count);
        let under = run(&mut under);
        let (out, err) = text(&under);
        assert!(under.status.success(), "{count:?}: {err}");
        if direct.status.success() {
            read_by_git += 1;
            assert!(out.ends_with("status=0\n"), "{count:?}: git under the launcher failed: {out}{err}");
            assert!(out.lines().any(|l| l == "safe.barerepository=explicit"), "{count:?}: not injected: {out}");
            for line in direct_out.lines() {
                assert!(out.lines().any(|l| l == line), "{count:?}: the user's {line} is lost: {out}");
            }
            assert!(!err.contains("warning"), "{count:?}: {err}");
        } else {
            assert!(
                !out.ends_with("status=0\n"),
                "{count:?}: git must refuse this count under the launcher too: {out}"
            );
            assert!(!out.contains("safe.barerepository"), "{count:?}: {out}");
            let git_error = direct_err.lines().next().unwrap_or_default();
            assert!(err.contains(git_error), "{count:?}: git's own refusal ({git_error}) expected in: {err}");
            assert!(
                err.starts_with("gitlist: warning:") && err.contains("GIT_CONFIG_COUNT"),
                "{count:?}: the launcher must warn: {err}"
            );
        }
    }
    assert_eq!(
        read_by_git, 11,
        "the spellings git 2.47 reads: 1, ' 1', +1, '', 01, 007, '  +2', '\\t3', -0, +0, -2^64+1"
    );
}
