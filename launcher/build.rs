//! Records the target platform for the stub marker that `sea-pack` reads (see `src/start/stub.rs`), and
//! links the stub statically on Linux with glibc.
//!
//! # Implementation
//!
//! Issue 11 (README, "Where the warm start's time goes"): the dynamically linked stub spent a
//! third of its warm-start instructions in the dynamic loader (opening and mapping `libc.so.6`
//! and `libgcc_s.so.1`, looking up and binding their symbols), which a static executable does
//! not run at all. It is linked position-dependent, as the dynamic stub was since issue 8: a
//! static PIE relocates itself at every start (~73,000 instructions and ~18 page faults here,
//! measured side by side); `SEA_LAUNCHER_PIE=1` links that static PIE (with DT_RELR, `-z
//! pack-relative-relocs`) for a packager whose policy requires ASLR of the image.
//!
//! rustc links statically only with `-C target-feature=+crt-static`, a flag a build script
//! cannot set, and that cargo's configuration would apply to every crate of the workspace (and
//! to proc-macros, which crt-static drops on this target). So the build script does it: it
//! passes `-static` (or `-static-pie`) to the C compiler driver (static start files, no
//! interpreter), and it puts first on the library search path a directory of tiny linker
//! scripts named like the shared libraries rustc asks for (`-lgcc_s -lutil -lrt -lpthread -lm
//! -ldl -lc`, after a `-Bdynamic`) that name the static archives instead. The result is what
//! crt-static links: `libc.a`, `libm.a`, `libgcc_eh.a`, `libgcc.a`.
//!
//! # Alternatives
//!
//! `cargo rustc -- -C target-feature=+crt-static` for this crate only: every `cargo build` of
//! the workspace (the tests' harness, the scripts, packagers) would build a different stub from
//! the documented one. A linker wrapper set in `.cargo/config.toml`: global, and it would have
//! to recognise the stub's link among all others.
//!
//! # Limitations
//!
//! A static glibc loads NSS modules other than `files` and `dns` with `dlopen`, from the
//! system's (possibly different) glibc: the stub never calls such a lookup itself (`$HOME` is
//! required, see `src/dirs.rs`); the update client resolves host names through `getent`
//! (`src/update/resolve.rs`). When the toolchain has no static C library (`libc.a`, `crt1.o`),
//! or `SEA_LAUNCHER_STATIC=0` is set, the stub is linked as before issue 11, dynamically and
//! position-dependent (`SEA_LAUNCHER_PIE=1`: a dynamic PIE).

use std::path::{Path, PathBuf};
use std::process::Command;

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
    println!("cargo:rerun-if-env-changed=SEA_LAUNCHER_STATIC");
    println!("cargo:rerun-if-env-changed=SEA_LAUNCHER_PIE");
    println!("cargo:rerun-if-env-changed=SEA_LAUNCHER_MAP");
    println!("cargo:rerun-if-changed=build.rs");
    // A linker map, to see what the stub's bytes are (`SEA_LAUNCHER_MAP=/tmp/stub.map`).
    if let Ok(map) = std::env::var("SEA_LAUNCHER_MAP") {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={map}");
    }
    if !target.contains("linux-gnu") {
        return;
    }
    let static_wanted = std::env::var("SEA_LAUNCHER_STATIC").map_or(true, |v| v != "0");
    if static_wanted {
        let pie = std::env::var("SEA_LAUNCHER_PIE").is_ok_and(|v| v == "1");
        match static_scripts(pie) {
            Ok(dir) => {
                println!("cargo:rustc-link-search=native={}", dir.display());
                if pie {
                    println!("cargo:rustc-link-arg-bins=-static-pie");
                    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
                } else {
                    println!("cargo:rustc-link-arg-bins=-static");
                    println!("cargo:rustc-link-arg-bins=-no-pie");
                }
                // The unwinder's lookup table (`.eh_frame_hdr`, ~55 KB): with `panic = "abort"`
                // nothing unwinds; a backtrace (`RUST_BACKTRACE`) still finds the frames that the
                // static start files register.
                println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
                if links_with_rust_lld() {
                    // Identical code folding: generic functions instantiated for types of one
                    // layout compile to the same bytes; folding them took 56 KB off the stub
                    // (4,219,168 -> 4,162,816 bytes). Rust makes no promise that two functions
                    // have distinct addresses, so folding address-taken ones too (`all`, not
                    // `safe`, which folded nothing here) is sound.
                    println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
                }
                println!("cargo:rustc-cfg=sea_static");
                println!("cargo:rustc-check-cfg=cfg(sea_static)");
                return;
            }
            Err(why) => println!("cargo:warning=sea-launcher: linked dynamically: {why}"),
        }
    }
    println!("cargo:rustc-check-cfg=cfg(sea_static)");
    // The dynamic stub of issue 8: position-dependent unless `SEA_LAUNCHER_PIE=1`, because a
    // dynamic PIE's ~4,300 relative relocations cost ~17 page faults and 0.1-0.2 ms per start.
    let pie = std::env::var("SEA_LAUNCHER_PIE").is_ok_and(|v| v == "1");
    if !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}

/// Writes the linker scripts that turn rustc's shared-library requests into static archives,
/// after checking that the C toolchain can link statically (as a PIE when `pie`); returns their
/// directory.
fn static_scripts(pie: bool) -> Result<PathBuf, String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    // The start file of a static PIE, or of a position-dependent executable.
    let start = if pie { "rcrt1.o" } else { "crt1.o" };
    for file in [start, "libc.a", "libgcc_eh.a"] {
        let out = Command::new(&cc)
            .arg(format!("-print-file-name={file}"))
            .output()
            .map_err(|e| format!("cannot run {cc}: {e}"))?;
        let found = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // The driver prints the bare name back when it does not find the file.
        if !Path::new(&found).is_absolute() {
            return Err(format!("{cc} has no {file} (install the static glibc: libc6-dev)"));
        }
    }
    let dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?).join("static-libs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // One group for all: libgcc_eh needs libc (dl_iterate_phdr), libc's static start needs
    // libgcc. The other names are part of libc.a since glibc 2.34; older ones still ship them.
    let scripts = [
        ("libc.so", "GROUP ( libc.a libgcc_eh.a libgcc.a )"),
        ("libgcc_s.so", "GROUP ( libgcc_eh.a libgcc.a libc.a )"),
        ("libm.so", "INPUT ( libm.a )"),
        ("libpthread.so", "INPUT ( libpthread.a )"),
        ("libdl.so", "INPUT ( libdl.a )"),
        ("librt.so", "INPUT ( librt.a )"),
        ("libutil.so", "INPUT ( libutil.a )"),
    ];
    for (name, body) in scripts {
        let text = format!("/* sea-launcher's static PIE (launcher/build.rs) */\n{body}\n");
        std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// Whether the stub is linked by the `rust-lld` that rustc uses by default on
/// x86_64-unknown-linux-gnu since 1.90 (`--icf` is an lld option; GNU ld rejects it): that
/// target, a rustc of 1.90 or newer, and no linker or linker flavour chosen by the user.
fn links_with_rust_lld() -> bool {
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
    {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("link-self-contained") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(out) = Command::new(rustc).arg("-V").output() else { return false };
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version.split_whitespace().nth(1).and_then(|v| v.split('.').nth(1)).and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
