//! Self-replacement: when a release needs a newer launcher than this one, the executable is
//! replaced by the new launcher stub followed by the new release's payload artifact — which is,
//! byte for byte, what `sea-pack build` makes with that stub — after both were verified.
//!
//! # Implementation
//! A signed stub can still be one that cannot run here (built for another platform, truncated,
//! not an executable at all); installing it would leave a path that no longer starts. So, in
//! order, and stopping at the first failure with the old executable untouched:
//!
//! 1. the stub is read into memory and its size, SHA-256 and signature are verified there: the
//!    bytes verified are the bytes written;
//! 2. its marker must parse, name this launcher's platform, the version the feed says, and at
//!    least the release's `min_launcher`;
//! 3. the new executable is written to a temporary sibling of the executable (same directory, so
//!    the final rename is atomic; the old file's permissions), from those bytes and the payload
//!    artifact copied with its SHA-256 checked against the feed, then `fsync`ed; it must open as
//!    the release's package;
//! 4. the sibling is **tried**: `--sea-info` must exit 0 within [`TRIAL_TIMEOUT`] (killed past it)
//!    and report the marker's launcher version;
//! 5. the old executable is kept (a hard link beside it, or a copy where links fail), the sibling
//!    is renamed over the executable, and the directory is `fsync`ed;
//! 6. the executable, now at its own path, is tried again; if it fails, the kept old one is
//!    renamed back (and the directory `fsync`ed) before the error is reported. On success the
//!    kept copy is removed.
//!
//! The running process keeps its open handle to the old file; the supervising launcher `exec`s
//! the new one at the app's next restart ([`crate::run::relaunch`]).
//!
//! # Alternatives
//! `self_replace::self_replace` does steps 3 and 5 without the trial, the `fsync`s or a way back;
//! it is kept only where `rename` over a running executable is not possible (Windows).
//!
//! # Limitations
//! The trial runs `--sea-info`, which proves the launcher starts and reads its own payload, not
//! that the app inside works (the bad-version marks cover that). A crash between steps 5 and 6
//! leaves the new executable in place, and the kept old one beside it (`.<name>.sea-old-<pid>`).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sea_payload::feed::{LauncherArtifact, Release};
use sea_payload::{Package, digest};
use semver::Version;

use super::UpdateError;
use crate::app::App;
use crate::start::stub;

/// How long a trial start of the new executable may take.
pub(crate) const TRIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Replaces the running executable; returns the new launcher's version.
pub(crate) fn replace(
    app: &App,
    trusted: &sea_payload::trust::Trusted,
    stub_path: &Path,
    launcher: &LauncherArtifact,
    payload_path: &Path,
    release: &Release,
) -> Result<Version, UpdateError> {
    let stub_bytes = read_verified(stub_path, launcher, trusted)?;
    let marker = stub::find_marker(&stub_bytes)
        .ok_or_else(|| UpdateError::BadLauncher("the downloaded launcher carries no sea-launcher marker".into()))?;
    check_marker(&marker, launcher, release)?;
    let exe = &app.process.exe_path;
    // The trial sees our environment, minus a pin: the new executable need not have the pinned
    // version, and `--sea-info` would fail for that alone.
    let mut env = app.process.env.clone();
    env.remove(std::ffi::OsStr::new(&app.vars.name(crate::start::vars::VERSION)));
    let swap = Swap::new(exe);
    let result = swap
        .write(&stub_bytes, payload_path, release)
        .and_then(|()| check_package(&swap.new, release))
        .and_then(|()| {
            try_start(&swap.new, &marker.version, &env, TRIAL_TIMEOUT).map_err(|why| {
                UpdateError::BadLauncher(format!(
                    "the new executable does not start ({why}); {} was left as it was",
                    exe.display()
                ))
            })
        })
        .and_then(|()| swap.commit(&|path| try_start(path, &marker.version, &env, TRIAL_TIMEOUT)));
    swap.clean();
    result.map(|()| marker.version)
}

