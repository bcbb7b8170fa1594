//! Platform names: `<os>-<arch>` as Node spells them (`linux-x64`, `darwin-arm64`, `win32-x64`).
//!
//! The platform is part of every extraction path (`<cache>/pkg/<platform>/…`) and of every feed
//! entry, so both sides must agree on the spelling; it lives here, once.

/// Every platform name the format knows. A manifest naming anything else is refused.
pub const KNOWN: &[&str] = &[
    "linux-x64",
    "linux-arm64",
    "linux-arm",
    "linux-ia32",
    "linux-riscv64",
    "darwin-x64",
    "darwin-arm64",
    "win32-x64",
    "win32-arm64",
    "win32-ia32",
    "freebsd-x64",
];

/// The platform this code was compiled for, or `None` on one the format does not name.
pub const fn host() -> Option<&'static str> {
    let os = if cfg!(target_os = "linux") {
        "linux"
    } else if cfg!(target_os = "macos") {
        "darwin"
    } else if cfg!(target_os = "windows") {
        "win32"
    } else if cfg!(target_os = "freebsd") {
        "freebsd"
    } else {
        return None;
    };
    let arch = if cfg!(target_arch = "x86_64") {
        "x64"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(target_arch = "arm") {
        "arm"
    } else if cfg!(target_arch = "x86") {
        "ia32"
    } else if cfg!(target_arch = "riscv64") {
        "riscv64"
    } else {
        return None;
    };
    Some(match (os.as_bytes(), arch.as_bytes()) {
        (b"linux", b"x64") => "linux-x64",
        (b"linux", b"arm64") => "linux-arm64",
        (b"linux", b"arm") => "linux-arm",
        (b"linux", b"ia32") => "linux-ia32",
        (b"linux", b"riscv64") => "linux-riscv64",
        (b"darwin", b"x64") => "darwin-x64",
        (b"darwin", b"arm64") => "darwin-arm64",
        (b"win32", b"x64") => "win32-x64",
        (b"win32", b"arm64") => "win32-arm64",
        (b"win32", b"ia32") => "win32-ia32",
        (b"freebsd", b"x64") => "freebsd-x64",
        _ => return None,
    })
}

/// Whether `name` is a platform the format knows.
pub fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_is_known_here() {
        let host = super::host().expect("tests run on a known platform");
        assert!(super::is_known(host));
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert_eq!(host, "linux-x64");
    }
}
