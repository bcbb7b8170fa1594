//! Thin 64-bit little-endian Mach-O executables: the package at the end of `__LINKEDIT`, covered
//! by the string table (see the [module docs](super)).
//!
//! The fields used, from `<mach-o/loader.h>`: the header (32 bytes: magic, cputype, cpusubtype,
//! filetype, ncmds, sizeofcmds, flags, reserved), then `ncmds` load commands in `sizeofcmds`
//! bytes, each starting with `cmd` and `cmdsize`.

use super::{ContainerError, Reader, pad_to, write_at};

/// `CPU_TYPE_ARM64`.
pub const CPU_ARM64: u32 = 0x0100_000c;
/// `CPU_TYPE_X86_64`.
pub const CPU_X86_64: u32 = 0x0100_0007;

const FORMAT: &str = "Mach-O";
const HEADER_LEN: u64 = 32;
const MH_EXECUTE: u32 = 2;
const LC_SYMTAB: u32 = 0x2;
const LC_DYSYMTAB: u32 = 0xb;
const LC_SEGMENT_64: u32 = 0x19;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const LC_DYLD_INFO: u32 = 0x22;
const LC_DYLD_INFO_ONLY: u32 = 0x8000_0022;
/// Load commands that are a `linkedit_data_command` (cmd, cmdsize, dataoff, datasize) other than
/// the code signature: segment split info, function starts, data in code, code signing DRs,
/// linker optimisation hints, exports trie, chained fixups, atom info.
const LINKEDIT_DATA: &[u32] = &[0x1e, 0x26, 0x29, 0x2b, 0x2e, 0x8000_0033, 0x8000_0034, 0x36];
/// Size of `LC_CODE_SIGNATURE`, the room a signing tool needs after the load commands.
const CODE_SIGNATURE_CMD_LEN: u64 = 16;
/// `__LINKEDIT`'s `vmsize` is rounded to the largest page size (16 KiB on Apple silicon).
const PAGE: u64 = 0x4000;
/// Alignment of the end of the package, as ld64 aligns the string table's end for the signature.
const ALIGN: u64 = 16;

pub(super) fn corrupt(detail: String) -> ContainerError {
    ContainerError::Corrupt { format: FORMAT, detail }
}

fn unsupported(detail: String) -> ContainerError {
    ContainerError::Unsupported { format: FORMAT, detail }
}

/// A segment's load command.
#[derive(Debug, Clone)]
struct Segment {
    /// Offset of the load command in the file.
    cmd_offset: u64,
    name: String,
    vmaddr: u64,
    vmsize: u64,
    fileoff: u64,
    filesize: u64,
}

/// The parsed headers.
#[derive(Debug)]
struct MachO {
    cputype: u32,
    filetype: u32,
    ncmds: u32,
    sizeofcmds: u32,
    segments: Vec<Segment>,
    /// Offset of `LC_SYMTAB` and its symoff, nsyms, stroff, strsize.
    symtab: Option<(u64, u64, u64, u64, u64)>,
    /// Offset of `LC_CODE_SIGNATURE` and its dataoff, datasize.
    code_signature: Option<(u64, u64, u64)>,
    /// End offsets of the other data in `__LINKEDIT`, with the command that references it.
    linkedit_ends: Vec<(u32, u64)>,
    /// Smallest file offset of a section with file contents.
    first_section: Option<u64>,
}

/// The end of the load commands, from the header alone: how much of the file [`locator`] needs.
pub(super) fn commands_end(bytes: &[u8], file_len: u64) -> Result<u64, ContainerError> {
    let r = Reader { bytes, format: FORMAT, file_len };
    Ok(HEADER_LEN + u64::from(r.u32(20, "sizeofcmds")?))
}

