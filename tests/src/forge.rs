//! Packages rewritten the way an attacker or an older sea-pack would write them, built from real
//! packed binaries with the format's own types.

use std::fs;
use std::io::Read;
use std::path::Path;

use sea_payload::Package;
use sea_payload::digest::{self, sha256};
use sea_payload::trailer::{FORMAT_VERSION, FORMAT_WITH_INDEX, Trailer};

fn section(package: &Package, range: std::ops::Range<u64>) -> Vec<u8> {
    let bytes = fs::read(package.path()).expect("read package");
    bytes[range.start as usize..range.end as usize].to_vec()
}

fn stub_and_payload(package: &Package) -> (Vec<u8>, Vec<u8>) {
    let mut stub = Vec::new();
    package.stub_reader().read_to_end(&mut stub).expect("read stub");
    let mut payload = Vec::new();
    package.payload_reader().read_to_end(&mut payload).expect("read payload");
    (stub, payload)
}

/// Writes to `out` the binary `binary` with the payload of `other` (a build of a changed tree),
/// its manifest's payload digest and size recomputed for it, everything else (the index digest
/// included) as `binary` has it, unsigned: what an attacker who can recompute digests but not
/// the index of the original could make.
pub fn transplant_payload(binary: &Path, other: &Path, out: &Path) {
    let original = Package::open(binary).expect("open binary");
    let donor = Package::open(other).expect("open donor");
    let (stub, _) = stub_and_payload(&original);
    let (_, payload) = stub_and_payload(&donor);
    let mut manifest = original.manifest().clone();
    manifest.payload.size = payload.len() as u64;
    manifest.payload.sha256 = digest::sha256_hex(&payload);
    let manifest_bytes = manifest.to_bytes();
    let trailer = Trailer {
        version: FORMAT_VERSION,
        payload_len: payload.len() as u64,
        index_len: 0,
        manifest_len: manifest_bytes.len() as u64,
        signature_len: 0,
        payload_sha256: sha256(&payload),
        manifest_sha256: sha256(&manifest_bytes),
    };
    let file = [stub, payload, manifest_bytes, trailer.encode().to_vec()].concat();
    fs::write(out, file).expect("write forged binary");
    set_exec(out);
}

/// Writes to `out` the binary `binary` in format 1 (sea 0.2): the same bytes with its index
/// shipped as a section before the manifest. The manifest and signature are unchanged (they pin
/// the index's digest in both formats).
pub fn to_format_1(binary: &Path, out: &Path) {
    let package = Package::open(binary).expect("open binary");
    let index = package.index_bytes().expect("index");
    let (stub, payload) = stub_and_payload(&package);
    let manifest = section(&package, package.layout().manifest.clone());
    let signature = section(&package, package.layout().signature.clone());
    let mut trailer = package.trailer().clone();
    trailer.version = FORMAT_WITH_INDEX;
    trailer.index_len = index.len() as u64;
    let file = [stub, payload, index, manifest, signature, trailer.encode().to_vec()].concat();
    fs::write(out, file).expect("write format 1 binary");
    set_exec(out);
}

fn set_exec(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}
