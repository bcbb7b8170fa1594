//! `sea-pack build`: stub + payload + index + manifest + signature + trailer, written atomically.
//!
//! # Implementation
//! Every flag is checked before any work starts, so a typo fails in milliseconds rather than
//! after minutes of zstd -19: name, version, entry, platform, compression, feed, keys, the stub's
//! marker, and that the output is none of the inputs (the archive, the stub, the key, or a path
//! inside the input directory, which would pack itself). An archive input is then unpacked
//! safely ([`crate::input`]), the entry is checked on disk, and the stub and package are
//! streamed into a temporary file beside the output that is renamed into place with mode 0755
//! ([`crate::output`]). [`sea_payload::pack::write_package`] makes the payload deterministic, so
//! the same inputs give the same bytes whatever the machine or thread count.
//!
//! With `--sign-key`, the manifest bytes are signed; they carry the payload's and the index's
//! SHA-256, so the signature covers every byte after the stub.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sea_payload::container::Placement;
use sea_payload::manifest::{self, Naming, UpdateSettings};
use sea_payload::pack::{PackOptions, PackageSpec, write_package};
use sea_payload::{Compression, Manifest, feed, paths, platform};
use semver::Version;

use crate::cli::BuildArgs;
use crate::input::{self, Kind, Prepared};
use crate::output::{AtomicFile, Replace};
use crate::progress::{self, Stages};
use crate::sign::{self, SigningKey};
use crate::stub::{self, Stub};

/// Everything `build` needs, checked.
#[derive(Debug)]
struct Plan {
    spec: PackageSpec,
    compression: Compression,
    placement: Placement,
    launcher_path: PathBuf,
    signer: Option<SigningKey>,
    kind: Kind,
}

/// Runs `build`.
pub(crate) fn run(args: &BuildArgs, out: &mut dyn Write) -> Result<()> {
    let plan = plan(args)?;
    check_output(args, &plan)?;
    let prepared = input::prepare(&args.input, plan.kind, args.strip_components)?;
    check_entry(&args.input, plan.kind, prepared.root(), &plan.spec.entry)?;
    for warning in crate::interpreter::warnings(prepared.root(), &plan.spec.entry, &plan.spec.args) {
        eprintln!("sea-pack: warning: {warning}");
    }
    let manifest = write(&args.output, &plan, &prepared, args.quiet)?;
    let size = fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0);
    writeln!(
        out,
        "built {} ({size} bytes): {} {} for {}, {} entries, payload {} bytes ({}){}",
        args.output.display(),
        manifest.name,
        manifest.version,
        manifest.platform,
        manifest.entries,
        manifest.payload.size,
        manifest.compression,
        if plan.signer.is_some() { ", signed" } else { "" }
    )
    .context("could not write to stdout")
}

fn plan(args: &BuildArgs) -> Result<Plan> {
    manifest::validate_name(&args.name).map_err(|e| anyhow!("invalid --name: {e}"))?;
    let version = Version::parse(&args.version)
        .map_err(|e| anyhow!("--version '{}' is not a semantic version such as 1.2.3: {e}", args.version))?;
    let entry = paths::normalize_str(&args.entry)
        .ok()
        .filter(|e| !paths::is_reserved(e))
        .ok_or_else(|| anyhow!("--entry '{}' must be a relative path inside the input, e.g. bin/app", args.entry))?;
    for arg in &args.args {
        manifest::check_arg_template(arg).map_err(|e| anyhow!("--arg '{arg}': {e}"))?;
    }
    let naming = naming(args)?;
    let compression: Compression = args.compression.parse()?;
    let launcher_path = match &args.launcher {
        Some(path) => path.clone(),
        None => default_launcher()?,
    };
    let stub = stub::load(&launcher_path)?;
    // The stub's format and architecture first: a mismatch is an error, not choose_platform's warning.
    let target = args.platform.as_deref().filter(|p| platform::is_known(p)).unwrap_or(&stub.platform);
    let placement = crate::container::prepare(&stub, target, &launcher_path)?;
    let platform = choose_platform(args.platform.as_deref(), &stub, &launcher_path)?;
    let min_launcher = choose_min_launcher(args.min_launcher.as_deref(), &stub, &launcher_path)?;
    let update = update_settings(args)?;
    let signer = args.sign_key.as_deref().map(SigningKey::load).transpose()?;
    check_keys(&update, &args.name, signer.as_ref())?;
    let kind = input::detect(&args.input)?;
    let spec = PackageSpec {
        name: args.name.clone(),
        version,
        platform,
        entry,
        args: args.args.clone(),
        min_launcher,
        launcher_version: stub.version.clone(),
        packed_with: concat!("sea-pack ", env!("CARGO_PKG_VERSION")).to_owned(),
        update,
        naming,
        supervise: !args.no_supervise,
    };
    Ok(Plan { spec, compression, placement, launcher_path, signer, kind })
}

