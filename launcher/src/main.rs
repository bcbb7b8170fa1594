//! sea-launcher: the stub of a packed executable (bootstrap version: extract and run).
//!
//! This minimal stub finds its own payload, extracts it once into
//! `<cache>/pkg/<platform>/<version>-<sha12>/` (temporary sibling, then rename) and runs the
//! entry with the user's arguments. The full launcher (locks, version choice, supervision,
//! restart, clean-up, updates) replaces it.

mod gitenv;
mod restart;
mod signals;
mod stub;
mod supervise;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

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
        (
            "sea-launcher".to_owned(),
            format!(
                "{e}\nthis is sea-launcher {} for {}; pack an app with `sea-pack build`",
                stub::LAUNCHER_VERSION,
                stub::PLATFORM
            ),
        )
    })?;
    let manifest = package.manifest().clone();
    let fail = |m: String| (manifest.name.clone(), m);
    let home = std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| fail("HOME is not set".into()))?;
    let cache =
        std::env::var_os("XDG_CACHE_HOME").map_or_else(|| home.join(".cache"), PathBuf::from).join(&manifest.name);
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
    launch(&manifest, &tree, &exe).map_err(fail)
}

/// Glue for the supervision modules (thin on purpose; the real orchestration replaces it):
/// SPEC's app environment, the restart loop, and mirroring the app's end.
fn launch(manifest: &sea_payload::Manifest, tree: &Path, exe: &Path) -> Result<ExitCode, String> {
    let name = &manifest.name;
    let prefix = name.to_uppercase().replace('-', "_");
    let var = |suffix: &str| format!("{prefix}_{suffix}");
    let home = match std::env::var_os(var("HOME")) {
        Some(home) => PathBuf::from(home),
        None => std::env::var_os("HOME").map(PathBuf::from).ok_or("HOME is not set")?.join(format!(".{name}")),
    };
    let restart_dir = home.join("restart");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&restart_dir)
        .map_err(|e| format!("could not create {}: {e} (set {} to move it)", restart_dir.display(), var("HOME")))?;
    let restart_file = restart_dir.join(format!("{}.json", std::process::id()));
    restart::clear(&restart_file).map_err(|e| format!("could not remove {}: {e}", restart_file.display()))?;

    let relay = signals::SignalRelay::install().map_err(|e| format!("could not install signal handlers: {e}"))?;
    tracing::debug!(ignored = ?relay.ignored(), "signals ignored at start stay ignored");
    let base_env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    let mut user_args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut cwd: Option<PathBuf> = None;
    let mut added_env: BTreeMap<OsString, OsString> = BTreeMap::new();
    let mut storm = restart::StormGuard::new();
    loop {
        if let Some(signo) = relay.take_pending_termination() {
            let _ = restart::clear(&restart_file);
            signals::die_of(signo);
        }
        let mut env = base_env.clone();
        env.extend(added_env.clone());
        for (suffix, value) in [
            ("RUN_APP", OsString::from("1")),
            ("PKG_DIR", tree.as_os_str().to_owned()),
            ("LAUNCHER", exe.as_os_str().to_owned()),
            ("RESTART_FILE", restart_file.as_os_str().to_owned()),
            ("LOADER_PID", std::process::id().to_string().into()),
            ("APP_VERSION", manifest.version.to_string().into()),
        ] {
            env.insert(var(suffix).into(), value);
        }
        if let gitenv::GitEnvOutcome::Unparsable(count) = gitenv::inject(&mut env) {
            eprintln!(
                "{name}: warning: GIT_CONFIG_COUNT={count:?} is not a valid count; \
                 safe.bareRepository=explicit was not added for the app"
            );
        }
        let mut args: Vec<OsString> = manifest.args.iter().map(OsString::from).collect();
        args.extend(user_args.iter().cloned());
        let spawn = supervise::Spawn { program: tree.join(&manifest.entry), args, env, cwd: cwd.clone() };
        let outcome = supervise::run(&spawn, &relay).map_err(|e| e.to_string())?;
        if outcome.exit != supervise::Exit::Code(75) {
            let _ = restart::clear(&restart_file);
            supervise::mirror(outcome.exit);
        }
        match restart::take(&restart_file) {
            Ok(None) => {}
            Ok(Some(request)) => {
                if let Some(args) = request.args {
                    user_args = args;
                }
                if request.cwd.is_some() {
                    cwd = request.cwd;
                }
                added_env.extend(request.env);
                // request.version: a single bundled version here; the real launcher pins it.
            }
            Err(e) => eprintln!("{name}: {e}; restarting with the previous arguments"),
        }
        if let Err(storm_error) = storm.record(Instant::now()) {
            eprintln!("{name}: {storm_error}");
            return Ok(ExitCode::from(75));
        }
    }
}

fn write_meta(tree: &Path, package: &Package) -> std::io::Result<()> {
    std::fs::create_dir(tree.join(".sea"))?;
    std::fs::write(tree.join(".sea/manifest.json"), package.manifest_bytes())
}
