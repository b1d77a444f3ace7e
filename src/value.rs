//! Cells of the master tables: a small dynamic value type.
//!
//! Master rows are built as `Vec<Value>` (they are few and varied); each value hands itself
//! to the same [`Cells`] encoders the operational rows use, so every output format spells
//! timestamps, decimals, booleans and NULL alike (SPEC §7).

use crate::clock::{day_number, Date, DateTime, Time, DAY};
use crate::rows::Cells;

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// A decimal number written with exactly `scale` digits after the point.
    Dec(f64, u8),
    Text(String),
    Date(Date),
    Time(Time),
    Timestamp(DateTime),
}

impl Value {
    /// A decimal with `scale` digits.
    pub fn dec(x: f64, scale: u8) -> Value {
        Value::Dec(x, scale)
    }

    /// Text, or NULL when `None`.
    pub fn opt_text(s: Option<&str>) -> Value {
        s.map_or(Value::Null, |s| Value::Text(s.to_owned()))
    }

    /// Hands the value to an encoder.
    pub fn visit(&self, c: &mut dyn Cells) {
        match self {
            Value::Null => c.null(),
            Value::Bool(b) => c.boolean(*b),
            Value::Int(i) => c.int8(*i),
            Value::Dec(x, s) => c.dec(*x, *s),
            Value::Text(s) => c.text(s),
            Value::Date(d) => c.date(day_number(*d)),
            Value::Time(t) => c.time(i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())),
            Value::Timestamp(ts) => {
                let t = ts.time();
                c.ts(day_number(ts.date()) * DAY
                    + i64::from(t.hour()) * 3600
                    + i64::from(t.minute()) * 60
                    + i64::from(t.second()))
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(x: i64) -> Value {
        Value::Int(x)
    }
}
impl From<u32> for Value {
    fn from(x: u32) -> Value {
        Value::Int(i64::from(x))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<Date> for Value {
    fn from(d: Date) -> Value {
        Value::Date(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{encode_fields, Format};

    fn enc(fmt: Format, v: Value, rfc3339: bool) -> String {
        let mut out = Vec::new();
        encode_fields(fmt, &["x"], rfc3339, &mut out, |c| v.visit(c));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_distinguishes_null_from_empty_text_and_quotes_what_it_must() {
        assert_eq!(enc(Format::Csv, Value::Null, false), "");
        assert_eq!(enc(Format::Csv, Value::Text(String::new()), false), "\"\"");
        assert_eq!(enc(Format::Csv, "a,b".into(), false), "\"a,b\"");
        assert_eq!(enc(Format::Csv, "say \"hi\"".into(), false), "\"say \"\"hi\"\"\"");
        assert_eq!(enc(Format::Csv, "line\nbreak".into(), false), "\"line\nbreak\"");
    }

    #[test]
    fn decimals_keep_scale_and_never_print_negative_zero() {
        assert_eq!(enc(Format::Csv, Value::dec(15.5, 2), false), "15.50");
        assert_eq!(enc(Format::Csv, Value::dec(-0.0001, 2), false), "0.00");
        assert_eq!(enc(Format::Csv, Value::dec(-1.25, 1), false), "-1.3");
    }

    #[test]
    fn sql_literals_quote_strings_dates_and_times() {
        assert_eq!(enc(Format::Sql, "O'Brien".into(), false), "('O''Brien')");
        assert_eq!(enc(Format::Sql, Value::Date(jiff::civil::date(2026, 3, 1)), false), "('2026-03-01')");
        assert_eq!(enc(Format::Sql, Value::Time(jiff::civil::time(22, 0, 0, 0)), false), "('22:00:00')");
    }

    #[test]
    fn json_timestamps_in_both_forms() {
        let ts = Value::Timestamp(jiff::civil::date(2026, 3, 1).at(12, 0, 10, 0));
        assert_eq!(enc(Format::Jsonl, ts.clone(), true), r#"{"x":"2026-03-01T12:00:10Z"}"#);
        assert_eq!(enc(Format::Jsonl, ts, false), r#"{"x":"2026-03-01 12:00:10"}"#);
        let s = enc(Format::Jsonl, "a\"b\\c\u{1}ü".into(), false);
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed["x"], "a\"b\\c\u{1}ü");
    }
}