/// `--env-prefix`, `--home-name` and `--cache-name`, checked.
fn naming(args: &BuildArgs) -> Result<Naming> {
    let check = |flag: &str, value: &Option<String>, valid: fn(&str) -> Result<(), String>| {
        value.as_deref().map(valid).transpose().map_err(|e| anyhow!("invalid {flag}: {e}"))
    };
    check("--env-prefix", &args.env_prefix, manifest::validate_env_prefix)?;
    check("--home-name", &args.home_name, manifest::validate_dir_name)?;
    check("--cache-name", &args.cache_name, manifest::validate_dir_name)?;
    Ok(Naming {
        env_prefix: args.env_prefix.clone(),
        home_name: args.home_name.clone(),
        cache_name: args.cache_name.clone(),
    })
}

/// `sea-launcher` beside the running `sea-pack`.
fn default_launcher() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("could not find the sea-pack executable; pass --launcher")?;
    let dir = exe.parent().context("could not find the sea-pack executable's directory; pass --launcher")?;
    Ok(dir.join(format!("sea-launcher{}", std::env::consts::EXE_SUFFIX)))
}

fn choose_platform(given: Option<&str>, stub: &Stub, stub_path: &Path) -> Result<String> {
    let Some(given) = given else {
        if !platform::is_known(&stub.platform) {
            bail!(
                "the stub {} reports platform '{}', which sea does not know; pass --platform (one of: {})",
                stub_path.display(),
                stub.platform,
                platform::KNOWN.join(", ")
            );
        }
        return Ok(stub.platform.clone());
    };
    if !platform::is_known(given) {
        bail!("--platform '{given}' is not a known platform; use one of: {}", platform::KNOWN.join(", "));
    }
    if given != stub.platform {
        eprintln!(
            "sea-pack: warning: --platform {given} differs from the platform of the stub {} ({}): \
             the output will not run as packed",
            stub_path.display(),
            stub.platform
        );
    }
    Ok(given.to_owned())
}

fn choose_min_launcher(given: Option<&str>, stub: &Stub, stub_path: &Path) -> Result<Version> {
    let (major, minor, patch) = sea_payload::trailer::FORMAT_MIN_LAUNCHER;
    let oldest = Version::new(major, minor, patch);
    if stub.version < oldest {
        bail!(
            "{} is launcher {}, which cannot read the package format this sea-pack writes (it needs {oldest} \
             or newer); use the sea-launcher of this release",
            stub_path.display(),
            stub.version
        );
    }
    let Some(given) = given else { return Ok(stub.version.clone()) };
    let version =
        Version::parse(given).map_err(|e| anyhow!("--min-launcher '{given}' is not a semantic version: {e}"))?;
    if version < oldest {
        bail!(
            "--min-launcher {version} is older than {oldest}, the oldest launcher that reads the package \
             format this sea-pack writes; give {oldest} or newer"
        );
    }
    if version > stub.version {
        bail!(
            "--min-launcher {version} is newer than the stub it ships with ({} is version {}): \
             the packed binary could not run its own payload",
            stub_path.display(),
            stub.version
        );
    }
    Ok(version)
}

