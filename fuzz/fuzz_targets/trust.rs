//! The trust statement chain (`trust.json`) and the walk a client does over it.
//!
//! Asserts: no panic; an accepted file round-trips through its bytes; the walk from a fixed root
//! never accepts a statement (the fuzzer cannot sign) and never panics on any chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_payload::trust::{RootSet, Statement, TrustFile, Trusted};

/// A fixed root key (its secret is not in the repository).
const ROOT: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

fuzz_target!(|data: &[u8]| {
    let Ok(file) = TrustFile::from_bytes(data) else { return };
    let again = TrustFile::from_bytes(&file.to_bytes()).expect("a written trust file parses");
    assert_eq!(again, file);
    for signed in &file.statements {
        if let Ok(statement) = Statement::from_body(&signed.body) {
            statement.validate().expect("a parsed statement validates");
            assert_eq!(Statement::from_body(&statement.to_body()).ok(), Some(statement));
        }
    }
    let trusted = Trusted::from_root(RootSet { keys: vec![ROOT.into()], threshold: 1 }).expect("fixed root");
    if let Ok(walked) = trusted.advance(&file, "app") {
        assert_eq!(walked.trusted.version, 0, "an unsigned chain moved the trust forward");
    }
});