fn parse(bytes: &[u8], file_len: u64) -> Result<MachO, ContainerError> {
    let r = Reader { bytes, format: FORMAT, file_len };
    let cputype = r.u32(4, "cputype")?;
    let filetype = r.u32(12, "filetype")?;
    let ncmds = r.u32(16, "ncmds")?;
    let sizeofcmds = r.u32(20, "sizeofcmds")?;
    let end = HEADER_LEN + u64::from(sizeofcmds);
    r.slice(HEADER_LEN, u64::from(sizeofcmds), "load commands")?;
    let mut m = MachO {
        cputype,
        filetype,
        ncmds,
        sizeofcmds,
        segments: Vec::new(),
        symtab: None,
        code_signature: None,
        linkedit_ends: Vec::new(),
        first_section: None,
    };
    let mut at = HEADER_LEN;
    for index in 0..ncmds {
        let cmd = r.u32(at, "load command")?;
        let cmdsize = u64::from(r.u32(at + 4, "load command size")?);
        if cmdsize < 8 || cmdsize % 8 != 0 || at + cmdsize > end {
            return Err(corrupt(format!(
                "load command {index} at offset {at} has size {cmdsize}, outside the {sizeofcmds} bytes of load commands"
            )));
        }
        let need = |len: u64, name: &str| {
            if cmdsize < len {
                Err(corrupt(format!("{name} at offset {at} has size {cmdsize}, less than {len}")))
            } else {
                Ok(())
            }
        };
        let ranged = |what: &'static str, off: u64, len: u64| -> Result<u64, ContainerError> {
            let stop = off.checked_add(len).filter(|&e| e <= file_len);
            stop.ok_or_else(|| {
                corrupt(format!("{what} ({off}+{len}) runs past the end of the file ({file_len} bytes)"))
            })
        };
        match cmd {
            LC_SEGMENT_64 => {
                need(72, "LC_SEGMENT_64")?;
                let name_bytes = r.slice(at + 8, 16, "segment name")?;
                let name =
                    String::from_utf8_lossy(name_bytes.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
                let seg = Segment {
                    cmd_offset: at,
                    name,
                    vmaddr: r.u64(at + 24, "vmaddr")?,
                    vmsize: r.u64(at + 32, "vmsize")?,
                    fileoff: r.u64(at + 40, "fileoff")?,
                    filesize: r.u64(at + 48, "filesize")?,
                };
                ranged("segment file range", seg.fileoff, seg.filesize)?;
                let nsects = u64::from(r.u32(at + 64, "nsects")?);
                if 72 + 80 * nsects > cmdsize {
                    return Err(corrupt(format!(
                        "segment {} at offset {at} declares {nsects} sections in {cmdsize} bytes",
                        seg.name
                    )));
                }
                for s in 0..nsects {
                    let sect = at + 72 + 80 * s;
                    let size = r.u64(sect + 40, "section size")?;
                    let offset = u64::from(r.u32(sect + 48, "section offset")?);
                    let flags = r.u32(sect + 64, "section flags")?;
                    // Zero-fill sections (S_ZEROFILL 1, S_GB_ZEROFILL 0xc, S_THREAD_LOCAL_ZEROFILL 0x12) have no bytes.
                    if offset != 0 && size != 0 && !matches!(flags & 0xff, 0x1 | 0xc | 0x12) {
                        ranged("section", offset, size)?;
                        m.first_section = Some(m.first_section.map_or(offset, |f: u64| f.min(offset)));
                    }
                }
                m.segments.push(seg);
            }
            LC_SYMTAB => {
                need(24, "LC_SYMTAB")?;
                let symoff = u64::from(r.u32(at + 8, "symoff")?);
                let nsyms = u64::from(r.u32(at + 12, "nsyms")?);
                let stroff = u64::from(r.u32(at + 16, "stroff")?);
                let strsize = u64::from(r.u32(at + 20, "strsize")?);
                m.linkedit_ends.push((cmd, ranged("symbol table", symoff, nsyms * 16)?));
                ranged("string table", stroff, strsize)?;
                m.symtab = Some((at, symoff, nsyms, stroff, strsize));
            }
            LC_DYSYMTAB => {
                need(80, "LC_DYSYMTAB")?;
                // (offset field, count field, entry size): toc, modtab, extrefsyms, indirectsyms, extrel, locrel.
                for (off, count, size) in
                    [(32, 36, 8), (40, 44, 56), (48, 52, 4), (56, 60, 4), (64, 68, 8), (72, 76, 8)]
                {
                    let o = u64::from(r.u32(at + off, "dysymtab offset")?);
                    let n = u64::from(r.u32(at + count, "dysymtab count")?);
                    if n != 0 {
                        m.linkedit_ends.push((cmd, ranged("dynamic symbol table", o, n * size)?));
                    }
                }
            }
            LC_DYLD_INFO | LC_DYLD_INFO_ONLY => {
                need(48, "LC_DYLD_INFO")?;
                for field in (8..48).step_by(8) {
                    let o = u64::from(r.u32(at + field, "dyld info offset")?);
                    let n = u64::from(r.u32(at + field + 4, "dyld info size")?);
                    if n != 0 {
                        m.linkedit_ends.push((cmd, ranged("dyld info", o, n)?));
                    }
                }
            }
            LC_CODE_SIGNATURE => {
                if cmdsize != CODE_SIGNATURE_CMD_LEN {
                    return Err(corrupt(format!("LC_CODE_SIGNATURE at offset {at} has size {cmdsize}, not 16")));
                }
                let dataoff = u64::from(r.u32(at + 8, "code signature offset")?);
                let datasize = u64::from(r.u32(at + 12, "code signature size")?);
                ranged("code signature", dataoff, datasize)?;
                m.code_signature = Some((at, dataoff, datasize));
            }
            c if LINKEDIT_DATA.contains(&c) => {
                need(16, "linkedit data command")?;
                let o = u64::from(r.u32(at + 8, "data offset")?);
                let n = u64::from(r.u32(at + 12, "data size")?);
                if n != 0 {
                    m.linkedit_ends.push((cmd, ranged("linkedit data", o, n)?));
                }
            }
            _ => {}
        }
        at += cmdsize;
    }
    Ok(m)
}

