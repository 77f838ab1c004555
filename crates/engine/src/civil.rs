//! Wall-clock time in a city's zone: turning an organiser's local start time
//! into an instant, and an instant back into local text.
//!
//! Organisers and buyers think in local times, but a local time is not an
//! instant. Where clocks change for daylight saving, some local times never
//! happen (the clocks skip them) and some happen twice (the clocks go back).
//! This module refuses to guess in either case: a skipped time is an error,
//! and a repeated one needs the caller to name its UTC offset.
//!
//! The text it parses comes straight from HTTP requests, so every function
//! here answers bad input with a [`CivilError`] and never panics.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

use crate::time::Timestamp;

/// A local start time that means exactly one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedStart {
    /// The local time as `YYYY-MM-DDTHH:MM:SS`.
    pub start_local: String,
    /// The instant it means.
    pub start: Timestamp,
    /// The zone's offset from UTC at that instant, in seconds.
    pub utc_offset_seconds: i32,
}

/// Why a local time cannot be turned into an instant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CivilError {
    #[error("{zone:?} is not a known time zone; use an IANA name such as Europe/Zurich.")]
    UnknownZone { zone: String },

    #[error("{input:?} is not a local date and time such as 2030-10-27T20:00:00: {reason}.")]
    Malformed { input: String, reason: &'static str },

    #[error(
        "{input:?} carries a UTC offset or a time zone. Give the local time alone, such as \
         2030-10-27T20:00:00, and the offset separately if the time is ambiguous."
    )]
    HasOffset { input: String },

    #[error("{input:?} is not a UTC offset such as +01:00 or -05:00.")]
    MalformedOffset { input: String },

    #[error(
        "{start_local} does not exist in {zone}: the clocks skip it when they move forward. \
         Choose another time."
    )]
    Nonexistent { zone: String, start_local: String },

    #[error(
        "{start_local} happens twice in {zone}, because the clocks go back. Give the UTC offset \
         {} or {} to say which one is meant.",
        format_offset(.offsets[0]),
        format_offset(.offsets[1])
    )]
    Ambiguous {
        zone: String,
        start_local: String,
        /// The offsets of the two meanings in seconds, the earlier instant first.
        offsets: [i32; 2],
    },

    #[error(
        "{start_local} in {zone} never has the UTC offset {}; it has {}.",
        format_offset(*.given),
        list_offsets(.possible)
    )]
    OffsetMismatch {
        zone: String,
        start_local: String,
        /// The offset asked for, in seconds.
        given: i32,
        /// The offsets the local time does have, in seconds.
        possible: Vec<i32>,
    },
}

/// Resolves a local start time in `time_zone`, such as `2030-10-27T20:00:00`
/// in `Europe/Zurich`, into the instant it means.
///
/// `start_local` is `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`, without any
/// offset or zone. `utc_offset`, such as `+01:00`, picks one meaning of a
/// time that happens twice; when given, it must be an offset the local time
/// really has, ambiguous or not.
pub fn resolve_local_start(
    time_zone: &str,
    start_local: &str,
    utc_offset: Option<&str>,
) -> Result<ResolvedStart, CivilError> {
    let zone = TimeZone::get(time_zone)
        .map_err(|_| CivilError::UnknownZone { zone: time_zone.to_owned() })?;
    let local = parse_local(start_local)?;
    let wanted = utc_offset.map(parse_offset).transpose()?;

    let normalized = normalize(local);
    let offset = choose_offset(&zone, local, wanted)
        .map_err(|problem| problem.explain(time_zone, &normalized))?;

    let instant = offset
        .to_timestamp(local)
        .map_err(|_| malformed(start_local, "the year is outside the supported range"))?;
    Ok(ResolvedStart {
        start_local: normalized,
        start: Timestamp::from_jiff(instant),
        utc_offset_seconds: offset.seconds(),
    })
}

/// The instant as RFC 3339 local time with its offset, such as
/// `2030-10-27T20:00:00+01:00`.
///
/// An offset beyond ±25:59:59 cannot come from a time zone; rather than
/// fail, the instant is then written in UTC, which still names it correctly.
pub fn format_local(instant: Timestamp, utc_offset_seconds: i32) -> String {
    let offset = Offset::from_seconds(utc_offset_seconds).unwrap_or(Offset::UTC);
    instant.to_jiff().display_with_offset(offset).to_string()
}

