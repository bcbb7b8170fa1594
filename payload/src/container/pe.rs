//! PE (Windows) executables: the package as overlay after the last section, before the
//! Authenticode certificate table that signing appends (see the [module docs](super)).
//!
//! The fields used, from the PE/COFF specification: `e_lfanew` at 0x3c, the `PE\0\0` signature,
//! the COFF header (machine, number of sections, size of the optional header, characteristics),
//! the optional header's magic (PE32 or PE32+), `CheckSum`, `SizeOfHeaders`, the data
//! directories (entry 4, the certificate table, holds a *file offset* and size), and the section
//! table.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::{ContainerError, Reader, pad_to, write_at};

/// `IMAGE_FILE_MACHINE_AMD64`.
pub const MACHINE_AMD64: u16 = 0x8664;
/// `IMAGE_FILE_MACHINE_ARM64`.
pub const MACHINE_ARM64: u16 = 0xaa64;
/// `IMAGE_FILE_MACHINE_I386`.
pub const MACHINE_I386: u16 = 0x14c;

const FORMAT: &str = "PE";
const PE32: u16 = 0x10b;
const PE32_PLUS: u16 = 0x20b;
const SECURITY_DIRECTORY: u64 = 4;
const IMAGE_FILE_EXECUTABLE_IMAGE: u16 = 0x2;
const IMAGE_FILE_DLL: u16 = 0x2000;
/// The certificate table is 8-byte aligned; padding the package to that leaves a signing tool
/// nothing to pad, and gives the file an even length, on which the checksum algorithms of
/// Windows and of osslsigncode (which ignores an odd last byte) agree.
const ALIGN: u64 = 8;
/// Section headers are 40 bytes.
const SECTION_LEN: u64 = 40;

fn corrupt(detail: String) -> ContainerError {
    ContainerError::Corrupt { format: FORMAT, detail }
}

fn unsupported(detail: String) -> ContainerError {
    ContainerError::Unsupported { format: FORMAT, detail }
}

/// The parsed headers.
#[derive(Debug)]
struct Pe {
    machine: u16,
    magic: u16,
    characteristics: u16,
    checksum_offset: u64,
    /// Offset of data directory 4 in the file.
    security_entry: u64,
    /// File offset and size of the certificate table (0, 0 when unsigned).
    certificates: (u64, u64),
    /// End of the section table.
    headers_end: u64,
    /// `SizeOfHeaders`.
    size_of_headers: u64,
    /// Smallest raw-data offset of a section with raw data.
    first_raw: Option<u64>,
    /// Largest end of a section's raw data.
    sections_end: u64,
}

