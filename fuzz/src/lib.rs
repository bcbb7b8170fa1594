//! Helpers shared by the fuzz targets: a tar writer that makes hostile archives the `tar` crate's
//! builder would refuse, and the checks run on whatever an unpack left behind.
//!
//! # Implementation
//! Random bytes almost never make a tar header with a valid checksum, so the `unpack` and
//! `package` targets also take a structured input ([`TarEntry`]) and write the headers
//! themselves, checksums included. Names are built from a small table of components
//! ([`PARTS`]) so that `..`, `/`, `.sea` and friends are one mutation away, or given raw.
//!
//! The checks ([`Scratch::check`]) look at the file system only, never at what the unpacker
//! reported: whether it returned `Ok` or an error, nothing may exist beside its destination,
//! no symbolic link inside may resolve outside (following the links actually on disk), no file
//! may carry setuid, setgid or sticky bits, and no hard link may share an inode with a file
//! outside the destination.
//!
//! # Limitations
//! Unix only. Writes that escape further than the scratch directory's own nesting (four levels)
//! would land in the system temp directory and are not seen here; they would need a path with
//! more `..` than the nesting, which [`sea_payload::paths`] refuses before any depth matters.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;

/// Whether `SEA_FUZZ_VERBOSE` is set: targets then print each input's outcome (to see what a
/// corpus reaches: `SEA_FUZZ_VERBOSE=1 cargo +nightly fuzz run unpack fuzz/corpus/unpack -- -runs=0`).
pub fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("SEA_FUZZ_VERBOSE").is_some())
}

/// Path components the structured inputs pick from.
pub const PARTS: &[&str] = &[
    "a", "b", "c", "sub", "..", ".", "", "/", ".sea", "a..b", "é", "C:", "x\\y", "\n", "dir/", "f.txt", "...",
    "\u{202e}",
];

/// A path, from the component table or raw.
#[derive(Arbitrary, Debug, Clone)]
pub enum Name {
    /// Indexes into [`PARTS`], joined with `/`.
    Parts(Vec<u8>),
    /// Raw bytes.
    Raw(Vec<u8>),
}

impl Name {
    /// The path's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Raw(bytes) => bytes.clone(),
            Name::Parts(picks) => {
                let parts: Vec<&str> = picks.iter().map(|i| PARTS[usize::from(*i) % PARTS.len()]).collect();
                parts.join("/").into_bytes()
            }
        }
    }
}

/// Entry types the structured inputs pick from.
const KINDS: &[u8] = b"0\x005213467SgxLKVMD";

/// An entry type.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Kind {
    /// One of [`KINDS`] (modulo its length).
    Known(u8),
    /// Any type byte.
    Raw(u8),
}

/// Permission bits.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Mode {
    /// 0644.
    Plain,
    /// 0755.
    Exec,
    /// Any bits (masked to 0o7777).
    Raw(u16),
}

/// How a name too long (or not) for the header is stored.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum NameForm {
    /// In the header's own fields only (truncated).
    Header,
    /// In a preceding GNU `L` / `K` entry.
    Gnu,
    /// In a preceding PAX `x` entry.
    Pax,
}

/// Header layout.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Format {
    /// Pre-POSIX.
    Old,
    /// POSIX ustar, with the prefix field.
    Ustar,
    /// GNU.
    Gnu,
}

/// One archive entry, written with a correct header checksum.
#[derive(Arbitrary, Debug, Clone)]
pub struct TarEntry {
    /// The path.
    pub name: Name,
    /// The link target (links), or junk in the link field.
    pub link: Option<Name>,
    /// The entry type.
    pub kind: Kind,
    /// Permission bits.
    pub mode: Mode,
    /// Content.
    pub data: Vec<u8>,
    /// Where the name goes.
    pub form: NameForm,
    /// Header layout.
    pub format: Format,
    /// A size field that lies about `data`.
    pub size_lie: Option<u16>,
    /// Raw PAX records written before the entry.
    pub pax: Option<Vec<u8>>,
}

impl TarEntry {
    fn type_byte(&self) -> u8 {
        match self.kind {
            Kind::Known(i) => KINDS[usize::from(i) % KINDS.len()],
            Kind::Raw(b) => b,
        }
    }