/// A start time for people, as a receipt shows it:
/// `Sat 31 Dec 2026, 20:00 Europe/Paris (UTC+01:00)`.
pub fn format_for_people(instant: Timestamp, utc_offset_seconds: i32, zone: &str) -> String {
    let offset = Offset::from_seconds(utc_offset_seconds).unwrap_or(Offset::UTC);
    let local = instant.to_jiff().to_zoned(TimeZone::fixed(offset));
    let when = local.strftime("%a %-d %b %Y, %H:%M");
    format!("{when} {zone} (UTC{})", format_offset(utc_offset_seconds))
}

/// Whether `name` is a time zone of the bundled IANA database.
pub fn is_valid_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// An offset in seconds as `+HH:MM`, or `+HH:MM:SS` when it has seconds.
pub fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let magnitude = seconds.unsigned_abs();
    let (hours, minutes, rest) = (magnitude / 3600, magnitude / 60 % 60, magnitude % 60);

    if rest == 0 {
        format!("{sign}{hours:02}:{minutes:02}")
    } else {
        format!("{sign}{hours:02}:{minutes:02}:{rest:02}")
    }
}

fn list_offsets(offsets: &[i32]) -> String {
    let texts: Vec<String> = offsets.iter().copied().map(format_offset).collect();
    texts.join(" or ")
}

fn malformed(input: &str, reason: &'static str) -> CivilError {
    CivilError::Malformed { input: input.to_owned(), reason }
}

/// Parses `YYYY-MM-DDTHH:MM[:SS]` strictly: ASCII digits in fixed places, so
/// that nothing an HTTP client sends is read as something it did not mean.
fn parse_local(input: &str) -> Result<DateTime, CivilError> {
    // Checked first because an offset makes the text longer than any shape
    // below, and "has an offset" is the more useful thing to hear.
    if carries_offset(input) {
        return Err(CivilError::HasOffset { input: input.to_owned() });
    }

    let has_seconds = match input.len() {
        16 if fits_shape(input, "dddd-dd-ddTdd:dd") => false,
        19 if fits_shape(input, "dddd-dd-ddTdd:dd:dd") => true,
        _ => return Err(malformed(input, "expected YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS")),
    };

    let year = digits_value(&input[0..4]);
    let second = if has_seconds { digits_value(&input[17..19]) } else { 0 };
    let fields = [&input[5..7], &input[8..10], &input[11..13], &input[14..16]].map(digits_value);
    let [month, day, hour, minute] = fields;

    // Every field has at most four digits, so the narrowing casts are exact.
    DateTime::new(year as i16, month as i8, day as i8, hour as i8, minute as i8, second as i8, 0)
        .map_err(|_| malformed(input, "there is no such date or time of day"))
}

/// Whether the time part of the text ends in an offset (`+01:00`, `Z`) or a
/// bracketed zone (`[Europe/Zurich]`).
fn carries_offset(input: &str) -> bool {
    match input.split_once('T') {
        Some((_, time)) => time.contains(['+', '-', 'Z', 'z', '[']),
        None => false,
    }
}

/// Whether `input` matches `shape`, where `d` stands for an ASCII digit and
/// every other character for itself.
fn fits_shape(input: &str, shape: &str) -> bool {
    input.len() == shape.len()
        && input.bytes().zip(shape.bytes()).all(|(byte, expected)| match expected {
            b'd' => byte.is_ascii_digit(),
            _ => byte == expected,
        })
}

/// The value of a run of ASCII digits that [`fits_shape`] has checked.
fn digits_value(digits: &str) -> u32 {
    digits.bytes().fold(0, |value, digit| value * 10 + u32::from(digit - b'0'))
}

/// Parses `±HH:MM` or `±HH:MM:SS`, and `Z` for UTC.
fn parse_offset(input: &str) -> Result<Offset, CivilError> {
    let refuse = || CivilError::MalformedOffset { input: input.to_owned() };
    if input == "Z" {
        return Ok(Offset::UTC);
    }

    let shaped = fits_shape(input, "+dd:dd")
        || fits_shape(input, "-dd:dd")
        || fits_shape(input, "+dd:dd:dd")
        || fits_shape(input, "-dd:dd:dd");
    if !shaped {
        return Err(refuse());
    }

    let hours = digits_value(&input[1..3]);
    let minutes = digits_value(&input[4..6]);
    let seconds = input.get(7..9).map_or(0, digits_value);
    if minutes >= 60 || seconds >= 60 {
        return Err(refuse());
    }

    // At most 99 hours in seconds, so this fits an i32 with room to spare.
    let magnitude = (hours * 3600 + minutes * 60 + seconds) as i32;
    let signed = if input.starts_with('-') { -magnitude } else { magnitude };
    Offset::from_seconds(signed).map_err(|_| refuse())
}

fn normalize(local: DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
}

