//! The timestamp form the SDKs send, `2024-01-01T00:00:03.324Z`, read without `time`'s
//! general RFC 3339 parser, which costs several hundred instructions a line. Anything else
//! (another offset, a lowercase `t` or `z`, a leap second, more than nine digits of
//! fraction, any invalid field) is left to that parser, so this one only ever gives the same
//! time faster.

/// Microseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, when `text` is
/// exactly that with every field in range; `None` otherwise.
pub(super) fn plain_utc_micros(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (date_time, fraction) = match bytes.split_last()? {
        (b'Z', rest) if rest.len() == 19 => (rest, &[][..]),
        (b'Z', rest) if rest.len() > 20 && rest.len() <= 29 && rest[19] == b'.' => {
            (&rest[..19], &rest[20..])
        }
        _ => return None,
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, sep)| date_time[at] != sep) {
        return None;
    }
    let year = digits(&date_time[0..4])?;
    let month = digits(&date_time[5..7])?;
    let day = digits(&date_time[8..10])?;
    let hour = digits(&date_time[11..13])?;
    let minute = digits(&date_time[14..16])?;
    let second = digits(&date_time[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut nanos = digits(fraction)?;
    for _ in fraction.len()..9 {
        nanos *= 10;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    // As `time`'s nanoseconds divided by 1,000, which rounds toward zero: up before 1970,
    // where the whole seconds are negative and the fraction adds to them.
    let micros = if seconds < 0 {
        (nanos + 999) / 1_000
    } else {
        nanos / 1_000
    };
    seconds.checked_mul(1_000_000)?.checked_add(micros)
}

/// The number the ASCII digits spell; `None` for any other byte. Empty is 0.
fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the date in the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::plain_utc_micros;

    /// What `time`'s RFC 3339 parser makes of `text`, in microseconds as `Timestamp` keeps them.
    fn by_time(text: &str) -> Option<i64> {
        use time::format_description::well_known::Rfc3339;
        let t = time::OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
    }

    #[track_caller]
    fn agrees(text: &str) {
        if let Some(micros) = plain_utc_micros(text) {
            assert_eq!(Some(micros), by_time(text), "{text}");
        }
    }

    #[test]
    fn the_sdks_form_is_read_as_time_reads_it() {
        for text in [
            "2024-01-01T00:00:03.324Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.9999995Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2000-02-29T12:00:00.1Z",
            "2024-12-31T23:59:59.123456Z",
        ] {
            assert!(plain_utc_micros(text).is_some(), "{text}");
            agrees(text);
        }
    }

    #[test]
    fn other_forms_are_left_to_time() {
        for text in [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T23:60:00Z",
            "2024-01-01T23:59:60Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01 00:00:00Z",
            "+024-01-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "",
        ] {
            assert_eq!(plain_utc_micros(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn any_date_and_time_is_read_as_time_reads_it(
            year in 0..=9999i64,
            month in 0..=13i64,
            day in 0..=32i64,
            hour in 0..=24i64,
            minute in 0..=60i64,
            second in 0..=60i64,
            fraction in "(\\.[0-9]{0,10})?",
        ) {
            let text = format!(
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z"
            );
            let time_reads = by_time(&text);
            let plain = plain_utc_micros(&text);
            // Where time reads it, the plain reader reads it alike or leaves it (a leap
            // second); where time refuses it, so does the plain reader.
            prop_assert!(plain.is_none() || plain == time_reads, "{}", text);
            prop_assert!(time_reads.is_some() || plain.is_none(), "{}", text);
            prop_assert!(
                plain.is_some() || time_reads.is_none() || second == 60 || fraction.len() > 10,
                "{}",
                text
            );
        }

        #[test]
        fn mutated_text_is_read_as_time_reads_it_or_left(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?[Zz+-]?[0-9:]{0,6}",
        ) {
            agrees(&text);
        }
    }
}