    fn mode_bits(&self) -> u32 {
        match self.mode {
            Mode::Plain => 0o644,
            Mode::Exec => 0o755,
            Mode::Raw(bits) => u32::from(bits) & 0o7777,
        }
    }
}

/// Writes `entries` as a tar stream, then the two end blocks, then `tail`.
pub fn write_tar(entries: &[TarEntry], tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let name = entry.name.bytes();
        let link = entry.link.as_ref().map(Name::bytes);
        if let Some(records) = &entry.pax {
            push_entry(&mut out, Format::Ustar, b"pax", b'x', 0o644, records, None, None);
        }
        match entry.form {
            NameForm::Header => {}
            NameForm::Gnu => {
                push_entry(&mut out, Format::Gnu, b"././@LongLink", b'L', 0o644, &nul_ended(&name), None, None);
                if let Some(link) = &link {
                    push_entry(&mut out, Format::Gnu, b"././@LongLink", b'K', 0o644, &nul_ended(link), None, None);
                }
            }
            NameForm::Pax => {
                let mut records = pax_record(b"path", &name);
                if let Some(link) = &link {
                    records.extend(pax_record(b"linkpath", link));
                }
                push_entry(&mut out, Format::Ustar, b"pax", b'x', 0o644, &records, None, None);
            }
        }
        let mode = entry.mode_bits();
        push_entry(
            &mut out,
            entry.format,
            &name,
            entry.type_byte(),
            mode,
            &entry.data,
            link.as_deref(),
            entry.size_lie,
        );
    }
    out.extend_from_slice(&[0u8; 1024]);
    out.extend_from_slice(tail);
    out
}

fn nul_ended(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.push(0);
    v
}

/// One PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts itself.
pub fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} ").into_bytes();
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