fn parse(bytes: &[u8], file_len: u64) -> Result<Pe, ContainerError> {
    let r = Reader { bytes, format: FORMAT, file_len };
    if r.slice(0, 2, "DOS signature")? != b"MZ" {
        return Err(corrupt("no MZ signature at offset 0".into()));
    }
    let pe_off = u64::from(r.u32(0x3c, "e_lfanew")?);
    if r.slice(pe_off, 4, "PE signature")? != b"PE\0\0" {
        return Err(corrupt(format!("no PE signature at offset {pe_off} (e_lfanew): an MS-DOS program, or corrupt")));
    }
    let coff = pe_off + 4;
    let machine = r.u16(coff, "machine")?;
    let nsections = u64::from(r.u16(coff + 2, "number of sections")?);
    let opt_len = u64::from(r.u16(coff + 16, "size of optional header")?);
    let characteristics = r.u16(coff + 18, "characteristics")?;
    let opt = coff + 20;
    let magic = r.u16(opt, "optional header magic")?;
    let (count_at, dirs_at) = match magic {
        PE32 => (92, 96),
        PE32_PLUS => (108, 112),
        other => {
            return Err(corrupt(format!("optional header magic {other:#x} at offset {opt} is neither PE32 nor PE32+")));
        }
    };
    let size_of_headers = u64::from(r.u32(opt + 60, "SizeOfHeaders")?);
    let ndirs = u64::from(r.u32(opt + count_at, "NumberOfRvaAndSizes")?);
    if ndirs <= SECURITY_DIRECTORY || dirs_at + ndirs * 8 > opt_len {
        return Err(corrupt(format!(
            "{ndirs} data directories in an optional header of {opt_len} bytes (at offset {opt}): no certificate table entry"
        )));
    }
    let security_entry = opt + dirs_at + SECURITY_DIRECTORY * 8;
    let cert_off = u64::from(r.u32(security_entry, "certificate table offset")?);
    let cert_len = u64::from(r.u32(security_entry + 4, "certificate table size")?);
    if cert_len != 0 && cert_off + cert_len > file_len {
        return Err(corrupt(format!(
            "the certificate table ({cert_off}+{cert_len}) runs past the end of the file ({file_len} bytes)"
        )));
    }
    let table = opt + opt_len;
    r.slice(table, nsections * SECTION_LEN, "section table")?;
    let headers_end = table + nsections * SECTION_LEN;
    let (mut first_raw, mut sections_end) = (None, 0);
    for i in 0..nsections {
        let at = table + i * SECTION_LEN;
        let raw_len = u64::from(r.u32(at + 16, "SizeOfRawData")?);
        let raw_off = u64::from(r.u32(at + 20, "PointerToRawData")?);
        if raw_len == 0 {
            continue;
        }
        if raw_off + raw_len > file_len {
            return Err(corrupt(format!(
                "section {i} (header at offset {at}) has raw data {raw_off}+{raw_len} past the end of the file ({file_len} bytes)"
            )));
        }
        first_raw = Some(first_raw.map_or(raw_off, |f: u64| f.min(raw_off)));
        sections_end = sections_end.max(raw_off + raw_len);
    }
    Ok(Pe {
        machine,
        magic,
        characteristics,
        checksum_offset: opt + 64,
        security_entry,
        certificates: (cert_off, cert_len),
        headers_end,
        size_of_headers,
        first_raw,
        sections_end,
    })
}

/// What [`super::Placement::finish`] patches in a PE image.
#[derive(Debug)]
pub(super) struct Fixup {
    checksum_offset: u64,
    pub(super) removed_signature: bool,
}

/// Checks the stub and returns the bytes to write before the package: the stub without its
/// certificate table, and with the certificate table entry cleared.
pub(super) fn prepare(
    stub: &[u8],
    machine: u16,
    plus: bool,
    arch: &'static str,
    platform: &str,
) -> Result<(Vec<u8>, Fixup), ContainerError> {
    let file_len = stub.len() as u64;
    let pe = parse(stub, file_len)?;
    if pe.machine != machine || (pe.magic == PE32_PLUS) != plus {
        return Err(ContainerError::WrongArch {
            format: FORMAT,
            found: machine_name(pe.machine, pe.magic),
            platform: platform.to_owned(),
            needed: arch,
        });
    }
    if pe.characteristics & IMAGE_FILE_EXECUTABLE_IMAGE == 0 || pe.characteristics & IMAGE_FILE_DLL != 0 {
        return Err(unsupported(format!(
            "its characteristics {:#x} say it is not an executable image (a DLL or an object file)",
            pe.characteristics
        )));
    }
    let (cert_off, cert_len) = pe.certificates;
    let mut head = if cert_len == 0 {
        stub.to_vec()
    } else {
        if cert_off < pe.sections_end.max(pe.headers_end) {
            return Err(corrupt(format!(
                "the certificate table at offset {cert_off} overlaps the headers or sections (which end at {})",
                pe.sections_end.max(pe.headers_end)
            )));
        }
        if cert_off + cert_len != file_len {
            return Err(unsupported(format!(
                "{} bytes follow the certificate table (which ends at offset {}): remove them, or sign after packing",
                file_len - cert_off - cert_len,
                cert_off + cert_len
            )));
        }
        stub[..cert_off as usize].to_vec()
    };
    let entry = pe.security_entry as usize;
    head[entry..entry + 8].fill(0);
    Ok((head, Fixup { checksum_offset: pe.checksum_offset, removed_signature: cert_len != 0 }))
}

