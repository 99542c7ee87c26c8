//! NAB timestamps (`YYYY-MM-DD HH:MM:SS`, labels add `.ffffff`) to and from
//! microseconds since the Unix epoch, UTC, without a date library.

/// Parse `YYYY-MM-DD HH:MM:SS` with an optional fraction of up to 9 digits
/// (digits beyond microseconds are dropped); `T` may replace the space.
/// `None` if the text is not such a timestamp or names an impossible date.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut micros = 0i64;
    if b.len() > 19 {
        let frac = &b[20..];
        if b[19] != b'.' || frac.is_empty() || frac.len() > 9 {
            return None;
        }
        for (i, d) in frac.iter().enumerate() {
            if !d.is_ascii_digit() {
                return None;
            }
            if i < 6 {
                micros = micros * 10 + i64::from(d - b'0');
            }
        }
        for _ in frac.len()..6 {
            micros *= 10;
        }
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros)
}

/// Format microseconds since the epoch as NAB does: `YYYY-MM-DD HH:MM:SS`,
/// with `.ffffff` only when the fraction is not zero.
pub fn format_timestamp(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s) = (tod / 3600, tod / 60 % 60, tod % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{frac:06}")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, Option<i64>)] = &[
            ("epoch", "1970-01-01 00:00:00", Some(0)),
            ("NAB data row", "2014-07-01 00:30:00", Some(1_404_174_600_000_000)),
            ("NAB label with fraction", "2014-04-10 07:15:00.000000", Some(1_397_114_100_000_000)),
            ("T separator", "2014-04-10T07:15:00", Some(1_397_114_100_000_000)),
            ("microseconds", "1970-01-01 00:00:01.000002", Some(1_000_002)),
            ("short fraction", "1970-01-01 00:00:00.5", Some(500_000)),
            ("nanoseconds dropped", "1970-01-01 00:00:00.123456789", Some(123_456)),
            ("leap day", "2016-02-29 12:00:00", Some(1_456_747_200_000_000)),
            ("before the epoch", "1969-12-31 23:59:59", Some(-1_000_000)),
            ("not a leap year", "2015-02-29 00:00:00", None),
            ("month 13", "2015-13-01 00:00:00", None),
            ("hour 24", "2015-01-01 24:00:00", None),
            ("date only", "2015-01-01", None),
            ("garbage", "yesterday at noon", None),
            ("empty fraction", "2015-01-01 00:00:00.", None),
            ("letters in the fraction", "2015-01-01 00:00:00.1a", None),
        ];
        for (name, text, want) in cases {
            assert_eq!(parse_timestamp(text), *want, "{name}: {text}");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in [
            "1970-01-01 00:00:00",
            "2014-07-01 00:30:00",
            "2000-02-29 23:59:59",
            "1969-12-31 23:59:59.999999",
            "2100-03-01 00:00:00.000001",
        ] {
            let us = parse_timestamp(text).unwrap();
            assert_eq!(format_timestamp(us), text);
        }
    }
}
