//! Packed executables for macOS and Windows that survive code signing.
//!
//! Real executables of those platforms stand in for the launcher stub: esbuild's release binaries
//! from the npm registry (`@esbuild/darwin-arm64`, `@esbuild/darwin-x64`, `@esbuild/win32-x64`,
//! pinned by version and SHA-256), with a stub marker written into their header padding. They
//! are fetched once with `npm pack` and cached in `$SEA_FIXTURES` (default
//! `~/.cache/sea-test-fixtures`), so a second run needs no network. The outputs are signed with
//! the real tools — `rcodesign` (self-signed certificate, no timestamp) and `osslsigncode`
//! (self-signed certificate made with `openssl`) — and verified with them, then read back with
//! `sea-pack inspect`/`verify`/`extract`.
//!
//! A missing tool or fixture prints a `SKIP:` line; under `CI=true` it fails the test instead,
//! unless `SEA_ALLOW_SKIP=1`, so a skip never counts as a pass in CI.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use sea_payload::container;
use sea_payload::marker;
use sea_tests::{Sandbox, assert_clean_error, bins, run, set_mode, text, tree_snapshot};

/// An npm package whose tarball carries a foreign executable.
struct Fixture {
    spec: &'static str,
    tarball: &'static str,
    sha256: &'static str,
    member: &'static str,
}

const DARWIN_ARM64: Fixture = Fixture {
    spec: "@esbuild/darwin-arm64@0.28.2",
    tarball: "esbuild-darwin-arm64-0.28.2.tgz",
    sha256: "1980cde09749094452b20d36ff267585ccb3f72749c7bc97291cd9996ccf5a2a",
    member: "package/bin/esbuild",
};
const DARWIN_X64: Fixture = Fixture {
    spec: "@esbuild/darwin-x64@0.28.2",
    tarball: "esbuild-darwin-x64-0.28.2.tgz",
    sha256: "abb6a7a895aaf2cc0df36fecc3bf0042479ffec51a643a056d54e9109f27db55",
    member: "package/bin/esbuild",
};
const WIN32_X64: Fixture = Fixture {
    spec: "@esbuild/win32-x64@0.28.2",
    tarball: "esbuild-win32-x64-0.28.2.tgz",
    sha256: "7286c3611b6f1f4c4d9ec90adcbc478407ff0d28ead96567f361d53e67613e19",
    member: "package/esbuild.exe",
};

/// Prints the skip, or fails under CI (unless `SEA_ALLOW_SKIP=1`). Returns `None` to skip.
fn skip<T>(what: &str) -> Option<T> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let allowed = std::env::var("SEA_ALLOW_SKIP").is_ok_and(|v| v == "1");
    assert!(!ci || allowed, "{what}; in CI this is a failure (set SEA_ALLOW_SKIP=1 to allow skipping)");
    eprintln!("SKIP: {what}");
    None
}

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("SEA_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache/sea-test-fixtures")
        }
    }
}

/// The fixture's executable (fetched and checked once), or `None` to skip.
fn fetch(fixture: &Fixture) -> Option<Vec<u8>> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixtures_dir();
    fs::create_dir_all(&dir).unwrap();
    let tarball = dir.join(fixture.tarball);
    let valid = |path: &Path| fs::read(path).is_ok_and(|b| sea_payload::digest::sha256_hex(&b) == fixture.sha256);
    if !valid(&tarball) {
        // npm writes the tarball into a private directory first: a concurrent run never sees half a file.
        let scratch = tempfile::tempdir_in(&dir).unwrap();
        let npm = Command::new("npm")
            .args(["pack", "--silent", fixture.spec, "--pack-destination"])
            .arg(scratch.path())
            .output();
        let fetched = scratch.path().join(fixture.tarball);
        match npm {
            Ok(out) if out.status.success() && valid(&fetched) => fs::rename(&fetched, &tarball).unwrap(),
            Ok(out) if out.status.success() => panic!(
                "{} from the registry does not have the pinned sha256 {}: the fixture changed upstream",
                fixture.spec, fixture.sha256
            ),
            Ok(out) => {
                return skip(&format!("could not fetch {} with npm pack: {}", fixture.spec, text(&out).1.trim()));
            }
            Err(e) => return skip(&format!("npm is not available to fetch {}: {e}", fixture.spec)),
        }
    }
    let out = Command::new("tar").arg("-xzOf").arg(&tarball).arg(fixture.member).output().unwrap();
    assert!(out.status.success(), "tar could not read {}: {}", tarball.display(), text(&out).1);
    Some(out.stdout)
}

