//! `sea-pack build / inspect / verify / extract / keygen`, and the stub running what it packed.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sea_tests::faults::compressible;
use sea_tests::{Sandbox, assert_clean_error, bins, run, set_mode, text, tree_snapshot};

#[test]
fn packed_binary_runs_its_entry() {
    let sb = Sandbox::new();
    let app = sb.app("hello").exec("bin/hello", "#!/bin/sh\necho \"hello $*\"\n");
    let bin = sb.pack(app.path(), "hello", "1.0.0", "bin/hello", &[]);
    let out = run(sb.cmd(&bin).args(["a", "b"]));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "hello a b\n");
}

/// `build <input> --name N --version V --entry E <extra> -o <out>`, not asserting success.
fn build(sb: &Sandbox, input: &Path, entry: &str, extra: &[&str], out: &Path) -> Output {
    run(sb
        .sea_pack()
        .arg("build")
        .arg(input)
        .args(["--name", "demo", "--version", "1.0.0", "--entry", entry])
        .args(extra)
        .arg("-o")
        .arg(out))
}

fn build_ok(sb: &Sandbox, input: &Path, entry: &str, extra: &[&str], out: &Path) {
    let output = build(sb, input, entry, extra, out);
    assert!(output.status.success(), "build failed: {}", text(&output).1);
}

fn sea_pack(sb: &Sandbox, args: &[&str], path: &Path) -> Output {
    run(sb.sea_pack().args(args).arg(path))
}

fn extract(sb: &Sandbox, binary: &Path, dest: &Path) -> Output {
    run(sb.sea_pack().arg("extract").arg(binary).arg(dest))
}