impl MachO {
    fn linkedit(&self) -> Result<&Segment, ContainerError> {
        self.segments
            .iter()
            .find(|s| s.name == "__LINKEDIT")
            .ok_or_else(|| unsupported("it has no __LINKEDIT segment".into()))
    }

    fn string_table_end(&self) -> Result<(u64, u64, u64), ContainerError> {
        let (cmd_offset, _, _, stroff, strsize) =
            self.symtab.ok_or_else(|| unsupported("it has no LC_SYMTAB load command".into()))?;
        Ok((cmd_offset, stroff, stroff + strsize))
    }
}

/// What [`super::Placement::finish`] patches in a Mach-O.
#[derive(Debug)]
pub(super) struct Fixup {
    symtab_cmd: u64,
    stroff: u64,
    linkedit_cmd: u64,
    linkedit_fileoff: u64,
    pub(super) removed_signature: bool,
}

/// Checks the stub and returns the bytes to write before the package: the stub up to the end of
/// its string table, without its code signature.
pub(super) fn prepare(
    stub: &[u8],
    cpu: u32,
    arch: &'static str,
    platform: &str,
) -> Result<(Vec<u8>, Fixup), ContainerError> {
    let file_len = stub.len() as u64;
    let m = parse(stub, file_len)?;
    if m.cputype != cpu {
        return Err(ContainerError::WrongArch {
            format: FORMAT,
            found: cpu_name(m.cputype),
            platform: platform.to_owned(),
            needed: arch,
        });
    }
    if m.filetype != MH_EXECUTE {
        return Err(unsupported(format!("its file type is {} (a library or object), not an executable", m.filetype)));
    }
    let linkedit = m.linkedit()?.clone();
    let linkedit_end = linkedit.fileoff + linkedit.filesize;
    for seg in m.segments.iter().filter(|s| s.name != "__LINKEDIT") {
        if seg.filesize != 0 && seg.fileoff + seg.filesize > linkedit.fileoff {
            return Err(unsupported(format!("segment {} lies after __LINKEDIT in the file", seg.name)));
        }
        if seg.vmsize != 0 && seg.vmaddr.saturating_add(seg.vmsize) > linkedit.vmaddr {
            return Err(unsupported(format!("segment {} lies after __LINKEDIT in memory", seg.name)));
        }
    }
    if linkedit_end != file_len {
        return Err(unsupported(format!(
            "{} bytes lie after __LINKEDIT (which ends at offset {linkedit_end}): outside every segment, \
             so codesign would refuse it; is it already packed or modified?",
            file_len.saturating_sub(linkedit_end)
        )));
    }
    let (symtab_cmd, stroff, strtab_end) = m.string_table_end()?;
    if stroff < linkedit.fileoff || strtab_end > linkedit_end {
        return Err(unsupported(format!("the string table ({stroff}..{strtab_end}) is not inside __LINKEDIT")));
    }
    if let Some((cmd, end)) = m.linkedit_ends.iter().find(|(_, end)| *end > strtab_end) {
        return Err(unsupported(format!(
            "the data of load command {cmd:#x} ends at offset {end}, after the string table ({strtab_end}): \
             the string table must be the last thing in __LINKEDIT"
        )));
    }
    // Everything between the string table and the end of __LINKEDIT must be the code signature
    // or zero padding: that is what is dropped.
    let signature = m.code_signature.map(|(cmd, off, size)| (cmd, off..off + size));
    if let Some((_, range)) = &signature
        && range.start < strtab_end
    {
        return Err(unsupported(format!(
            "the code signature at offset {} overlaps the string table (ends at {strtab_end})",
            range.start
        )));
    }
    let stray = (strtab_end..linkedit_end)
        .find(|&i| !signature.as_ref().is_some_and(|(_, range)| range.contains(&i)) && stub[i as usize] != 0);
    if let Some(at) = stray {
        return Err(unsupported(format!("byte {at} after the string table is neither the code signature nor padding")));
    }
    let mut commands_end = HEADER_LEN + u64::from(m.sizeofcmds);
    if strtab_end < commands_end {
        return Err(corrupt(format!("the string table ends at offset {strtab_end}, inside the load commands")));
    }
    let mut head = stub[..strtab_end as usize].to_vec();
    let moved = |offset: u64| match signature {
        Some((cmd, _)) if offset > cmd => offset - CODE_SIGNATURE_CMD_LEN,
        _ => offset,
    };
    if let Some((cmd, _)) = &signature {
        let (cmd, end) = (*cmd as usize, commands_end as usize);
        let len = CODE_SIGNATURE_CMD_LEN as usize;
        head.copy_within(cmd + len..end, cmd);
        head[end - len..end].fill(0);
        head[16..20].copy_from_slice(&(m.ncmds - 1).to_le_bytes());
        head[20..24].copy_from_slice(&(m.sizeofcmds - CODE_SIGNATURE_CMD_LEN as u32).to_le_bytes());
        commands_end -= CODE_SIGNATURE_CMD_LEN;
    }
    let first_section = m.first_section.unwrap_or(linkedit.fileoff);
    let room = head.get(commands_end as usize..(commands_end + CODE_SIGNATURE_CMD_LEN) as usize);
    if commands_end + CODE_SIGNATURE_CMD_LEN > first_section || room.is_none_or(|r| r.iter().any(|&b| b != 0)) {
        return Err(unsupported(format!(
            "there is no free room after the load commands (offset {commands_end}) for the LC_CODE_SIGNATURE \
             a signing tool adds; relink with -headerpad 0x100"
        )));
    }
    // __LINKEDIT now ends with the string table; `finish` stretches it over the package.
    let linkedit_cmd = moved(linkedit.cmd_offset) as usize;
    head[linkedit_cmd + 48..linkedit_cmd + 56].copy_from_slice(&(strtab_end - linkedit.fileoff).to_le_bytes());
    let fixup = Fixup {
        symtab_cmd: moved(symtab_cmd),
        stroff,
        linkedit_cmd: moved(linkedit.cmd_offset),
        linkedit_fileoff: linkedit.fileoff,
        removed_signature: signature.is_some(),
    };
    Ok((head, fixup))
}