fn update_settings(args: &BuildArgs) -> Result<UpdateSettings> {
    let mut channel = None;
    if let Some(url) = &args.feed {
        feed::check_url(url).map_err(|e| anyhow!("--feed: {e}; e.g. --feed https://example.com/hello/stable.json"))?;
        // The channel the launcher follows is the feed's file stem, recorded in the manifest so
        // that a feed of another channel served at this URL is refused.
        channel = Some(feed::channel_of_url(url).map(str::to_owned).ok_or_else(|| {
            anyhow!(
                "--feed '{url}' must name a channel's feed file, <channel>.json (what `sea-pack release \
                 --channel <channel>` writes), e.g. https://example.com/hello/stable.json"
            )
        })?);
    }
    let keys = args.public_key.iter().map(|k| sign::resolve_public_key(k)).collect::<Result<Vec<_>>>()?;
    if args.feed.is_some() && keys.is_empty() {
        bail!(
            "--feed needs --public-key: the launcher installs only releases signed by the key baked in \
             (make one with `sea-pack keygen -o release.key` and pass --public-key release.key.pub --sign-key release.key)"
        );
    }
    if keys.is_empty() && (args.threshold.is_some() || args.trust.is_some()) {
        bail!("--threshold and --trust need the root keys: pass --public-key <KEY> (repeatable)");
    }
    if let Some(m) = args.threshold
        && (m == 0 || m as usize > keys.len())
    {
        bail!("--threshold {m} must be between 1 and the number of --public-key root keys ({})", keys.len());
    }
    let trust = args.trust.as_deref().map(read_trust).transpose()?;
    // One key, threshold 1: the one-key format, byte for byte (older tools read it).
    let whole_root = keys.len() > 1 || args.threshold.is_some_and(|m| m != 1);
    let update = UpdateSettings {
        feed: args.feed.clone(),
        public_key: keys.first().cloned(),
        channel,
        root_keys: if whole_root { keys.clone() } else { Vec::new() },
        threshold: args.threshold.filter(|_| whole_root),
        trust,
    };
    if let Some(root) = update.root() {
        root.validate().map_err(|e| anyhow!("--public-key: {e}"))?;
    }
    if let Some(dir) = &args.trust {
        // The chain must walk from this root, or no client could use it.
        update.trusted(&args.name).map_err(|e| {
            anyhow!(
                "--trust {}: {e}; the chain does not verify from the --public-key root keys (and \
                 --threshold) given, so no binary built with them could use it",
                dir.display()
            )
        })?;
    }
    Ok(update)
}

/// Reads `<DIR>/trust.json` for `--trust`, as its exact text.
fn read_trust(dir: &Path) -> Result<String> {
    let path = dir.join(sea_payload::trust::TRUST_FILE);
    let bytes = fs::read(&path).with_context(|| {
        format!("--trust: could not read {} (write it with `sea-pack trust {}`)", path.display(), dir.display())
    })?;
    sea_payload::trust::TrustFile::from_bytes(&bytes).map_err(|e| anyhow!("--trust: {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow!("--trust: {} is not UTF-8 text", path.display()))
}

/// The payload's signer must be a key this binary trusts on its own: a root key, or with an
/// embedded chain a release key its newest statement trusts.
fn check_keys(update: &UpdateSettings, name: &str, signer: Option<&SigningKey>) -> Result<()> {
    let trusted = update.trusted(name).map_err(|e| anyhow!("{e}"))?.map(|a| a.trusted);
    match (trusted, signer) {
        (Some(trusted), Some(signer)) if !trusted.trusts(&signer.public_base64()) && trusted.version == 0 => bail!(
            "--sign-key {} (public key {}) does not match --public-key {}: the launcher would refuse \
             the payload; pass the matching pair (or delegate this key with `sea-pack trust --delegate` \
             and build with --trust <DIR>)",
            signer.path().display(),
            signer.public_base64(),
            trusted.release_keys.join(" / ")
        ),
        (Some(trusted), Some(signer)) if !trusted.trusts(&signer.public_base64()) => bail!(
            "--sign-key {} (public key {}) is not a key trust statement {} (embedded with --trust) trusts: \
             the launcher would refuse the payload; sign with one of its release keys, or write a new \
             statement that delegates this key",
            signer.path().display(),
            signer.public_base64(),
            trusted.version
        ),
        (Some(_), None) => bail!(
            "--public-key needs --sign-key: a launcher that trusts a key refuses an unsigned payload, so this \
             binary could not even unpack itself; pass the matching --sign-key"
        ),
        _ => Ok(()),
    }
}

/// The output must not be (or, for a directory input, be inside) any input.
fn check_output(args: &BuildArgs, plan: &Plan) -> Result<()> {
    let out = &args.output;
    if out.is_dir() {
        bail!("-o {} is a directory; give the path of the file to write", out.display());
    }
    let out_abs = resolve(out)?;
    let input_abs = resolve(&args.input)?;
    let same_as = |what: &str, path: &Path| -> Result<()> {
        if resolve(path)? == out_abs {
            bail!("-o {} is the {what} {}: write the output elsewhere", out.display(), path.display());
        }
        Ok(())
    };
    same_as("launcher stub", &plan.launcher_path)?;
    if let Some(signer) = &plan.signer {
        same_as("secret key", signer.path())?;
    }
    match plan.kind {
        Kind::Dir if out_abs.starts_with(&input_abs) => bail!(
            "-o {} is inside the input directory {}: the output would pack itself; write it elsewhere",
            out.display(),
            args.input.display()
        ),
        Kind::Archive(_) => same_as("input archive", &args.input),
        Kind::Dir => Ok(()),
    }
}

/// An absolute path with every existing part resolved (links, `..`); the missing tail is appended
/// as written, so a not-yet-created output still compares correctly.
fn resolve(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).with_context(|| format!("could not resolve {}", path.display()))?;
    let mut existing = absolute.as_path();
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            return Ok(tail.iter().rev().fold(real, |acc: PathBuf, part| acc.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_owned());
                existing = parent;
            }
            _ => return Ok(absolute),
        }
    }
}

