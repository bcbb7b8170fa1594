//! Shared helpers for the end-to-end tests: real binaries, real processes, temporary homes.
//!
//! [`Sandbox`] owns a temporary directory holding a fake `$HOME`, the app sources it writes and
//! the packed binaries it builds; dropping it removes everything. Commands made by a sandbox run
//! with a cleared environment (only `PATH`, `HOME`, `LANG` and what the test adds), so the
//! developer's own `XDG_CACHE_HOME` or `<PREFIX>_*` variables never leak into a test.
//!
//! The binaries under test are built once per test process with the same profile as the tests
//! (`cargo build -p sea-pack -p sea-launcher`), so `cargo test` alone always tests fresh code.

#![allow(clippy::unwrap_used)] // test support: a failed set-up step should fail the test loudly

pub mod faults;
pub mod forge;
pub mod layout;
pub mod nginx;
pub mod proc;
pub mod server;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Paths of the binaries under test.
#[derive(Debug)]
pub struct Bins {
    /// `sea-pack`.
    pub pack: PathBuf,
    /// `sea-launcher` (the stub).
    pub launcher: PathBuf,
}

/// Builds (once) and returns the binaries under test.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        // The test executable lives in target/<profile>/deps/.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let release = profile_dir.file_name() == Some(OsStr::new("release"));
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "sea-pack", "-p", "sea-launcher"]);
        if release {
            cmd.arg("--release");
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries under test failed");
        let exe_name = |n: &str| profile_dir.join(format!("{n}{}", std::env::consts::EXE_SUFFIX));
        Bins { pack: exe_name("sea-pack"), launcher: exe_name("sea-launcher") }
    })
}

/// A temporary world for one test.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A fresh sandbox with an empty `home/` (0700).
    pub fn new() -> Self {
        bins();
        let dir = tempfile::Builder::new().prefix("sea-e2e-").tempdir().unwrap();
        let home = dir.path().join("home");
        fs::create_dir(&home).unwrap();
        set_mode(&home, 0o700);
        Self { dir }
    }

    /// The sandbox root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `$HOME` for commands of this sandbox.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// The default cache of app `name`: `$HOME/.cache/<name>`.
    pub fn cache(&self, name: &str) -> PathBuf {
        self.home().join(".cache").join(name)
    }

    /// The default home (state) of app `name`: `$HOME/.<name>`.
    pub fn app_home(&self, name: &str) -> PathBuf {
        self.home().join(format!(".{name}"))
    }

    /// A path inside the sandbox.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Starts writing an app source tree at `apps/<dir>`.
    pub fn app(&self, dir: &str) -> App {
        let root = self.root().join("apps").join(dir);
        fs::create_dir_all(&root).unwrap();
        App { root }
    }

    /// A command with the sandbox's clean environment.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()));
        cmd.env("HOME", self.home());
        cmd.env("LANG", "C.UTF-8");
        cmd.current_dir(self.root());
        cmd
    }

    /// `sea-pack` with the sandbox's environment.
    pub fn sea_pack(&self) -> Command {
        self.cmd(&bins().pack)
    }

    /// Packs `app` as `name` `version` with entry `entry` into `bin/<name>-<version>`, passing
    /// `extra` flags; panics with sea-pack's stderr if it fails.
    pub fn pack(&self, app: &Path, name: &str, version: &str, entry: &str, extra: &[&str]) -> PathBuf {
        let out_dir = self.root().join("bin");
        fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join(format!("{name}-{version}"));
        let output = self
            .sea_pack()
            .arg("build")
            .arg(app)
            .args(["--name", name, "--version", version, "--entry", entry])
            .args(extra)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "sea-pack build failed:\n{}", String::from_utf8_lossy(&output.stderr));
        out
    }
}

/// An app source tree being written.
#[derive(Debug)]
pub struct App {
    root: PathBuf,
}

impl App {
    /// Writes a data file.
    pub fn file(self, rel: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        self
    }

    /// Writes an executable file (a `#!/bin/sh` script, usually).
    pub fn exec(self, rel: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.root.join(rel);
        let this = self.file(rel, contents);
        set_mode(&path, 0o755);
        this
    }

    /// The tree's root.
    pub fn path(&self) -> &Path {
        &self.root
    }
}

/// chmod.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// stdout and stderr of a finished command, as text.
pub fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Runs a command and returns its output, panicking if it could not be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

/// Whether the tests run as root (some checks need an unprivileged user, others need root).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Asserts that a `sea-pack` run failed cleanly: non-zero exit, one `sea-pack: ` message on
/// stderr, no panic. Returns stderr. `what` names the case in the failure message.
pub fn assert_clean_error(output: &Output, what: &str) -> String {
    let (stdout, stderr) = text(output);
    assert!(!output.status.success(), "{what}: expected a failure, got success\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(output.status.code(), Some(1), "{what}: exit status {:?}, stderr: {stderr}", output.status);
    assert!(stderr.starts_with("sea-pack: "), "{what}: stderr does not start with 'sea-pack: ': {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{what}: panic: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: the error is not one line: {stderr}");
    stderr
}

/// A comparable listing of a tree: relative path → `dir`, `link -> <target>`, or
/// `file <x|-> <sha256>` (the executable bit is the only mode a payload keeps).
pub fn tree_snapshot(root: &Path) -> std::collections::BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, format!("link -> {}", fs::read_link(&path).unwrap().display()));
            } else if meta.is_dir() {
                out.insert(rel, "dir".to_owned());
                walk(root, &path, out);
            } else {
                use std::os::unix::fs::PermissionsExt;
                let exec = if meta.permissions().mode() & 0o111 != 0 { "x" } else { "-" };
                let sha = sea_payload::digest::sha256_hex(&fs::read(&path).unwrap());
                out.insert(rel, format!("file {exec} {sha}"));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

impl Sandbox {
    /// Writes a tiny stand-in for the launcher stub at `stubs/fake-<version>`: only the marker
    /// `sea-pack` looks for (host platform). Binaries packed with it do not run, but inspect,
    /// verify, extract and release handle them like any other, and corrupting them is cheap.
    pub fn fake_stub(&self, version: &str) -> PathBuf {
        let dir = self.root().join("stubs");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("fake-{version}"));
        let platform = sea_payload::platform::host().unwrap();
        let mut bytes = b"#!/bin/false\nnot a real launcher\0".to_vec();
        bytes.extend(sea_payload::marker::encode(version, platform));
        bytes.extend_from_slice(b"end\n");
        fs::write(&path, bytes).unwrap();
        set_mode(&path, 0o755);
        path
    }

    /// Runs `sea-pack keygen -o keys/<name>.key`; returns the secret key path and the public key
    /// (the last token `keygen` printed).
    pub fn keygen(&self, name: &str) -> (PathBuf, String) {
        let dir = self.root().join("keys");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.key"));
        let out = run(self.sea_pack().arg("keygen").arg("-o").arg(&path));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "keygen failed: {stderr}");
        let key = stdout.split_whitespace().last().unwrap().to_owned();
        (path, key)
    }
}

