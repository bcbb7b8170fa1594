//! SHIM — replaced by the supervision branch.

use std::collections::BTreeMap;
use std::ffi::OsString;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GitEnvOutcome {
    Appended { index: usize },
    AlreadySet,
    Unparsable(String),
}

pub(crate) fn inject(env: &mut BTreeMap<OsString, OsString>) -> GitEnvOutcome {
    let count = match env.get(&OsString::from("GIT_CONFIG_COUNT")) {
        None => 0,
        Some(v) => match v.to_str().and_then(|s| s.parse::<usize>().ok()) {
            Some(n) => n,
            None => return GitEnvOutcome::Unparsable(v.to_string_lossy().into_owned()),
        },
    };
    for i in 0..count {
        if env
            .get(&OsString::from(format!("GIT_CONFIG_KEY_{i}")))
            .and_then(|k| k.to_str())
            .is_some_and(|k| k.eq_ignore_ascii_case("safe.bareRepository"))
        {
            return GitEnvOutcome::AlreadySet;
        }
    }
    env.insert(format!("GIT_CONFIG_KEY_{count}").into(), "safe.bareRepository".into());
    env.insert(format!("GIT_CONFIG_VALUE_{count}").into(), "explicit".into());
    env.insert("GIT_CONFIG_COUNT".into(), (count + 1).to_string().into());
    GitEnvOutcome::Appended { index: count }
}