/// A tree with nested directories, an executable, data, a link inside and an empty directory.
fn sample_app(sb: &Sandbox, dir: &str) -> PathBuf {
    let app = sb
        .app(dir)
        .exec("bin/demo", "#!/bin/sh\necho \"demo $*\"\n")
        .exec("bin/helper", "#!/bin/sh\nexit 0\n")
        .file("lib/data.txt", "some data\n".repeat(1000))
        .file("lib/deep/er/file.json", "{}\n")
        .file("README", "read me\n");
    let root = app.path().to_owned();
    std::os::unix::fs::symlink("../lib/data.txt", root.join("bin/data")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    set_mode(&root.join("lib/data.txt"), 0o600);
    root
}

#[test]
fn round_trip_keeps_files_executable_bits_and_symlinks() {
    let sb = Sandbox::new();
    let app = sample_app(&sb, "demo");
    let bin = sb.path("demo.bin");
    build_ok(&sb, &app, "./bin/demo", &["--arg", "--fixed"], &bin);
    let dest = sb.path("out");
    let output = extract(&sb, &bin, &dest);
    assert!(output.status.success(), "{}", text(&output).1);
    assert_eq!(tree_snapshot(&dest), tree_snapshot(&app));
    let json = sea_pack(&sb, &["inspect", "--json"], &bin);
    assert!(json.status.success(), "{}", text(&json).1);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("inspect --json is JSON");
    assert_eq!(value["manifest"]["name"], "demo");
    assert_eq!(value["manifest"]["entry"], "bin/demo", "the entry is normalised");
    assert_eq!(value["manifest"]["args"], serde_json::json!(["--fixed"]));
    assert_eq!(value["manifest"]["platform"], sea_payload::platform::host().expect("host"));
    assert_eq!(value["signature"]["status"], "unsigned");
    let human = sea_pack(&sb, &["inspect"], &bin);
    let (stdout, _) = text(&human);
    for needle in ["demo", "1.0.0", "bin/demo --fixed", "zstd:19", "payload", "trailer"] {
        assert!(stdout.contains(needle), "inspect output lacks {needle}: {stdout}");
    }
}

#[test]
fn fixed_args_may_start_with_a_dash_and_reach_the_entry() {
    let sb = Sandbox::new();
    let app = sb.app("args").exec("run", "#!/bin/sh\nprintf '%s|' \"$@\"\n");
    let bin = sb.pack(app.path(), "args", "1.0.0", "run", &["--arg", "--first", "--arg", "two words"]);
    let out = run(sb.cmd(&bin).arg("user"));
    assert_eq!(text(&out).0, "--first|two words|user|");
}

#[test]
fn rebuilds_are_byte_identical() {
    let sb = Sandbox::new();
    let app = sample_app(&sb, "demo");
    for compression in ["zstd:19", "zstd:3", "gzip:6"] {
        let a = sb.path(&format!("a-{compression}"));
        let b = sb.path(&format!("b-{compression}"));
        build_ok(&sb, &app, "bin/demo", &["--compression", compression], &a);
        // Different mtimes and a different (but equivalent) spelling must not matter.
        let now = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        fs::File::options().write(true).open(app.join("README")).unwrap().set_modified(now).unwrap();
        build_ok(&sb, &app, "./bin//demo", &["--compression", compression], &b);
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{compression}: rebuild differs");
    }
    assert_ne!(fs::read(sb.path("a-zstd:3")).unwrap(), fs::read(sb.path("a-gzip:6")).unwrap());
}

#[test]
fn npm_style_tgz_with_strip_components() {
    let sb = Sandbox::new();
    let pkg = sb
        .app("npm/package")
        .file("package.json", "{\"name\":\"demo\",\"bin\":\"bin/cli.js\"}\n")
        .exec("bin/cli.js", "#!/bin/sh\necho \"cli $*\"\n")
        .file("lib/index.js", "module.exports = 1;\n");
    let tgz = sb.path("demo-1.0.0.tgz");
    let status =
        sb.cmd("tar").arg("-czf").arg(&tgz).arg("-C").arg(sb.path("apps/npm")).arg("package").status().unwrap();
    assert!(status.success(), "system tar -czf failed");
    let from_tgz = sb.path("from-tgz");
    build_ok(&sb, &tgz, "bin/cli.js", &["--strip-components", "1"], &from_tgz);
    let dest = sb.path("out");
    assert!(extract(&sb, &from_tgz, &dest).status.success());
    assert_eq!(tree_snapshot(&dest), tree_snapshot(pkg.path()));
    // The archive and the directory it came from pack to the same bytes.
    let from_dir = sb.path("from-dir");
    build_ok(&sb, pkg.path(), "bin/cli.js", &[], &from_dir);
    assert_eq!(fs::read(&from_tgz).unwrap(), fs::read(&from_dir).unwrap());
    // Without --strip-components the entry is under package/.
    let err = assert_clean_error(&build(&sb, &tgz, "bin/cli.js", &[], &sb.path("x")), "unstripped");
    assert!(err.contains("bin/cli.js") && err.contains("not in the input"), "{err}");
    assert!(err.contains("add --strip-components 1"), "no hint: {err}");
    // The packed npm app runs.
    let bin = sb.path("runnable");
    let real = build(&sb, &tgz, "bin/cli.js", &["--strip-components", "1"], &bin);
    assert!(real.status.success());
    assert_eq!(text(&run(sb.cmd(&bin).arg("x"))).0, "cli x\n");
}

#[test]
fn plain_tar_and_tar_zst_inputs() {
    let sb = Sandbox::new();
    let app = sample_app(&sb, "demo");
    let tar = sb.path("demo.tar");
    let status = sb.cmd("tar").arg("-cf").arg(&tar).arg("-C").arg(&app).arg(".").status().unwrap();
    assert!(status.success());
    let from_dir = sb.path("from-dir");
    build_ok(&sb, &app, "bin/demo", &[], &from_dir);
    let from_tar = sb.path("from-tar");
    build_ok(&sb, &tar, "bin/demo", &[], &from_tar);
    assert_eq!(fs::read(&from_tar).unwrap(), fs::read(&from_dir).unwrap(), "tar input differs from dir input");
    if which("zstd") {
        // Named without an extension: recognised by its magic bytes.
        let zst = sb.path("demo-archive");
        let status = sb.cmd("zstd").args(["-q", "-19"]).arg(&tar).arg("-o").arg(&zst).status().unwrap();
        assert!(status.success());
        let from_zst = sb.path("from-zst");
        build_ok(&sb, &zst, "bin/demo", &[], &from_zst);
        assert_eq!(fs::read(&from_zst).unwrap(), fs::read(&from_dir).unwrap(), "tar.zst input differs");
    } else {
        eprintln!("note: zstd is not installed; .tar.zst input not tested");
    }
    let junk = sb.path("junk.zip");
    fs::write(&junk, b"PK\x03\x04 not really").unwrap();
    let err = assert_clean_error(&build(&sb, &junk, "bin/demo", &[], &sb.path("x")), "zip input");
    assert!(err.contains("zip"), "{err}");
}

fn which(program: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().is_ok_and(|o| o.status.success())
}

/// Raw tar bytes, headers written by hand so that hostile entries can be made.
struct RawTar(Vec<u8>);

impl RawTar {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn entry(mut self, path: &str, kind: u8, mode: u32, data: &[u8], link: &str) -> Self {
        let mut h = [0u8; 512];
        h[..path.len()].copy_from_slice(path.as_bytes());
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 0);
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        octal(&mut h[148..155], sum);
        self.0.extend_from_slice(&h);
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    fn file(self, path: &str, mode: u32, data: &[u8]) -> Self {
        self.entry(path, b'0', mode, data, "")
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

/// Zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    field[..width].copy_from_slice(digits.as_bytes());
    field[width] = 0;
}

#[test]
fn hostile_archives_are_refused_at_build() {
    let sb = Sandbox::new();
    let ok = |t: RawTar| t.file("bin/app", 0o755, b"#!/bin/sh\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("parent-dir", ok(RawTar::new()).file("../evil", 0o644, b"x").finish(), "../evil"),
        ("nested-parent", ok(RawTar::new()).file("a/../../evil", 0o644, b"x").finish(), "a/../../evil"),
        ("absolute", ok(RawTar::new()).file("/tmp/sea-evil", 0o644, b"x").finish(), "/tmp/sea-evil"),
        ("symlink-abs", ok(RawTar::new()).entry("etc", b'2', 0o777, b"", "/etc").finish(), "etc"),
        ("symlink-up", ok(RawTar::new()).entry("up", b'2', 0o777, b"", "../../..").finish(), "up"),
        ("hardlink-abs", ok(RawTar::new()).entry("pw", b'1', 0o644, b"", "/etc/passwd").finish(), "pw"),
        ("hardlink-up", ok(RawTar::new()).entry("h", b'1', 0o644, b"", "../outside").finish(), "h"),
        ("char-device", ok(RawTar::new()).entry("tty", b'3', 0o644, b"", "").finish(), "tty"),
        ("block-device", ok(RawTar::new()).entry("sda", b'4', 0o644, b"", "").finish(), "sda"),
        ("fifo", ok(RawTar::new()).entry("pipe", b'6', 0o644, b"", "").finish(), "pipe"),
        ("setuid", ok(RawTar::new()).file("bin/suid", 0o4755, b"x").finish(), "bin/suid"),
        (
            "through-link",
            ok(RawTar::new()).entry("l", b'2', 0o777, b"", "bin").file("l/x", 0o644, b"x").finish(),
            "l/x",
        ),
    ];
    for (name, bytes, entry) in cases {
        let archive = sb.path(&format!("{name}.tar"));
        fs::write(&archive, &bytes).unwrap();
        let out = sb.path(&format!("{name}.bin"));
        let err = assert_clean_error(&build(&sb, &archive, "bin/app", &[], &out), name);
        assert!(err.contains(&format!("'{entry}'")), "{name}: the error does not name the entry: {err}");
        assert!(!out.exists(), "{name}: output written");
        // The same archive gzip-compressed is refused the same way.
        let status = sb.cmd("gzip").arg("-kf").arg(&archive).status().unwrap();
        assert!(status.success());
        let gz = sb.path(&format!("{name}.tar.gz"));
        let err = assert_clean_error(&build(&sb, &gz, "bin/app", &[], &out), name);
        assert!(err.contains(&format!("'{entry}'")), "{name} (gzip): {err}");
    }
    assert!(!sb.path("evil").exists() && !Path::new("/tmp/sea-evil").exists(), "a hostile entry was written");
}

#[test]
fn hostile_directory_inputs_are_refused() {
    let sb = Sandbox::new();
    let with_link = sb.app("link").exec("bin/app", "#!/bin/sh\n");
    std::os::unix::fs::symlink("/etc", with_link.path().join("etc")).unwrap();
    let err = assert_clean_error(&build(&sb, with_link.path(), "bin/app", &[], &sb.path("a")), "symlink to /etc");
    assert!(err.contains("etc") && err.contains("absolute"), "{err}");
    let up = sb.app("up").exec("bin/app", "#!/bin/sh\n");
    std::os::unix::fs::symlink("../../..", up.path().join("bin/up")).unwrap();
    let err = assert_clean_error(&build(&sb, up.path(), "bin/app", &[], &sb.path("b")), "symlink up");
    assert!(err.contains("bin/up") && err.contains("outside"), "{err}");
    let fifo = sb.app("fifo").exec("bin/app", "#!/bin/sh\n");
    let status = sb.cmd("mkfifo").arg(fifo.path().join("pipe")).status().unwrap();
    assert!(status.success());
    let err = assert_clean_error(&build(&sb, fifo.path(), "bin/app", &[], &sb.path("c")), "fifo");
    assert!(err.contains("pipe") && err.contains("FIFO"), "{err}");
    for out in ["a", "b", "c"] {
        assert!(!sb.path(out).exists());
    }
}

#[test]
fn bad_flags_get_clear_errors() {
    let sb = Sandbox::new();
    let app = sb.app("demo").exec("bin/demo", "#!/bin/sh\n").file("data.txt", "x");
    let dir = app.path();
    let out = sb.path("out.bin");
    let expect = |extra: &[&str], entry: &str, input: &Path, out: &Path, needle: &str| {
        let what = format!("{extra:?} {entry}");
        let err = assert_clean_error(&build(&sb, input, entry, extra, out), &what);
        assert!(err.contains(needle), "{what}: expected '{needle}' in: {err}");
    };
    expect(&[], "bin/missing", dir, &out, "'bin/missing' is not in the input");
    expect(&[], "data.txt", dir, &out, "not executable");
    expect(&[], "bin", dir, &out, "is a directory");
    expect(&[], "../x", dir, &out, "relative path");
    expect(&["--compression", "xz"], "bin/demo", dir, &out, "invalid compression 'xz'");
    expect(&["--platform", "plan9-mips"], "bin/demo", dir, &out, "not a known platform");
    expect(&["--feed", "ftp://x"], "bin/demo", dir, &out, "http");
    expect(&["--public-key", "nonsense"], "bin/demo", dir, &out, "public key");
    expect(&["--min-launcher", "99.0.0"], "bin/demo", dir, &out, "newer than the stub");
    expect(&["--strip-components", "1"], "bin/demo", dir, &out, "archive inputs only");
    expect(&[], "bin/demo", dir, &dir.join("inside.bin"), "inside the input directory");
    expect(&[], "bin/demo", dir, dir, "is a directory");
    expect(&[], "bin/demo", &sb.path("nowhere"), &out, "nowhere");
    // A copy, so that a bug here could never overwrite the stub the other tests use.
    let launcher = sb.path("sea-launcher-copy");
    fs::copy(&bins().launcher, &launcher).unwrap();
    expect(&["--launcher", launcher.to_str().unwrap()], "bin/demo", dir, &launcher, "is the launcher stub");
    let not_stub = sb.path("not-a-stub");
    fs::write(&not_stub, "#!/bin/sh\n").unwrap();
    expect(&["--launcher", not_stub.to_str().unwrap()], "bin/demo", dir, &out, "not a sea-launcher stub");
    let packed = sb.pack(dir, "demo", "1.0.0", "bin/demo", &[]);
    expect(&["--launcher", packed.to_str().unwrap()], "bin/demo", dir, &out, "already carries a payload");
    let tar = sb.path("app.tar");
    assert!(sb.cmd("tar").arg("-cf").arg(&tar).arg("-C").arg(dir).arg(".").status().unwrap().success());
    expect(&[], "bin/demo", &tar, &tar, "is the input archive");
    assert!(!out.exists());
    let with = |args: &[&str]| run(sb.sea_pack().arg("build").arg(dir).args(args).arg("-o").arg(&out));
    let err = assert_clean_error(&with(&["--name", "demo", "--version", "1.0", "--entry", "bin/demo"]), "version");
    assert!(err.contains("'1.0' is not a semantic version"), "{err}");
    let err = assert_clean_error(&with(&["--name", "a/b", "--version", "1.0.0", "--entry", "bin/demo"]), "name");
    assert!(err.contains("invalid --name") && err.contains("a/b"), "{err}");
    let err = assert_clean_error(&with(&["--name", "", "--version", "1.0.0", "--entry", "bin/demo"]), "empty name");
    assert!(err.contains("invalid --name"), "{err}");
}

#[test]
fn help_explains_every_flag_with_examples() {
    let sb = Sandbox::new();
    let out = run(sb.sea_pack().args(["build", "--help"]));
    let (stdout, _) = text(&out);
    for flag in [
        "--name",
        "--version",
        "--entry",
        "--arg",
        "--launcher",
        "--compression",
        "--platform",
        "--feed",
        "--public-key",
        "--sign-key",
        "--strip-components",
        "--min-launcher",
        "--output",
        "Examples:",
    ] {
        assert!(stdout.contains(flag), "build --help lacks {flag}");
    }
    for cmd in ["inspect", "verify", "extract", "keygen", "release"] {
        let out = run(sb.sea_pack().args([cmd, "--help"]));
        assert!(out.status.success() && text(&out).0.contains("Example"), "{cmd} --help lacks an example");
    }
}

/// Where each section lies, from `inspect --json`.
fn layout(sb: &Sandbox, bin: &Path) -> Vec<(String, u64, u64)> {
    let out = sea_pack(sb, &["inspect", "--json"], bin);
    assert!(out.status.success(), "{}", text(&out).1);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    ["stub", "payload", "index", "manifest", "signature", "trailer"]
        .iter()
        .map(|s| {
            let section = &value["layout"][s];
            (s.to_string(), section["offset"].as_u64().unwrap(), section["length"].as_u64().unwrap())
        })
        .collect()
}

/// Offsets spread over a section: both ends and `n` in between.
fn spread(offset: u64, len: u64, n: u64) -> Vec<u64> {
    if len == 0 {
        return Vec::new();
    }
    let mut v: Vec<u64> = (0..n).map(|i| offset + i * len / n).collect();
    v.push(offset + len - 1);
    v.dedup();
    v
}

/// Inspect, verify and extract of `bad` all fail cleanly, and extract leaves nothing.
fn assert_all_fail(sb: &Sandbox, bad: &Path, what: &str) {
    for cmd in ["inspect", "verify"] {
        assert_clean_error(&sea_pack(sb, &[cmd], bad), &format!("{cmd} of {what}"));
    }
    let dest = sb.path("extracted");
    assert_clean_error(&extract(sb, bad, &dest), &format!("extract of {what}"));
    assert!(!dest.exists(), "extract of {what} left {}", dest.display());
    let leftovers: Vec<_> = fs::read_dir(sb.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".sea-extract"))
        .collect();
    assert!(leftovers.is_empty(), "extract of {what} left {leftovers:?}");
}

/// A small signed binary on a fake stub, so that corrupting copies of it is cheap.
fn signed_small_binary(sb: &Sandbox) -> PathBuf {
    let app = sample_app(sb, "demo");
    let (key, public) = sb.keygen("k");
    let bin = sb.path("good.bin");
    let stub = sb.fake_stub("0.3.0");
    let extra = ["--launcher", stub.to_str().unwrap(), "--sign-key", key.to_str().unwrap(), "--public-key", &public];
    build_ok(sb, &app, "bin/demo", &extra, &bin);
    assert!(sea_pack(sb, &["verify"], &bin).status.success());
    bin
}

#[test]
fn flipped_bytes_anywhere_after_the_stub_are_clean_errors() {
    let sb = Sandbox::new();
    let bin = signed_small_binary(&sb);
    let good = fs::read(&bin).unwrap();
    let sections = layout(&sb, &bin);
    let bad = sb.path("bad.bin");
    let sig = sections.iter().find(|s| s.0 == "signature").map(|s| (s.1, s.2)).unwrap();
    // The signature's first line is minisign's *untrusted* comment, which nothing signs.
    let untrusted_end = sig.0 + good[sig.0 as usize..].iter().position(|&b| b == b'\n').unwrap() as u64;
    let mut tried = 0;
    for (name, offset, len) in sections.iter().filter(|s| s.0 != "stub") {
        for at in spread(*offset, *len, 12) {
            if (sig.0..untrusted_end).contains(&at) {
                continue;
            }
            let mut bytes = good.clone();
            bytes[at as usize] ^= 0x20;
            fs::write(&bad, &bytes).unwrap();
            assert_all_fail(&sb, &bad, &format!("flip in {name} at {at}"));
            tried += 1;
        }
    }
    assert!(tried >= 50, "only {tried} offsets tried");
}

#[test]
fn truncated_binaries_are_clean_errors() {
    let sb = Sandbox::new();
    let bin = signed_small_binary(&sb);
    let good = fs::read(&bin).unwrap();
    let bad = sb.path("bad.bin");
    let len = good.len() as u64;
    let mut cuts: Vec<u64> = vec![0, 1, 127, 128, len - 129, len - 128, len - 8, len - 1];
    for (_, offset, section_len) in layout(&sb, &bin) {
        cuts.extend(spread(offset, section_len, 4));
    }
    cuts.retain(|&c| c < len);
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        fs::write(&bad, &good[..cut as usize]).unwrap();
        assert_all_fail(&sb, &bad, &format!("truncation at {cut} of {len}"));
    }
}