/// The signals a launcher relays to its app.
pub const RELAYED_SIGNALS: [(&str, i32); 7] = [
    ("INT", libc::SIGINT),
    ("TERM", libc::SIGTERM),
    ("HUP", libc::SIGHUP),
    ("QUIT", libc::SIGQUIT),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("WINCH", libc::SIGWINCH),
];

/// Starts `cmd` with the relayed signals at their default action. A test runner started in the
/// background of a non-interactive shell inherits `SIGINT`/`SIGQUIT` ignored, and `nohup` ignores
/// `SIGHUP`; the launcher rightly keeps such signals ignored, which would defeat signal tests.
pub fn default_signals(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec; only `signal` (async-signal-safe) is called.
    unsafe {
        cmd.pre_exec(|| {
            for (_, signo) in RELAYED_SIGNALS {
                libc::signal(signo, libc::SIG_DFL);
            }
            Ok(())
        })
    }
}

/// Lines of a text file (empty if it does not exist yet).
pub fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).map(|s| s.lines().map(str::to_owned).collect()).unwrap_or_default()
}

/// A pseudo-terminal: the master stays with the test, the slave becomes a process's controlling
/// terminal (see [`Pty::attach`]).
#[derive(Debug)]
pub struct Pty {
    master: std::os::fd::OwnedFd,
    slave: std::os::fd::OwnedFd,
}

impl Pty {
    /// Opens a new pseudo-terminal pair with the kernel's default settings (`ISIG` on, so `^C`
    /// makes the terminal send `SIGINT` to its foreground process group).
    pub fn open() -> Pty {
        use std::os::fd::FromRawFd;
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: out-pointers to two ints; null name/termios/winsize are allowed.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        for fd in [master, slave] {
            // SAFETY: fcntl on descriptors we just opened (keeps them out of unrelated children).
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        // SAFETY: openpty returned two open descriptors that nothing else owns.
        unsafe {
            Pty { master: std::os::fd::OwnedFd::from_raw_fd(master), slave: std::os::fd::OwnedFd::from_raw_fd(slave) }
        }
    }

    /// Runs `cmd` as the leader of a new session whose controlling terminal is this pty, with the
    /// pty as its stdin, stdout and stderr: it and its children form the foreground process group,
    /// as a program started from an interactive shell does.
    pub fn attach(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        for stdio in 0..3 {
            let fd = std::process::Stdio::from(self.slave.try_clone().unwrap());
            match stdio {
                0 => cmd.stdin(fd),
                1 => cmd.stdout(fd),
                _ => cmd.stderr(fd),
            };
        }
        // SAFETY: between fork and exec; setsid and ioctl are async-signal-safe. stdin is the
        // slave by then (std sets up stdio before running pre_exec hooks).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Types `bytes` at the terminal (`b"\x03"` is Ctrl-C).
    pub fn type_bytes(&self, bytes: &[u8]) {
        use std::os::fd::AsRawFd;
        // SAFETY: `bytes` is valid for its length; the master is open.
        let n = unsafe { libc::write(self.master.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(usize::try_from(n).ok(), Some(bytes.len()), "write to pty: {}", std::io::Error::last_os_error());
    }
}

/// The one rule for a check that cannot run here: `true` when `available`; otherwise the test
/// says `SKIP: <why>` on stderr and the caller skips that part — but under CI (`CI=true`), where
/// `scripts/test.sh` runs as root and installs every tool the tests use, the test fails instead,
/// unless `SEA_ALLOW_SKIP=1`. So a skip never counts as a pass in CI.
pub fn require(available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let allowed = std::env::var("SEA_ALLOW_SKIP").is_ok_and(|v| v == "1");
    assert!(!ci || allowed, "{why}, and CI must run every check (SEA_ALLOW_SKIP=1 to allow skips)");
    eprintln!("SKIP: {why}; this part of the test did not run");
    false
}

/// Whether the external tool `name` can be run (`<name> --version`-style probe: it starts), by
/// the rule of [`require`].
pub fn require_tool(name: &str) -> bool {
    require(Command::new(name).arg("--version").output().is_ok(), &format!("{name} is not installed"))
}

/// Whether this test runs as root (it chowns, mounts or drops privileges), by the rule of
/// [`require`]: CI runs as root, so there these tests always run.
pub fn require_root(what: &str) -> bool {
    require(is_root(), &format!("needs root to {what}"))
}
