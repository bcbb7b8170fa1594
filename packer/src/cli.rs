//! The command line: every subcommand and flag, with the help text users read.
//!
//! Values whose parsing deserves a message naming what to do (versions, compression, platforms,
//! keys) are taken as text here and parsed by the command that uses them, so that every such
//! error reads `sea-pack: …` like the others. clap only rejects what it can explain itself
//! (unknown flags, missing values, a rollout outside 0–100).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// sea-pack: build, inspect, verify and sign self-contained executables, and write update feeds.
#[derive(Debug, Parser)]
#[command(
    name = "sea-pack",
    version,
    about = "Build, inspect, verify and sign sea packed executables, and write their update feeds",
    long_about = "Build, inspect, verify and sign sea packed executables, and write their update feeds.\n\n\
        A packed executable is the sea-launcher stub followed by the app's files (a deterministic, \
        compressed tar), an index, a manifest, an optional minisign signature and a trailer. Running \
        it extracts the app once into the user's cache and starts its entry.",
    after_help = "Typical release pipeline:\n  \
        sea-pack keygen -o release.key\n  \
        sea-pack build ./dist --name hello --version 1.2.0 --entry bin/hello \\\n      \
        --feed https://example.com/hello/stable.json --public-key release.key.pub \\\n      \
        --sign-key release.key -o out/hello\n  \
        sea-pack verify out/hello\n  \
        sea-pack release out/hello --base-url https://example.com/hello --sign-key release.key -o site/"
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run; boxing would only add noise")]
pub(crate) enum Command {
    /// Pack a directory or a release archive into one executable.
    Build(BuildArgs),
    /// Show a packed executable's manifest, layout and signature status (checks its digests).
    Inspect(InspectArgs),
    /// Check a packed executable's payload and index digests and its signature.
    Verify(VerifyArgs),
    /// Unpack a packed executable's payload into a new directory.
    Extract(ExtractArgs),
    /// Make a minisign (ed25519) key pair for signing payloads and feeds.
    Keygen(KeygenArgs),
    /// Publish packed executables as a signed update feed that any static HTTP server can serve.
    Release(ReleaseArgs),
    /// Write the next signed trust statement: the keys that sign releases from now on, and the root.
    Trust(TrustArgs),
}

/// `sea-pack build`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sea-pack build ./dist --name hello --version 1.2.0 --entry bin/hello -o hello\n  \
    sea-pack build hello-1.2.0.tgz --strip-components 1 --name hello --version 1.2.0 \\\n      \
    --entry bin/hello.js --arg --experimental -o hello\n  \
    sea-pack build ./dist --name hello --version 1.2.0 --entry bin/hello --compression gzip:9 \\\n      \
    --launcher ./target/release/sea-launcher --platform linux-x64 -o hello\n  \
    sea-pack build ./dist --name copilot --version 1.0.0 --entry runtime/bin/node \\\n      \
    --arg {pkg_dir}/app/main.js --env-prefix COPILOT_LOADER --home-name .copilot-loader \\\n      \
    --cache-name copilot-loader -o copilot\n\n\
    The same inputs always give a byte-identical output (sorted entries, mtimes and owners \
    normalised, executable bits kept).")]
