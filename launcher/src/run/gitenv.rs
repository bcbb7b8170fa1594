//! Git safety for the app: `safe.bareRepository=explicit` through `GIT_CONFIG_COUNT`.
//!
//! A CLI that runs `git` in a directory it did not create (a cloned repository, a downloaded
//! archive) can be tricked by an embedded bare repository whose config runs commands
//! (`core.fsmonitor`, hooks). `safe.bareRepository=explicit` makes git refuse a bare repository
//! unless it is named with `--git-dir`/`GIT_DIR`. The launcher adds it for the app and every
//! process the app starts, through git's environment config (`GIT_CONFIG_COUNT`,
//! `GIT_CONFIG_KEY_<n>`, `GIT_CONFIG_VALUE_<n>`, git ≥ 2.31), without touching any file.
//!
//! # Implementation
//!
//! `COUNT` is read exactly as git (2.31 to 2.47, `config.c`) reads it: `strtoul(value, &end, 10)`,
//! then "bogus count" unless `*end` is the end of the string, then "too many entries" above
//! `INT_MAX`. So leading blanks (`isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`) and one sign are
//! accepted, leading zeros are decimal (`007` is 7), an empty value is 0, a `-` negates modulo
//! 2^64 (`-1` is too many; `-18446744073709551615` is 1), and a magnitude past `u64::MAX` is
//! `ULONG_MAX`, too many. [`parse_count`] mirrors that, and the tests check it against the real
//! `git` for every such spelling.
//!
//! Git then reads exactly the pairs `0..COUNT`, with `<n>` in plain decimal, so only those count:
//! a `safe.bareRepository` key (config keys without a subsection are case-insensitive, so in any
//! letter case) among them means the user chose a value already and it is kept. Otherwise the pair
//! is appended at index `COUNT` (overwriting a stale pair git would never read there) and `COUNT`
//! is rewritten, in plain decimal, as `COUNT + 1`.
//!
//! A `COUNT` git refuses (bogus, or too many entries), or `INT_MAX` itself (adding one would pass
//! git's limit), leaves the environment untouched: git then refuses to run at all, so no pair is
//! read, and rewriting the count could only replace the user's pairs (the mistake this module
//! exists to avoid). The caller prints the warning.
//!
//! # Limitations
//!
//! Git older than 2.31 ignores these variables. Windows (case-insensitive variable names, and a
//! 32-bit `unsigned long`, so other wrap-arounds for huge values) is not handled.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// `GIT_CONFIG_COUNT`.
pub(crate) const COUNT_VAR: &str = "GIT_CONFIG_COUNT";
/// Prefix of `GIT_CONFIG_KEY_<n>`.
const KEY_PREFIX: &str = "GIT_CONFIG_KEY_";
/// Prefix of `GIT_CONFIG_VALUE_<n>`.
const VALUE_PREFIX: &str = "GIT_CONFIG_VALUE_";
/// The key, in git's documented spelling.
pub(crate) const KEY: &str = "safe.bareRepository";
/// The value.
pub(crate) const VALUE: &str = "explicit";
/// Git rejects a count above `INT_MAX` ("too many entries").
const GIT_MAX_COUNT: u64 = i32::MAX as u64;
/// Ours must stay within git's limit after adding one.
const MAX_COUNT: u64 = GIT_MAX_COUNT - 1;

/// What [`inject`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GitEnvOutcome {
    /// The pair was added at this index; `GIT_CONFIG_COUNT` is now `index + 1`.
    Appended {
        /// The index of the new pair.
        index: usize,
    },
    /// A `safe.bareRepository` pair is already among the first `GIT_CONFIG_COUNT` pairs: untouched.
    AlreadySet,
    /// `GIT_CONFIG_COUNT` is not a usable count (shown here as found, lossily if not UTF-8):
    /// untouched. The caller warns.
    Unparsable(String),
}