#[test]
fn the_bare_stub_is_not_a_packed_binary() {
    let sb = Sandbox::new();
    for cmd in ["inspect", "verify"] {
        let err = assert_clean_error(&sea_pack(&sb, &[cmd], &bins().launcher), cmd);
        assert_eq!(err.matches("not a sea packed executable").count(), 1, "said once: {err}");
    }
    assert_all_fail(&sb, &bins().launcher, "the bare stub");
}

#[test]
fn extract_wants_a_new_or_empty_directory() {
    let sb = Sandbox::new();
    let app = sample_app(&sb, "demo");
    let bin = sb.path("demo.bin");
    build_ok(&sb, &app, "bin/demo", &[], &bin);
    let full = sb.path("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("keep"), "mine").unwrap();
    let err = assert_clean_error(&extract(&sb, &bin, &full), "non-empty dir");
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(fs::read_to_string(full.join("keep")).unwrap(), "mine");
    let empty = sb.path("empty");
    fs::create_dir(&empty).unwrap();
    assert!(extract(&sb, &bin, &empty).status.success());
    assert_eq!(tree_snapshot(&empty), tree_snapshot(&app));
    let err = assert_clean_error(&extract(&sb, &bin, &sb.path("no/such/parent")), "missing parent");
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn signed_binaries_verify_and_other_keys_fail() {
    let sb = Sandbox::new();
    let app = sample_app(&sb, "demo");
    let (key, public) = sb.keygen("release");
    let (other_key, other_public) = sb.keygen("other");
    let key_s = key.to_str().unwrap();
    let pub_file = format!("{key_s}.pub");
    let signed = sb.path("signed.bin");
    build_ok(&sb, &app, "bin/demo", &["--sign-key", key_s, "--public-key", &pub_file], &signed);
    let out = sea_pack(&sb, &["verify"], &signed);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("signature by the baked-in public key") && stdout.contains(&public), "{stdout}");
    let out = run(sb.sea_pack().args(["verify", "--public-key", &public]).arg(&signed));
    assert!(out.status.success(), "{}", text(&out).1);
    let inspect = sea_pack(&sb, &["inspect", "--json"], &signed);
    let value: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(value["signature"]["status"], "verified");
    assert_eq!(value["manifest"]["update"]["public_key"], public.as_str());
    assert!(value["signature"]["trusted_comment"].as_str().unwrap().contains("name=demo version=1.0.0"));
    // Another key fails.
    assert_clean_error(&run(sb.sea_pack().args(["verify", "--public-key", &other_public]).arg(&signed)), "other key");
    // Signed without a baked-in key: checked only with --public-key.
    let signed_only = sb.path("signed-only.bin");
    build_ok(&sb, &app, "bin/demo", &["--sign-key", key_s], &signed_only);
    let (stdout, _) = text(&sea_pack(&sb, &["verify"], &signed_only));
    assert!(stdout.contains("not checked"), "{stdout}");
    assert!(run(sb.sea_pack().args(["verify", "--public-key", &public]).arg(&signed_only)).status.success());
    let err = assert_clean_error(
        &run(sb.sea_pack().args(["verify", "--public-key", &other_public]).arg(&signed_only)),
        "signed by another key",
    );
    assert!(err.contains("another key"), "{err}");
    // Unsigned + --public-key fails.
    let unsigned = sb.path("unsigned.bin");
    build_ok(&sb, &app, "bin/demo", &[], &unsigned);
    let err =
        assert_clean_error(&run(sb.sea_pack().args(["verify", "--public-key", &public]).arg(&unsigned)), "unsigned");
    assert!(err.contains("not signed"), "{err}");
    // A key pair that does not match is refused at build.
    let mismatch = sb.path("mismatch.bin");
    let err = assert_clean_error(
        &build(&sb, &app, "bin/demo", &["--sign-key", other_key.to_str().unwrap(), "--public-key", &public], &mismatch),
        "mismatched keys",
    );
    assert!(err.contains("does not match"), "{err}");
    assert!(!mismatch.exists());
    // A baked-in key without a signature would make a binary that refuses its own payload, and a
    // feed without a key one that can never update: both are refused at build.
    let keyed_unsigned = sb.path("keyed-unsigned.bin");
    let err = assert_clean_error(&build(&sb, &app, "bin/demo", &["--public-key", &public], &keyed_unsigned), "keyed");
    assert!(err.contains("--public-key needs --sign-key"), "{err}");
    assert!(!keyed_unsigned.exists());
    let feed_only = sb.path("feed-only.bin");
    let err = assert_clean_error(
        &build(&sb, &app, "bin/demo", &["--feed", "https://example.com/x/stable.json"], &feed_only),
        "feed without key",
    );
    assert!(err.contains("--feed needs --public-key"), "{err}");
}

#[test]
fn keygen_writes_a_private_key_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let (key, public) = sb.keygen("k");
    assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let pub_text = fs::read_to_string(sb.path("keys/k.key.pub")).unwrap();
    assert_eq!(pub_text.lines().nth(1), Some(public.as_str()));
    assert!(sea_payload::signature::parse_public_key(&public).is_ok());
    let before = fs::read(&key).unwrap();
    let err = assert_clean_error(&run(sb.sea_pack().arg("keygen").arg("-o").arg(&key)), "overwrite");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(fs::read(&key).unwrap(), before);
    let out = run(sb.sea_pack().arg("keygen").arg("--force").arg("-o").arg(&key));
    assert!(out.status.success());
    assert_ne!(fs::read(&key).unwrap(), before);
    assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
}

