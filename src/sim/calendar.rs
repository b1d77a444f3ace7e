//! The shift calendar of a factory, in its local time: which shift is on at an instant,
//! when it started, and when its break is.
//!
//! Weekdays run shift_a 06–14, shift_b 14–22 and shift_c 22–06 (Monday to Friday starts);
//! weekends run weekend_a 06–18 and weekend_b 18–06 (Saturday and Sunday starts), so every
//! instant belongs to exactly one production shift. The `general` shift (09–18) is office
//! hours and never drives machines.

use crate::clock::{Zone, HOUR};

/// Shift codes in master-data order: the shift's index within its factory's six shifts.
pub const SHIFT_CODES: [&str; 6] = ["shift_a", "shift_b", "shift_c", "weekend_a", "weekend_b", "general"];

/// One shift instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftSpan {
    /// Index into [`SHIFT_CODES`].
    pub code: usize,
    /// UTC start and end.
    pub start: i64,
    pub end: i64,
    /// Planned break length in seconds.
    pub break_secs: i64,
}

/// The production shift in force at UTC instant `ts` in `zone`.
pub fn shift_at(zone: &Zone, ts: i64) -> ShiftSpan {
    let l = zone.local(ts);
    let weekend = |wd: u8| wd >= 5;
    let h = l.second / HOUR;
    // (code, local start day, local start hour, length in hours)
    let (code, day, hour, len) = if !weekend(l.weekday) {
        match h {
            6..=13 => (0, l.day, 6, 8),
            14..=21 => (1, l.day, 14, 8),
            22..=23 => (2, l.day, 22, 8),
            _ => {
                let prev = (l.weekday + 6) % 7;
                if weekend(prev) {
                    (4, l.day - 1, 18, 12)
                } else {
                    (2, l.day - 1, 22, 8)
                }
            }
        }
    } else {
        match h {
            6..=17 => (3, l.day, 6, 12),
            18..=23 => (4, l.day, 18, 12),
            _ => {
                let prev = (l.weekday + 6) % 7;
                if weekend(prev) {
                    (4, l.day - 1, 18, 12)
                } else {
                    (2, l.day - 1, 22, 8)
                }
            }
        }
    };
    let start = zone.utc_of(day, hour * HOUR);
    let end = zone.utc_of(day, (hour + len) * HOUR);
    ShiftSpan { code, start, end, break_secs: if len == 8 { 1800 } else { 3600 } }
}

/// The shift that follows `s`.
pub fn next_shift(zone: &Zone, s: &ShiftSpan) -> ShiftSpan {
    shift_at(zone, s.end)
}

/// The UTC start of the local week (Monday 06:00) holding `ts`: production runs are re-planned
/// every week from this instant.
pub fn week_start(zone: &Zone, ts: i64) -> i64 {
    let l = zone.local(ts);
    let mut day = l.day - i64::from(l.weekday);
    if l.weekday == 0 && l.second < 6 * HOUR {
        day -= 7;
    }
    zone.utc_of(day, 6 * HOUR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{parse_instant, DAY};

    #[test]
    fn every_instant_has_one_shift_and_shifts_tile_the_week() {
        let zone = Zone::new("America/Detroit").unwrap();
        let mut t = parse_instant("2026-03-02T00:00:00Z").unwrap();
        let end = t + 21 * DAY;
        let mut s = shift_at(&zone, t);
        while t < end {
            assert!(s.start <= t && t < s.end, "{t} outside {s:?}");
            let n = next_shift(&zone, &s);
            assert_eq!(n.start, s.end, "shifts must tile time without gaps");
            t = s.end;
            s = n;
        }
    }

    #[test]
    fn weekday_and_weekend_shifts_in_local_time() {
        let tokyo = Zone::new("Asia/Tokyo").unwrap();
        // Wednesday 2026-03-04 10:00 JST = 01:00 UTC.
        let s = shift_at(&tokyo, parse_instant("2026-03-04T01:00:00Z").unwrap());
        assert_eq!((SHIFT_CODES[s.code], s.start), ("shift_a", parse_instant("2026-03-03T21:00:00Z").unwrap()));
        // Saturday 2026-03-07 20:00 JST.
        let s = shift_at(&tokyo, parse_instant("2026-03-07T11:00:00Z").unwrap());
        assert_eq!((SHIFT_CODES[s.code], s.end - s.start), ("weekend_b", 12 * HOUR));
        // Saturday 02:00 JST belongs to Friday's shift_c.
        let s = shift_at(&tokyo, parse_instant("2026-03-06T17:00:00Z").unwrap());
        assert_eq!(SHIFT_CODES[s.code], "shift_c");
    }

    #[test]
    fn weeks_start_monday_six_local() {
        let berlin = Zone::new("Europe/Berlin").unwrap();
        let w = week_start(&berlin, parse_instant("2026-03-05T12:00:00Z").unwrap());
        assert_eq!(w, parse_instant("2026-03-02T05:00:00Z").unwrap());
        let early_monday = parse_instant("2026-03-09T03:00:00Z").unwrap();
        assert_eq!(week_start(&berlin, early_monday), w, "Monday 04:00 still belongs to the previous week");
    }
}