/// Fails fast, before compressing anything, when the entry is not an executable file.
fn check_entry(input: &Path, kind: Kind, root: &Path, entry: &str) -> Result<()> {
    let path = root.join(entry);
    let meta = fs::symlink_metadata(&path).map_err(|_| {
        anyhow!(
            "--entry '{entry}' is not in the input {} (paths are relative to its root){}",
            input.display(),
            nesting_hint(input, kind, root, entry)
        )
    })?;
    let problem = if meta.file_type().is_symlink() {
        "is a symbolic link; name the file it points to"
    } else if meta.is_dir() {
        "is a directory, not a program"
    } else if !meta.is_file() {
        "is not a regular file"
    } else if sea_payload::pack::executable_bit(&meta) == Some(false) {
        // Where files have no executable bit (Windows) there is nothing to check.
        "is not executable: chmod +x it before packing"
    } else {
        return Ok(());
    };
    bail!("--entry '{entry}' in {} {problem}", input.display())
}

/// When the input holds a single directory that contains the entry (`npm pack`'s `package/`),
/// says how to drop it.
fn nesting_hint(input: &Path, kind: Kind, root: &Path, entry: &str) -> String {
    let Ok(mut children) = fs::read_dir(root) else { return String::new() };
    let (Some(Ok(only)), None) = (children.next(), children.next()) else { return String::new() };
    if !only.path().join(entry).exists() {
        return String::new();
    }
    let top = only.file_name().to_string_lossy().into_owned();
    match kind {
        Kind::Archive(_) => format!("; it is under '{top}/': add --strip-components 1"),
        Kind::Dir => format!("; it is under '{top}/': pass {} as the input", input.join(&top).display()),
    }
}

/// Writes stub and package to a temporary file beside `out`, then renames it into place.
fn write(out: &Path, plan: &Plan, prepared: &Prepared, quiet: bool) -> Result<Manifest> {
    let dir = crate::output::parent_dir(out);
    fs::create_dir_all(dir).with_context(|| format!("could not create the output directory {}", dir.display()))?;
    let mut file = AtomicFile::create(out)?;
    file.writer().write_all(plan.placement.head()).with_context(|| format!("could not write {}", out.display()))?;
    let (files, walked) = progress::tree_stats(prepared.root());
    let size = prepared.size.unwrap_or(walked);
    let stages = Stages::new(quiet, size);
    stages.stage("reading", &format!("packing: reading tree ({files} files, {:.1} MB)", size as f64 / 1e6));
    let options = PackOptions { compression: plan.compression, ..PackOptions::default() };
    stages.stage(
        "compressing",
        &format!("compressing {:.1} MB ({}, {} threads)", size as f64 / 1e6, plan.compression, options.threads),
    );
    let progress = |done: u64| {
        stages.set(done);
        if done == size {
            stages.stage("writing", &format!("writing {}", out.display()));
        }
    };
    let options = PackOptions { progress: Some(&progress), ..options };
    let signer = plan.signer.as_ref().map(|key| move |bytes: &[u8]| sign_manifest(key, bytes));
    let signer_ref = signer.as_ref().map(|f| f as &dyn Fn(&[u8]) -> Result<String, String>);
    let manifest = write_package(file.writer(), prepared.root(), &plan.spec, &options, signer_ref)
        .with_context(|| format!("could not build {}", out.display()))?;
    if size == 0 {
        stages.stage("writing", &format!("writing {}", out.display()));
    }
    crate::container::finish(&plan.placement, file.flushed_file()?, out)?;
    file.commit(0o755, Replace::Yes)?;
    stages.done();
    Ok(manifest)
}

/// Signs the manifest bytes; the trusted comment names the package.
fn sign_manifest(key: &SigningKey, bytes: &[u8]) -> Result<String, String> {
    let manifest = Manifest::from_bytes(bytes).map_err(|e| e.to_string())?;
    let comment = format!(
        "sea name={} version={} platform={} payload_sha256={}",
        manifest.name, manifest.version, manifest.platform, manifest.payload.sha256
    );
    key.sign(bytes, &comment).map_err(|e| format!("{e:#}"))
}