#[allow(clippy::too_many_arguments)]
fn push_entry(
    out: &mut Vec<u8>,
    format: Format,
    name: &[u8],
    kind: u8,
    mode: u32,
    data: &[u8],
    link: Option<&[u8]>,
    size_lie: Option<u16>,
) {
    let mut h = match format {
        Format::Old => tar::Header::new_old(),
        Format::Ustar => tar::Header::new_ustar(),
        Format::Gnu => tar::Header::new_gnu(),
    };
    let (prefix, rest) = match format {
        Format::Ustar if name.len() > 100 => split_ustar(name),
        _ => (&name[..0], name),
    };
    {
        let raw = h.as_old_mut();
        copy_field(&mut raw.name, rest);
        if let Some(link) = link {
            copy_field(&mut raw.linkname, link);
        }
    }
    if let Some(ustar) = h.as_ustar_mut() {
        copy_field(&mut ustar.prefix, prefix);
    }
    h.set_mode(mode);
    h.set_size(size_lie.map_or(data.len() as u64, u64::from));
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_mtime(0);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// Splits a long name at a `/` into ustar's prefix (155 bytes) and name (100 bytes) fields.
fn split_ustar(name: &[u8]) -> (&[u8], &[u8]) {
    for (i, b) in name.iter().enumerate() {
        if *b == b'/' && i <= 155 && name.len() - i - 1 <= 100 {
            return (&name[..i], &name[i + 1..]);
        }
    }
    (&name[..0], name)
}

fn copy_field(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// A scratch directory `base/a/b/c/` holding the destination `out/` and a sentinel file beside
/// it, so that writes escaping by up to four levels are seen.
#[derive(Debug)]
pub struct Scratch {
    base: tempfile::TempDir,
    /// The destination: an empty directory.
    pub out: PathBuf,
    sentinel: PathBuf,
}

const SENTINEL: &[u8] = b"sentinel: must not change";
const OUTSIDE: &[&str] = &["a", "a/b", "a/b/c", "a/b/c/out", "a/b/c/sentinel"];

impl Scratch {
    /// Makes the scratch tree.
    pub fn new() -> Self {
        let base = tempfile::tempdir().expect("tempdir");
        let deep = base.path().join("a/b/c");
        fs::create_dir_all(&deep).expect("mkdir");
        let out = deep.join("out");
        fs::create_dir(&out).expect("mkdir out");
        let sentinel = deep.join("sentinel");
        fs::write(&sentinel, SENTINEL).expect("sentinel");
        fs::set_permissions(&sentinel, fs::Permissions::from_mode(0o600)).expect("chmod");
        Self { base, out, sentinel }
    }

    /// Asserts that nothing exists outside `out/` but the scratch tree itself, that the sentinel
    /// is untouched, and that the tree inside `out/` is contained ([`check_tree`]).
    pub fn check(&self) {
        let mut found = Vec::new();
        list_outside(self.base.path(), Path::new(""), &self.out, &mut found);
        found.sort();
        assert_eq!(found, OUTSIDE, "something was written outside the destination");
        assert_eq!(fs::read(&self.sentinel).expect("read sentinel"), SENTINEL, "the sentinel was modified");
        let meta = fs::symlink_metadata(&self.sentinel).expect("sentinel");
        assert!(meta.is_file() && meta.mode() & 0o7777 == 0o600 && meta.nlink() == 1, "the sentinel was changed");
        check_tree(&self.out);
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

fn list_outside(dir: &Path, rel: &Path, out: &Path, found: &mut Vec<String>) {
    for item in fs::read_dir(dir).expect("read scratch") {
        let item = item.expect("scratch entry");
        let rel = rel.join(item.file_name());
        found.push(rel.to_string_lossy().into_owned());
        let path = item.path();
        let meta = fs::symlink_metadata(&path).expect("stat");
        if meta.is_dir() && path != out {
            list_outside(&path, &rel, out, found);
        }
    }
}

/// Asserts that the unpacked tree at `root` holds only directories, regular files and links, with
/// no setuid/setgid/sticky bits, no link resolving outside, and no hard link to a file outside.
pub fn check_tree(root: &Path) {
    let mut inodes: HashMap<(u64, u64), (u64, u64)> = HashMap::new();
    walk(root, Path::new(""), &mut inodes);
    for ((_, ino), (nlink, seen)) in inodes {
        assert_eq!(nlink, seen, "inode {ino} has {nlink} links but only {seen} inside the tree");
    }
}

fn walk(root: &Path, rel: &Path, inodes: &mut HashMap<(u64, u64), (u64, u64)>) {
    for item in fs::read_dir(root.join(rel)).expect("read tree") {
        let item = item.expect("tree entry");
        let rel = rel.join(item.file_name());
        let meta = fs::symlink_metadata(root.join(&rel)).expect("stat");
        let kind = meta.file_type();
        if kind.is_symlink() {
            assert!(!link_escapes(root, &rel), "link {} resolves outside the tree", rel.display());
            continue;
        }
        assert_eq!(meta.mode() & 0o7000, 0, "{} has mode {:o}", rel.display(), meta.mode());
        if kind.is_dir() {
            walk(root, &rel, inodes);
        } else {
            assert!(kind.is_file(), "{} is a special file", rel.display());
            inodes.entry((meta.dev(), meta.ino())).or_insert((meta.nlink(), 0)).1 += 1;
        }
    }
}

enum Step {
    Up,
    Name(OsString),
}

fn steps(path: &Path) -> Vec<Step> {
    path.components()
        .filter_map(|c| match c {
            Component::ParentDir => Some(Step::Up),
            Component::Normal(n) => Some(Step::Name(n.to_owned())),
            _ => None,
        })
        .collect()
}

/// Whether following the link at `rel` (relative to `root`) leaves `root`, reading the links on
/// disk and treating everything else, even what does not exist yet, as a directory (an app may
/// create it later). A cycle does not escape: the kernel stops it.
pub fn link_escapes(root: &Path, rel: &Path) -> bool {
    let mut stack: Vec<OsString> = Vec::new();
    for step in steps(rel.parent().unwrap_or(Path::new(""))) {
        match step {
            Step::Name(n) => stack.push(n),
            Step::Up => return true,
        }
    }
    let mut pending = vec![Step::Name(rel.file_name().map(OsString::from).unwrap_or_default())];
    let mut hops = 0;
    while let Some(step) = pending.pop() {
        match step {
            Step::Up => {
                if stack.pop().is_none() {
                    return true;
                }
            }
            Step::Name(name) => {
                stack.push(name);
                let here: PathBuf = stack.iter().collect();
                let Ok(meta) = fs::symlink_metadata(root.join(&here)) else { continue };
                if !meta.file_type().is_symlink() {
                    continue;
                }
                hops += 1;
                if hops > 40 {
                    return false;
                }
                let target = fs::read_link(root.join(&here)).expect("readlink");
                if target.has_root() {
                    return true;
                }
                stack.pop();
                pending.extend(steps(&target).into_iter().rev());
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    //! The checks must see what they are meant to see: each test plants one escape by hand.

    use std::os::unix::fs::symlink;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use sea_payload::unpack::{UnpackOptions, unpack};

    use super::*;

    fn caught(plant: impl FnOnce(&Scratch)) -> bool {
        let scratch = Scratch::new();
        plant(&scratch);
        catch_unwind(AssertUnwindSafe(|| scratch.check())).is_err()
    }

    #[test]
    fn a_clean_tree_passes() {
        assert!(!caught(|s| {
            fs::create_dir(s.out.join("d")).expect("mkdir");
            fs::write(s.out.join("d/f"), b"x").expect("write");
            fs::hard_link(s.out.join("d/f"), s.out.join("g")).expect("hard link");
            symlink("d/f", s.out.join("l")).expect("symlink");
            symlink("../d/../l", s.out.join("d/up")).expect("symlink");
            symlink("missing/../d", s.out.join("dangling")).expect("symlink");
            symlink("loop", s.out.join("loop")).expect("symlink");
        }));
    }

    #[test]
    fn escapes_are_caught() {
        assert!(caught(|s| fs::write(s.out.with_file_name("beside"), b"x").expect("write")));
        assert!(caught(|s| fs::write(s.out.join("../sentinel"), b"x").expect("write")));
        assert!(caught(|s| symlink("..", s.out.join("up")).expect("symlink")));
        assert!(caught(|s| symlink("/etc", s.out.join("abs")).expect("symlink")));
        assert!(caught(|s| {
            fs::create_dir(s.out.join("sub")).expect("mkdir");
            symlink("..", s.out.join("sub/b")).expect("symlink");
            symlink("sub/b/..", s.out.join("d")).expect("symlink");
        }));
        assert!(caught(|s| symlink("missing/../../x", s.out.join("dangling")).expect("symlink")));
        assert!(caught(|s| fs::hard_link(s.out.join("../sentinel"), s.out.join("h")).expect("hard link")));
        assert!(caught(|s| {
            fs::write(s.out.join("f"), b"x").expect("write");
            fs::set_permissions(s.out.join("f"), fs::Permissions::from_mode(0o4755)).expect("chmod");
        }));
    }

    #[test]
    fn written_archives_unpack() {
        let entry = |name: &str, kind: u8, link: Option<&str>, data: &[u8]| TarEntry {
            name: Name::Raw(name.as_bytes().to_vec()),
            link: link.map(|l| Name::Raw(l.as_bytes().to_vec())),
            kind: Kind::Raw(kind),
            mode: Mode::Exec,
            data: data.to_vec(),
            form: NameForm::Header,
            format: Format::Gnu,
            size_lie: None,
            pax: None,
        };
        let long = format!("d/{}", "n".repeat(150));
        let ustar = format!("u/{}/x", "m".repeat(120));
        let entries = [
            entry("d", b'5', None, b""),
            entry("d/f", b'0', None, b"hello"),
            TarEntry { form: NameForm::Gnu, ..entry(&long, b'0', None, b"gnu") },
            TarEntry { form: NameForm::Pax, ..entry(&format!("{long}-pax"), b'2', Some("f"), b"") },
            TarEntry { format: Format::Ustar, ..entry(&ustar, b'0', None, b"ustar") },
            entry("h", b'1', Some("d/f"), b""),
        ];
        let scratch = Scratch::new();
        let tar = write_tar(&entries, b"");
        let summary = unpack(&tar[..], &scratch.out, &UnpackOptions::default()).expect("unpacks");
        assert_eq!(summary.entries, 6);
        assert_eq!(fs::read(scratch.out.join(&long)).expect("gnu long name"), b"gnu");
        assert_eq!(fs::read_link(scratch.out.join(format!("{long}-pax"))).expect("pax"), Path::new("f"));
        assert_eq!(fs::read(scratch.out.join(&ustar)).expect("ustar prefix"), b"ustar");
        scratch.check();
    }
}