pub(crate) struct BuildArgs {
    /// The app: a directory, or a `.tar`, `.tar.gz`/`.tgz` or `.tar.zst` archive (e.g. from
    /// `npm pack`). Archives are recognised by their first bytes, else by extension.
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
    /// App name: names the home and cache directories and the environment variable prefix.
    /// Letters, digits, '-', '_' and '.', e.g. `--name hello`.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,
    /// App version, semver, e.g. `--version 1.2.0` or `--version 2.0.0-beta.1`.
    #[arg(long, value_name = "SEMVER")]
    pub(crate) version: String,
    /// Program to run, relative to the input's root (after --strip-components); must be an
    /// executable file, e.g. `--entry bin/hello`.
    #[arg(long, value_name = "REL_PATH")]
    pub(crate) entry: String,
    /// A fixed argument put before the user's; repeat for several. `{pkg_dir}` stands for the
    /// absolute path of the extracted tree (`{{` and `}}` are literal braces), so a bundled
    /// runtime can run a script of the tree, e.g.
    /// `--entry runtime/bin/node --arg {pkg_dir}/app/main.js`. A plain relative path would be
    /// resolved against the user's working directory.
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) args: Vec<String>,
    /// The environment variable prefix, instead of the name upper-cased: `A-Z`, `0-9`, `_`,
    /// starting with a letter, e.g. `--env-prefix COPILOT_LOADER` (→ `COPILOT_LOADER_HOME`, …)
    /// when the app itself already uses `COPILOT_*`.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) env_prefix: Option<String>,
    /// The home directory's name under `$HOME`, instead of `.<NAME>`, e.g.
    /// `--home-name .copilot-loader` when the app itself already owns `~/.copilot`.
    #[arg(long, value_name = "DIR")]
    pub(crate) home_name: Option<String>,
    /// The cache directory's name (under `$XDG_CACHE_HOME` or `~/.cache`), instead of `<NAME>`,
    /// e.g. `--cache-name copilot-loader`.
    #[arg(long, value_name = "DIR")]
    pub(crate) cache_name: Option<String>,
    /// The launcher stub to put in front, e.g. `--launcher dist/sea-launcher-linux-arm64`.
    /// Default: the `sea-launcher` next to this `sea-pack`.
    #[arg(long, value_name = "STUB")]
    pub(crate) launcher: Option<PathBuf>,
    /// Compression algorithm and level: `zstd[:1-22]` or `gzip[:0-9]`, e.g. `--compression zstd:3`
    /// for fast development builds.
    #[arg(long, value_name = "ALGO[:LEVEL]", default_value = "zstd:19")]
    pub(crate) compression: String,
    /// Target platform, e.g. `--platform linux-arm64`. Default: the stub's own platform, read from it.
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<String>,
    /// URL of the update feed the launcher checks, e.g.
    /// `--feed https://example.com/hello/stable.json`: https:// (plain http:// only on a loopback
    /// address), naming `<channel>.json`; the launcher follows that channel and refuses the feed of
    /// any other. Needs --public-key.
    #[arg(long, value_name = "URL")]
    pub(crate) feed: Option<String>,
    /// A root key, baked in: the base64 key (`RW…`) or a minisign `.pub` file, e.g.
    /// `--public-key root1.pub --public-key root2.pub`. Repeatable. With no trust statement
    /// published, releases (and this payload) must be signed by a root key; `sea-pack trust`
    /// delegates signing to release keys.
    #[arg(long, value_name = "KEY")]
    pub(crate) public_key: Vec<String>,
    /// How many of the --public-key root keys must sign a trust statement, e.g. `--threshold 2`
    /// (1 ≤ M ≤ the number of keys; default 1).
    #[arg(long, value_name = "M")]
    pub(crate) threshold: Option<u32>,
    /// Embed the newest trust statement of this release directory (`<DIR>/trust.json`, verified
    /// from the root keys), so that a payload signed by a delegated release key verifies offline on
    /// first start, e.g. `--trust site/`.
    #[arg(long, value_name = "DIR")]
    pub(crate) trust: Option<PathBuf>,
    /// Sign the payload with this minisign secret key file (unencrypted, as `sea-pack keygen`
    /// writes it), e.g. `--sign-key release.key`: a root key, or with --trust a release key the
    /// newest statement trusts.
    #[arg(long, value_name = "FILE")]
    pub(crate) sign_key: Option<PathBuf>,
    /// Drop this many leading path components from an archive's entries, e.g.
    /// `--strip-components 1` for `npm pack` output (everything under `package/`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) strip_components: usize,
    /// Oldest launcher that may run this payload, e.g. `--min-launcher 0.1.0`. Default: the
    /// stub's version; may not exceed it.
    #[arg(long, value_name = "SEMVER")]
    pub(crate) min_launcher: Option<String>,
    /// Run the app in place of the launcher (`exec`) instead of as its supervised child: the
    /// fastest warm start (no second process), for apps that never restart themselves with exit
    /// code 75. Given up: restarts (exit code 75 is just the exit code), marking a version that
    /// crashes on start as bad, and the launcher's own signal relay (the app gets every signal
    /// directly, as the launcher's process). Kept: version choice, the tree's checks and repair,
    /// the usage lock (inherited by the app), the variables (but not `<PREFIX>_RESTART_FILE`),
    /// background clean-up, update checks and the deep check (in a detached process, when due).
    /// e.g. `--no-supervise`.
    #[arg(long)]
    pub(crate) no_supervise: bool,
    /// Where to write the packed executable (atomically, mode 0755), e.g. `-o dist/hello`.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: PathBuf,
    /// Print no progress (a bar on a terminal, else one line per stage for inputs of 32 MB or
    /// more), e.g. `--quiet` in scripts; warnings and errors are still printed.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// `sea-pack inspect`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sea-pack inspect dist/hello\n  sea-pack inspect dist/hello --json | jq .manifest.version"
)]
pub(crate) struct InspectArgs {
    /// A packed executable, a release artifact (`.sea`), or a release directory (its feeds, their
    /// expiry and sequence, and the trust statement's expiry).
    #[arg(value_name = "BINARY")]
    pub(crate) binary: PathBuf,
    /// Print JSON (manifest, layout, signature status) instead of a summary, e.g. `--json`.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also list every entry (path, kind, size, SHA-256), rebuilt by decoding the payload and
    /// checked against the manifest's index digest, e.g. `--entries`.
    #[arg(long)]
    pub(crate) entries: bool,
}

