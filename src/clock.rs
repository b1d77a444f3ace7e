//! Time as the data model knows it: UTC instants as Unix seconds, the 10-second sensor grid
//! and the 60-second SCADA grid, civil dates and their text forms, durations, and each
//! factory's local time (IANA zone, daylight saving included) for the shift calendar. A leaf:
//! the engine, the encoders and the commands all read time here.

use anyhow::{anyhow, Result};
pub use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

/// Seconds between sensor readings.
pub const SENSOR_STEP: i64 = 10;
/// Seconds between SCADA records.
pub const SCADA_STEP: i64 = 60;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// The origin of deterministic row ids: 2020-01-01T00:00:00Z.
pub const ID_EPOCH: i64 = 1_577_836_800;

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Writes `YYYY-MM-DD HH:MM:SS`.
pub fn write_sql_ts(out: &mut Vec<u8>, ts: i64) {
    let (y, mo, d) = civil_from_days(ts.div_euclid(DAY));
    let s = ts.rem_euclid(DAY);
    let digits = |out: &mut Vec<u8>, v: i64, n: usize| {
        let mut buf = [b'0'; 4];
        let mut v = v;
        for i in (0..n).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&buf[..n]);
    };
    digits(out, i64::from(y), 4);
    out.push(b'-');
    digits(out, i64::from(mo), 2);
    out.push(b'-');
    digits(out, i64::from(d), 2);
    out.push(b' ');
    digits(out, s / 3600, 2);
    out.push(b':');
    digits(out, s / 60 % 60, 2);
    out.push(b':');
    digits(out, s % 60, 2);
}

/// Days since 1970-01-01 of a calendar date.
pub fn day_number(d: Date) -> i64 {
    days_from_civil(i32::from(d.year()), d.month() as u8, d.day() as u8)
}

/// Parses a date written exactly `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shaped.then(|| s.parse().ok()).flatten()
}

/// The date `n` days after `d` (before it when negative).
pub fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(jiff::Span::new().days(n)).expect("dates within the years 1 to 9999")
}

/// `YYYY-MM-DD` of the UTC day holding `ts`.
pub fn date_string(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC), for messages.
pub fn instant_string(ts: i64) -> String {
    let mut out = Vec::with_capacity(20);
    write_sql_ts(&mut out, ts);
    out[10] = b'T';
    out.push(b'Z');
    String::from_utf8(out).expect("ASCII digits")
}

/// `YYYYMMDD` of the UTC day holding `ts`, for partition and file names.
pub fn day_tag(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(DAY));
    format!("{y:04}{m:02}{d:02}")
}

/// Parses RFC 3339 (`2026-03-01T00:00:00Z`) or a plain date (`2026-03-01`, midnight UTC).
pub fn parse_instant(s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    let of = |d: jiff::civil::Date| days_from_civil(d.year() as i32, d.month() as u8, d.day() as u8) * DAY;
    // jiff's instants end on 9999-12-30 at 22:00 UTC; a UTC time after that is still a time.
    if let Some(dt) = s.strip_suffix(['Z', 'z']).and_then(|c| c.parse::<jiff::civil::DateTime>().ok()) {
        let t = dt.time();
        return Ok(of(dt.date()) + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second()));
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return Ok(of(d));
    }
    Err(anyhow!("`{s}` is not a time: use RFC 3339 (2026-03-01T00:00:00Z) or a date (2026-03-01)"))
}

/// Local civil time of a factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// Days since 1970-01-01 of the local date.
    pub day: i64,
    /// Seconds since local midnight.
    pub second: i64,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
}

/// A factory's time zone with a cache of UTC offsets per hour.
#[derive(Clone)]
pub struct Zone {
    tz: TimeZone,
}

impl Zone {
    pub fn new(name: &str) -> Result<Zone> {
        let tz = TimeZone::get(name).map_err(|e| anyhow!("unknown time zone `{name}`: {e}"))?;
        Ok(Zone { tz })
    }

    /// Offset from UTC in seconds at instant `ts`.
    pub fn offset(&self, ts: i64) -> i64 {
        let t = jiff::Timestamp::from_second(ts).expect("simulation instants are in range");
        i64::from(self.tz.to_offset(t).seconds())
    }

    /// Local civil time at `ts`.
    pub fn local(&self, ts: i64) -> Local {
        let l = ts + self.offset(ts);
        let day = l.div_euclid(DAY);
        Local { day, second: l.rem_euclid(DAY), weekday: (day + 3).rem_euclid(7) as u8 }
    }

    /// The UTC instant of local `day` at `second` after midnight (for times in a DST gap or
    /// overlap, the offset in force one hour before is used).
    pub fn utc_of(&self, day: i64, second: i64) -> i64 {
        let guess = day * DAY + second;
        let off = self.offset(guess - self.offset(guess));
        guess - off
    }
}

/// Parses a duration as people write one: `90s`, `15m` (or `15min`), `6h`, `2d`, or a sum
/// such as `1h30m`. A unit is required.
pub fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    let bad = || format!("`{text}` is not a duration such as 15m, 6h, 1h30m or 2d");
    let mut rest = text.trim();
    let mut total = 0i64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        let tail = &rest[digits..];
        let (unit, len) = [("min", 60), ("d", DAY), ("h", HOUR), ("m", 60), ("s", 1)]
            .iter()
            .find(|(u, _)| tail.starts_with(u))
            .map(|(u, secs)| (*secs, u.len()))
            .ok_or_else(bad)?;
        total += n * unit;
        rest = &tail[len..];
    }
    Ok(total)
}

/// A duration as [`parse_duration`] reads it: `1h30m`, `45s`.
pub fn duration_text(secs: i64) -> String {
    let (h, m, s) = (secs / HOUR, secs % HOUR / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 || out.is_empty() {
        out += &format!("{s}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("6h"), Ok(6 * 3600));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("90min"), Ok(5400));
        assert_eq!(parse_duration("2d"), Ok(2 * 86_400));
        for bad in ["6 hours", "h", "10", "1w", ""] {
            assert!(parse_duration(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(duration_text(5400), "1h30m");
        assert_eq!(duration_text(45), "45s");
    }

    #[test]
    fn civil_round_trip() {
        for z in [-1000i64, 0, 10_957, 20_000, 20_513, 30_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn timestamps_format_like_postgres() {
        let mut v = Vec::new();
        write_sql_ts(&mut v, parse_instant("2026-03-01T12:00:10Z").unwrap());
        assert_eq!(String::from_utf8(v).unwrap(), "2026-03-01 12:00:10");
        assert_eq!(parse_instant("2026-03-01").unwrap(), parse_instant("2026-03-01T00:00:00Z").unwrap());
        assert!(parse_instant("yesterday").is_err());
    }

    #[test]
    fn local_time_follows_daylight_saving() {
        let berlin = Zone::new("Europe/Berlin").unwrap();
        let winter = parse_instant("2026-01-15T12:00:00Z").unwrap();
        let summer = parse_instant("2026-07-15T12:00:00Z").unwrap();
        assert_eq!(berlin.offset(winter), 3600);
        assert_eq!(berlin.offset(summer), 7200);
        let l = berlin.local(summer);
        assert_eq!((l.second, l.weekday), (14 * 3600, 2), "14:00 on a Wednesday");
        assert_eq!(berlin.utc_of(l.day, 14 * 3600), summer);
        let kolkata = Zone::new("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset(winter), 19_800);
    }
}
