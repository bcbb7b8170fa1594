//! Records the target platform for the stub marker that `sea-pack` reads (see `src/stub.rs`).

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
    println!("cargo:rerun-if-changed=build.rs");
}