/// `--arg {pkg_dir}/...` names a file of the tree: the bundled-runtime recipe
/// (`--entry runtime/bin/node --arg {pkg_dir}/app/main.js`). A plain relative `--arg` used to be
/// the only way, and it resolves against the user's working directory, running a stranger's file
/// found there.
#[test]
fn regression_pkg_dir_in_an_arg_names_the_tree_not_the_working_directory() {
    let sb = Sandbox::new();
    // A stand-in runtime: runs the script it is given, as node would.
    let app = sb
        .app("rt")
        .exec("runtime/bin/interp", "#!/bin/sh\nexec /bin/sh \"$@\"\n")
        .file("app/main.sh", "echo \"tree script: $0 | $1 | $2\"\n");
    let bin = sb.pack(
        app.path(),
        "rt",
        "1.0.0",
        "runtime/bin/interp",
        &["--arg", "{pkg_dir}/app/main.sh", "--arg", "{{not a placeholder}}"],
    );
    // The user's working directory holds a file at the same relative path.
    let cwd = sb.path("stranger");
    fs::create_dir_all(cwd.join("app")).unwrap();
    fs::write(cwd.join("app/main.sh"), "echo STRANGER\n").unwrap();
    let out = run(sb.cmd(&bin).current_dir(&cwd).arg("user arg"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let pkg_dir = fs::read_dir(sb.cache("rt").join("pkg")).unwrap().next().unwrap().unwrap().path();
    let pkg_dir = fs::read_dir(pkg_dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    assert_eq!(
        stdout,
        format!("tree script: {}/app/main.sh | {{not a placeholder}} | user arg\n", pkg_dir.display()),
        "stderr: {stderr}"
    );

    // inspect shows the template as stored.
    let out = sea_pack(&sb, &["inspect"], &bin);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("runtime/bin/interp '{pkg_dir}/app/main.sh' '{{not a placeholder}}'"), "{stdout}");
}

#[test]
fn bad_arg_templates_are_build_errors() {
    let sb = Sandbox::new();
    let app = sb.app("t").exec("bin/t", "#!/bin/sh\n");
    let out = sb.path("t.out");
    for (arg, says) in [
        ("{pkgdir}/x.js", "unknown placeholder {pkgdir}"),
        ("{PKG_DIR}", "unknown placeholder {PKG_DIR}"),
        ("--x={pkg_dir", "is not closed"),
        ("a}b", "has no opening"),
        ("{}", "unknown placeholder {}"),
    ] {
        let output = build(&sb, app.path(), "bin/t", &["--arg", arg], &out);
        let stderr = assert_clean_error(&output, arg);
        assert!(stderr.contains(&format!("--arg '{arg}'")) && stderr.contains(says), "{arg}: {stderr}");
        assert!(
            stderr.contains("{pkg_dir}") || stderr.contains("{{") || stderr.contains("}}"),
            "{arg}: says what to write: {stderr}"
        );
        assert!(!out.exists(), "{arg}: no output written");
    }
}

/// A launcher shipped under the name of an app that already owns `~/.copilot` and `COPILOT_*`
/// (its own restart file `~/.copilot/restart/<pid>.json` keyed by `COPILOT_LOADER_PID`) must
/// not share them: `--env-prefix`, `--home-name`, `--cache-name`.
#[test]
fn regression_naming_flags_keep_the_launcher_out_of_the_apps_home_and_variables() {
    let sb = Sandbox::new();
    let app = sb.app("copilot").exec("bin/copilot", "#!/bin/sh\nenv | grep '^COPILOT' | sort\n");
    let flags = ["--env-prefix", "COPILOT_LOADER", "--home-name", ".copilot-loader", "--cache-name", "copilot-loader"];
    let bin = sb.pack(app.path(), "copilot", "1.0.0", "bin/copilot", &flags);
    // The app's own variables, as its users set them: the launcher must neither act on them nor
    // change them.
    let apps_home = sb.path("apps-own-home");
    let out = run(sb
        .cmd(&bin)
        .env("COPILOT_HOME", &apps_home)
        .env("COPILOT_AUTO_UPDATE", "0")
        .env("COPILOT_VERSION", "9.9.9"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "COPILOT_VERSION is the app's, not a pin: {stderr}");
    let var = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).map(str::to_owned);
    let home = sb.home().join(".copilot-loader");
    let cache = sb.home().join(".cache/copilot-loader");
    assert_eq!(var("COPILOT_LOADER_RUN_APP").as_deref(), Some("1"), "{stdout}");
    assert!(var("COPILOT_LOADER_PKG_DIR").unwrap().starts_with(&cache.display().to_string()), "{stdout}");
    let pid = var("COPILOT_LOADER_LOADER_PID").unwrap();
    assert_eq!(PathBuf::from(var("COPILOT_LOADER_RESTART_FILE").unwrap()), home.join(format!("restart/{pid}.json")));
    for name in ["COPILOT_RUN_APP", "COPILOT_PKG_DIR", "COPILOT_LAUNCHER", "COPILOT_RESTART_FILE", "COPILOT_LOADER_PID"]
    {
        assert_eq!(var(name), None, "{name} set for the app: {stdout}");
    }
    assert_eq!(var("COPILOT_HOME"), Some(apps_home.display().to_string()), "the app's variable passes unchanged");
    assert_eq!(var("COPILOT_VERSION").as_deref(), Some("9.9.9"));
    assert!(home.join("restart").is_dir() && cache.join("pkg").is_dir());
    assert!(!sb.home().join(".copilot").exists(), "the app's ~/.copilot was touched");
    assert!(!sb.home().join(".cache/copilot").exists(), "the app's cache name was used");
    assert!(!apps_home.exists(), "COPILOT_HOME was used by the launcher");

    // The launcher's own variables move its directories.
    let moved = sb.path("loader-home");
    let out = run(sb.cmd(&bin).arg("--sea-info").env("COPILOT_LOADER_HOME", &moved));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["home"].as_str(), Some(moved.to_str().unwrap()), "{stdout}");
    assert_eq!(info["cache"].as_str(), Some(cache.to_str().unwrap()), "{stdout}");

    // inspect shows them.
    let out = sea_pack(&sb, &["inspect"], &bin);
    let stdout = text(&out).0;
    assert!(stdout.contains("variables     COPILOT_LOADER_*\n"), "{stdout}");
    assert!(stdout.contains("home          $HOME/.copilot-loader\n"), "{stdout}");
    assert!(stdout.contains("cache         <cache dir>/copilot-loader\n"), "{stdout}");
    let out = sea_pack(&sb, &["inspect", "--json"], &bin);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["manifest"]["naming"]["env_prefix"], "COPILOT_LOADER");
    assert_eq!(json["naming"]["home_name"], ".copilot-loader");
}