impl Fixup {
    /// Pads the file to [`ALIGN`] and writes the header checksum of the whole file.
    pub(super) fn finish(&self, file: &mut File) -> Result<(), ContainerError> {
        let io = |source| ContainerError::Io { what: "read", source };
        let len = pad_to(file, ALIGN)?;
        if u32::try_from(len).is_err() {
            return Err(ContainerError::TooLarge { format: FORMAT, len });
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let sum =
            checksum(std::io::BufReader::with_capacity(256 * 1024, &mut *file), self.checksum_offset).map_err(io)?;
        write_at(file, self.checksum_offset, &sum.to_le_bytes())
    }
}

/// The PE header checksum (as `CheckSumMappedFile` computes it): the 16-bit one's-complement-style
/// sum of the file's little-endian words, the checksum field counted as zero, plus the file length.
pub fn checksum(mut reader: impl Read, checksum_offset: u64) -> std::io::Result<u32> {
    let mut sum: u64 = 0;
    let mut offset: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry: Option<u8> = None;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            let at = offset;
            offset += 1;
            let b = if (checksum_offset..checksum_offset + 4).contains(&at) { 0 } else { b };
            match carry.take() {
                None => carry = Some(b),
                Some(low) => {
                    sum += u64::from(u16::from_le_bytes([low, b]));
                    sum = (sum & 0xffff) + (sum >> 16);
                }
            }
        }
    }
    if let Some(low) = carry {
        sum += u64::from(low);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    Ok((sum + offset) as u32)
}

/// Where the package ends in a packed PE file: the start of the certificate table if signed,
/// else the end of the file.
pub(super) fn locator(bytes: &[u8], file_len: u64) -> Result<u64, ContainerError> {
    let pe = parse(bytes, file_len)?;
    Ok(if pe.certificates.1 == 0 { file_len } else { pe.certificates.0 })
}

/// Free bytes between the section table and the first section's raw data.
pub(super) fn header_padding(bytes: &[u8]) -> Result<std::ops::Range<usize>, ContainerError> {
    let pe = parse(bytes, bytes.len() as u64)?;
    let end = pe.first_raw.unwrap_or(pe.size_of_headers).min(pe.size_of_headers);
    Ok(pe.headers_end as usize..end.max(pe.headers_end) as usize)
}

