//! Host-name resolution for the update client of the statically linked stub.
//!
//! The stub is a static PIE on Linux with glibc (issue 11, `launcher/build.rs`). A static glibc's
//! `getaddrinfo` implements the `files` and `dns` sources of `/etc/nsswitch.conf` itself, but
//! for any other source (`mdns4_minimal`, systemd's `resolve`, `myhostname`, `wins`, LDAP...)
//! it would `dlopen` that module from the system's glibc, whose internal ABI need not match the
//! one linked in: unsupported by glibc, and a crash waiting for a version mismatch.
//!
//! # Implementation
//!
//! [`SystemResolver`] asks, in this order:
//! 1. nothing, for an IP literal (`127.0.0.1`, `[::1]`);
//! 2. `getent ahosts <name>`: the system's own dynamically linked tool (libc-bin, on every glibc
//!    system), which honours the whole `hosts:` line of `/etc/nsswitch.conf` with the system's
//!    modules; its first column, in its order, de-duplicated, is the answer;
//! 3. when no `getent` is on `PATH`: the linked-in `getaddrinfo`, but only when the `hosts:` line
//!    names nothing besides `files` and `dns` (or when there is no `/etc/nsswitch.conf`: glibc's
//!    default is `dns files`); otherwise a clear error that says what to install.
//!
//! It runs on tokio's blocking pool, so timers keep running while a lookup waits. Proxies are
//! unaffected: reqwest reads `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` itself and resolves the
//! proxy's host name through this resolver; certificates come from the system store as before.
//!
//! # Alternatives
//!
//! A DNS client of our own (hickory-resolver): it would read `/etc/hosts` and `resolv.conf` but
//! ignore every other source an administrator configured (mDNS, systemd-resolved's split DNS),
//! and add ~500 KB to the stub. Linking the stub dynamically: 0.3-0.4 ms more on every start.
//!
//! # Limitations
//!
//! A lookup costs a `getent` process (about a millisecond), once per host and update run. A
//! lookup abandoned by a timeout leaves `getent` to finish on its own (bounded by the resolver's
//! own timeouts in `resolv.conf`).

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, Stdio};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The `hosts:` sources a static glibc serves without loading a module.
const BUILT_IN_SOURCES: [&str; 2] = ["files", "dns"];

/// Why a name could not be resolved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("cannot resolve '{host}': not a valid host name")]
    BadName { host: String },
    #[error("cannot resolve '{host}': the host is unknown (getent ahosts found no address)")]
    NotFound { host: String },
    #[error("cannot resolve '{host}': getent failed: {detail}")]
    Getent { host: String, detail: String },
    #[error(
        "cannot resolve '{host}': no `getent` on PATH, and /etc/nsswitch.conf resolves hosts through '{source_name}', \
         which this statically linked launcher cannot load; install getent (Debian/Ubuntu: libc-bin, \
         Fedora: glibc-common), or use an IP address or a proxy (HTTPS_PROXY) in its place"
    )]
    UnsupportedSource { host: String, source_name: String },
    #[error("cannot resolve '{host}': {source}")]
    Lookup { host: String, source: io::Error },
}

/// The resolver installed in the update client (see the module documentation).
#[derive(Debug, Default, Clone)]
pub(crate) struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let lookup = move || resolve_host(&host, "getent", Path::new("/etc/nsswitch.conf"));
            let addrs = match tokio::task::spawn_blocking(lookup).await {
                Ok(result) => result?,
                Err(e) => return Err(io::Error::other(e.to_string()).into()),
            };
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The addresses of `host` (port 0: the connector sets the port), asking `getent` (looked up on
/// `PATH`) and falling back as the module documentation says, with `nsswitch` as the file to check.
pub(crate) fn resolve_host(host: &str, getent: &str, nsswitch: &Path) -> Result<Vec<SocketAddr>, ResolveError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, 0)]);
    }
    // `getent` takes options; a host name never starts with '-' or contains white space.
    if host.is_empty() || host.starts_with('-') || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ResolveError::BadName { host: host.to_owned() });
    }
    match Command::new(getent).args(["ahosts", host]).stdin(Stdio::null()).stderr(Stdio::null()).output() {
        Ok(out) if out.status.success() => {
            let addrs = parse_ahosts(&String::from_utf8_lossy(&out.stdout));
            if addrs.is_empty() {
                return Err(ResolveError::NotFound { host: host.to_owned() });
            }
            Ok(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect())
        }
        // getent's exit code 2: the key was not found.
        Ok(out) if out.status.code() == Some(2) => Err(ResolveError::NotFound { host: host.to_owned() }),
        Ok(out) => Err(ResolveError::Getent { host: host.to_owned(), detail: out.status.to_string() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fallback(host, nsswitch),
        Err(e) => Err(ResolveError::Getent { host: host.to_owned(), detail: e.to_string() }),
    }
}

/// Without `getent`: the linked-in `getaddrinfo`, when it needs no module for `nsswitch`.
fn fallback(host: &str, nsswitch: &Path) -> Result<Vec<SocketAddr>, ResolveError> {
    let text = match std::fs::read_to_string(nsswitch) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(ResolveError::Lookup { host: host.to_owned(), source }),
    };
    if let Some(source_name) = text.as_deref().and_then(unsupported_source) {
        return Err(ResolveError::UnsupportedSource { host: host.to_owned(), source_name });
    }
    (host, 0)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|source| ResolveError::Lookup { host: host.to_owned(), source })
}

