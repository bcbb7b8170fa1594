//! The restart request parser (`<PREFIX>_RESTART_FILE`, written by the app, read by the launcher).
//!
//! Asserts: no panic; an accepted request holds only what `exec` and `chdir` can take: no NUL byte
//! in any argument, path, name or value, environment names non-empty and without `=`, a `cwd`
//! that is absolute, and a version whose text form parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_payload::restart::{self, RestartRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = restart::parse(data) else { return };
    let RestartRequest { args, cwd, env, version } = &request;
    for arg in args.iter().flatten() {
        assert!(!arg.contains('\0'), "argument with NUL accepted: {arg:?}");
    }
    if let Some(cwd) = cwd {
        assert!(!cwd.contains('\0'), "cwd with NUL accepted");
        assert!(cwd.starts_with('/'), "relative cwd accepted: {cwd:?}");
    }
    for (name, value) in env {
        assert!(!name.is_empty() && !name.contains('=') && !name.contains('\0'), "bad name accepted: {name:?}");
        assert!(!value.contains('\0'), "value with NUL accepted");
    }
    if let Some(version) = version {
        assert_eq!(semver::Version::parse(&version.to_string()).ok().as_ref(), Some(version));
    }
});
