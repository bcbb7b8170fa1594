//! Durations on the command line: `<N>{s,m,h,d}` (`90d`, `12h`), as `--expires` takes them.

use anyhow::{Result, bail};

/// Longest duration accepted: about 100 years (an expiry exists to be renewed).
const MAX_SECONDS: u64 = 100 * 365 * 86_400;

/// Parses `<N>{s,m,h,d}` into seconds; N is a positive whole number.
pub(crate) fn parse(text: &str) -> Result<u64> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("'{text}' is not a duration: write a whole number and a unit, e.g. 90d, 12h, 30m or 45s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not a duration: the number is missing or too large, e.g. 90d"))?;
    match n.checked_mul(factor) {
        Some(0) => bail!("'{text}': a duration must be longer than zero"),
        Some(s) if s <= MAX_SECONDS => Ok(s),
        _ => bail!("'{text}' is longer than 100 years"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_the_rest() {
        assert_eq!(parse("90d").ok(), Some(90 * 86_400));
        assert_eq!(parse("12h").ok(), Some(43_200));
        assert_eq!(parse("30m").ok(), Some(1_800));
        assert_eq!(parse("45s").ok(), Some(45));
        for bad in ["", "d", "90", "0d", "-1d", "1.5d", "90 d", "1w", "99999999999999999999d", "40000d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