/// `bytes` with a stub marker for `platform` written into its header padding: a stand-in stub.
fn with_marker(mut bytes: Vec<u8>, platform: &str) -> Vec<u8> {
    let text = marker::encode(sea_payload::CRATE_VERSION, platform);
    let padding = container::header_padding(&bytes).unwrap();
    assert!(padding.len() >= text.len(), "header padding {padding:?} too small for the marker");
    let at = padding.start;
    assert!(bytes[at..at + text.len()].iter().all(|&b| b == 0), "header padding is not free");
    bytes[at..at + text.len()].copy_from_slice(&text);
    bytes
}

/// The stand-in stub for `fixture`, written to `stubs/<name>` in the sandbox.
fn stub(sb: &Sandbox, fixture: &Fixture, platform: &str) -> Option<PathBuf> {
    let bytes = with_marker(fetch(fixture)?, platform);
    let dir = sb.root().join("stubs");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(platform);
    fs::write(&path, bytes).unwrap();
    set_mode(&path, 0o755);
    Some(path)
}

/// A signing tool on PATH (or, for rcodesign, in ~/.cargo/bin), or `None` to skip.
fn tool(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(name));
    match on_path.into_iter().chain(cargo).find(|p| p.is_file()) {
        Some(path) => Some(path),
        None => skip(&format!("{name} is not installed (scripts/test.sh installs it)")),
    }
}

fn app(sb: &Sandbox) -> PathBuf {
    sb.app("hello")
        .exec("bin/hello", "#!/bin/sh\necho hello\n")
        .file("lib/data.txt", "some data\n".repeat(500))
        .path()
        .to_owned()
}

/// `sea-pack build` with `stub` for `platform` into `bin/<out>`.
fn build(sb: &Sandbox, stub: &Path, platform: &str, out: &str) -> (Output, PathBuf) {
    build_with(sb, stub, platform, out, &[])
}

fn build_with(sb: &Sandbox, stub: &Path, platform: &str, out: &str, extra: &[&str]) -> (Output, PathBuf) {
    let app = app(sb);
    let path = sb.root().join("bin").join(out);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let output = run(sb
        .sea_pack()
        .arg("build")
        .arg(&app)
        .args(["--name", "hello", "--version", "1.0.0", "--entry", "bin/hello", "--compression", "zstd:3"])
        .arg("--launcher")
        .arg(stub)
        .args(["--platform", platform])
        .args(extra)
        .arg("-o")
        .arg(&path));
    (output, path)
}

fn build_ok(sb: &Sandbox, stub: &Path, platform: &str, out: &str) -> PathBuf {
    let (output, path) = build(sb, stub, platform, out);
    assert!(output.status.success(), "build failed: {}", text(&output).1);
    path
}

