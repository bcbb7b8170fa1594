//! Every environment variable the launcher reads or sets, in one place, and how each value is
//! parsed.
//!
//! Names are `<PREFIX>_<SUFFIX>`, where `PREFIX` is the app name upper-cased with `-` and `.`
//! turned into `_` (`copilot` → `COPILOT_HOME`). Only [`crate::start::process`] reads the environment;
//! everything else receives values through [`Vars`] and the process snapshot.
//!
//! # Implementation
//!
//! Numbers are parsed here, with checked integer arithmetic and explicit bounds, never through
//! `f64` (`1e30` seconds once reached `Duration::from_secs_f64`, which panics, in the background
//! thread: the abort took the user's running app with it). A value outside its bounds is a
//! [`BadValue`] naming the variable, the value and what is accepted; the caller decides whether
//! that stops a command (exit 64) or, in the background, is logged and replaced by the default.
//!
//! # Alternatives
//!
//! Clamping an out-of-range value silently was rejected: `UPDATE_TIMEOUT=1e30` is a mistake the
//! user should hear about, and a clamp would hide a typo such as `300000` for `300`.

use std::ffi::OsStr;
use std::time::Duration;

/// State directory (restart requests, update state, bad-version marks). Default `$HOME/.<name>`.
pub(crate) const HOME: &str = "HOME";
/// Cache directory (extracted trees, downloads). Default `$XDG_CACHE_HOME/<name>`, else
/// `$HOME/.cache/<name>` (`~/Library/Caches/<name>` on macOS, `%LOCALAPPDATA%\<name>` on Windows).
pub(crate) const CACHE_HOME: &str = "CACHE_HOME";
/// Pins a version: `<PREFIX>_VERSION=1.2.3`.
pub(crate) const VERSION: &str = "VERSION";
/// `0`, `false`, `no`, `off` (any letter case) = bundled payload only, no network; see [`switch`].
pub(crate) const AUTO_UPDATE: &str = "AUTO_UPDATE";
/// Trees used within this many days are never removed by clean-up (default 7, at most
/// [`MAX_GC_MIN_AGE_DAYS`]).
pub(crate) const GC_MIN_AGE_DAYS: &str = "GC_MIN_AGE_DAYS";
/// Seconds without progress before an update request gives up (default 30, at most
/// [`MAX_UPDATE_TIMEOUT`]).
pub(crate) const UPDATE_TIMEOUT: &str = "UPDATE_TIMEOUT";
/// Seconds an update request may take whatever its progress: the whole feed and signature fetch,
/// and each download on top of its signed size at the minimum speed (default 120, at most
/// [`MAX_UPDATE_DEADLINE`]; see `update::http::download_deadline`).
pub(crate) const UPDATE_DEADLINE: &str = "UPDATE_DEADLINE";
/// A feed URL that replaces the one baked in (a mirror, an internal server): `https://`, or
/// `http://` on loopback, ending in `<channel>.json` of the channel this build follows. Trust is
/// unchanged: the feed must still be signed by the keys baked in.
pub(crate) const UPDATE_URL: &str = "UPDATE_URL";
/// `error`, `warn`, `info`, `debug` or `trace`: structured logs on stderr.
pub(crate) const LOG: &str = "LOG";

/// Set for the app: `1`.
pub(crate) const RUN_APP: &str = "RUN_APP";
/// Set for the app: the tree in use.
pub(crate) const PKG_DIR: &str = "PKG_DIR";
/// Set for the app: absolute path of the packed executable.
pub(crate) const LAUNCHER: &str = "LAUNCHER";
/// Set for the app: where it may write a restart request.
pub(crate) const RESTART_FILE: &str = "RESTART_FILE";
/// Set for the app: the launcher's pid.
pub(crate) const LOADER_PID: &str = "LOADER_PID";
/// Set for the app: the version in use.
pub(crate) const APP_VERSION: &str = "APP_VERSION";