/// `sea-pack verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sea-pack verify dist/hello\n  sea-pack verify dist/hello --public-key release.key.pub\n\n\
    Without --public-key, a signed binary is checked against the key baked into it, if any."
)]
pub(crate) struct VerifyArgs {
    /// A packed executable, or a release artifact (`.sea`).
    #[arg(value_name = "BINARY")]
    pub(crate) binary: PathBuf,
    /// Require a signature by this key (base64 `RW…` or a `.pub` file), e.g.
    /// `--public-key release.key.pub`. A missing or other signature then fails.
    #[arg(long, value_name = "KEY")]
    pub(crate) public_key: Option<String>,
}

/// `sea-pack extract`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sea-pack extract dist/hello /tmp/hello-tree\n\n\
    The payload is verified and unpacked into a temporary sibling of DIR, then renamed into \
    place: a failure leaves nothing behind.")]
pub(crate) struct ExtractArgs {
    /// A packed executable, or a release artifact (`.sea`).
    #[arg(value_name = "BINARY")]
    pub(crate) binary: PathBuf,
    /// Directory to create (it must not exist, or be empty), e.g. `/tmp/hello-tree`.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

/// `sea-pack keygen`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sea-pack keygen -o release.key\n\n\
    Writes the secret key (minisign format, unencrypted, mode 0600) to FILE and the public key to \
    FILE.pub, and prints `public key: RW…`. Keep FILE secret (e.g. in your CI's secret store); \
    the public key goes into `sea-pack build --public-key`.")]
pub(crate) struct KeygenArgs {
    /// Secret key file to create, e.g. `-o release.key`; the public key goes to `<FILE>.pub`.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Replace existing key files, e.g. `--force` (the old key is lost).
    #[arg(long)]
    pub(crate) force: bool,
}

/// `sea-pack release`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sea-pack release dist/hello-linux-x64 dist/hello-darwin-arm64 \\\n      \
    --base-url https://example.com/hello --sign-key release.key -o site/\n  \
    sea-pack release dist/hello --channel beta --rollout 10 \\\n      \
    --base-url https://example.com/hello --sign-key release.key -o site/\n\n\
    Writes <DIR>/<name>-<version>-<platform>.sea (+ .minisig), the launcher stub \
    <DIR>/sea-launcher-<version>-<platform> (+ .minisig), and adds the releases to the signed feed \
    <DIR>/<channel>.json (+ .minisig), keeping the releases already there. Upload DIR as is.\n\n\
    The feed expires (--expires, default 90 days): clients refuse an expired feed, so that a \
    frozen mirror cannot keep them on an old version. Renew it before then without new binaries, \
    e.g. from a weekly scheduled job:\n  \
    sea-pack release --refresh -o site/ --sign-key release.key --expires 30d")]
pub(crate) struct ReleaseArgs {
    /// Packed executables of one app (any platforms and versions), e.g. `dist/hello-*`.
    #[arg(value_name = "BINARY", required_unless_present = "refresh", conflicts_with = "refresh", num_args = 1..)]
    pub(crate) binaries: Vec<PathBuf>,
    /// URL under which DIR will be served, e.g. `--base-url https://example.com/hello`.
    #[arg(long, value_name = "URL", required_unless_present = "refresh", conflicts_with = "refresh")]
    pub(crate) base_url: Option<String>,
    /// Directory to write the feed and artifacts into (created if missing), e.g. `-o site/`.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub(crate) output: PathBuf,
    /// Channel, i.e. feed file name; any channel but `stable` offers pre-releases, e.g. `--channel beta`.
    #[arg(long, value_name = "NAME", default_value = "stable")]
    pub(crate) channel: String,
    /// Minisign secret key file that signs artifacts and feed, e.g. `--sign-key release.key`.
    #[arg(long, value_name = "FILE")]
    pub(crate) sign_key: PathBuf,
    /// Offer the new releases to this percentage of installs only, e.g. `--rollout 10`.
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(0..=100), conflicts_with = "refresh")]
    pub(crate) rollout: Option<u8>,
    /// How long clients accept the feed from now, `<N>{s,m,h,d}`, e.g. `--expires 30d`.
    #[arg(long, value_name = "DURATION", default_value = "90d")]
    pub(crate) expires: String,
    /// Re-sign the existing feed of --channel with a new expiry and sequence; no binaries, e.g.
    /// `sea-pack release --refresh -o site/ --sign-key release.key`.
    #[arg(long)]
    pub(crate) refresh: bool,
    /// Write deltas to each new release from up to N earlier releases in DIR; 0 writes none.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) deltas: usize,
}