/// The first source of the `hosts:` line of an nsswitch.conf that is not built in, if any.
fn unsupported_source(nsswitch: &str) -> Option<String> {
    // The last `hosts:` line counts, as in glibc.
    let line = nsswitch
        .lines()
        .rev()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .find_map(|l| l.strip_prefix("hosts:"))?;
    // Action items (`[NOTFOUND=return]`) are not sources.
    let mut depth = 0usize;
    for token in line.split_whitespace() {
        let opens = token.starts_with('[');
        if opens {
            depth += 1;
        }
        let closes = token.ends_with(']');
        if depth == 0 && !BUILT_IN_SOURCES.contains(&token) {
            return Some(token.to_owned());
        }
        if closes {
            depth = depth.saturating_sub(1);
        }
    }
    None
}

/// The addresses in `getent ahosts` output, in its order, each once.
fn parse_ahosts(text: &str) -> Vec<IpAddr> {
    let mut seen = HashSet::new();
    text.lines()
        .filter_map(|line| line.split_whitespace().next()?.parse::<IpAddr>().ok())
        .filter(|ip| seen.insert(*ip))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahosts_output_gives_each_address_once_in_order() {
        let text = "::1             STREAM localhost\n::1             DGRAM  \n::1             RAW    \n\
                    127.0.0.1       STREAM \n127.0.0.1       DGRAM  \n\n";
        let want: Vec<IpAddr> = vec!["::1".parse().expect("ip"), "127.0.0.1".parse().expect("ip")];
        assert_eq!(parse_ahosts(text), want);
        assert!(parse_ahosts("garbage line\n").is_empty());
    }

    #[test]
    fn only_files_and_dns_are_built_in() {
        assert_eq!(unsupported_source("passwd: files\nhosts:          files dns\n"), None);
        assert_eq!(unsupported_source("hosts: files [NOTFOUND=return] dns # comment mdns\n"), None);
        assert_eq!(unsupported_source("hosts: files [ NOTFOUND=return ] dns\n"), None);
        assert_eq!(
            unsupported_source("hosts: files mdns4_minimal [NOTFOUND=return] dns\n").as_deref(),
            Some("mdns4_minimal")
        );
        assert_eq!(
            unsupported_source("hosts: files resolve [!UNAVAIL=return] myhostname dns").as_deref(),
            Some("resolve")
        );
        // The last hosts line counts, as in glibc; no hosts line: glibc's built-in default.
        assert_eq!(unsupported_source("hosts: mdns\nhosts: files dns\n"), None);
        assert_eq!(unsupported_source("passwd: files\n"), None);
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let nowhere = Path::new("/nonexistent/nsswitch.conf");
        let got = resolve_host("[::1]", "/nonexistent/getent", nowhere).expect("literal");
        assert_eq!(got, vec!["[::1]:0".parse::<SocketAddr>().expect("addr")]);
        let got = resolve_host("127.0.0.2", "/nonexistent/getent", nowhere).expect("literal");
        assert_eq!(got, vec!["127.0.0.2:0".parse::<SocketAddr>().expect("addr")]);
    }

    #[test]
    fn names_that_would_be_options_are_refused() {
        let err = resolve_host("-s", "getent", Path::new("/etc/nsswitch.conf")).expect_err("refused");
        assert!(matches!(err, ResolveError::BadName { .. }), "{err}");
    }

    #[test]
    fn without_getent_a_module_source_is_a_clear_error_and_files_dns_falls_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("nsswitch.conf");
        std::fs::write(&conf, "hosts: files mdns4_minimal [NOTFOUND=return] dns\n").expect("write");
        let err = resolve_host("localhost", "/nonexistent/getent", &conf).expect_err("refused");
        assert!(err.to_string().contains("mdns4_minimal") && err.to_string().contains("install getent"), "{err}");
        std::fs::write(&conf, "hosts: files dns\n").expect("write");
        let got = resolve_host("localhost", "/nonexistent/getent", &conf).expect("files");
        assert!(got.iter().all(|a| a.ip().is_loopback()) && !got.is_empty(), "{got:?}");
    }

    #[test]
    fn getent_answers_for_localhost() {
        let got =
            resolve_host("localhost", "getent", Path::new("/etc/nsswitch.conf")).expect("getent resolves localhost");
        assert!(!got.is_empty() && got.iter().all(|a| a.ip().is_loopback()), "{got:?}");
    }

    /// A `getent` of our own, to see exactly what is asked and what its answers become.
    fn fake_getent(dir: &Path, script: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("getent");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn getent_output_is_the_answer_and_its_exit_codes_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = Path::new("/etc/nsswitch.conf");
        let log = dir.path().join("args");
        let getent = fake_getent(
            dir.path(),
            &format!("echo \"$@\" > {}\necho '10.1.2.3 STREAM updates.example'\necho '10.1.2.3 DGRAM'", log.display()),
        );
        let got = resolve_host("updates.example", &getent, conf).expect("resolved");
        assert_eq!(got, vec!["10.1.2.3:0".parse::<SocketAddr>().expect("addr")]);
        assert_eq!(std::fs::read_to_string(&log).expect("log"), "ahosts updates.example\n");
        let getent = fake_getent(dir.path(), "exit 2");
        let err = resolve_host("updates.example", &getent, conf).expect_err("unknown");
        assert!(matches!(err, ResolveError::NotFound { .. }), "{err}");
        let getent = fake_getent(dir.path(), "exit 0");
        let err = resolve_host("updates.example", &getent, conf).expect_err("no address");
        assert!(matches!(err, ResolveError::NotFound { .. }), "{err}");
        let getent = fake_getent(dir.path(), "exit 1");
        let err = resolve_host("updates.example", &getent, conf).expect_err("failure");
        assert!(matches!(err, ResolveError::Getent { .. }) && err.to_string().contains("getent failed"), "{err}");
    }
}