/// Upper bound of `<PREFIX>_UPDATE_TIMEOUT`: one day.
pub(crate) const MAX_UPDATE_TIMEOUT: Duration = Duration::from_secs(86_400);
/// Upper bound of `<PREFIX>_UPDATE_DEADLINE`: seven days.
pub(crate) const MAX_UPDATE_DEADLINE: Duration = Duration::from_secs(7 * 86_400);
/// Upper bound of `<PREFIX>_GC_MIN_AGE_DAYS`: a hundred years.
pub(crate) const MAX_GC_MIN_AGE_DAYS: u64 = 36_500;
/// Internal, from launcher to launcher: the restart requests' `env` (JSON), carried across the
/// `exec` of a self-updated launcher so that it reaches the app only, never the launcher itself
/// ([`crate::run::relaunch`]). Removed before the app starts.
pub(crate) const RELAUNCH_ENV: &str = "RELAUNCH_ENV";

/// Variable names for one app.
#[derive(Debug, Clone)]
pub(crate) struct Vars {
    prefix: String,
}

impl Vars {
    /// Names for the app with this `PREFIX`.
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    /// `<PREFIX>_<suffix>`.
    pub(crate) fn name(&self, suffix: &str) -> String {
        // Concatenated, not `format!`: a start builds ~18 of these names, and the formatting
        // machinery cost ~700 instructions each (callgrind), a plain copy ~60.
        let mut name = String::with_capacity(self.prefix.len() + 1 + suffix.len());
        name.push_str(&self.prefix);
        name.push('_');
        name.push_str(suffix);
        name
    }
}

/// A variable whose value the launcher cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?} is not valid: {reason}; unset it or fix it")]
pub(crate) struct BadValue {
    /// The variable's full name.
    pub(crate) var: String,
    /// The value as found (lossily if not UTF-8).
    pub(crate) value: String,
    /// What is accepted.
    pub(crate) reason: String,
}

impl BadValue {
    fn new(var: &str, raw: &OsStr, reason: String) -> Self {
        Self { var: var.to_owned(), value: raw.to_string_lossy().into_owned(), reason }
    }
}

/// Seconds: a decimal number (`30`, `2.5`; at most 9 decimals; surrounding blanks ignored) greater
/// than 0 and at most `max`.
pub(crate) fn seconds(var: &str, raw: &OsStr, max: Duration) -> Result<Duration, BadValue> {
    let bad = || BadValue::new(var, raw, format!("expected seconds, more than 0 and at most {}", max.as_secs()));
    let value = decimal(raw).ok_or_else(bad)?;
    if value.is_zero() || value > max {
        return Err(bad());
    }
    Ok(value)
}

/// Days: a decimal number (`7`, `0.5`) from 0 to `max_days`.
pub(crate) fn days(var: &str, raw: &OsStr, max_days: u64) -> Result<Duration, BadValue> {
    let bad = || BadValue::new(var, raw, format!("expected a number of days from 0 to {max_days}"));
    let value = decimal(raw).ok_or_else(bad)?;
    if value > Duration::from_secs(max_days) {
        return Err(bad());
    }
    // `value` counts days in its seconds; at most 36,500 × 86,400, far from overflow.
    value.checked_mul(86_400).ok_or_else(bad)
}

/// An on/off switch: `0`, `false`, `no`, `off` are off; `1`, `true`, `yes`, `on` are on (any
/// letter case, surrounding blanks ignored). Unset or empty is the caller's default.
pub(crate) fn switch(var: &str, raw: &OsStr) -> Result<bool, BadValue> {
    let text = raw.to_str().map(|t| t.trim().to_ascii_lowercase());
    match text.as_deref() {
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        _ => Err(BadValue::new(var, raw, "expected 0, false, no or off (or 1, true, yes, on)".to_owned())),
    }
}

/// A feed URL from `var`: one [`sea_payload::feed::check_url`] accepts, naming `<channel>.json`.
pub(crate) fn feed_url(var: &str, raw: &OsStr, channel: &str) -> Result<String, BadValue> {
    let text = raw.to_str().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(BadValue::new(
            var,
            raw,
            format!("expected a feed URL such as https://mirror.example/{channel}.json"),
        ));
    }
    sea_payload::feed::check_url(text).map_err(|why| BadValue::new(var, raw, why))?;
    match sea_payload::feed::channel_of_url(text) {
        Some(found) if found == channel => Ok(text.to_owned()),
        found => Err(BadValue::new(
            var,
            raw,
            format!(
                "this build follows channel '{channel}', so the URL must end in /{channel}.json{}",
                found.map(|f| format!(" (it names channel '{f}')")).unwrap_or_default()
            ),
        )),
    }
}