impl Fixup {
    /// Pads the file to [`ALIGN`] and stretches the string table and `__LINKEDIT` to its end.
    pub(super) fn finish(&self, file: &mut std::fs::File) -> Result<(), ContainerError> {
        let end = pad_to(file, ALIGN)?;
        let too_large = || ContainerError::TooLarge { format: FORMAT, len: end };
        let strsize = u32::try_from(end - self.stroff).map_err(|_| too_large())?;
        if u32::try_from(end).is_err() {
            return Err(too_large());
        }
        let filesize = end - self.linkedit_fileoff;
        let vmsize = filesize.div_ceil(PAGE) * PAGE;
        write_at(file, self.symtab_cmd + 20, &strsize.to_le_bytes())?;
        write_at(file, self.linkedit_cmd + 32, &vmsize.to_le_bytes())?;
        write_at(file, self.linkedit_cmd + 48, &filesize.to_le_bytes())
    }
}

/// The end of the string table: where the package ends in a packed Mach-O, signed or not.
pub(super) fn locator(bytes: &[u8], file_len: u64) -> Result<u64, ContainerError> {
    let m = parse(bytes, file_len)?;
    Ok(m.string_table_end()?.2)
}

/// Free bytes between the load commands (plus room for a signing tool's `LC_CODE_SIGNATURE`,
/// and 16 more) and the first section.
pub(super) fn header_padding(bytes: &[u8]) -> Result<std::ops::Range<usize>, ContainerError> {
    let m = parse(bytes, bytes.len() as u64)?;
    let start = HEADER_LEN + u64::from(m.sizeofcmds) + 2 * CODE_SIGNATURE_CMD_LEN;
    let end = m.first_section.unwrap_or(start);
    Ok(start as usize..end.max(start) as usize)
}