/// Reads the downloaded stub into memory and verifies it there.
fn read_verified(
    path: &Path,
    launcher: &LauncherArtifact,
    trusted: &sea_payload::trust::Trusted,
) -> Result<Vec<u8>, UpdateError> {
    let io = |source| UpdateError::Io { what: "read", path: path.to_owned(), source };
    let mut bytes = Vec::new();
    fs::File::open(path)
        .map_err(io)?
        .take(launcher.artifact.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    super::verify_bytes(&bytes, &launcher.artifact, trusted, path)?;
    Ok(bytes)
}

/// The marker must name this platform, the feed's version, and a launcher the release runs with.
fn check_marker(marker: &stub::Marker, launcher: &LauncherArtifact, release: &Release) -> Result<(), UpdateError> {
    if marker.platform != stub::PLATFORM {
        return Err(UpdateError::BadLauncher(format!(
            "the downloaded launcher is built for '{}', this one for '{}'; the executable was left as it was",
            marker.platform,
            stub::PLATFORM
        )));
    }
    if marker.version != launcher.version {
        return Err(UpdateError::BadLauncher(format!(
            "the downloaded launcher is version {}, the feed says {}",
            marker.version, launcher.version
        )));
    }
    if marker.version < release.min_launcher {
        return Err(UpdateError::BadLauncher(format!(
            "the downloaded launcher is version {}, the release needs {}",
            marker.version, release.min_launcher
        )));
    }
    Ok(())
}

/// The composed executable must read back as the release it is meant to be.
fn check_package(path: &Path, release: &Release) -> Result<(), UpdateError> {
    let package = Package::open(path).map_err(UpdateError::Package)?;
    if package.manifest().version != release.version {
        return Err(UpdateError::BadLauncher("the composed executable does not carry the release".into()));
    }
    Ok(())
}

/// The files of one replacement: the executable, its new version beside it, the kept old one.
#[derive(Debug)]
struct Swap {
    exe: PathBuf,
    new: PathBuf,
    old: PathBuf,
}

impl Swap {
    fn new(exe: &Path) -> Self {
        let dir = exe.parent().unwrap_or(Path::new("."));
        let name = exe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let pid = std::process::id();
        Self {
            exe: exe.to_owned(),
            new: dir.join(format!(".{name}.sea-new-{pid}")),
            old: dir.join(format!(".{name}.sea-old-{pid}")),
        }
    }

    /// The error names the executable, and the file beside it that failed when it is another.
    fn failed(&self, path: &Path, source: io::Error) -> UpdateError {
        let source = if path == self.exe {
            source
        } else {
            io::Error::new(source.kind(), format!("{}: {source}", path.display()))
        };
        UpdateError::SelfReplace { path: self.exe.clone(), source }
    }

    /// Writes stub + payload to the sibling, checking the payload's digest on the way; fsyncs.
    fn write(&self, stub: &[u8], payload: &Path, release: &Release) -> Result<(), UpdateError> {
        let _ = fs::remove_file(&self.new);
        let mode = fs::metadata(&self.exe).map_err(|e| self.failed(&self.exe, e))?.permissions();
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.new)
            .map_err(|e| self.failed(&self.new, e))?;
        out.write_all(stub).map_err(|e| self.failed(&self.new, e))?;
        let source = fs::File::open(payload).map_err(|e| UpdateError::Io {
            what: "read",
            path: payload.to_owned(),
            source: e,
        })?;
        let mut hashing = digest::HashingReader::new(source);
        io::copy(&mut hashing, &mut out).map_err(|e| self.failed(&self.new, e))?;
        let (sha, size) = hashing.finish();
        if size != release.payload.size || Some(sha) != digest::from_hex(&release.payload.sha256) {
            return Err(UpdateError::DigestMismatch { url: release.payload.url.clone() });
        }
        fs::set_permissions(&self.new, mode).map_err(|e| self.failed(&self.new, e))?;
        out.sync_all().map_err(|e| self.failed(&self.new, e))
    }

    /// Keeps the old executable, moves the new one into place, tries it, and puts the old one
    /// back if it does not start.
    #[cfg(unix)]
    fn commit(&self, try_start: &dyn Fn(&Path) -> Result<(), String>) -> Result<(), UpdateError> {
        let _ = fs::remove_file(&self.old);
        if fs::hard_link(&self.exe, &self.old).is_err() {
            copy_synced(&self.exe, &self.old).map_err(|e| self.failed(&self.old, e))?;
        }
        fs::rename(&self.new, &self.exe).map_err(|e| self.failed(&self.exe, e))?;
        sync_dir(&self.exe);
        if let Err(why) = try_start(&self.exe) {
            return Err(match fs::rename(&self.old, &self.exe) {
                Ok(()) => {
                    sync_dir(&self.exe);
                    UpdateError::BadLauncher(format!(
                        "the new executable does not start in place ({why}); the old one was restored at {}",
                        self.exe.display()
                    ))
                }
                Err(e) => UpdateError::BadLauncher(format!(
                    "the new executable does not start in place ({why}), and restoring the old one failed ({e}): \
                     move {} to {} by hand",
                    self.old.display(),
                    self.exe.display()
                )),
            });
        }
        Ok(())
    }

    /// Windows cannot rename over a running executable: `self-replace` moves it aside first.
    #[cfg(not(unix))]
    fn commit(&self, _try_start: &dyn Fn(&Path) -> Result<(), String>) -> Result<(), UpdateError> {
        self_replace::self_replace(&self.new).map_err(|e| self.failed(&self.exe, e))
    }

    /// Removes the sibling and the kept copy (whatever is left of them).
    fn clean(&self) {
        let _ = fs::remove_file(&self.new);
        let _ = fs::remove_file(&self.old);
    }
}

