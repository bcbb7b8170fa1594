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
    // A position-dependent executable: a PIE's ~4,000 relative relocations make the dynamic
    // loader write (and so copy) every page of `.data.rel.ro` at each start, ~25 page faults
    // and ~0.06 ms of a warm start measured here. The libraries stay randomised; the stub's own
    // address does not, a hardening trade made for a process that only reads its own file.
    // `SEA_LAUNCHER_PIE=1` at build time links the usual PIE instead (full ASLR), for packagers
    // whose policy requires it, and to measure the trade.
    println!("cargo:rerun-if-env-changed=SEA_LAUNCHER_PIE");
    let pie = std::env::var("SEA_LAUNCHER_PIE").is_ok_and(|v| v == "1");
    if target.contains("linux-gnu") && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