/// What is wrong with a local time in a zone, before it is put in words.
enum OffsetProblem {
    Nonexistent,
    Ambiguous([Offset; 2]),
    Mismatch { given: Offset, possible: Vec<Offset> },
}

impl OffsetProblem {
    fn explain(self, zone: &str, start_local: &str) -> CivilError {
        let (zone, start_local) = (zone.to_owned(), start_local.to_owned());
        match self {
            OffsetProblem::Nonexistent => CivilError::Nonexistent { zone, start_local },
            OffsetProblem::Ambiguous([earlier, later]) => CivilError::Ambiguous {
                zone,
                start_local,
                offsets: [earlier.seconds(), later.seconds()],
            },
            OffsetProblem::Mismatch { given, possible } => CivilError::OffsetMismatch {
                zone,
                start_local,
                given: given.seconds(),
                possible: possible.into_iter().map(Offset::seconds).collect(),
            },
        }
    }
}

/// The one offset the local time has in the zone, or the one of its two that
/// the caller asked for.
fn choose_offset(
    zone: &TimeZone,
    local: DateTime,
    wanted: Option<Offset>,
) -> Result<Offset, OffsetProblem> {
    let possible = match zone.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => vec![offset],
        AmbiguousOffset::Gap { .. } => return Err(OffsetProblem::Nonexistent),
        AmbiguousOffset::Fold { before, after } => vec![before, after],
    };

    match (wanted, possible.as_slice()) {
        (Some(given), _) if possible.contains(&given) => Ok(given),
        (Some(given), _) => Err(OffsetProblem::Mismatch { given, possible }),
        (None, &[only]) => Ok(only),
        (None, &[earlier, later]) => Err(OffsetProblem::Ambiguous([earlier, later])),
        (None, _) => Err(OffsetProblem::Nonexistent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i32 = 3600;

    fn resolve(zone: &str, local: &str, offset: Option<&str>) -> Result<ResolvedStart, CivilError> {
        resolve_local_start(zone, local, offset)
    }

    fn instant(text: &str) -> Timestamp {
        Timestamp::from_jiff(text.parse().expect("a valid RFC 3339 instant"))
    }

    #[test]
    fn people_read_the_local_time_with_its_zone() {
        let start = instant("2026-12-31T19:00:00Z");

        let text = format_for_people(start, HOUR, "Europe/Paris");

        assert_eq!(text, "Thu 31 Dec 2026, 20:00 Europe/Paris (UTC+01:00)");
    }

    #[test]
    fn an_ordinary_time_has_one_meaning() {
        let resolved = resolve("Europe/Zurich", "2030-10-27T20:00:00", None).unwrap();

        assert_eq!(resolved.start_local, "2030-10-27T20:00:00");
        assert_eq!(resolved.start, instant("2030-10-27T19:00:00Z"));
        assert_eq!(resolved.utc_offset_seconds, HOUR);
        assert_eq!(
            format_local(resolved.start, resolved.utc_offset_seconds),
            "2030-10-27T20:00:00+01:00"
        );
    }

    #[test]
    fn seconds_are_optional_and_normalized() {
        let resolved = resolve("Europe/Zurich", "2030-07-01T19:30", None).unwrap();

        assert_eq!(resolved.start_local, "2030-07-01T19:30:00");
        assert_eq!(resolved.utc_offset_seconds, 2 * HOUR);
    }

    #[test]
    fn a_matching_offset_is_accepted_for_an_unambiguous_time() {
        let resolved = resolve("Europe/Zurich", "2030-10-27T20:00:00", Some("+01:00")).unwrap();
        assert_eq!(resolved.start, instant("2030-10-27T19:00:00Z"));
    }

    #[test]
    fn a_wrong_offset_is_refused_for_an_unambiguous_time() {
        let error = resolve("Europe/Zurich", "2030-10-27T20:00:00", Some("+02:00")).unwrap_err();
        assert_eq!(
            error,
            CivilError::OffsetMismatch {
                zone: "Europe/Zurich".into(),
                start_local: "2030-10-27T20:00:00".into(),
                given: 2 * HOUR,
                possible: vec![HOUR],
            }
        );
    }

    #[test]
    fn zurich_spring_gap_does_not_exist() {
        for offset in [None, Some("+01:00"), Some("+02:00")] {
            let error = resolve("Europe/Zurich", "2030-03-31T02:30", offset).unwrap_err();
            assert_eq!(
                error,
                CivilError::Nonexistent {
                    zone: "Europe/Zurich".into(),
                    start_local: "2030-03-31T02:30:00".into(),
                },
                "{offset:?}"
            );
        }
    }

    #[test]
    fn zurich_autumn_fold_needs_an_offset() {
        let error = resolve("Europe/Zurich", "2030-10-27T02:30:00", None).unwrap_err();

        assert_eq!(
            error,
            CivilError::Ambiguous {
                zone: "Europe/Zurich".into(),
                start_local: "2030-10-27T02:30:00".into(),
                offsets: [2 * HOUR, HOUR],
            }
        );
        assert!(error.to_string().contains("+02:00 or +01:00"), "{error}");
    }

    #[test]
    fn zurich_autumn_fold_resolves_each_offset_to_its_own_instant() {
        let summer = resolve("Europe/Zurich", "2030-10-27T02:30:00", Some("+02:00")).unwrap();
        let winter = resolve("Europe/Zurich", "2030-10-27T02:30:00", Some("+01:00")).unwrap();

        assert_eq!(summer.start, instant("2030-10-27T00:30:00Z"));
        assert_eq!(winter.start, instant("2030-10-27T01:30:00Z"));
        assert_eq!(
            format_local(summer.start, summer.utc_offset_seconds),
            "2030-10-27T02:30:00+02:00"
        );
        assert_eq!(
            format_local(winter.start, winter.utc_offset_seconds),
            "2030-10-27T02:30:00+01:00"
        );
    }

    #[test]
    fn zurich_autumn_fold_refuses_an_offset_it_does_not_have() {
        let error = resolve("Europe/Zurich", "2030-10-27T02:30:00", Some("+05:00")).unwrap_err();

        assert_eq!(
            error,
            CivilError::OffsetMismatch {
                zone: "Europe/Zurich".into(),
                start_local: "2030-10-27T02:30:00".into(),
                given: 5 * HOUR,
                possible: vec![2 * HOUR, HOUR],
            }
        );
        assert!(error.to_string().contains("it has +02:00 or +01:00"), "{error}");
    }

    #[test]
    fn kolkata_is_five_and_a_half_hours_ahead() {
        let resolved = resolve("Asia/Kolkata", "2030-01-15T19:30:00", None).unwrap();

        assert_eq!(resolved.utc_offset_seconds, 5 * HOUR + 1800);
        assert_eq!(resolved.start, instant("2030-01-15T14:00:00Z"));
        assert_eq!(
            format_local(resolved.start, resolved.utc_offset_seconds),
            "2030-01-15T19:30:00+05:30"
        );
        assert!(resolve("Asia/Kolkata", "2030-01-15T19:30:00", Some("+05:30")).is_ok());
    }

    #[test]
    fn auckland_skips_an_hour_in_late_september() {
        let error = resolve("Pacific/Auckland", "2030-09-29T02:30:00", None).unwrap_err();
        assert!(matches!(error, CivilError::Nonexistent { .. }), "{error:?}");

        let after = resolve("Pacific/Auckland", "2030-09-29T03:30:00", None).unwrap();
        assert_eq!(after.utc_offset_seconds, 13 * HOUR);
    }

    #[test]
    fn auckland_repeats_an_hour_in_early_april() {
        let error = resolve("Pacific/Auckland", "2030-04-07T02:30:00", None).unwrap_err();
        assert!(
            matches!(error, CivilError::Ambiguous { offsets, .. } if offsets == [13 * HOUR, 12 * HOUR]),
            "{error:?}"
        );

        let daylight = resolve("Pacific/Auckland", "2030-04-07T02:30:00", Some("+13:00")).unwrap();
        let standard = resolve("Pacific/Auckland", "2030-04-07T02:30:00", Some("+12:00")).unwrap();
        assert_eq!(daylight.start, instant("2030-04-06T13:30:00Z"));
        assert_eq!(standard.start, instant("2030-04-06T14:30:00Z"));
    }

    #[test]
    fn new_york_changes_clocks_in_march_and_november() {
        let gap = resolve("America/New_York", "2030-03-10T02:30:00", None).unwrap_err();
        assert!(matches!(gap, CivilError::Nonexistent { .. }), "{gap:?}");

        let fold = resolve("America/New_York", "2030-11-03T01:30:00", None).unwrap_err();
        assert!(
            matches!(fold, CivilError::Ambiguous { offsets, .. } if offsets == [-4 * HOUR, -5 * HOUR]),
            "{fold:?}"
        );

        let evening = resolve("America/New_York", "2030-07-04T20:00:00", None).unwrap();
        assert_eq!(evening.start, instant("2030-07-05T00:00:00Z"));
        assert_eq!(
            format_local(evening.start, evening.utc_offset_seconds),
            "2030-07-04T20:00:00-04:00"
        );
    }

    #[test]
    fn malformed_local_times_are_refused() {
        let inputs = [
            "",
            "2030-10-27",
            "2030-10-27 20:00:00",
            "2030-10-27t20:00:00",
            "2030-10-27T20",
            "2030-10-27T20:00:00.5",
            "2030-10-27T2000",
            "30-10-27T20:00",
            "2030-1-27T20:00",
            "20301027T200000",
            "２０３０-10-27T20:00",
            "2030-10-27T20:00:00 ",
            " 2030-10-27T20:00:00",
        ];
        for input in inputs {
            let error = resolve("Europe/Zurich", input, None).unwrap_err();
            assert!(matches!(error, CivilError::Malformed { .. }), "{input:?}: {error:?}");
        }
    }

    #[test]
    fn impossible_dates_and_times_are_refused() {
        for input in [
            "2030-13-01T20:00",
            "2030-02-29T20:00",
            "2030-04-31T20:00",
            "2030-10-27T24:00",
            "2030-10-27T20:60",
            "2030-10-27T20:00:60",
            "2030-00-10T20:00",
        ] {
            let error = resolve("Europe/Zurich", input, None).unwrap_err();
            assert!(matches!(error, CivilError::Malformed { .. }), "{input:?}: {error:?}");
        }
        assert!(resolve("Europe/Zurich", "2028-02-29T20:00", None).is_ok());
    }

    #[test]
    fn local_times_with_an_offset_or_zone_are_refused() {
        for input in [
            "2030-10-27T20:00:00+01:00",
            "2030-10-27T20:00:00-05:00",
            "2030-10-27T20:00:00Z",
            "2030-10-27T20:00z",
            "2030-10-27T20:00:00[Europe/Zurich]",
        ] {
            let error = resolve("Europe/Zurich", input, None).unwrap_err();
            assert_eq!(error, CivilError::HasOffset { input: input.into() });
        }
    }

    #[test]
    fn malformed_offsets_are_refused() {
        for offset in [
            "",
            "+1",
            "01:00",
            "+0100",
            "+01:60",
            "+01:00:60",
            "+99:00",
            "UTC",
            "+01:00 ",
            "−01:00",
        ] {
            let error = resolve("Europe/Zurich", "2030-10-27T20:00", Some(offset)).unwrap_err();
            assert_eq!(error, CivilError::MalformedOffset { input: offset.into() }, "{offset:?}");
        }
    }

    #[test]
    fn utc_offsets_may_be_written_as_z() {
        let resolved = resolve("Europe/London", "2030-01-10T19:30", Some("Z")).unwrap();
        assert_eq!(resolved.utc_offset_seconds, 0);
        assert_eq!(format_local(resolved.start, 0), "2030-01-10T19:30:00+00:00");
    }

    #[test]
    fn unknown_zones_are_refused() {
        for zone in ["", "Mars/Olympus_Mons", "Europe/Zürich", "../../etc/passwd", "+01:00"] {
            let error = resolve(zone, "2030-10-27T20:00", None).unwrap_err();
            assert_eq!(error, CivilError::UnknownZone { zone: zone.into() }, "{zone:?}");
            assert!(!is_valid_zone(zone), "{zone:?}");
        }
    }

    #[test]
    fn zones_of_the_bundled_database_are_valid() {
        for zone in ["Europe/Zurich", "Asia/Kolkata", "Pacific/Auckland", "America/New_York", "UTC"]
        {
            assert!(is_valid_zone(zone), "{zone}");
        }
    }

    #[test]
    fn offsets_are_formatted_with_sign_hours_and_minutes() {
        assert_eq!(format_offset(0), "+00:00");
        assert_eq!(format_offset(5 * HOUR + 1800), "+05:30");
        assert_eq!(format_offset(-(9 * HOUR + 1800)), "-09:30");
        assert_eq!(format_offset(HOUR + 61), "+01:01:01");
    }

    #[test]
    fn an_impossible_offset_formats_in_utc_instead_of_failing() {
        let moment = instant("2030-10-27T19:00:00Z");
        assert_eq!(format_local(moment, i32::MAX), "2030-10-27T19:00:00+00:00");
        assert!(!format_local(Timestamp(i64::MAX), HOUR).is_empty());
    }

    #[test]
    fn errors_read_as_sentences() {
        let gap = resolve("Europe/Zurich", "2030-03-31T02:30", None).unwrap_err();
        assert_eq!(
            gap.to_string(),
            "2030-03-31T02:30:00 does not exist in Europe/Zurich: the clocks skip it when they \
             move forward. Choose another time."
        );
    }
}