/// Adds `safe.bareRepository=explicit` to the child environment `env` unless the user already set
/// that key for git, or `GIT_CONFIG_COUNT` cannot be read (see the module docs).
pub(crate) fn inject(env: &mut BTreeMap<OsString, OsString>) -> GitEnvOutcome {
    let count = match env.get(OsStr::new(COUNT_VAR)) {
        None => 0,
        Some(raw) => match parse_count(raw) {
            Some(count) => count,
            None => return GitEnvOutcome::Unparsable(raw.to_string_lossy().into_owned()),
        },
    };
    let already = env.iter().any(|(name, value)| {
        pair_index(name, KEY_PREFIX).is_some_and(|i| i < count)
            && value.as_encoded_bytes().eq_ignore_ascii_case(KEY.as_bytes())
    });
    if already {
        return GitEnvOutcome::AlreadySet;
    }
    env.insert(format!("{KEY_PREFIX}{count}").into(), KEY.into());
    env.insert(format!("{VALUE_PREFIX}{count}").into(), VALUE.into());
    env.insert(COUNT_VAR.into(), (count + 1).to_string().into());
    // `count <= MAX_COUNT < usize::MAX` on every platform with a 32-bit or wider usize.
    GitEnvOutcome::Appended { index: usize::try_from(count).unwrap_or(usize::MAX) }
}

/// The count git reads from `raw`, if git accepts it and one more pair still fits (at most
/// [`MAX_COUNT`]); see the module docs.
fn parse_count(raw: &OsStr) -> Option<u64> {
    git_count(raw.as_encoded_bytes()).filter(|&n| n <= MAX_COUNT)
}

/// What git does with `GIT_CONFIG_COUNT=raw`: `Some(n)` when it reads `n` pairs, `None` when it
/// refuses to run ("bogus count" or "too many entries"). `strtoul(raw, &end, 10)` with a 64-bit
/// `unsigned long`, `*end` must be NUL, the result at most `INT_MAX`.
fn git_count(raw: &[u8]) -> Option<u64> {
    // isspace() in the C locale.
    let start = raw.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'));
    let rest = start.map_or(&[][..], |i| &raw[i..]);
    let (negative, digits) = match rest.split_first() {
        Some((b'-', tail)) => (true, tail),
        Some((b'+', tail)) => (false, tail),
        _ => (false, rest),
    };
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 {
        // No conversion: `end` is `raw` itself, so only the empty string passes (as 0).
        return raw.is_empty().then_some(0);
    }
    if len != digits.len() {
        return None; // bogus count: junk after the number
    }
    let magnitude = digits.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    // Out of range: ULONG_MAX whatever the sign; in range, `-` negates in unsigned arithmetic.
    let value = match magnitude {
        None => u64::MAX,
        Some(m) if negative => m.wrapping_neg(),
        Some(m) => m,
    };
    (value <= GIT_MAX_COUNT).then_some(value)
}

