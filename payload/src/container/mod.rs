//! Executable containers: where the package lives in a macOS (Mach-O) or Windows (PE) stub, so
//! that the packed file can be code-signed and the package found again in the signed file.
//!
//! On Linux the package is simply appended to the ELF stub and found by reading the last
//! [`TRAILER_LEN`](crate::trailer::TRAILER_LEN) bytes. That does not survive code signing:
//!
//! * **Mach-O** — `codesign --strict` refuses bytes that lie outside every segment, and the
//!   signature itself is appended after everything. The package is therefore made part of the
//!   last segment, `__LINKEDIT`, and of the string table at its end: an existing signature is
//!   removed first, the package is appended, and `LC_SYMTAB.strsize` and `__LINKEDIT`'s
//!   `filesize`/`vmsize` are stretched to cover it (as PyInstaller does). A signing tool then
//!   appends its signature after the package, inside `__LINKEDIT`. The package ends where the
//!   string table ends, `stroff + strsize`, which signing does not change.
//! * **PE** — Authenticode appends a certificate table after everything and records it in data
//!   directory 4 (the security directory). The package goes at the end of the file, after the
//!   last section (the "overlay"), once an existing certificate table is removed, and the header
//!   checksum is recomputed. After signing, the package ends where the certificate table starts
//!   (as wrappe finds its trailer).
//!
//! In both cases the trailer ends at that *locator* offset, or up to [`MAX_PADDING`] zero bytes
//! before it: signing tools align what they append (16 bytes for a Mach-O signature, 8 for a PE
//! certificate table), and the packer pads a Mach-O to 16 itself.
//!
//! # Implementation
//! Headers are parsed with every offset and count checked against the bytes read and the file
//! length before use; a [`ContainerError`] names the field and its offset. Nothing here panics on
//! bad input. [`Placement`] is the packer's side (prepare the stub, then fix the headers once the
//! package length is known); [`package_end`] the reader's (the launcher on macOS and Windows,
//! `sea-pack inspect`/`verify`/`extract` everywhere).
//!
//! # Alternatives
//! A dedicated segment (`__SEA`, as Node's postject and Bun do) or a PE resource would need the
//! segments after it shifted and every offset in `__LINKEDIT` rewritten; the stretched
//! `__LINKEDIT` changes four header fields and is what PyInstaller and .NET single-file ship
//! through notarization. Searching the file backwards for the end magic (warp) would read
//! arbitrary amounts of a signed file and could find a magic inside the payload.
//!
//! # Limitations
//! Thin 64-bit Mach-O executables only (a fat binary must be thinned with `lipo` first, and one
//! packed file per architecture made); the string table must be the last thing in `__LINKEDIT`,
//! as ld64 and the Go linker write it. PE images with a certificate table that is not at the
//! end of the file are refused.

pub mod macho;
pub mod pe;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;

use crate::trailer::END_MAGIC;

/// The trailer may end this many zero bytes before the locator offset.
pub const MAX_PADDING: u64 = 15;
/// Bytes read from the start of a file to find its headers.
const HEAD_READ: u64 = 64 * 1024;
/// The load commands of a Mach-O are a few KiB; more is corrupt.
const MAX_MACHO_COMMANDS: u64 = 16 * 1024 * 1024;

