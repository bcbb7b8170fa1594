//! sea-launcher: the stub of a packed executable (bootstrap version: extract and run).
//!
//! This minimal stub finds its own payload, extracts it once into
//! `<cache>/pkg/<platform>/<version>-<sha12>/` (temporary sibling, then rename) and runs the
//! entry with the user's arguments. The full launcher (locks, version choice, supervision,
//! restart, clean-up, updates) replaces it.

mod stub;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use sea_payload::Package;
use sea_payload::unpack::UnpackOptions;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err((name, message)) => {
            eprintln!("{name}: {message}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<ExitCode, (String, String)> {
    let exe = std::env::current_exe().map_err(|e| ("sea-launcher".to_owned(), e.to_string()))?;
    let package = Package::open(&exe).map_err(|e| {
        ("sea-launcher".to_owned(), format!("{e}\nthis is sea-launcher {}; pack an app with `sea-pack build`", stub::LAUNCHER_VERSION))
    })?;
    let manifest = package.manifest().clone();
    let fail = |m: String| (manifest.name.clone(), m);
    let home = std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| fail("HOME is not set".into()))?;
    let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(|| home.join(".cache"), PathBuf::from).join(&manifest.name);
    let pkg = cache.join("pkg").join(&manifest.platform);
    let tree = pkg.join(manifest.tree_id());
    if !tree.join(".sea/manifest.json").exists() {
        std::fs::create_dir_all(&pkg).map_err(|e| fail(format!("could not create {}: {e}", pkg.display())))?;
        let tmp = pkg.join(format!(".{}.tmp-{}", manifest.tree_id(), std::process::id()));
        std::fs::create_dir(&tmp).map_err(|e| fail(e.to_string()))?;
        package.unpack_to(&tmp, &UnpackOptions::default()).map_err(|e| fail(e.to_string()))?;
        write_meta(&tmp, &package).map_err(|e| fail(e.to_string()))?;
        if let Err(e) = std::fs::rename(&tmp, &tree) {
            let _ = std::fs::remove_dir_all(&tmp);
            if !tree.exists() {
                return Err(fail(e.to_string()));
            }
        }
    }
    let status = Command::new(tree.join(&manifest.entry))
        .args(&manifest.args)
        .args(std::env::args_os().skip(1))
        .status()
        .map_err(|e| fail(format!("could not run {}: {e}", manifest.entry)))?;
    Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
}

fn write_meta(tree: &Path, package: &Package) -> std::io::Result<()> {
    std::fs::create_dir(tree.join(".sea"))?;
    std::fs::write(tree.join(".sea/manifest.json"), package.manifest_bytes())
}
