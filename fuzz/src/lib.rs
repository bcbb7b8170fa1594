//! Helpers shared by the fuzz targets: a tar writer that makes hostile archives the `tar` crate's
//! builder would refuse, and the checks run on whatever an unpack left behind.
//!
//! # Implementation
//! Random bytes almost never make a tar header with a valid checksum, so the `unpack` and
//! `package` targets also take a compact "recipe" of entries ([`decode_recipe`]) and write the
//! headers themselves ([`write_tar`]), checksums included. Each recipe byte means one thing (a
//! type, a mode bit, a name component), and names are built from a small table of components
//! ([`PARTS`]), so `..`, `/`, `.sea` and friends are one mutation away. The seed corpus holds
//! recipes of every hostile form the unpacker refuses, for the fuzzer to combine.
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

/// Whether `SEA_FUZZ_VERBOSE` is set: targets then print each input's outcome (to see what a
/// corpus reaches: `SEA_FUZZ_VERBOSE=1 cargo +nightly fuzz run unpack fuzz/corpus/unpack -- -runs=0`).
pub fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("SEA_FUZZ_VERBOSE").is_some())
}

/// Path components that recipes pick from by index (modulo the length).
pub const PARTS: &[&str] = &[
    "a", "b", "c", "sub", "..", ".", "", "/", ".sea", "a..b", "é", "C:", "x\\y", "\n", "dir/", "f.txt", "...",
    "\u{202e}",
];

/// A path: indexes into [`PARTS`] joined with `/`, or raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// Indexes into [`PARTS`].
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

    /// The path `text`, as parts when every component is in [`PARTS`].
    pub fn of(text: &str) -> Name {
        let picks: Option<Vec<u8>> =
            text.split('/').map(|c| PARTS.iter().position(|p| *p == c).and_then(|i| u8::try_from(i).ok())).collect();
        match picks {
            Some(picks) if Name::Parts(picks.clone()).bytes() == text.as_bytes() => Name::Parts(picks),
            _ => Name::Raw(text.as_bytes().to_vec()),
        }
    }
}

/// Entry types that recipes pick from by index.
const KINDS: &[u8] = b"0\x005213467SgxLKVMD";

/// How an entry's names are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameForm {
    /// In the header's own fields only (truncated).
    Header,
    /// In a preceding GNU `L` / `K` entry.
    Gnu,
    /// In a preceding PAX `x` entry.
    Pax,
}

/// Header layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Pre-POSIX.
    Old,
    /// POSIX ustar, with the prefix field.
    Ustar,
    /// GNU.
    Gnu,
}

/// One archive entry, written by [`write_tar`] with a correct header checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// The path.
    pub name: Name,
    /// The link target (links), or junk in the link field.
    pub link: Option<Name>,
    /// The type flag byte.
    pub kind: u8,
    /// The mode field.
    pub mode: u32,
    /// Content.
    pub data: Vec<u8>,
    /// Where the names go.
    pub form: NameForm,
    /// Header layout.
    pub format: Format,
    /// A size field that lies about `data`.
    pub size_lie: Option<u16>,
    /// Raw PAX records written in an `x` entry before this one.
    pub pax: Option<Vec<u8>>,
}

impl TarEntry {
    /// A plain entry: header names, GNU layout, no lies.
    pub fn new(name: &str, kind: u8, mode: u32, link: Option<&str>, data: &[u8]) -> Self {
        TarEntry {
            name: Name::of(name),
            link: link.map(Name::of),
            kind,
            mode,
            data: data.to_vec(),
            form: NameForm::Header,
            format: Format::Gnu,
            size_lie: None,
            pax: None,
        }
    }
}

/// Decodes a recipe: the compact byte form of a list of [`TarEntry`] that the `unpack` and
/// `package` targets mutate, so that each byte the fuzzer changes means one thing. Returns the
/// entries and the bytes after the last complete one (written after the archive's end blocks).
///
/// Each entry is: a flags byte (bits 0-1 name form: header, GNU, PAX, or header with raw PAX
/// records; bits 2-3 layout: old, ustar, GNU; bit 4 has a link; bit 5 raw name; bit 6 raw link;
/// bit 7 size lie), a type byte (below 0x80 an index into the common types, else the low 7 bits
/// as is), a mode byte (bits 0-2 setuid/setgid/sticky, bit 3 executable), then length-prefixed
/// (one byte) name, link (if any), raw PAX records (if any) and data, then the lying size (two
/// bytes, if any).
pub fn decode_recipe(bytes: &[u8]) -> (Vec<TarEntry>, &[u8]) {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while let Some((entry, after)) = decode_entry(rest) {
        entries.push(entry);
        rest = after;
    }
    (entries, rest)
}