#[test]
fn bad_naming_flags_are_build_errors() {
    let sb = Sandbox::new();
    let app = sb.app("t").exec("bin/t", "#!/bin/sh\n");
    let out = sb.path("t.out");
    for (flag, value) in [
        ("--env-prefix", "copilot"),
        ("--env-prefix", "1X"),
        ("--env-prefix", "A-B"),
        ("--env-prefix", ""),
        ("--home-name", "../x"),
        ("--home-name", ".."),
        ("--home-name", "a/b"),
        ("--cache-name", "."),
        ("--cache-name", "/abs"),
        ("--cache-name", ""),
    ] {
        let output = build(&sb, app.path(), "bin/t", &[flag, value], &out);
        let stderr = assert_clean_error(&output, &format!("{flag} {value:?}"));
        assert!(stderr.contains(&format!("invalid {flag}")), "{flag} {value:?}: {stderr}");
        assert!(!out.exists());
    }
    // Unset: the old names, and the manifest has no naming field.
    build_ok(&sb, app.path(), "bin/t", &[], &out);
    let json: serde_json::Value = serde_json::from_slice(&sea_pack(&sb, &["inspect", "--json"], &out).stdout).unwrap();
    assert!(json["manifest"].get("naming").is_none() && json["manifest"].get("arg_templates").is_none(), "{json}");
    assert_eq!(json["naming"]["env_prefix"], "DEMO");
    assert_eq!(json["naming"]["home_name"], ".demo");
    assert_eq!(json["naming"]["cache_name"], "demo");
}

