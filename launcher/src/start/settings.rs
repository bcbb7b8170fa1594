//! The launcher's settings: every `<PREFIX>_*` variable that changes what the launcher does,
//! parsed once in `main` into one typed value that every mode reads (`--sea-info` prints it).
//!
//! # Implementation
//! [`Settings::parse`] reads the process snapshot ([`crate::start::process`]) through the names
//! and parsers of [`crate::start::vars`]. A bad value is kept as its [`BadValue`] rather than
//! refused here, because whether it stops the launcher depends on the mode: `--sea-update` and
//! `--sea-gc` refuse it (exit 64), a launch warns once and uses the default (starting the app is
//! never refused over a setting of the background work, and the app may share the variable).
//! Parsing costs a few map lookups; nothing here touches the file system.
//!
//! # Alternatives
//! Parsing lazily at each use (as before) spread the variable names and their defaults over five
//! modules; `--sea-info` could not show what a start would use.
//!
//! # Limitations
//! `<PREFIX>_HOME` and `<PREFIX>_CACHE_HOME` are read here, but resolved (with the platform's
//! own `HOME`, `XDG_CACHE_HOME`, …, which are not the app's settings) and validated by
//! [`crate::start::dirs::Dirs::locate`]; `<PREFIX>_UPDATE_URL` is checked against the channel when an update runs
//! (a build without a channel reports that first).

use std::ffi::OsString;
use std::time::Duration;

use semver::Version;
use serde::Serialize;

use crate::care::gc;
use crate::start::process::Process;
use crate::start::select::Pin;
use crate::start::vars::{self, BadValue, Vars};

/// What the variables say, each parsed with its bounds.
#[derive(Debug)]
pub(crate) struct Settings {
    /// `<PREFIX>_VERSION`: the version pinned, if any.
    pub(crate) pin: Result<Option<Pin>, BadValue>,
    /// `<PREFIX>_AUTO_UPDATE` as a switch ([`vars::switch`]); unset or empty = on.
    pub(crate) auto_update: Result<bool, BadValue>,
    /// `<PREFIX>_AUTO_UPDATE=<value>` as found, for messages.
    auto_update_text: Option<String>,
    /// `<PREFIX>_GC_MIN_AGE_DAYS` (default [`gc::DEFAULT_MIN_AGE_DAYS`], at most
    /// [`vars::MAX_GC_MIN_AGE_DAYS`]).
    pub(crate) gc_min_age: Result<Duration, BadValue>,
    /// `<PREFIX>_UPDATE_TIMEOUT`, `None` when unset (the update's default applies).
    pub(crate) update_timeout: Result<Option<Duration>, BadValue>,
    /// `<PREFIX>_UPDATE_DEADLINE`, `None` when unset (the update's default applies).
    pub(crate) update_deadline: Result<Option<Duration>, BadValue>,
    /// `<PREFIX>_UPDATE_URL` as found (checked against the channel by [`Settings::update_url`]).
    update_url: Option<OsString>,
    /// `<PREFIX>_LOG`: the log level asked for (`logging` parses it; not UTF-8 = unset).
    pub(crate) log: Option<String>,
    /// `<PREFIX>_HOME` as found; [`crate::start::dirs::Dirs::locate`] checks it (absolute) and
    /// falls back to the platform's default.
    pub(crate) home: Option<OsString>,
    /// `<PREFIX>_CACHE_HOME` as found; checked and defaulted like [`Settings::home`].
    pub(crate) cache_home: Option<OsString>,
}

impl Settings {
    /// Reads every variable once.
    pub(crate) fn parse(process: &Process, vars: &Vars) -> Self {
        let raw = |suffix: &str| process.app_var(vars, suffix);
        let seconds = |suffix: &str, max: Duration| {
            raw(suffix).map(|value| vars::seconds(&vars.name(suffix), value, max)).transpose()
        };
        Self {
            pin: raw(vars::VERSION).map(|value| parse_pin(&vars.name(vars::VERSION), value)).transpose(),
            auto_update: raw(vars::AUTO_UPDATE)
                .map_or(Ok(true), |value| vars::switch(&vars.name(vars::AUTO_UPDATE), value)),
            auto_update_text: raw(vars::AUTO_UPDATE)
                .map(|value| format!("{}={}", vars.name(vars::AUTO_UPDATE), value.to_string_lossy())),
            gc_min_age: match raw(vars::GC_MIN_AGE_DAYS) {
                None => Ok(Duration::from_secs(gc::DEFAULT_MIN_AGE_DAYS * 86_400)),
                Some(value) => vars::days(&vars.name(vars::GC_MIN_AGE_DAYS), value, vars::MAX_GC_MIN_AGE_DAYS),
            },
            update_timeout: seconds(vars::UPDATE_TIMEOUT, vars::MAX_UPDATE_TIMEOUT),
            update_deadline: seconds(vars::UPDATE_DEADLINE, vars::MAX_UPDATE_DEADLINE),
            update_url: raw(vars::UPDATE_URL).map(OsString::from),
            log: raw(vars::LOG).and_then(std::ffi::OsStr::to_str).map(str::to_owned),
            home: raw(vars::HOME).map(OsString::from),
            cache_home: raw(vars::CACHE_HOME).map(OsString::from),
        }
    }

