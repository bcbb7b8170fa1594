//! Self-replacement: when a release needs a newer launcher than this one, the executable is
//! replaced by the new launcher stub followed by the new release's payload artifact — which is,
//! byte for byte, what `sea-pack build` makes with that stub — after both were verified.
//!
//! The swap itself is the `self-replace` crate's: a temporary file beside the executable, the old
//! permissions copied, then a rename, so the path always names a complete executable and a
//! failure leaves the old one in place. The running process keeps its open handle to the old
//! file; the supervising launcher `exec`s the new one at the app's next restart
//! ([`crate::relaunch`]).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use sea_payload::Package;
use sea_payload::feed::Release;
use semver::Version;

use super::UpdateError;
use crate::app::App;
use crate::stub;

/// Replaces the running executable; returns the new launcher's version.
pub(crate) fn replace(
    app: &App,
    stub_path: &Path,
    payload_path: &Path,
    release: &Release,
) -> Result<Version, UpdateError> {
    let io = |what, path: &Path, source| UpdateError::Io { what, path: path.to_owned(), source };
    let stub_bytes = fs::read(stub_path).map_err(|e| io("read", stub_path, e))?;
    let version = stub::find_version(&stub_bytes)
        .ok_or_else(|| UpdateError::BadLauncher("the downloaded launcher carries no sea-launcher marker".into()))?;
    if version < release.min_launcher {
        return Err(UpdateError::BadLauncher(format!(
            "the downloaded launcher is version {version}, the release needs {}",
            release.min_launcher
        )));
    }
    let dir = payload_path.parent().unwrap_or(Path::new("."));
    let composed = dir.join(format!("{}-{}.new", app.name(), std::process::id()));
    let result = compose(&composed, &stub_bytes, payload_path)
        .map_err(|e| io("write", &composed, e))
        .and_then(|()| check(&composed, release))
        .and_then(|()| {
            self_replace::self_replace(&composed)
                .map_err(|source| UpdateError::SelfReplace { path: app.process.exe_path.clone(), source })
        });
    let _ = fs::remove_file(&composed);
    result.map(|()| version)
}

fn compose(path: &Path, stub: &[u8], payload: &Path) -> io::Result<()> {
    let mut out = fs::File::create(path)?;
    out.write_all(stub)?;
    io::copy(&mut fs::File::open(payload)?, &mut out)?;
    out.sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The composed executable must read back as the release it is meant to be.
fn check(path: &Path, release: &Release) -> Result<(), UpdateError> {
    let package = Package::open(path).map_err(UpdateError::Package)?;
    if package.manifest().version != release.version {
        return Err(UpdateError::BadLauncher("the composed executable does not carry the release".into()));
    }
    Ok(())
}