/// An app whose 36 MiB runtime becomes two data frames.
fn big_app(sb: &Sandbox) -> PathBuf {
    let app = sb.app("big").exec("bin/run", "#!/bin/sh\necho ran\n").file("lib/small.js", "module.exports = 1;\n");
    let root = app.path().to_owned();
    fs::write(root.join("bin/runtime"), compressible(36 * 1024 * 1024 + 7, 3)).unwrap();
    set_mode(&root.join("bin/runtime"), 0o755);
    root
}

#[test]
fn a_multi_frame_package_cold_starts_and_a_corrupt_frame_leaves_no_tree() {
    use sea_payload::frames::{self, FrameKind};
    let sb = Sandbox::new();
    let app = big_app(&sb);
    let bin = sb.pack(&app, "big", "1.0.0", "bin/run", &["--compression", "zstd:1"]);
    let package = sea_payload::Package::open(&bin).unwrap();
    let table = frames::read_table(package.file(), &package.layout().payload, u64::MAX).unwrap().expect("frames");
    let data: Vec<_> = table.iter().filter(|f| f.kind == FrameKind::Data).copied().collect();
    assert_eq!(data.len(), 2, "{table:?}");
    let payload_start = package.layout().payload.start;
    drop(package);

    let out = run(&mut sb.cmd(&bin));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "ran\n");
    let tree = sea_tests::layout::pkg_dir(&sb.cache("big")).join(sea_tests::layout::tree_id(&bin));
    sea_tests::layout::tree_matches(&bin, &tree).unwrap();
    assert_eq!(fs::read(tree.join("bin/runtime")).unwrap(), fs::read(app.join("bin/runtime")).unwrap());
    let verify = sea_pack(&sb, &["verify"], &bin);
    assert!(verify.status.success(), "{}", text(&verify).1);

    // A flipped byte in the last data frame: refused, and nothing is left in the cache.
    let mut bytes = fs::read(&bin).unwrap();
    let last = data[1];
    bytes[(payload_start + last.c_off + last.c_len / 2) as usize] ^= 0x20;
    let bad = sb.path("bin/bad");
    fs::write(&bad, &bytes).unwrap();
    set_mode(&bad, 0o755);
    let sb2 = Sandbox::new();
    let out = run(&mut sb2.cmd(&bad));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(stderr.contains("payload checksum mismatch"), "{stderr}");
    let pkg = sea_tests::layout::pkg_dir(&sb2.cache("big"));
    let left: Vec<String> = sea_tests::layout::names(&pkg).into_iter().filter(|n| !n.ends_with(".lock")).collect();
    assert_eq!(left, Vec::<String>::new(), "no tree, complete or partial");
    let dest = sb.path("extracted");
    let out = extract(&sb, &bad, &dest);
    assert_clean_error(&out, "extract of a corrupt frame");
    assert!(!dest.exists());
}