/// `sea-pack inspect --json`: the payload digest and the package's layout.
fn inspect(sb: &Sandbox, bin: &Path) -> serde_json::Value {
    let out = run(sb.sea_pack().args(["inspect", "--json"]).arg(bin));
    assert!(out.status.success(), "inspect {} failed: {}", bin.display(), text(&out).1);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `sea-pack verify` and `extract` pass; returns the payload digest `inspect` reports.
fn sea_pack_reads(sb: &Sandbox, bin: &Path) -> String {
    let out = run(sb.sea_pack().arg("verify").arg(bin));
    assert!(out.status.success(), "verify {} failed: {}", bin.display(), text(&out).1);
    let dest = sb.root().join(format!("extracted-{}", bin.file_name().unwrap().to_string_lossy()));
    let out = run(sb.sea_pack().arg("extract").arg(bin).arg(&dest));
    assert!(out.status.success(), "extract {} failed: {}", bin.display(), text(&out).1);
    assert_eq!(tree_snapshot(&dest), tree_snapshot(&app(sb)), "extracted tree differs from the input");
    fs::remove_dir_all(&dest).unwrap();
    inspect(sb, bin)["manifest"]["payload"]["sha256"].as_str().unwrap().to_owned()
}

/// The file ranges of a Mach-O's segments, parsed here independently of `sea_payload`.
fn segment_ranges(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(u32_at(0), 0xfeed_facf, "not a 64-bit Mach-O");
    let mut at = 32;
    let mut out = Vec::new();
    for _ in 0..u32_at(16) {
        if u32_at(at) == 0x19 {
            let name = String::from_utf8_lossy(&bytes[at + 8..at + 24]).trim_end_matches('\0').to_owned();
            out.push((name, u64_at(at + 40), u64_at(at + 48)));
        }
        at += u32_at(at + 4) as usize;
    }
    out
}

/// Asserts that every byte of the file lies inside a segment (what `codesign --strict` checks).
fn assert_no_byte_outside_a_segment(path: &Path) {
    let bytes = fs::read(path).unwrap();
    let end = segment_ranges(&bytes).iter().map(|(_, off, size)| off + size).max().unwrap();
    assert_eq!(end, bytes.len() as u64, "{}: bytes after the last segment", path.display());
}

/// A Mach-O signing identity made with rcodesign: (certificate, key) PEM files.
fn rcodesign_identity(rcodesign: &Path, sb: &Sandbox) -> (PathBuf, PathBuf) {
    let base = sb.root().join("macos-identity");
    let out = run(Command::new(rcodesign)
        .args(["generate-self-signed-certificate", "--person-name", "sea test", "--pem-filename"])
        .arg(&base));
    assert!(out.status.success(), "rcodesign generate-self-signed-certificate failed: {}", text(&out).1);
    (base.with_extension("crt"), base.with_extension("key"))
}

fn rcodesign_sign(rcodesign: &Path, identity: &(PathBuf, PathBuf), input: &Path, output: &Path) {
    let out = run(Command::new(rcodesign)
        .arg("sign")
        .arg("--pem-file")
        .arg(&identity.0)
        .arg("--pem-file")
        .arg(&identity.1)
        .args(["--timestamp-url", "none", "--code-signature-flags", "runtime"])
        .arg(input)
        .arg(output));
    assert!(out.status.success(), "rcodesign sign {} failed: {}", input.display(), text(&out).1);
}

fn rcodesign_verify(rcodesign: &Path, path: &Path) {
    let out = run(Command::new(rcodesign).arg("verify").arg(path));
    assert!(out.status.success(), "rcodesign verify {} failed:\n{}\n{}", path.display(), text(&out).0, text(&out).1);
}

/// A copy of `path` with the first payload byte flipped: the signature must cover the package.
fn tampered(sb: &Sandbox, path: &Path) -> PathBuf {
    let offset = inspect(sb, path)["layout"]["payload"]["offset"].as_u64().unwrap() as usize;
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 0xff;
    let copy = path.with_extension("tampered");
    fs::write(&copy, bytes).unwrap();
    copy
}

/// Pack → sign → verify with rcodesign → sea-pack reads it with the same payload digest → sign
/// again (re-signing replaces the signature) → still both.
fn mach_o_round_trip(fixture: &Fixture, platform: &str) {
    let sb = Sandbox::new();
    let Some(rcodesign) = tool("rcodesign") else { return };
    let Some(stub) = stub(&sb, fixture, platform) else { return };
    let packed = build_ok(&sb, &stub, platform, "hello");
    assert_no_byte_outside_a_segment(&packed);
    let digest = sea_pack_reads(&sb, &packed);

    let identity = rcodesign_identity(&rcodesign, &sb);
    let signed = sb.root().join("bin/hello-signed");
    rcodesign_sign(&rcodesign, &identity, &packed, &signed);
    rcodesign_verify(&rcodesign, &signed);
    assert_no_byte_outside_a_segment(&signed);
    let signed_len = fs::metadata(&signed).unwrap().len();
    assert!(signed_len > fs::metadata(&packed).unwrap().len(), "the signature was not appended");
    assert_eq!(sea_pack_reads(&sb, &signed), digest, "payload digest changed by signing");
    let value = inspect(&sb, &signed);
    assert!(
        value["layout"]["trailer"]["offset"].as_u64().unwrap() + 128 < signed_len,
        "signature not after the package"
    );
    let out = run(Command::new(&rcodesign).arg("verify").arg(tampered(&sb, &signed)));
    let all = format!("{}{}", text(&out).0, text(&out).1);
    assert!(!out.status.success() && all.contains("code digest mismatch"), "a changed payload still verifies: {all}");

    let resigned = sb.root().join("bin/hello-resigned");
    rcodesign_sign(&rcodesign, &identity, &signed, &resigned);
    rcodesign_verify(&rcodesign, &resigned);
    assert_eq!(sea_pack_reads(&sb, &resigned), digest, "payload digest changed by re-signing");

    // A stub signed before packing has its signature removed: it packs exactly like the unsigned one.
    let signed_stub = sb.root().join("stubs/signed");
    rcodesign_sign(&rcodesign, &identity, &stub, &signed_stub);
    let (out, from_signed) = build(&sb, &signed_stub, platform, "from-signed");
    assert!(out.status.success(), "build from a signed stub failed: {}", text(&out).1);
    assert!(text(&out).1.contains("removed the code signature"), "{}", text(&out).1);
    let (out, from_unsigned) = build(&sb, &stub, platform, "from-unsigned");
    assert_eq!(text(&out).1.contains("removed the code signature"), has_mach_o_signature(&fs::read(&stub).unwrap()));
    assert_eq!(
        fs::read(&from_signed).unwrap(),
        fs::read(&from_unsigned).unwrap(),
        "the signature was not removed cleanly"
    );

    // The signed output is a packed executable, not a stub: packing it again is refused.
    let (out, _) = build(&sb, &signed, platform, "twice");
    let stderr = assert_clean_error(&out, "repacking a signed output");
    assert!(stderr.contains("already carries a payload"), "{stderr}");
}

/// esbuild's darwin-arm64 binary is ad-hoc signed by the Go linker: the pre-signed stub case.
#[test]
fn mach_o_arm64_output_signs_with_rcodesign_and_keeps_its_payload() {
    if let Some(bytes) = fetch(&DARWIN_ARM64) {
        assert!(has_mach_o_signature(&bytes), "the darwin-arm64 fixture is expected to be pre-signed");
    }
    mach_o_round_trip(&DARWIN_ARM64, "darwin-arm64");
}

#[test]
fn mach_o_x64_output_signs_with_rcodesign_and_keeps_its_payload() {
    mach_o_round_trip(&DARWIN_X64, "darwin-x64");
}

fn has_mach_o_signature(bytes: &[u8]) -> bool {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut at = 32;
    (0..u32_at(16)).any(|_| {
        let found = u32_at(at) == 0x1d;
        at += u32_at(at + 4) as usize;
        found
    })
}

/// A self-signed Authenticode identity made with openssl: (certificate, key) PEM files.
fn authenticode_identity(sb: &Sandbox) -> Option<(PathBuf, PathBuf)> {
    let cert = sb.root().join("win-cert.pem");
    let key = sb.root().join("win-key.pem");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=sea test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match out {
        Ok(out) if out.status.success() => Some((cert, key)),
        Ok(out) => panic!("openssl req failed: {}", text(&out).1),
        Err(e) => skip(&format!("openssl is not available to make a test certificate: {e}")),
    }
}

fn osslsigncode_sign(tool: &Path, identity: &(PathBuf, PathBuf), input: &Path, output: &Path) {
    let _ = fs::remove_file(output);
    let out = run(Command::new(tool)
        .arg("sign")
        .arg("-certs")
        .arg(&identity.0)
        .arg("-key")
        .arg(&identity.1)
        .args(["-n", "hello", "-h", "sha256", "-in"])
        .arg(input)
        .arg("-out")
        .arg(output));
    assert!(out.status.success(), "osslsigncode sign {} failed: {}", input.display(), text(&out).1);
}

/// `osslsigncode verify` output; asserts the PE checksum is valid and, if `signed`, that the
/// signature verifies.
fn osslsigncode_verify(tool: &Path, identity: &(PathBuf, PathBuf), path: &Path, signed: bool) -> String {
    let out = run(Command::new(tool).arg("verify").arg("-CAfile").arg(&identity.0).arg(path));
    let all = format!("{}{}", text(&out).0, text(&out).1);
    assert!(!all.contains("invalid PE checksum"), "{}: invalid PE checksum:\n{all}", path.display());
    if signed {
        assert!(out.status.success() && all.contains("Signature verification: ok"), "{}:\n{all}", path.display());
    } else {
        assert!(all.contains("No signature found"), "{}:\n{all}", path.display());
    }
    all
}

#[test]
fn pe_output_signs_with_osslsigncode_and_keeps_its_payload() {
    let sb = Sandbox::new();
    let Some(osslsigncode) = tool("osslsigncode") else { return };
    let Some(stub) = stub(&sb, &WIN32_X64, "win32-x64") else { return };
    let Some(identity) = authenticode_identity(&sb) else { return };
    let packed = build_ok(&sb, &stub, "win32-x64", "hello.exe");
    osslsigncode_verify(&osslsigncode, &identity, &packed, false);
    let digest = sea_pack_reads(&sb, &packed);

    let signed = sb.root().join("bin/hello-signed.exe");
    osslsigncode_sign(&osslsigncode, &identity, &packed, &signed);
    osslsigncode_verify(&osslsigncode, &identity, &signed, true);
    assert_eq!(sea_pack_reads(&sb, &signed), digest, "payload digest changed by signing");
    let value = inspect(&sb, &signed);
    let trailer_end = value["layout"]["trailer"]["offset"].as_u64().unwrap() + 128;
    let signed_len = fs::metadata(&signed).unwrap().len();
    assert_eq!(value["layout"]["after_package"]["offset"].as_u64(), Some(trailer_end));
    assert_eq!(value["layout"]["after_package"]["length"].as_u64(), Some(signed_len - trailer_end));
    assert!(trailer_end < signed_len, "the certificate table is not after the package");
    let out =
        run(Command::new(&osslsigncode).arg("verify").arg("-CAfile").arg(&identity.0).arg(tampered(&sb, &signed)));
    let all = format!("{}{}", text(&out).0, text(&out).1);
    assert!(!out.status.success() && all.contains("MISMATCH"), "a changed payload still verifies: {all}");
    let out = run(sb.sea_pack().arg("inspect").arg(&signed));
    assert!(
        text(&out).0.contains(&format!("signing     {trailer_end:>14}{:>14}", signed_len - trailer_end)),
        "{}",
        text(&out).0
    );

    let resigned = sb.root().join("bin/hello-resigned.exe");
    osslsigncode_sign(&osslsigncode, &identity, &signed, &resigned);
    osslsigncode_verify(&osslsigncode, &identity, &resigned, true);
    assert_eq!(sea_pack_reads(&sb, &resigned), digest, "payload digest changed by re-signing");

    // A stub that was signed before packing: its certificate table is removed, the output signs.
    let signed_stub = sb.root().join("stubs/win32-x64-signed.exe");
    osslsigncode_sign(&osslsigncode, &identity, &stub, &signed_stub);
    let (out, from_signed) = build(&sb, &signed_stub, "win32-x64", "from-signed.exe");
    assert!(out.status.success(), "build from a signed stub failed: {}", text(&out).1);
    assert!(text(&out).1.contains("removed the Authenticode certificate table"), "{}", text(&out).1);
    assert_eq!(
        fs::read(&from_signed).unwrap(),
        fs::read(&packed).unwrap(),
        "a signed stub packs like the unsigned one"
    );

    // The signed output is a packed executable, not a stub: packing it again is refused.
    let (out, _) = build(&sb, &signed, "win32-x64", "twice.exe");
    let stderr = assert_clean_error(&out, "repacking a signed output");
    assert!(stderr.contains("already carries a payload"), "{stderr}");
}

/// `sea-pack release` of a signed Windows output publishes the package alone: the certificate
/// table after it is not part of the artifact, which must open as a package by itself.
#[test]
fn release_of_a_signed_pe_leaves_the_certificate_table_out_of_the_artifact() {
    let sb = Sandbox::new();
    let Some(osslsigncode) = tool("osslsigncode") else { return };
    let Some(stub) = stub(&sb, &WIN32_X64, "win32-x64") else { return };
    let Some(identity) = authenticode_identity(&sb) else { return };
    let (key, _) = sb.keygen("release");
    let key_arg = key.to_str().unwrap();
    let (out, packed) = build_with(&sb, &stub, "win32-x64", "hello.exe", &["--sign-key", key_arg]);
    assert!(out.status.success(), "build failed: {}", text(&out).1);
    let signed = sb.root().join("bin/hello-signed.exe");
    osslsigncode_sign(&osslsigncode, &identity, &packed, &signed);
    let site = sb.root().join("site");
    let out = run(sb
        .sea_pack()
        .arg("release")
        .arg(&signed)
        .args(["--base-url", "https://example.invalid/hello", "--sign-key"])
        .arg(&key)
        .arg("-o")
        .arg(&site));
    assert!(out.status.success(), "release failed: {}", text(&out).1);
    let artifact = site.join("hello-1.0.0-win32-x64.sea");
    let layout = inspect(&sb, &signed)["layout"].clone();
    let start = layout["payload"]["offset"].as_u64().unwrap() as usize;
    let end = layout["trailer"]["offset"].as_u64().unwrap() as usize + 128;
    assert_eq!(fs::read(&artifact).unwrap(), fs::read(&signed).unwrap()[start..end]);
    let out = run(sb.sea_pack().arg("verify").arg(&artifact));
    assert!(out.status.success(), "the released artifact does not verify: {}", text(&out).1);
}

/// Every bad stub is refused before anything is written, with a message naming the problem.
#[test]
fn stubs_that_cannot_be_signed_for_the_platform_are_refused_clearly() {
    let sb = Sandbox::new();
    let Some(arm64) = stub(&sb, &DARWIN_ARM64, "darwin-arm64") else { return };
    let Some(win) = stub(&sb, &WIN32_X64, "win32-x64") else { return };
    let arm64_bytes = fs::read(&arm64).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = sb.root().join("stubs").join(name);
        fs::write(&path, bytes).unwrap();
        path
    };
    // A fat binary: the universal header in front of a thin slice, as lipo writes it.
    let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1];
    fat.extend_from_slice(&0x0100_000cu32.to_be_bytes());
    fat.extend_from_slice(&0u32.to_be_bytes());
    fat.extend_from_slice(&0x4000u32.to_be_bytes());
    fat.extend_from_slice(&(arm64_bytes.len() as u32).to_be_bytes());
    fat.extend_from_slice(&14u32.to_be_bytes());
    fat.resize(0x4000, 0);
    fat.extend_from_slice(&arm64_bytes);
    let fat = write("fat", &fat);
    let mut m32 = arm64_bytes.clone();
    m32[0..4].copy_from_slice(&0xfeed_faceu32.to_le_bytes());
    let m32 = write("macho32", &m32);
    // Cut inside the sections (the marker, in the header padding, survives).
    let truncated = write("truncated", &arm64_bytes[..3000]);
    let mut bad_cmd = arm64_bytes.clone();
    bad_cmd[36..40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let bad_cmd = write("bad-cmd", &bad_cmd);
    let mut win_bytes = fs::read(&win).unwrap();
    win_bytes[0x3c..0x40].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let bad_pe = write("bad-pe.exe", &win_bytes);
    let win_truncated = write("truncated.exe", &fs::read(&win).unwrap()[..1000]);
    let launcher = bins().launcher.clone();

    let cases: &[(&Path, &str, &str)] = &[
        (&fat, "darwin-arm64", "fat (universal) Mach-O"),
        (&m32, "darwin-arm64", "32-bit Mach-O"),
        (&arm64, "darwin-x64", "Mach-O for arm64, but --platform darwin-x64 needs x86_64"),
        (&win, "darwin-arm64", "is a PE (Windows) executable, but --platform darwin-arm64 needs a 64-bit Mach-O"),
        (&arm64, "win32-x64", "is a Mach-O executable, but --platform win32-x64 needs a PE"),
        (&arm64, "linux-x64", "needs an ELF executable"),
        (&launcher, "win32-x64", "is an ELF executable, but --platform win32-x64 needs a PE"),
        (&win, "win32-arm64", "PE for x64 (AMD64, PE32+), but --platform win32-arm64 needs ARM64"),
        (
            &truncated,
            "darwin-arm64",
            "corrupt Mach-O: segment file range (0+8683520) runs past the end of the file (3000 bytes)",
        ),
        (&bad_cmd, "darwin-arm64", "corrupt Mach-O: load command 0 at offset 32"),
        (&bad_pe, "win32-x64", "PE header is truncated: PE signature at offset 2147483632"),
        (
            &win_truncated,
            "win32-x64",
            "corrupt PE: section 0 (header at offset 392) has raw data 1536+5952000 past the end of the file (1000 bytes)",
        ),
    ];
    for (i, (stub, platform, expected)) in cases.iter().enumerate() {
        let out_name = format!("bad-{i}");
        let (out, path) = build(&sb, stub, platform, &out_name);
        let what = format!("{} with --platform {platform}", stub.display());
        let stderr = assert_clean_error(&out, &what);
        assert!(stderr.contains(expected), "{what}: expected '{expected}' in: {stderr}");
        assert!(
            stderr.contains("cannot be the launcher for") || stderr.contains("is not a sea-launcher stub"),
            "{stderr}"
        );
        assert!(!path.exists(), "{what}: an output was written");
    }
}
