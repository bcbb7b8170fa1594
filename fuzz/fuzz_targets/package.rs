//! Reading a whole packed file: trailer, manifest, signature, index and payload.
//!
//! Input: a mode byte, then the rest. Mode 0 writes the rest to a file as is. Any other mode reads
//! it as a [`Structured`] package, whose trailer (and, unless the manifest is raw, manifest) is
//! written with correct lengths and digests, so that the checks behind the checksums are
//! reached: manifest validation, trailer/manifest consistency, the signature, the index and the
//! payload's decompression and unpacking with the manifest's declared sizes as limits.
//!
//! Asserts: no panic; whatever `unpack_to` returns, the destination is contained (see
//! `Scratch::check`); a successful unpack matches the manifest's entry count and size.
#![no_main]

use std::fs::File;
use std::io::Write;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sea_payload::Package;
use sea_payload::codec::{Codec, Compression};
use sea_payload::digest::{sha256, sha256_hex};
use sea_payload::manifest::{FileCheck, MANIFEST_FORMAT, Manifest, SectionDigest, UpdateSettings};
use sea_payload::trailer::Trailer;
use sea_payload::unpack::UnpackOptions;
use sea_payload_fuzz::{Scratch, decode_recipe, verbose, write_tar};
use semver::Version;

/// minisign's documented example public key: signatures in the inputs are checked against it.
const PUBLIC_KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

#[derive(Arbitrary, Debug)]
enum Payload {
    /// Bytes used as the compressed payload.
    Raw(Vec<u8>),
    /// An archive recipe (`sea_payload_fuzz::decode_recipe`), written and compressed here.
    Tar(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Structured {
    stub: Vec<u8>,
    payload: Payload,
    gzip: bool,
    index: Vec<u8>,
    raw_manifest: Option<Vec<u8>>,
    entries: u8,
    unpacked_size: u16,
    signature: Vec<u8>,
}

fn build(s: &Structured) -> Vec<u8> {
    let codec = if s.gzip { Codec::Gzip } else { Codec::Zstd };
    let payload = match &s.payload {
        Payload::Raw(bytes) => bytes.clone(),
        Payload::Tar(recipe) => {
            let (entries, tail) = decode_recipe(recipe);
            let tar = write_tar(&entries, tail);
            match codec {
                Codec::Zstd => zstd::encode_all(&tar[..], 1).expect("zstd"),
                Codec::Gzip => {
                    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    enc.write_all(&tar).expect("gzip");
                    enc.finish().expect("gzip")
                }
            }
        }
    };
    let manifest = match &s.raw_manifest {
        Some(raw) => raw.clone(),
        None => Manifest {
            format: MANIFEST_FORMAT,
            name: "fuzz".into(),
            version: Version::new(1, 0, 0),
            platform: "linux-x64".into(),
            entry: "bin/app".into(),
            args: Vec::new(),
            compression: Compression { codec, level: 1 },
            payload: SectionDigest { size: payload.len() as u64, sha256: sha256_hex(&payload) },
            index: SectionDigest { size: s.index.len() as u64, sha256: sha256_hex(&s.index) },
            unpacked_size: u64::from(s.unpacked_size),
            entries: u64::from(s.entries),
            executables: vec![FileCheck { path: "bin/app".into(), size: 1 }],
            min_launcher: Version::new(0, 1, 0),
            launcher_version: Version::new(0, 1, 0),
            packed_with: "fuzz".into(),
            update: UpdateSettings::default(),
            arg_templates: false,
            naming: Default::default(),
        }
        .to_bytes(),
    };
    let trailer = Trailer {
        version: if s.index.is_empty() { sea_payload::trailer::FORMAT_VERSION } else { sea_payload::trailer::FORMAT_WITH_INDEX },
        payload_len: payload.len() as u64,
        index_len: s.index.len() as u64,
        manifest_len: manifest.len() as u64,
        signature_len: s.signature.len() as u64,
        payload_sha256: sha256(&payload),
        manifest_sha256: sha256(&manifest),
    };
    let mut file = s.stub.clone();
    for part in [&payload[..], &s.index, &manifest, &s.signature, &trailer.encode()] {
        file.extend_from_slice(part);
    }
    file
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let bytes = if mode == 0 {
        rest.to_vec()
    } else {
        let Ok(structured) = Structured::arbitrary_take_rest(Unstructured::new(rest)) else { return };
        build(&structured)
    };
    let scratch = Scratch::new();
    let path = scratch.out.with_file_name("package.sea");
    File::create(&path).and_then(|mut f| f.write_all(&bytes)).expect("write package");
    let file = File::open(&path).expect("open package");
    let package = Package::from_file(file, path.clone());
    std::fs::remove_file(&path).expect("remove package");
    let package = match package {
        Ok(package) => package,
        Err(e) => {
            if verbose() {
                eprintln!("outcome: {e}");
            }
            return;
        }
    };
    let manifest = package.manifest().clone();
    let _ = package.verify_payload();
    let _ = package.read_index();
    let _ = package.check_signature(None);
    let _ = package.check_signature(Some(PUBLIC_KEY));
    let options = UnpackOptions { max_bytes: 1024 * 1024, max_entries: 1000, writers: 1, ..UnpackOptions::default() };
    let result = package.unpack_to(&scratch.out, &options);
    if verbose() {
        eprintln!("outcome: {result:?}");
    }
    scratch.check();
    if let Ok(summary) = result {
        assert_eq!((summary.entries, summary.bytes), (manifest.entries, manifest.unpacked_size));
    }
});