/// `<digits>[.<digits>]` as a `Duration` whose whole seconds are the integer part: checked
/// arithmetic only, so no value can overflow or panic. `None` for anything else (signs,
/// exponents, `inf`, `nan`, more than 9 decimals, more than `u64::MAX`).
fn decimal(raw: &OsStr) -> Option<Duration> {
    let text = raw.to_str()?.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    if text.ends_with('.') {
        return None;
    }
    let secs = whole.parse::<u64>().ok()?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        // At most 9 digits: below 10^9, and the padding keeps it so.
        format!("{fraction:0<9}").parse::<u32>().ok()?
    };
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::time::Duration;

    use super::*;

    #[test]
    fn names() {
        let v = Vars::new("COPILOT".into());
        assert_eq!(v.name(HOME), "COPILOT_HOME");
        assert_eq!(v.name(CACHE_HOME), "COPILOT_CACHE_HOME");
    }

    fn secs(raw: &str) -> Result<Duration, BadValue> {
        seconds("X_UPDATE_TIMEOUT", OsStr::new(raw), MAX_UPDATE_TIMEOUT)
    }

    #[test]
    fn seconds_accept_plain_decimals_within_bounds() {
        assert_eq!(secs("30"), Ok(Duration::from_secs(30)));
        assert_eq!(secs(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert_eq!(secs("0.000000001"), Ok(Duration::from_nanos(1)));
        assert_eq!(secs("007"), Ok(Duration::from_secs(7)));
        assert_eq!(secs("86400"), Ok(MAX_UPDATE_TIMEOUT));
    }

    #[test]
    fn seconds_refuse_what_once_panicked_and_everything_unbounded() {
        for bad in [
            "1e30",
            "1e3",
            "inf",
            "NaN",
            "-1",
            "+1",
            "0",
            "0.0",
            "86400.5",
            "86401",
            "18446744073709551616",
            "1.",
            ".5",
            "1.0000000001",
            "1,5",
            "",
            " ",
            "30s",
            "0x10",
        ] {
            let e = secs(bad).expect_err(bad);
            assert_eq!(e.var, "X_UPDATE_TIMEOUT");
            assert_eq!(e.value, bad);
            assert!(e.to_string().contains("at most 86400"), "{e}");
        }
        let not_utf8 = OsStr::from_bytes(b"3\xff");
        assert!(seconds("X", not_utf8, MAX_UPDATE_TIMEOUT).is_err());
    }

    #[test]
    fn days_are_bounded_and_checked() {
        let d = |raw: &str| days("X_GC_MIN_AGE_DAYS", OsStr::new(raw), MAX_GC_MIN_AGE_DAYS);
        assert_eq!(d("0"), Ok(Duration::ZERO));
        assert_eq!(d("7"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(d("0.5"), Ok(Duration::from_secs(43_200)));
        assert_eq!(d("36500"), Ok(Duration::from_secs(36_500 * 86_400)));
        for bad in ["36500.1", "1e30", "-1", "99999999999999999999", "x", "inf"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_mirror_url_is_checked_like_a_feed_and_names_the_channel() {
        let url = |raw: &str| feed_url("X_UPDATE_URL", OsStr::new(raw), "stable");
        assert_eq!(url("https://mirror.example/app/stable.json"), Ok("https://mirror.example/app/stable.json".into()));
        assert_eq!(url(" http://127.0.0.1:8080/stable.json "), Ok("http://127.0.0.1:8080/stable.json".into()));
        for bad in [
            "",
            "http://mirror.example/stable.json",
            "https://mirror.example/beta.json",
            "https://m/x",
            "ftp://m/stable.json",
        ] {
            let e = url(bad).expect_err(bad);
            assert_eq!(e.var, "X_UPDATE_URL");
        }
        assert!(url("https://m/beta.json").expect_err("beta").reason.contains("names channel 'beta'"));
    }

    #[test]
    fn switches_take_the_usual_spellings_in_any_case() {
        for off in ["0", "false", "FALSE", "False", "no", "NO", "off", "Off", " off "] {
            assert_eq!(switch("X", OsStr::new(off)), Ok(false), "{off}");
        }
        for on in ["1", "true", "TRUE", "yes", "on", "On"] {
            assert_eq!(switch("X", OsStr::new(on)), Ok(true), "{on}");
        }
        for bad in ["2", "maybe", "nope", "f", "disable", "0.0"] {
            assert!(switch("X", OsStr::new(bad)).is_err(), "{bad}");
        }
    }
}