/// Why a stub or a packed file's container was refused.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A header field points past the bytes available.
    #[error("{format} header is truncated: {what} at offset {offset} runs past the end of the file ({len} bytes)")]
    Truncated { format: &'static str, what: &'static str, offset: u64, len: u64 },
    /// A header field has an impossible value.
    #[error("corrupt {format}: {detail}")]
    Corrupt { format: &'static str, detail: String },
    /// A universal binary.
    #[error(
        "the stub is a fat (universal) Mach-O binary: pack each architecture separately, e.g. \
         `lipo -thin arm64 -output sea-launcher-arm64 sea-launcher`, with --platform darwin-arm64"
    )]
    Fat,
    /// A 32-bit Mach-O.
    #[error("the stub is a 32-bit Mach-O: sea supports 64-bit macOS executables only (darwin-x64, darwin-arm64)")]
    MachO32,
    /// A big-endian Mach-O.
    #[error("the stub is a big-endian Mach-O (PowerPC): sea supports darwin-x64 and darwin-arm64 only")]
    BigEndian,
    /// The stub's format does not run on the platform.
    #[error("the stub is {found}, but --platform {platform} needs {needed}: pass the launcher built for {platform}")]
    WrongFormat { found: &'static str, platform: String, needed: &'static str },
    /// The stub's architecture does not match the platform.
    #[error(
        "the stub is a {format} for {found}, but --platform {platform} needs {needed}: pass the launcher built for {platform}"
    )]
    WrongArch { format: &'static str, found: String, platform: String, needed: &'static str },
    /// The executable is valid but laid out so that the package cannot be placed safely.
    #[error("cannot place the payload in this {format}: {detail}")]
    Unsupported { format: &'static str, detail: String },
    /// The output would exceed a 32-bit header field.
    #[error("the packed {format} would be {len} bytes, more than its headers can describe (4 GiB)")]
    TooLarge { format: &'static str, len: u64 },
    /// Reading or writing the file failed.
    #[error("could not {what} the executable: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// The executable format of a file, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ELF (Linux, FreeBSD).
    Elf,
    /// A thin 64-bit little-endian Mach-O.
    MachO,
    /// A PE image (starts with `MZ`).
    Pe,
    /// Anything else (a script, the test suite's text stand-in stubs).
    Other,
}

impl Format {
    /// The format as a message names it.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Elf => "an ELF executable",
            Format::MachO => "a Mach-O executable",
            Format::Pe => "a PE (Windows) executable",
            Format::Other => "not an executable of a format sea knows (ELF, Mach-O or PE)",
        }
    }
}

/// Recognises the format. Mach-O variants sea cannot pack (fat, 32-bit, big-endian) are errors,
/// since nothing else could be meant by those magics in a launcher stub.
pub fn detect(bytes: &[u8]) -> Result<Format, ContainerError> {
    let Some(head) = bytes.get(0..4) else { return Ok(Format::Other) };
    match head {
        [0x7f, b'E', b'L', b'F'] => Ok(Format::Elf),
        [0xcf, 0xfa, 0xed, 0xfe] => Ok(Format::MachO),
        [0xce, 0xfa, 0xed, 0xfe] => Err(ContainerError::MachO32),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] => Err(ContainerError::BigEndian),
        [0xca, 0xfe, 0xba, 0xbe | 0xbf] | [0xbe | 0xbf, 0xba, 0xfe, 0xca] => Err(ContainerError::Fat),
        [b'M', b'Z', _, _] => Ok(Format::Pe),
        _ => Ok(Format::Other),
    }
}