#[cfg(unix)]
fn copy_synced(from: &Path, to: &Path) -> io::Result<()> {
    fs::copy(from, to)?;
    fs::File::open(to)?.sync_all()
}

/// Makes a rename in the executable's directory durable (best effort: some file systems refuse
/// to sync a directory).
#[cfg(unix)]
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(handle) = fs::File::open(dir)
    {
        let _ = handle.sync_all();
    }
}

/// Runs `path --sea-info` with `env` and waits at most `timeout` (then kills it): it must exit 0
/// and, when it says, report `launcher` as its launcher version.
pub(crate) fn try_start(
    path: &Path,
    launcher: &Version,
    env: &std::collections::BTreeMap<std::ffi::OsString, std::ffi::OsString>,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = Command::new(path)
        .arg("--sea-info")
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("it cannot be executed: {e}"))?;
    let stdout = child.stdout.take().map(|s| std::thread::spawn(move || read_some(s)));
    let stderr = child.stderr.take().map(|s| std::thread::spawn(move || read_some(s)));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`--sea-info` did not finish within {} s", timeout.as_secs()));
            }
            Err(e) => return Err(format!("could not wait for it: {e}")),
        }
    };
    let joined = |h: Option<std::thread::JoinHandle<Vec<u8>>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    let (out, err) = (joined(stdout), joined(stderr));
    if !status.success() {
        let said = String::from_utf8_lossy(&err);
        let first = said.lines().next().unwrap_or_default();
        return Err(format!("`--sea-info` failed with {status}{}{first}", if first.is_empty() { "" } else { ": " }));
    }
    let info: serde_json::Value =
        serde_json::from_slice(&out).map_err(|_| "`--sea-info` did not print its JSON".to_owned())?;
    match info.get("launcher_version").and_then(|v| v.as_str()) {
        Some(found) if found != launcher.to_string() => {
            Err(format!("it reports launcher version {found}, its marker says {launcher}"))
        }
        _ if !info.is_object() => Err("`--sea-info` did not print a JSON object".to_owned()),
        _ => Ok(()),
    }
}