fn decode_entry(bytes: &[u8]) -> Option<(TarEntry, &[u8])> {
    let (&[flags, kind, mode], mut rest) = bytes.split_first_chunk::<3>()?;
    let mut field = || -> Option<Vec<u8>> {
        let (&len, after) = rest.split_first()?;
        let value = after.get(..usize::from(len))?.to_vec();
        rest = &after[usize::from(len)..];
        Some(value)
    };
    let name = if flags & 0x20 != 0 { Name::Raw(field()?) } else { Name::Parts(field()?) };
    let link = if flags & 0x10 == 0 {
        None
    } else if flags & 0x40 != 0 {
        Some(Name::Raw(field()?))
    } else {
        Some(Name::Parts(field()?))
    };
    let pax = if flags & 3 == 3 { Some(field()?) } else { None };
    let data = field()?;
    let size_lie = if flags & 0x80 != 0 {
        let (&[lo, hi], after) = rest.split_first_chunk::<2>()?;
        rest = after;
        Some(u16::from_le_bytes([lo, hi]))
    } else {
        None
    };
    let entry = TarEntry {
        name,
        link,
        kind: if kind < 0x80 { KINDS[usize::from(kind) % KINDS.len()] } else { kind & 0x7f },
        mode: (u32::from(mode & 7) << 9) | if mode & 8 != 0 { 0o755 } else { 0o644 },
        data,
        form: [NameForm::Header, NameForm::Gnu, NameForm::Pax, NameForm::Header][usize::from(flags & 3)],
        format: [Format::Old, Format::Ustar, Format::Gnu, Format::Gnu][usize::from((flags >> 2) & 3)],
        size_lie,
        pax,
    };
    Some((entry, rest))
}

/// Encodes entries as a recipe ([`decode_recipe`]); what a recipe cannot say is approximated
/// (permission bits other than 0644/0755, type bytes above 0x7f, fields over 255 bytes).
pub fn encode_recipe(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut flags = match (e.form, e.pax.is_some()) {
            (_, true) => 3,
            (NameForm::Header, false) => 0,
            (NameForm::Gnu, false) => 1,
            (NameForm::Pax, false) => 2,
        };
        flags |= match e.format {
            Format::Old => 0,
            Format::Ustar => 1 << 2,
            Format::Gnu => 2 << 2,
        };
        if e.link.is_some() {
            flags |= 0x10;
        }
        if matches!(e.name, Name::Raw(_)) {
            flags |= 0x20;
        }
        if matches!(e.link, Some(Name::Raw(_))) {
            flags |= 0x40;
        }
        if e.size_lie.is_some() {
            flags |= 0x80;
        }
        let kind = match KINDS.iter().position(|k| *k == e.kind) {
            Some(i) => i as u8,
            None => 0x80 | (e.kind & 0x7f),
        };
        let mode = ((e.mode >> 9) & 7) as u8 | if e.mode & 0o111 != 0 { 8 } else { 0 };
        out.extend_from_slice(&[flags, kind, mode]);
        let mut field = |value: &[u8]| {
            let len = value.len().min(255);
            out.push(len as u8);
            out.extend_from_slice(&value[..len]);
        };
        let name_field = |n: &Name| match n {
            Name::Parts(p) | Name::Raw(p) => p.clone(),
        };
        field(&name_field(&e.name));
        if let Some(link) = &e.link {
            field(&name_field(link));
        }
        if let Some(pax) = &e.pax {
            field(pax);
        }
        field(&e.data);
        if let Some(lie) = e.size_lie {
            out.extend_from_slice(&lie.to_le_bytes());
        }
    }
    out
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
        let mode = entry.mode;
        push_entry(&mut out, entry.format, &name, entry.kind, mode, &entry.data, link.as_deref(), entry.size_lie);
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
    fn recipes_decode_every_byte_string() {
        let (entries, tail) = decode_recipe(&[0x18, 3, 8, 1, 0, 1, 4, 0, 0xff]);
        assert_eq!(entries, [TarEntry::new("a", b'2', 0o755, Some(".."), b"")]);
        assert_eq!(tail, [0xff]);
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let (entries, tail) = decode_recipe(&bytes);
            assert!(tail.len() <= bytes.len());
            let _ = write_tar(&entries, tail);
        }
    }

    #[test]
    fn written_archives_unpack() {
        let entry =
            |name: &str, kind: u8, link: Option<&str>, data: &[u8]| TarEntry::new(name, kind, 0o755, link, data);
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
        let recipe = encode_recipe(&entries);
        let (decoded, tail) = decode_recipe(&recipe);
        assert_eq!((&decoded[..], tail), (&entries[..], &b""[..]), "recipes round-trip");
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