/// What a platform name requires of a stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A Mach-O with this CPU type.
    MachO { cpu: u32, arch: &'static str },
    /// A PE image with this machine and optional-header magic.
    Pe { machine: u16, plus: bool, arch: &'static str },
    /// An ELF (or, for the test suite's stand-ins, anything that is not Mach-O or PE).
    Elf,
}

impl Target {
    fn of(platform: &str) -> Self {
        match platform {
            "darwin-arm64" => Target::MachO { cpu: macho::CPU_ARM64, arch: "arm64" },
            "darwin-x64" => Target::MachO { cpu: macho::CPU_X86_64, arch: "x86_64" },
            "win32-x64" => Target::Pe { machine: pe::MACHINE_AMD64, plus: true, arch: "x64 (AMD64)" },
            "win32-arm64" => Target::Pe { machine: pe::MACHINE_ARM64, plus: true, arch: "ARM64" },
            "win32-ia32" => Target::Pe { machine: pe::MACHINE_I386, plus: false, arch: "x86 (i386)" },
            _ => Target::Elf,
        }
    }
}

/// A stub made ready to carry a package: write [`Placement::head`], then the package, then call
/// [`Placement::finish`] on the file.
#[derive(Debug)]
pub struct Placement {
    head: Vec<u8>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// ELF or unknown: the package is appended, nothing is patched.
    Plain,
    MachO(macho::Fixup),
    Pe(pe::Fixup),
}

impl Placement {
    /// Checks that `stub` can run on `platform` and prepares it: for Mach-O and PE, an existing
    /// code signature is removed and the headers are checked for room to place the package.
    pub fn prepare(stub: &[u8], platform: &str) -> Result<Self, ContainerError> {
        let target = Target::of(platform);
        let format = detect(stub)?;
        let wrong =
            |needed| ContainerError::WrongFormat { found: format.describe(), platform: platform.to_owned(), needed };
        match (format, target) {
            (Format::MachO, Target::MachO { cpu, arch }) => {
                let (head, fixup) = macho::prepare(stub, cpu, arch, platform)?;
                Ok(Self { head, kind: Kind::MachO(fixup) })
            }
            (Format::Pe, Target::Pe { machine, plus, arch }) => {
                let (head, fixup) = pe::prepare(stub, machine, plus, arch, platform)?;
                Ok(Self { head, kind: Kind::Pe(fixup) })
            }
            (_, Target::MachO { .. }) => Err(wrong("a 64-bit Mach-O executable")),
            (_, Target::Pe { .. }) => Err(wrong("a PE (Windows) executable")),
            (Format::MachO | Format::Pe, Target::Elf) => Err(wrong("an ELF executable")),
            (Format::Elf | Format::Other, Target::Elf) => Ok(Self { head: stub.to_vec(), kind: Kind::Plain }),
        }
    }

    /// The bytes to write before the package.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Whether the stub carried a code signature that was removed.
    pub fn removed_signature(&self) -> bool {
        match &self.kind {
            Kind::Plain => false,
            Kind::MachO(f) => f.removed_signature,
            Kind::Pe(f) => f.removed_signature,
        }
    }

    /// The container format placed into (`None` for a plain append).
    pub fn format(&self) -> Option<Format> {
        match self.kind {
            Kind::Plain => None,
            Kind::MachO(_) => Some(Format::MachO),
            Kind::Pe(_) => Some(Format::Pe),
        }
    }

    /// Fixes the headers of `file`, which holds [`Self::head`] followed by the whole package and
    /// nothing else. Leaves the file position at the end.
    pub fn finish(&self, file: &mut File) -> Result<(), ContainerError> {
        let io = |what| move |source| ContainerError::Io { what, source };
        match &self.kind {
            Kind::Plain => Ok(()),
            Kind::MachO(fixup) => fixup.finish(file),
            Kind::Pe(fixup) => fixup.finish(file),
        }?;
        file.seek(SeekFrom::End(0)).map(drop).map_err(io("seek in"))
    }
}

/// Where the package ends in a file whose last bytes are not a trailer: for a Mach-O or PE file,
/// its locator offset with padding skipped (see the module docs); `None` for other formats.
/// `read(offset, len)` reads exactly `len` bytes at `offset` of a file of `file_len` bytes.
pub fn package_end<R>(file_len: u64, mut read: R) -> Result<Option<u64>, ContainerError>
where
    R: FnMut(u64, usize) -> io::Result<Vec<u8>>,
{
    let io = |source| ContainerError::Io { what: "read", source };
    let head_len = file_len.min(HEAD_READ) as usize;
    let mut head = read(0, head_len).map_err(io)?;
    let locator = match detect(&head) {
        Ok(Format::MachO) => {
            let needed = macho::commands_end(&head, file_len)?;
            if needed > head.len() as u64 {
                if needed > MAX_MACHO_COMMANDS {
                    return Err(macho::corrupt(format!("load commands of {needed} bytes")));
                }
                head = read(0, needed.min(file_len) as usize).map_err(io)?;
            }
            macho::locator(&head, file_len)?
        }
        Ok(Format::Pe) => pe::locator(&head, file_len)?,
        Ok(Format::Elf | Format::Other) | Err(_) => return Ok(None),
    };
    let window = locator.min(MAX_PADDING + END_MAGIC.len() as u64);
    let tail = read(locator - window, window as usize).map_err(io)?;
    let zeros = tail.iter().rev().take(MAX_PADDING as usize).take_while(|&&b| b == 0).count();
    Ok(Some(locator - zeros as u64))
}

/// [`package_end`] over bytes in memory.
pub fn package_end_in(bytes: &[u8]) -> Result<Option<u64>, ContainerError> {
    package_end(bytes.len() as u64, |offset, len| {
        usize::try_from(offset)
            .ok()
            .and_then(|start| bytes.get(start..start.checked_add(len)?))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    })
}

/// The unused bytes between a Mach-O's load commands and its first section, or a PE's section
/// table and its first section: where a test writes a stub marker into a foreign executable.
/// For a Mach-O the first 32 bytes are left out, so that a signing tool can still add its load
/// command.
pub fn header_padding(bytes: &[u8]) -> Result<Range<usize>, ContainerError> {
    match detect(bytes)? {
        Format::MachO => macho::header_padding(bytes),
        Format::Pe => pe::header_padding(bytes),
        found => Err(ContainerError::Unsupported { format: "file", detail: format!("it is {}", found.describe()) }),
    }
}

/// Writes `bytes` at `offset` of `file`.
fn write_at(file: &mut File, offset: u64, bytes: &[u8]) -> Result<(), ContainerError> {
    let io = |source| ContainerError::Io { what: "write", source };
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    file.write_all(bytes).map_err(io)
}

/// Appends zeros until the file length is a multiple of `align`; returns the new length.
fn pad_to(file: &mut File, align: u64) -> Result<u64, ContainerError> {
    let io = |source| ContainerError::Io { what: "write", source };
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    let pad = (align - len % align) % align;
    file.write_all(&vec![0u8; pad as usize]).map_err(io)?;
    Ok(len + pad)
}

/// Little-endian reads with bounds named in the error.
#[derive(Debug, Clone, Copy)]
struct Reader<'a> {
    bytes: &'a [u8],
    format: &'static str,
    file_len: u64,
}