/// At most 1 MiB of a child's output (the rest is drained and dropped).
fn read_some(mut from: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let _ = (&mut from).take(1 << 20).read_to_end(&mut kept);
    let _ = io::copy(&mut from, &mut io::sink());
    kept
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    /// A scratch directory (its path, and the `tempfile` guard that removes it on drop).
    struct Scratch(PathBuf, #[allow(dead_code)] tempfile::TempDir);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = tempfile::Builder::new().prefix(&format!("sea-replace-{tag}-")).tempdir().expect("temp dir");
            Scratch(dir.path().to_owned(), dir)
        }

        fn script(&self, name: &str, body: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
            path
        }
    }

    fn env() -> BTreeMap<std::ffi::OsString, std::ffi::OsString> {
        [("PATH".into(), "/usr/bin:/bin".into())].into_iter().collect()
    }

    fn v(s: &str) -> Version {
        Version::parse(s).expect("semver")
    }

    #[test]
    fn a_trial_start_needs_exit_0_json_and_the_right_version_within_the_timeout() {
        let s = Scratch::new("trial");
        let good = s.script("good", r#"echo '{"launcher_version": "9.0.0"}'"#);
        assert_eq!(try_start(&good, &v("9.0.0"), &env(), TRIAL_TIMEOUT), Ok(()));
        let wrong = try_start(&good, &v("8.0.0"), &env(), TRIAL_TIMEOUT).expect_err("other version");
        assert!(wrong.contains("9.0.0"), "{wrong}");
        let failing = s.script("failing", "echo broken >&2; exit 3");
        let err = try_start(&failing, &v("9.0.0"), &env(), TRIAL_TIMEOUT).expect_err("exit 3");
        assert!(err.contains("broken"), "{err}");
        let garbage = s.0.join("garbage");
        fs::write(&garbage, b"\x7fELF\x02\x01\x01 not really").expect("write");
        fs::set_permissions(&garbage, fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = try_start(&garbage, &v("9.0.0"), &env(), TRIAL_TIMEOUT).expect_err("not executable");
        assert!(err.contains("cannot be executed"), "{err}");
        let silent = s.script("silent", "echo not json");
        assert!(try_start(&silent, &v("9.0.0"), &env(), TRIAL_TIMEOUT).is_err());
        let hanging = s.script("hanging", "exec sleep 30");
        let began = Instant::now();
        let err = try_start(&hanging, &v("9.0.0"), &env(), Duration::from_millis(300)).expect_err("hangs");
        assert!(err.contains("did not finish"), "{err}");
        assert!(began.elapsed() < Duration::from_secs(20), "killed at the deadline: {:?}", began.elapsed());
    }

    #[test]
    fn a_new_executable_that_fails_in_place_is_swapped_back() {
        let s = Scratch::new("swap");
        let exe = s.script("app", "echo old");
        let old_bytes = fs::read(&exe).expect("read");
        let swap = Swap::new(&exe);
        fs::write(&swap.new, b"new bytes").expect("write");
        let tried = std::cell::Cell::new(0);
        let err = swap
            .commit(&|path| {
                tried.set(tried.get() + 1);
                assert_eq!(fs::read(path).expect("read"), b"new bytes", "the new file is in place when tried");
                Err("exit 1".into())
            })
            .expect_err("does not start");
        assert!(err.to_string().contains("old one was restored"), "{err}");
        assert_eq!(tried.get(), 1);
        assert_eq!(fs::read(&exe).expect("read"), old_bytes, "the old executable is back");
        swap.clean();
        let left: Vec<_> = fs::read_dir(&s.0).expect("ls").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("app")], "nothing left beside it");
        // And the good case: the new one stays, the kept old one is removed.
        fs::write(&swap.new, b"newer").expect("write");
        swap.commit(&|_| Ok(())).expect("starts");
        swap.clean();
        assert_eq!(fs::read(&exe).expect("read"), b"newer");
        assert_eq!(fs::read_dir(&s.0).expect("ls").count(), 1);
    }
}
