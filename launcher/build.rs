//! Records the target platform for the stub marker that `sea-pack` reads (see `src/stub.rs`), and
//! links the stub as a position-dependent executable on Linux.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let arch = match target.split('-').next().unwrap_or_default() {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "i686" | "i586" => "ia32",
        "riscv64gc" => "riscv64",
        a if a.starts_with("arm") => "arm",
        _ => "unknown",
    };
    let os = if target.contains("linux") {
        "linux"
    } else if target.contains("apple") {
        "darwin"
    } else if target.contains("windows") {
        "win32"
    } else if target.contains("freebsd") {
        "freebsd"
    } else {
        "unknown"
    };
    println!("cargo:rustc-env=SEA_STUB_PLATFORM={os}-{arch}");
    // A position-dependent executable, decided for issue 8 (README, "Why the stub is not a PIE"):
    // a PIE's ~4,300 relative relocations make the dynamic loader write (and so copy) every page
    // of `.data.rel.ro` at each start: ~17 more page faults and 0.1-0.2 ms more CPU per warm start
    // measured here, against a 1 ms budget. What ASLR of the stub itself would protect is a
    // memory-safety bug in code that parses hostile bytes; in the stub that code is Rust (HTTP,
    // TLS, JSON), and the one C parser (zstd) only ever sees bytes whose SHA-256 and signature
    // were verified first. libc, the vDSO, the stack and the heap stay randomised.
    // `SEA_LAUNCHER_PIE=1` at build time links the usual PIE instead (full ASLR), for packagers
    // whose policy requires it, and to measure the trade (`scripts/warm-ab.sh`).
    println!("cargo:rerun-if-env-changed=SEA_LAUNCHER_PIE");
    let pie = std::env::var("SEA_LAUNCHER_PIE").is_ok_and(|v| v == "1");
    if target.contains("linux-gnu") && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