/// `sea-pack trust`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sea-pack trust site/ --name hello --root root1.key.pub --root root2.key.pub --root root3.key.pub \\\n      \
    --threshold 2 --delegate release.key.pub --sign-key root1.key --sign-key root2.key\n  \
    sea-pack trust site/ --delegate release2.key.pub --sign-key root1.key --sign-key root3.key\n  \
    sea-pack trust site/ --root new1.key.pub --root new2.key.pub --threshold 2 \\\n      \
    --sign-key root2.key --sign-key root3.key --sign-key new1.key --sign-key new2.key\n\n\
    Appends version N+1 to <DIR>/trust.json. It must be signed by THRESHOLD keys of the current \
    root (for the first statement: the root baked in with `build --public-key ... --threshold`), \
    and a root change also by THRESHOLD keys of the new root. --delegate replaces the release keys: \
    a key left out is revoked, and clients forget what it vouched for. The first statement restates \
    the baked-in root with --root/--threshold and needs --name and --delegate; later ones keep the \
    previous root and release keys unless given. Nothing is written when clients would refuse the result.")]
pub(crate) struct TrustArgs {
    /// The release directory (the one `sea-pack release -o` writes), e.g. `site/`.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// A root key's secret key file; repeat for each signer, e.g. `--sign-key root1.key`.
    #[arg(long = "sign-key", value_name = "ROOT_KEY_FILE", required = true)]
    pub(crate) sign_keys: Vec<PathBuf>,
    /// A release key trusted from now on (base64 or .pub file); repeat; replaces the previous set.
    #[arg(long, value_name = "PUBKEY")]
    pub(crate) delegate: Vec<String>,
    /// A root key from now on (base64 or .pub file); repeat; needs --threshold.
    #[arg(long, value_name = "PUBKEY")]
    pub(crate) root: Vec<String>,
    /// How many root keys must sign the next statement, with --root, e.g. `--threshold 2`.
    #[arg(long, value_name = "M")]
    pub(crate) threshold: Option<u32>,
    /// The app the statement speaks for (first statement only), e.g. `--name hello`.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// When clients stop trusting releases until a newer statement comes, e.g. `--expires 365d`.
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    pub(crate) expires: String,
}
