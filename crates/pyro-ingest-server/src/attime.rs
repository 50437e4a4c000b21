//! OG Pyroscope's `attime.Parse` for `from`/`until` (spec §1.3).

/// The latest time a parameter can name: 9999-12-31T23:59:59Z. Results are clamped to
/// `0..=MAX_TIME`, so range arithmetic never overflows (`until=99999999999999999999` is the end
/// of year 9999, `from=now-9999999999y` is the epoch).
pub const MAX_TIME: i64 = 253_402_300_799;

/// Parses a time parameter into Unix seconds, relative to `now` (Unix seconds), clamped to
/// `0..=`[`MAX_TIME`].
///
/// Digits only: length 8 → `YYYYMMDD` (if the year is after 1900), 13 → milliseconds,
/// 16 → microseconds, 19 → nanoseconds, otherwise seconds. Anything else is `now` plus an
/// offset like `-1h` (units `s`, `m`/`min`, `h`, `d`, `w`, `M`/`mon`, `y`; the reference before
/// the sign is ignored, as in OG). `_`, `,` and spaces are removed first; an empty value is now.
pub fn parse(value: &str, now: i64) -> i64 {
    parse_unclamped(value, now).clamp(0, MAX_TIME)
}

fn parse_unclamped(value: &str, now: i64) -> i64 {
    let s: String = value
        .trim()
        .chars()
        .filter(|c| !matches!(c, '_' | ',' | ' '))
        .collect();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        if s.len() == 8
            && let Some(t) = yyyymmdd(&s)
        {
            return t;
        }
        let n: i64 = s.parse().unwrap_or(i64::MAX);
        return match s.len() {
            13 => n / 1_000,
            16 => n / 1_000_000,
            19 => n / 1_000_000_000,
            _ => n,
        };
    }
    let Some(i) = s.find('+').or_else(|| s.find('-')) else {
        return now;
    };
    let (sign, rest) = (&s[i..i + 1], &s[i + 1..]);
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n: i64 = rest[..digits_end].parse().unwrap_or(0);
    let unit_text = &rest[digits_end..];
    let unit_end = unit_text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(unit_text.len());
    let unit = &unit_text[..unit_end];
    let secs = if unit.starts_with('s') {
        1
    } else if unit.starts_with("mon") || unit.starts_with('M') {
        30 * 86_400
    } else if unit.starts_with("min") || unit.starts_with('m') {
        60
    } else if unit.starts_with('h') {
        3_600
    } else if unit.starts_with('d') {
        86_400
    } else if unit.starts_with('w') {
        7 * 86_400
    } else if unit.starts_with('y') {
        365 * 86_400
    } else {
        0
    };
    let offset = n.saturating_mul(secs);
    if sign == "-" {
        now.saturating_sub(offset)
    } else {
        now.saturating_add(offset)
    }
}

fn yyyymmdd(s: &str) -> Option<i64> {
    let y: i64 = s[..4].parse().ok()?;
    let m: u32 = s[4..6].parse().ok()?;
    let d: u32 = s[6..8].parse().ok()?;
    if y <= 1900 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC civil date (year, month 1–12, day 1–31) and the seconds into that day of Unix
/// seconds `t` (Howard Hinnant's algorithm).
pub fn civil(t: i64) -> (i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds `t`.
pub fn rfc3339(t: i64) -> String {
    let (y, m, d, secs) = civil(t);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn og_forms() {
        let now = 1_700_000_000;
        assert_eq!(parse("", now), now);
        assert_eq!(parse("now", now), now);
        assert_eq!(parse("1609459200", now), 1_609_459_200);
        assert_eq!(parse("1609459200000", now), 1_609_459_200);
        assert_eq!(parse("1609459200000000", now), 1_609_459_200);
        assert_eq!(parse("1609459200000000000", now), 1_609_459_200);
        assert_eq!(parse("20210101", now), 1_609_459_200);
        assert_eq!(parse("1_609_459_200", now), 1_609_459_200);
        assert_eq!(parse("now-1h", now), now - 3600);
        assert_eq!(parse("foo-1h", now), now - 3600);
        assert_eq!(parse("-1h", now), now - 3600);
        assert_eq!(parse("now-3h30m", now), now - 3 * 3600);
        assert_eq!(parse("now-5ms", now), now - 300);
        assert_eq!(parse("now-2M", now), now - 60 * 86_400);
        assert_eq!(parse("now-1w", now), now - 7 * 86_400);
        assert_eq!(parse("now+1d", now), now + 86_400);
        assert_eq!(parse("now-1x", now), now);
        assert_eq!(parse("2021-01-01", now), now);
    }

    #[test]
    fn extremes_are_clamped_not_wrapped() {
        let now = 1_700_000_000;
        assert_eq!(parse("99999999999999999999", now), MAX_TIME);
        assert_eq!(parse("9223372036854775807", now), 9_223_372_036); // 19 digits: ns
        assert_eq!(parse("now-9999999999y", now), 0);
        assert_eq!(parse("now+9999999999y", now), MAX_TIME);
        assert_eq!(parse("-99999999999999999999999s", now), now);
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(1_609_459_200), "2021-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }
}