impl<'a> Reader<'a> {
    fn slice(&self, offset: u64, len: u64, what: &'static str) -> Result<&'a [u8], ContainerError> {
        let truncated = || ContainerError::Truncated { format: self.format, what, offset, len: self.file_len };
        let start = usize::try_from(offset).map_err(|_| truncated())?;
        let end = usize::try_from(len).ok().and_then(|l| start.checked_add(l)).ok_or_else(truncated)?;
        self.bytes.get(start..end).ok_or_else(truncated)
    }

    fn u16(&self, offset: u64, what: &'static str) -> Result<u16, ContainerError> {
        let b = self.slice(offset, 2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, offset: u64, what: &'static str) -> Result<u32, ContainerError> {
        let b = self.slice(offset, 4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&self, offset: u64, what: &'static str) -> Result<u64, ContainerError> {
        let b = self.slice(offset, 8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_and_refuses_mach_o_variants() {
        assert_eq!(detect(b"\x7fELF\x02\x01").ok(), Some(Format::Elf));
        assert_eq!(detect(b"\xcf\xfa\xed\xfe").ok(), Some(Format::MachO));
        assert_eq!(detect(b"MZ\x90\x00").ok(), Some(Format::Pe));
        assert_eq!(detect(b"#!/bin/sh").ok(), Some(Format::Other));
        assert_eq!(detect(b"ab").ok(), Some(Format::Other));
        assert!(matches!(detect(b"\xca\xfe\xba\xbe\0\0\0\x02"), Err(ContainerError::Fat)));
        assert!(matches!(detect(b"\xce\xfa\xed\xfe"), Err(ContainerError::MachO32)));
        assert!(matches!(detect(b"\xfe\xed\xfa\xcf"), Err(ContainerError::BigEndian)));
    }

    #[test]
    fn formats_must_match_the_platform() {
        let elf = b"\x7fELF\x02\x01\x01\0".to_vec();
        let err = Placement::prepare(&elf, "darwin-arm64").expect_err("ELF for macOS");
        assert!(err.to_string().contains("is an ELF executable, but --platform darwin-arm64 needs a 64-bit Mach-O"));
        let err = Placement::prepare(b"MZ\0\0", "linux-x64").expect_err("PE for Linux");
        assert!(err.to_string().contains("needs an ELF executable"), "{err}");
        let err = Placement::prepare(b"#!/bin/false\n", "win32-x64").expect_err("text for Windows");
        assert!(err.to_string().contains("needs a PE"), "{err}");
        let plain = Placement::prepare(&elf, "linux-x64").expect("ELF for Linux");
        assert_eq!(plain.head(), &elf[..]);
        assert_eq!(plain.format(), None);
    }

    /// Packs into a synthetic stub, then appends what a signing tool would (a Mach-O signature
    /// blob after 16-byte padding; a PE certificate table recorded in data directory 4).
    fn packed_and_signed(stub: &[u8], platform: &str, signature: &[u8]) -> (std::fs::File, String) {
        let placement = Placement::prepare(stub, platform).expect("prepares");
        let tree = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(tree.path().join("bin")).expect("mkdir");
        std::fs::write(tree.path().join("bin/hello"), "#!/bin/sh\necho hello\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tree.path().join("bin/hello"), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let spec = crate::pack::PackageSpec {
            name: "hello".into(),
            version: semver::Version::new(1, 0, 0),
            platform: platform.into(),
            entry: "bin/hello".into(),
            args: vec![],
            min_launcher: semver::Version::new(0, 3, 0),
            launcher_version: semver::Version::new(0, 3, 0),
            packed_with: "test".into(),
            update: crate::manifest::UpdateSettings::default(),
            naming: Default::default(),
            supervise: true,
        };
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(placement.head()).expect("write");
        let manifest =
            crate::pack::write_package(&mut file, tree.path(), &spec, &Default::default(), None).expect("packs");
        placement.finish(&mut file).expect("finish");
        let unsigned_len = pad_to(&mut file, 16).expect("pad");
        file.write_all(signature).expect("sign");
        if platform.starts_with("win32") {
            let entry = 0x84 + 20 + 112 + 4 * 8;
            write_at(&mut file, entry, &(unsigned_len as u32).to_le_bytes()).expect("write");
            write_at(&mut file, entry + 4, &(signature.len() as u32).to_le_bytes()).expect("write");
        }
        (file, manifest.payload.sha256)
    }

    #[test]
    fn a_package_is_found_behind_a_signature_only_when_containers_are_searched() {
        use crate::package::{PackageErrorKind, Search};
        use crate::trailer::TrailerError;
        let cases = [
            (macho::tests::synthetic(macho::CPU_ARM64, true), "darwin-arm64"),
            (pe::tests::synthetic(pe::MACHINE_AMD64, true), "win32-x64"),
        ];
        for (stub, platform) in cases {
            for signature in [&b""[..], &[0xfa; 1000][..]] {
                let (file, digest) = packed_and_signed(&stub, platform, signature);
                let found = crate::Package::from_file_with(
                    file.try_clone().expect("clone"),
                    "packed".into(),
                    Search::Containers,
                )
                .unwrap_or_else(|e| panic!("{platform}, signature of {} bytes: {e}", signature.len()));
                assert_eq!(found.manifest().payload.sha256, digest);
                found.verify_payload().expect("payload digest");
                let after = found.after_package_len();
                let sig = signature.len() as u64;
                assert!(after >= sig && after <= sig + 2 * MAX_PADDING, "{after} bytes after the package");
                let end_only = crate::Package::from_file_with(file, "packed".into(), Search::End)
                    .expect_err("the trailer is not at the end");
                assert!(matches!(*end_only.kind, PackageErrorKind::Trailer(TrailerError::BadEndMagic)), "{end_only}");
            }
        }
    }

    #[test]
    fn the_locator_skips_at_most_the_allowed_padding() {
        use crate::trailer::TRAILER_LEN;
        // A PE whose certificate table follows the trailer after `pad` zero bytes.
        for pad in [0usize, 1, 7, 15, 16] {
            let mut pe = pe::tests::synthetic(pe::MACHINE_AMD64, false);
            pe.resize(pe.len() + TRAILER_LEN - END_MAGIC.len(), 0x55);
            pe.extend_from_slice(&END_MAGIC);
            let trailer_end = pe.len();
            pe.resize(trailer_end + pad, 0);
            let cert = pe.len();
            pe.extend_from_slice(&[0x30; 64]);
            let entry = 0x84 + 20 + 112 + 4 * 8;
            pe[entry..entry + 4].copy_from_slice(&(cert as u32).to_le_bytes());
            pe[entry + 4..entry + 8].copy_from_slice(&64u32.to_le_bytes());
            let expected = if pad <= MAX_PADDING as usize { trailer_end } else { cert - MAX_PADDING as usize };
            assert_eq!(package_end_in(&pe).expect("parses"), Some(expected as u64), "padding {pad}");
        }
        assert_eq!(package_end_in(b"\x7fELF....").ok(), Some(None));
        assert_eq!(package_end_in(b"").ok(), Some(None));
    }
}