#[test]
fn build_warns_about_an_interpreter_and_dependencies_outside_the_tree() {
    let sb = Sandbox::new();
    let app = sb
        .app("node-app")
        .exec("app/index.js", "#!/usr/bin/env node\nconsole.log('hi')\n")
        .file("app/package.json", r#"{"name":"x","version":"1.0.0","dependencies":{"chalk":"^5"}}"#);
    let out = build(&sb, app.path(), "app/index.js", &[], &sb.path("node-app"));
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("sea-pack: warning: --entry app/index.js is a script for 'node'")
            && stderr.contains("--entry runtime/bin/node --arg {pkg_dir}/app/index.js"),
        "{stderr}"
    );
    assert!(
        stderr.contains("chalk") && stderr.contains("npm ci --omit=dev") && stderr.contains("ERR_MODULE_NOT_FOUND"),
        "{stderr}"
    );
    // A shell script entry and installed dependencies: no warning.
    let app = sb
        .app("sh-app")
        .exec("bin/run", "#!/bin/sh\nexit 0\n")
        .file("package.json", r#"{"dependencies":{"chalk":"^5"}}"#)
        .file("node_modules/chalk/index.js", "");
    let out = build(&sb, app.path(), "bin/run", &[], &sb.path("sh-app"));
    let (_, stderr) = text(&out);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
}

#[test]
fn long_builds_print_a_line_per_stage_unless_quiet() {
    let sb = Sandbox::new();
    let app = big_app(&sb);
    let out = build(&sb, &app, "bin/run", &["--compression", "zstd:1"], &sb.path("staged"));
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines[0].starts_with("sea-pack: packing: reading tree (3 files, 37.7 MB)"), "{stderr}");
    assert!(lines[1].starts_with("sea-pack: compressing 37.7 MB (zstd:1"), "{stderr}");
    assert!(lines[2].starts_with("sea-pack: writing "), "{stderr}");
    assert!(lines[3].starts_with("sea-pack: done in ") && lines[3].ends_with(" s"), "{stderr}");
    assert!(!stderr.contains('\r') && !stderr.contains('\x1b'), "no control characters off a terminal");
    let out = build(&sb, &app, "bin/run", &["--compression", "zstd:1", "--quiet"], &sb.path("quiet"));
    let (_, stderr) = text(&out);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
}