fn cpu_name(cpu: u32) -> String {
    match cpu {
        CPU_ARM64 => "arm64".into(),
        CPU_X86_64 => "x86_64".into(),
        0x0100_0012 => "ppc64".into(),
        other => format!("CPU type {other:#x}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal Mach-O executable: __PAGEZERO, __TEXT (one section at 0x1000), __LINKEDIT with a
    /// symbol table and string table at its end, optionally an (opaque) code signature after it.
    pub(crate) fn synthetic(cpu: u32, signature: bool) -> Vec<u8> {
        let mut cmds: Vec<Vec<u8>> = Vec::new();
        let seg = |name: &str, vmaddr: u64, vmsize: u64, fileoff: u64, filesize: u64, sect: Option<(u64, u32)>| {
            let mut c = Vec::new();
            let nsects = u32::from(sect.is_some());
            c.extend_from_slice(&LC_SEGMENT_64.to_le_bytes());
            c.extend_from_slice(&(72 + 80 * nsects).to_le_bytes());
            let mut n = [0u8; 16];
            n[..name.len()].copy_from_slice(name.as_bytes());
            c.extend_from_slice(&n);
            for v in [vmaddr, vmsize, fileoff, filesize] {
                c.extend_from_slice(&v.to_le_bytes());
            }
            c.extend_from_slice(&[7, 0, 0, 0, 5, 0, 0, 0]);
            c.extend_from_slice(&nsects.to_le_bytes());
            c.extend_from_slice(&0u32.to_le_bytes());
            if let Some((size, offset)) = sect {
                let mut s = vec![0u8; 80];
                s[..6].copy_from_slice(b"__text");
                s[16..22].copy_from_slice(b"__TEXT");
                s[32..40].copy_from_slice(&(vmaddr + u64::from(offset)).to_le_bytes());
                s[40..48].copy_from_slice(&size.to_le_bytes());
                s[48..52].copy_from_slice(&offset.to_le_bytes());
                c.extend_from_slice(&s);
            }
            c
        };
        let linkedit_off = 0x2000u64;
        let symoff = linkedit_off as u32;
        let stroff = symoff + 32;
        let strsize = 40u32;
        let sig_off = stroff + strsize + 8; // 8 bytes of padding
        let sig_len = if signature { 64u32 } else { 0 };
        let linkedit_size =
            if signature { u64::from(sig_off + sig_len) } else { u64::from(stroff + strsize) } - linkedit_off;
        cmds.push(seg("__PAGEZERO", 0, 0x1_0000_0000, 0, 0, None));
        cmds.push(seg("__TEXT", 0x1_0000_0000, 0x2000, 0, 0x2000, Some((0x100, 0x1000))));
        cmds.push(seg("__LINKEDIT", 0x1_0000_4000, 0x4000, linkedit_off, linkedit_size, None));
        let mut symtab = Vec::new();
        for v in [LC_SYMTAB, 24, symoff, 2, stroff, strsize] {
            symtab.extend_from_slice(&v.to_le_bytes());
        }
        cmds.push(symtab);
        if signature {
            let mut c = Vec::new();
            for v in [LC_CODE_SIGNATURE, 16, sig_off, sig_len] {
                c.extend_from_slice(&v.to_le_bytes());
            }
            cmds.push(c);
        }
        let sizeofcmds: usize = cmds.iter().map(Vec::len).sum();
        let mut out = Vec::new();
        for v in [0xfeed_facf, cpu, 0, MH_EXECUTE, cmds.len() as u32, sizeofcmds as u32, 0x0020_0085, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for c in &cmds {
            out.extend_from_slice(c);
        }
        out.resize(0x1000, 0);
        out.resize(0x1100, 0xc3); // "code"
        out.resize(linkedit_off as usize, 0);
        out.resize(stroff as usize, 0x11); // symbols
        out.extend_from_slice(b" \0_main\0_start\0");
        out.resize((stroff + strsize) as usize, 0);
        if signature {
            out.resize(sig_off as usize, 0);
            out.resize((sig_off + sig_len) as usize, 0xfa);
        }
        out
    }

    #[test]
    fn a_signature_is_removed_and_the_head_ends_at_the_string_table() {
        let stub = synthetic(CPU_ARM64, true);
        let (head, fixup) = prepare(&stub, CPU_ARM64, "arm64", "darwin-arm64").expect("prepares");
        assert!(fixup.removed_signature);
        let m = parse(&head, head.len() as u64).expect("head parses");
        assert!(m.code_signature.is_none());
        assert_eq!(m.ncmds, 4);
        assert_eq!(head.len() as u64, m.string_table_end().expect("symtab").2);
        let unsigned = synthetic(CPU_ARM64, false);
        let (head2, fixup2) = prepare(&unsigned, CPU_ARM64, "arm64", "darwin-arm64").expect("prepares");
        assert!(!fixup2.removed_signature);
        assert_eq!(head2, unsigned);
    }

    #[test]
    fn finish_stretches_the_string_table_and_linkedit_over_the_package() {
        let stub = synthetic(CPU_X86_64, true);
        let (head, fixup) = prepare(&stub, CPU_X86_64, "x86_64", "darwin-x64").expect("prepares");
        let mut file = tempfile::tempfile().expect("temp file");
        std::io::Write::write_all(&mut file, &head).expect("write");
        std::io::Write::write_all(&mut file, &[0xab; 1001]).expect("write");
        fixup.finish(&mut file).expect("finish");
        let mut bytes = Vec::new();
        std::io::Seek::rewind(&mut file).expect("rewind");
        std::io::Read::read_to_end(&mut file, &mut bytes).expect("read");
        assert_eq!(bytes.len() % 16, 0);
        let m = parse(&bytes, bytes.len() as u64).expect("parses");
        assert_eq!(m.string_table_end().expect("symtab").2, bytes.len() as u64);
        let linkedit = m.linkedit().expect("linkedit");
        assert_eq!(linkedit.fileoff + linkedit.filesize, bytes.len() as u64);
        assert_eq!(linkedit.vmsize % PAGE, 0);
        assert!(linkedit.vmsize >= linkedit.filesize);
        // And the result is a valid stub shape again (nothing outside a segment).
        prepare(&bytes, CPU_X86_64, "x86_64", "darwin-x64").expect("the output is a well-formed Mach-O");
    }

    #[test]
    fn wrong_architecture_is_named() {
        let stub = synthetic(CPU_X86_64, false);
        let err = prepare(&stub, CPU_ARM64, "arm64", "darwin-arm64").expect_err("x86_64 for arm64");
        assert_eq!(
            err.to_string(),
            "the stub is a Mach-O for x86_64, but --platform darwin-arm64 needs arm64: pass the launcher built for darwin-arm64"
        );
    }

    #[test]
    fn every_truncation_of_the_headers_is_an_error_not_a_panic() {
        let stub = synthetic(CPU_ARM64, true);
        for len in 0..0x1000 {
            let cut = &stub[..len];
            assert!(prepare(cut, CPU_ARM64, "arm64", "darwin-arm64").is_err(), "truncated at {len}");
            let _ = locator(cut, len as u64);
            let _ = header_padding(cut);
        }
        let err = prepare(&stub[..100], CPU_ARM64, "arm64", "darwin-arm64").expect_err("truncated");
        assert!(err.to_string().contains("Mach-O header is truncated: load commands at offset 32"), "{err}");
    }

    #[test]
    fn corrupt_fields_are_named() {
        let mut stub = synthetic(CPU_ARM64, false);
        // The first load command's size: not a multiple of 8.
        stub[36..40].copy_from_slice(&13u32.to_le_bytes());
        let err = prepare(&stub, CPU_ARM64, "arm64", "darwin-arm64").expect_err("corrupt");
        assert!(err.to_string().contains("load command 0 at offset 32 has size 13"), "{err}");
        let mut stub = synthetic(CPU_ARM64, true);
        let (at, _, _) = parse(&stub, stub.len() as u64).expect("parses").code_signature.expect("signed");
        stub[at as usize + 4..at as usize + 8].copy_from_slice(&24u32.to_le_bytes());
        let sizeofcmds = u32::from_le_bytes([stub[20], stub[21], stub[22], stub[23]]) + 8;
        stub[20..24].copy_from_slice(&sizeofcmds.to_le_bytes());
        let err = prepare(&stub, CPU_ARM64, "arm64", "darwin-arm64").expect_err("corrupt");
        assert!(err.to_string().contains(&format!("LC_CODE_SIGNATURE at offset {at} has size 24, not 16")), "{err}");
        let mut stub = synthetic(CPU_ARM64, false);
        stub.extend_from_slice(b"appended");
        let err = prepare(&stub, CPU_ARM64, "arm64", "darwin-arm64").expect_err("appended data");
        assert!(err.to_string().contains("8 bytes lie after __LINKEDIT"), "{err}");
    }

    #[test]
    fn random_bytes_in_the_headers_never_panic() {
        let stub = synthetic(CPU_ARM64, true);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..4000 {
            let mut bytes = stub.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % 400) as usize;
                bytes[at] = (seed >> 32) as u8;
            }
            let _ = prepare(&bytes, CPU_ARM64, "arm64", "darwin-arm64");
            let _ = locator(&bytes, bytes.len() as u64);
        }
    }
}