    /// `<PREFIX>_AUTO_UPDATE=<value>` when set (for "updates are disabled by …").
    pub(crate) fn auto_update_text(&self) -> Option<&str> {
        self.auto_update_text.as_deref()
    }

    /// `<PREFIX>_UPDATE_URL` checked for the channel this build follows; `None` when unset.
    pub(crate) fn update_url(&self, vars: &Vars, channel: &str) -> Result<Option<String>, BadValue> {
        self.update_url.as_deref().map(|raw| vars::feed_url(&vars.name(vars::UPDATE_URL), raw, channel)).transpose()
    }

    /// What `--sea-info` shows: each value as a start would use it, or why it is not valid.
    pub(crate) fn report(&self) -> SettingsReport {
        fn shown<T, U>(value: &Result<T, BadValue>, f: impl FnOnce(&T) -> U) -> Shown<U> {
            match value {
                Ok(v) => Shown::Value(f(v)),
                Err(e) => Shown::Invalid { error: e.to_string() },
            }
        }
        let secs = |d: &Option<Duration>| d.map(|d| d.as_secs_f64());
        SettingsReport {
            pin: shown(&self.pin, |p| p.as_ref().map(|p| p.version.to_string())),
            auto_update: shown(&self.auto_update, |on| *on),
            gc_min_age_days: shown(&self.gc_min_age, |d| d.as_secs_f64() / 86_400.0),
            update_timeout_secs: shown(&self.update_timeout, secs),
            update_deadline_secs: shown(&self.update_deadline, secs),
            update_url: self.update_url.as_ref().map(|u| u.to_string_lossy().into_owned()),
            log: self.log.clone(),
        }
    }
}

/// A pinned version: `1.2.3` or `v1.2.3`, surrounding blanks ignored.
fn parse_pin(var: &str, raw: &std::ffi::OsStr) -> Result<Pin, BadValue> {
    let text = raw.to_string_lossy();
    let version = Version::parse(text.trim().trim_start_matches('v')).map_err(|e| BadValue {
        var: var.to_owned(),
        value: text.clone().into_owned(),
        reason: format!("not a semantic version ({e})"),
    })?;
    Ok(Pin { version, set_by: var.to_owned() })
}

/// A setting as `--sea-info` shows it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Shown<T> {
    /// The value used.
    Value(T),
    /// Not valid: why.
    Invalid { error: String },
}

/// [`Settings`] for `--sea-info` (`null` = unset, the default applies).
#[derive(Debug, Serialize)]
pub(crate) struct SettingsReport {
    pin: Shown<Option<String>>,
    auto_update: Shown<bool>,
    gc_min_age_days: Shown<f64>,
    update_timeout_secs: Shown<Option<f64>>,
    update_deadline_secs: Shown<Option<f64>>,
    update_url: Option<String>,
    log: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Settings {
        let mut process = Process::capture().expect("own executable");
        process.env = env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect();
        Settings::parse(&process, &Vars::new("APP".to_owned()))
    }

    #[test]
    fn unset_variables_give_the_defaults() {
        let s = settings(&[]);
        assert!(matches!(s.pin, Ok(None)));
        assert_eq!(s.auto_update, Ok(true));
        assert_eq!(s.gc_min_age, Ok(Duration::from_secs(gc::DEFAULT_MIN_AGE_DAYS * 86_400)));
        assert_eq!(s.update_timeout, Ok(None));
        assert_eq!(s.log, None);
    }

    #[test]
    fn values_are_parsed_with_their_bounds_and_bad_ones_name_the_variable() {
        let s = settings(&[
            ("APP_VERSION", " v1.2.3 "),
            ("APP_AUTO_UPDATE", "Off"),
            ("APP_GC_MIN_AGE_DAYS", "0.5"),
            ("APP_UPDATE_TIMEOUT", "1e30"),
        ]);
        assert_eq!(s.pin.as_ref().ok().and_then(Option::as_ref).map(|p| p.version.to_string()), Some("1.2.3".into()));
        assert_eq!(s.auto_update, Ok(false));
        assert_eq!(s.auto_update_text(), Some("APP_AUTO_UPDATE=Off"));
        assert_eq!(s.gc_min_age, Ok(Duration::from_secs(43_200)));
        assert_eq!(s.update_timeout.as_ref().map_err(|e| e.var.as_str()), Err("APP_UPDATE_TIMEOUT"));
        let bad = settings(&[("APP_VERSION", "latest")]);
        assert!(bad.pin.is_err_and(|e| e.var == "APP_VERSION" && e.reason.contains("semantic version")));
    }

    #[test]
    fn an_empty_value_is_unset() {
        let s = settings(&[("APP_VERSION", ""), ("APP_AUTO_UPDATE", "")]);
        assert!(matches!(s.pin, Ok(None)));
        assert_eq!(s.auto_update, Ok(true));
    }
}