/// `n` if `name` is exactly `<prefix><n>` with `n` written as git writes it (`%d`: no sign, no
/// leading zeros), the only spelling git looks up.
fn pair_index(name: &OsStr, prefix: &str) -> Option<u64> {
    let digits = name.as_encoded_bytes().strip_prefix(prefix.as_bytes())?;
    let text = std::str::from_utf8(digits).ok()?;
    let n = text.parse::<u64>().ok()?;
    (text.bytes().all(|b| b.is_ascii_digit()) && n.to_string() == text).then_some(n)
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<OsString, OsString> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    fn get<'a>(env: &'a BTreeMap<OsString, OsString>, name: &str) -> Option<&'a str> {
        env.get(OsStr::new(name)).and_then(|v| v.to_str())
    }

    #[test]
    fn absent_count_appends_at_index_0() {
        let mut e = env(&[("PATH", "/bin")]);
        assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index: 0 });
        assert_eq!(get(&e, "GIT_CONFIG_COUNT"), Some("1"));
        assert_eq!(get(&e, "GIT_CONFIG_KEY_0"), Some("safe.bareRepository"));
        assert_eq!(get(&e, "GIT_CONFIG_VALUE_0"), Some("explicit"));
        assert_eq!(e.len(), 4);
    }

    #[test]
    fn existing_pairs_are_kept_and_ours_goes_after_them() {
        let mut e = env(&[
            ("GIT_CONFIG_COUNT", "2"),
            ("GIT_CONFIG_KEY_0", "user.name"),
            ("GIT_CONFIG_VALUE_0", "A"),
            ("GIT_CONFIG_KEY_1", "core.pager"),
            ("GIT_CONFIG_VALUE_1", "less"),
        ]);
        assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index: 2 });
        assert_eq!(get(&e, "GIT_CONFIG_COUNT"), Some("3"));
        assert_eq!(get(&e, "GIT_CONFIG_KEY_0"), Some("user.name"));
        assert_eq!(get(&e, "GIT_CONFIG_KEY_1"), Some("core.pager"));
        assert_eq!(get(&e, "GIT_CONFIG_KEY_2"), Some("safe.bareRepository"));
        assert_eq!(get(&e, "GIT_CONFIG_VALUE_2"), Some("explicit"));
    }

    #[test]
    fn a_key_in_any_letter_case_below_the_count_is_respected() {
        for key in ["safe.bareRepository", "SAFE.BAREREPOSITORY", "safe.barerepository", "Safe.BareRepository"] {
            let mut e = env(&[
                ("GIT_CONFIG_COUNT", "2"),
                ("GIT_CONFIG_KEY_0", "user.name"),
                ("GIT_CONFIG_VALUE_0", "A"),
                ("GIT_CONFIG_KEY_1", key),
                ("GIT_CONFIG_VALUE_1", "all"),
            ]);
            let before = e.clone();
            assert_eq!(inject(&mut e), GitEnvOutcome::AlreadySet, "{key}");
            assert_eq!(e, before, "{key}");
        }
    }

    #[test]
    fn a_key_at_or_above_the_count_does_not_count_and_is_overwritten() {
        let mut e = env(&[
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "user.name"),
            ("GIT_CONFIG_VALUE_0", "A"),
            ("GIT_CONFIG_KEY_1", "safe.bareRepository"),
            ("GIT_CONFIG_VALUE_1", "all"),
            ("GIT_CONFIG_KEY_5", "safe.bareRepository"),
        ]);
        assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index: 1 });
        assert_eq!(get(&e, "GIT_CONFIG_COUNT"), Some("2"));
        assert_eq!(get(&e, "GIT_CONFIG_KEY_1"), Some("safe.bareRepository"));
        assert_eq!(get(&e, "GIT_CONFIG_VALUE_1"), Some("explicit"));
        assert_eq!(get(&e, "GIT_CONFIG_KEY_0"), Some("user.name"));
    }

    #[test]
    fn count_zero_ignores_every_pair() {
        let mut e = env(&[("GIT_CONFIG_COUNT", "0"), ("GIT_CONFIG_KEY_0", "safe.bareRepository")]);
        assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index: 0 });
        assert_eq!(get(&e, "GIT_CONFIG_VALUE_0"), Some("explicit"));
        assert_eq!(get(&e, "GIT_CONFIG_COUNT"), Some("1"));
    }

    #[test]
    fn names_git_would_not_read_do_not_count() {
        // Git looks up GIT_CONFIG_KEY_%d: "01" and "+1" are other variables.
        let mut e = env(&[
            ("GIT_CONFIG_COUNT", "2"),
            ("GIT_CONFIG_KEY_0", "user.name"),
            ("GIT_CONFIG_KEY_01", "safe.bareRepository"),
            ("GIT_CONFIG_KEY_+1", "safe.bareRepository"),
            ("git_config_key_1", "safe.bareRepository"),
        ]);
        assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index: 2 });
    }

    #[test]
    fn the_count_is_read_as_git_reads_it() {
        for (raw, count) in [
            ("1", Some(1)),
            (" 1", Some(1)),
            ("+1", Some(1)),
            ("", Some(0)),
            ("01", Some(1)),
            ("007", Some(7)),
            ("  +2", Some(2)),
            ("\t\n\x0b\x0c\r3", Some(3)),
            ("-0", Some(0)),
            ("+0", Some(0)),
            ("-18446744073709551615", Some(1)),
            ("2147483647", Some(2147483647)),
            ("2147483648", None),
            ("-1", None),
            ("-2147483648", None),
            ("18446744073709551615", None),
            ("99999999999999999999999", None),
            ("-99999999999999999999999", None),
            ("1x", None),
            ("1 ", None),
            (" ", None),
            ("+", None),
            ("-", None),
            ("+-1", None),
            ("- 1", None),
            ("0x1", None),
            ("1.0", None),
            ("1k", None),
            ("abc", None),
        ] {
            assert_eq!(git_count(raw.as_bytes()), count, "{raw:?}");
        }
    }

    #[test]
    fn spellings_git_accepts_get_the_pair_and_a_plain_count() {
        for (raw, index) in [(" 1", 1), ("+1", 1), ("", 0), ("01", 1), ("  +2", 2), ("-0", 0)] {
            let mut e = env(&[("GIT_CONFIG_COUNT", raw), ("GIT_CONFIG_KEY_0", "user.name")]);
            assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index }, "{raw:?}");
            let key = format!("GIT_CONFIG_KEY_{index}");
            assert_eq!(get(&e, &key), Some("safe.bareRepository"), "{raw:?}");
            assert_eq!(get(&e, "GIT_CONFIG_COUNT"), Some((index + 1).to_string().as_str()), "{raw:?}");
        }
        // A user's own setting below a count written with a sign is still respected.
        let mut e = env(&[("GIT_CONFIG_COUNT", " +1"), ("GIT_CONFIG_KEY_0", "Safe.BareRepository")]);
        assert_eq!(inject(&mut e), GitEnvOutcome::AlreadySet);
    }

    #[test]
    fn an_unparsable_count_leaves_everything_untouched() {
        for bad in
            ["abc", "-1", "1 ", "1x", " ", "+", "0x1", "1.0", "99999999999999999999999", "2147483647", "2147483648"]
        {
            let mut e = env(&[("GIT_CONFIG_COUNT", bad), ("GIT_CONFIG_KEY_0", "user.name")]);
            let before = e.clone();
            assert_eq!(inject(&mut e), GitEnvOutcome::Unparsable(bad.to_owned()), "{bad:?}");
            assert_eq!(e, before, "{bad:?}");
        }
        // The largest count git accepts after our addition.
        let mut e = env(&[("GIT_CONFIG_COUNT", "2147483646")]);
        assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index: 2147483646 });
        assert_eq!(get(&e, "GIT_CONFIG_COUNT"), Some("2147483647"));
    }

    #[test]
    fn values_that_are_not_utf8_do_not_panic() {
        let not_utf8 = OsString::from_vec(vec![b's', 0xff, 0xfe]);
        let mut e = env(&[("GIT_CONFIG_COUNT", "1")]);
        e.insert("GIT_CONFIG_KEY_0".into(), not_utf8.clone());
        e.insert(OsString::from_vec(b"GIT_CONFIG_KEY_\xff".to_vec()), "safe.bareRepository".into());
        assert_eq!(inject(&mut e), GitEnvOutcome::Appended { index: 1 });

        let mut e = env(&[]);
        e.insert("GIT_CONFIG_COUNT".into(), not_utf8);
        let before = e.clone();
        assert!(matches!(inject(&mut e), GitEnvOutcome::Unparsable(ref s) if s.starts_with('s')));
        assert_eq!(e, before);
    }
}
