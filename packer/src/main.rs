//! sea-pack, bootstrap version: `build <DIR> --name --version --entry [--arg]... -o <OUT>`.
//! The full CLI (archives, inspect, verify, extract, keygen, release) replaces it.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sea_payload::manifest::UpdateSettings;
use sea_payload::pack::{PackOptions, PackageSpec, write_package};

fn main() {
    if let Err(e) = run() {
        eprintln!("sea-pack: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("build") {
        bail!("usage: sea-pack build <DIR> --name N --version V --entry E [--arg A]... -o OUT");
    }
    let (mut input, mut name, mut version, mut entry, mut out) = (None, None, None, None, None);
    let mut fixed = Vec::new();
    let mut compression = sea_payload::Compression::DEFAULT;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--name" => name = args.next(),
            "--version" => version = args.next(),
            "--entry" => entry = args.next(),
            "--arg" => fixed.extend(args.next()),
            "-o" => out = args.next().map(PathBuf::from),
            "--compression" => compression = args.next().unwrap_or_default().parse()?,
            _ => input = Some(PathBuf::from(a)),
        }
    }
    let (Some(input), Some(name), Some(version), Some(entry), Some(out)) = (input, name, version, entry, out) else {
        bail!("missing arguments");
    };
    let launcher = std::env::current_exe()?.with_file_name("sea-launcher");
    let stub = fs::read(&launcher).with_context(|| format!("reading {}", launcher.display()))?;
    let v = semver::Version::parse(env!("CARGO_PKG_VERSION"))?;
    let spec = PackageSpec {
        name,
        version: semver::Version::parse(&version)?,
        platform: sea_payload::platform::host().context("unknown platform")?.to_owned(),
        entry,
        args: fixed,
        min_launcher: v.clone(),
        launcher_version: v,
        packed_with: concat!("sea-pack ", env!("CARGO_PKG_VERSION")).to_owned(),
        update: UpdateSettings::default(),
    };
    let tmp = out.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(&stub)?;
    write_package(&mut file, &input, &spec, &PackOptions { compression, ..PackOptions::default() }, None)?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    fs::rename(&tmp, &out)?;
    Ok(())
}
