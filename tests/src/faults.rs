//! Helpers for fault-injection tests: payloads big enough to be interrupted, a signed feed on a
//! loopback server, resource limits for the process under test, and a check that the cache shows
//! only complete trees.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sea_payload::manifest::parse_tree_id;

use crate::layout::{names, tree_id, tree_matches};
use crate::server::Server;
use crate::{Sandbox, run, text};

/// `len` bytes of deterministic noise (a 64-bit LCG): does not compress, so a payload made of it
/// takes as long to unpack as its size says.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// `len` compressible but non-trivial bytes (xorshift over a 16-letter alphabet): a payload that
/// shrinks, yet is not one long run.
pub fn compressible(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b"0123456789abcdef"[(state % 16) as usize]
        })
        .collect()
}

/// Writes `count` files of `size` bytes of noise under `dir/data/<n % 16>/`.
pub fn fill(dir: &Path, count: usize, size: usize, seed: u64) {
    for i in 0..count {
        let sub = dir.join(format!("data/{}", i % 16));
        fs::create_dir_all(&sub).expect("mkdir");
        fs::write(sub.join(format!("f{i}")), noise(seed ^ i as u64, size)).expect("write");
    }
}

/// Checks that every directory of `pkg` named like a tree is the complete tree of one of
/// `binaries` (their files, kinds and sizes, and the completion mark); returns the first
/// problem. Temporary and doomed trees (`.<id>.tmp-*`, `.<id>.trash-*`) are not trees.
pub fn check_trees(pkg: &Path, binaries: &[&Path]) -> Result<(), String> {
    let ids: Vec<(String, &Path)> = binaries.iter().map(|b| (tree_id(b), *b)).collect();
    for name in names(pkg) {
        if parse_tree_id(&name).is_none() || !pkg.join(&name).is_dir() {
            continue;
        }
        let Some((_, binary)) = ids.iter().find(|(id, _)| *id == name) else {
            return Err(format!("unknown tree {name}"));
        };
        tree_matches(binary, &pkg.join(&name)).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Names in `pkg` that are leftovers of interrupted work: `.tmp-` and `.trash-` directories.
pub fn scratch(pkg: &Path) -> Vec<String> {
    names(pkg).into_iter().filter(|n| n.contains(".tmp-") || n.contains(".trash-")).collect()
}

/// Limits the size of any file the command writes to `bytes` and ignores `SIGXFSZ`, so a write
/// past it fails with `EFBIG` — a disk that fills up part-way, for an unprivileged process on a
/// disk with plenty of space. Also disables core dumps.
pub fn limit_file_size(cmd: &mut Command, bytes: u64) -> &mut Command {
    // SAFETY: between fork and exec; setrlimit and signal are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        })
    }
}

/// No core files for processes that are meant to crash.
pub fn no_core_dumps(cmd: &mut Command) -> &mut Command {
    // SAFETY: between fork and exec; setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
            Ok(())
        })
    }
}

/// A publisher's world: a sandbox with a signing key, a feed directory served by a loopback
/// [`Server`], and packing of app `name` with that feed and key baked in. (Not the feed itself:
/// that is `sea_payload::feed::Feed`.)
#[derive(Debug)]
pub struct Publisher {
    /// The sandbox.
    pub sb: Sandbox,
    /// The directory the server serves (`sea-pack release` output).
    pub dir: PathBuf,
    /// The server.
    pub server: Server,
    /// The secret key file.
    pub key: PathBuf,
    /// The public key.
    pub public_key: String,
    /// The app name.
    pub name: String,
}

impl Publisher {
    /// A fresh world for app `name`.
    pub fn new(name: &str) -> Self {
        let sb = Sandbox::new();
        let dir = sb.path("feed");
        fs::create_dir(&dir).expect("mkdir feed");
        let server = Server::start(&dir);
        let (key, public_key) = sb.keygen("release");
        Self { sb, dir, server, key, public_key, name: name.to_owned() }
    }

    /// The feed URL baked into binaries.
    pub fn url(&self) -> String {
        format!("{}/stable.json", self.server.url())
    }

    /// `<PREFIX>_<suffix>`.
    pub fn var(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.name.to_uppercase().replace('-', "_"))
    }

    /// Packs the app tree `app` as version `version` (entry `bin/app`), signed, with the feed.
    pub fn pack(&self, app: &Path, version: &str) -> PathBuf {
        let key = self.key.to_string_lossy().into_owned();
        let url = self.url();
        let flags = ["--compression", "zstd:1", "--feed", &url, "--public-key", &self.public_key, "--sign-key", &key];
        self.sb.pack(app, &self.name, version, "bin/app", &flags)
    }

    /// Publishes `binaries` in the feed.
    pub fn release(&self, binaries: &[&Path]) {
        let out = run(self
            .sb
            .sea_pack()
            .arg("release")
            .args(binaries)
            .arg("--base-url")
            .arg(self.server.url())
            .arg("-o")
            .arg(&self.dir)
            .arg("--sign-key")
            .arg(&self.key));
        assert!(out.status.success(), "release: {}", text(&out).1);
    }

    /// `binary --sea-update`, with a short network timeout.
    pub fn update_cmd(&self, binary: &Path) -> Command {
        let mut cmd = self.sb.cmd(binary);
        cmd.arg("--sea-update").env(self.var("UPDATE_TIMEOUT"), "10");
        cmd
    }

    /// Runs `binary --sea-update`.
    pub fn update(&self, binary: &Path) -> Output {
        run(&mut self.update_cmd(binary))
    }

    /// The cache's platform directory.
    pub fn pkg(&self) -> PathBuf {
        crate::layout::pkg_dir(&self.sb.cache(&self.name))
    }

    /// The cache's download directory.
    pub fn downloads(&self) -> PathBuf {
        self.sb.cache(&self.name).join("downloads")
    }
}