fn machine_name(machine: u16, magic: u16) -> String {
    let bits = if magic == PE32_PLUS { "PE32+" } else { "PE32" };
    match machine {
        MACHINE_AMD64 => format!("x64 (AMD64, {bits})"),
        MACHINE_ARM64 => format!("ARM64 ({bits})"),
        MACHINE_I386 => format!("x86 (i386, {bits})"),
        other => format!("machine {other:#x} ({bits})"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal PE32+ executable: headers, one `.text` section at 0x200, optionally an (opaque)
    /// certificate table after it.
    pub(crate) fn synthetic(machine: u16, certificate: bool) -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        b[coff..coff + 2].copy_from_slice(&machine.to_le_bytes());
        b[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        b[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        b[coff + 18..coff + 20].copy_from_slice(&0x22u16.to_le_bytes());
        let opt = coff + 20;
        b[opt..opt + 2].copy_from_slice(&PE32_PLUS.to_le_bytes());
        b[opt + 60..opt + 64].copy_from_slice(&0x200u32.to_le_bytes());
        b[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        let sect = opt + 240;
        b[sect..sect + 5].copy_from_slice(b".text");
        b[sect + 16..sect + 20].copy_from_slice(&0x200u32.to_le_bytes());
        b[sect + 20..sect + 24].copy_from_slice(&0x200u32.to_le_bytes());
        b[0x200..0x400].fill(0xcc);
        if certificate {
            let entry = opt + 112 + 4 * 8;
            b[entry..entry + 4].copy_from_slice(&0x400u32.to_le_bytes());
            b[entry + 4..entry + 8].copy_from_slice(&0x40u32.to_le_bytes());
            b.resize(0x440, 0x30);
        }
        b
    }

    #[test]
    fn a_certificate_table_is_removed() {
        let stub = synthetic(MACHINE_AMD64, true);
        let (head, fixup) = prepare(&stub, MACHINE_AMD64, true, "x64", "win32-x64").expect("prepares");
        assert!(fixup.removed_signature);
        assert_eq!(head.len(), 0x400);
        assert_eq!(locator(&head, head.len() as u64).expect("parses"), 0x400);
        assert_eq!(locator(&stub, stub.len() as u64).expect("parses"), 0x400);
    }

    #[test]
    fn finish_writes_the_checksum() {
        let stub = synthetic(MACHINE_AMD64, false);
        let (head, fixup) = prepare(&stub, MACHINE_AMD64, true, "x64", "win32-x64").expect("prepares");
        let mut file = tempfile::tempfile().expect("temp file");
        std::io::Write::write_all(&mut file, &head).expect("write");
        std::io::Write::write_all(&mut file, &[7u8; 333]).expect("write");
        fixup.finish(&mut file).expect("finish");
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).expect("seek");
        file.read_to_end(&mut bytes).expect("read");
        let at = fixup.checksum_offset as usize;
        let stored = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        assert_ne!(stored, 0);
        assert_eq!(stored, checksum(&bytes[..], fixup.checksum_offset).expect("sum"));
    }

    /// Known answers: the checksum field (4 bytes) counts as zero, carries fold back in, an odd
    /// last byte is a word of its own, and the file length is added.
    #[test]
    fn checksum_known_answer() {
        assert_eq!(checksum(&[1u8, 2, 3, 4, 5, 6][..], 2).expect("sum"), 0x0201 + 6);
        assert_eq!(checksum(&[0xffu8, 0xff, 0x02, 0x00][..], 100).expect("sum"), (0xffff + 2 - 0xffff) + 4);
        assert_eq!(checksum(&[9u8][..], 100).expect("sum"), 9 + 1);
    }

    #[test]
    fn wrong_machine_is_named() {
        let stub = synthetic(MACHINE_ARM64, false);
        let err = prepare(&stub, MACHINE_AMD64, true, "x64 (AMD64)", "win32-x64").expect_err("arm64 for x64");
        assert_eq!(
            err.to_string(),
            "the stub is a PE for ARM64 (PE32+), but --platform win32-x64 needs x64 (AMD64): pass the launcher built for win32-x64"
        );
    }

    #[test]
    fn every_truncation_of_the_headers_is_an_error_not_a_panic() {
        let stub = synthetic(MACHINE_AMD64, true);
        for len in 0..0x3ff {
            let cut = &stub[..len];
            assert!(prepare(cut, MACHINE_AMD64, true, "x64", "win32-x64").is_err(), "truncated at {len}");
            let _ = locator(cut, len as u64);
            let _ = header_padding(cut);
        }
        let err = prepare(&stub[..0x90], MACHINE_AMD64, true, "x64", "win32-x64").expect_err("truncated");
        assert!(err.to_string().starts_with("PE header is truncated"), "{err}");
    }

    #[test]
    fn data_after_the_certificate_table_is_refused() {
        let mut stub = synthetic(MACHINE_AMD64, true);
        stub.extend_from_slice(b"tail");
        let err = prepare(&stub, MACHINE_AMD64, true, "x64", "win32-x64").expect_err("tail");
        assert!(err.to_string().contains("4 bytes follow the certificate table"), "{err}");
    }

    #[test]
    fn random_bytes_in_the_headers_never_panic() {
        let stub = synthetic(MACHINE_AMD64, true);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..4000 {
            let mut bytes = stub.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = 0x3c + (seed % 0x1c0) as usize;
                bytes[at] = (seed >> 32) as u8;
            }
            let _ = prepare(&bytes, MACHINE_AMD64, true, "x64", "win32-x64");
            let _ = locator(&bytes, bytes.len() as u64);
            let _ = header_padding(&bytes);
        }
    }
}
