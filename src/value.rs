//! Cell values and their text encodings.
//!
//! A row is a slice of [`Value`]s in a table's column order. This module owns how each
//! value is spelled in CSV (PostgreSQL `COPY ... CSV`), in SQL literals, and in JSON, so that
//! every output format agrees on timestamps, decimals, booleans and NULL (SPEC §7).

use std::fmt::Write as _;

use time::{Date, PrimitiveDateTime, Time};

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
    Timestamp(PrimitiveDateTime),
}

impl Value {
    /// A decimal rounded to `scale` digits.
    pub fn dec(x: f64, scale: u8) -> Value {
        Value::Dec(x, scale)
    }

    /// Text, or NULL when `None`.
    pub fn opt_text(s: Option<&str>) -> Value {
        s.map_or(Value::Null, |s| Value::Text(s.to_owned()))
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

/// Writes a decimal with `scale` digits, never `-0.00`.
pub fn write_decimal(out: &mut String, x: f64, scale: u8) {
    let start = out.len();
    let _ = write!(out, "{:.*}", usize::from(scale), x);
    if out[start..].starts_with('-') && out[start + 1..].bytes().all(|b| b == b'0' || b == b'.') {
        out.remove(start);
    }
}

pub fn write_date(out: &mut String, d: Date) {
    let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
}

pub fn write_time(out: &mut String, t: Time) {
    let _ = write!(out, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    if t.nanosecond() != 0 {
        let _ = write!(out, ".{:06}", t.microsecond());
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), with microseconds only when present.
pub fn write_timestamp(out: &mut String, ts: PrimitiveDateTime) {
    write_date(out, ts.date());
    out.push(' ');
    write_time(out, ts.time());
}

/// Writes the value as its plain text (no quoting), as PostgreSQL's text I/O would read it.
fn write_plain(out: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Dec(x, s) => write_decimal(out, *x, *s),
        Value::Text(s) => out.push_str(s),
        Value::Date(d) => write_date(out, *d),
        Value::Time(t) => write_time(out, *t),
        Value::Timestamp(ts) => write_timestamp(out, *ts),
    }
}

/// One CSV field: NULL is an empty unquoted field; an empty string is `""`; text holding a
/// delimiter, quote, newline or surrounding space is quoted with quotes doubled.
pub fn write_csv_field(out: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::Text(s) => {
            let needs_quotes = s.is_empty()
                || s.starts_with(' ')
                || s.ends_with(' ')
                || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r' | b'\\'));
            if needs_quotes {
                out.push('"');
                for c in s.chars() {
                    if c == '"' {
                        out.push('"');
                    }
                    out.push(c);
                }
                out.push('"');
            } else {
                out.push_str(s);
            }
        }
        other => write_plain(out, other),
    }
}

/// A CSV line (with trailing newline) for a row.
pub fn write_csv_row(out: &mut String, row: &[Value]) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_csv_field(out, v);
    }
    out.push('\n');
}

/// A SQL literal: strings single-quoted with quotes doubled (standard_conforming_strings on),
/// dates and times quoted, NULL as `NULL`.
pub fn write_sql_literal(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("NULL"),
        Value::Text(s) => {
            out.push('\'');
            for c in s.chars() {
                if c == '\'' {
                    out.push('\'');
                }
                out.push(c);
            }
            out.push('\'');
        }
        Value::Date(_) | Value::Time(_) | Value::Timestamp(_) => {
            out.push('\'');
            write_plain(out, v);
            out.push('\'');
        }
        other => write_plain(out, other),
    }
}

/// A JSON value. Decimals are JSON numbers with the column's scale; `timestamp_rfc3339`
/// chooses between RFC 3339 (`2026-03-01T12:00:10Z`, operational data) and the master data's
/// `YYYY-MM-DD HH:MM:SS`.
pub fn write_json_value(out: &mut String, v: &Value, timestamp_rfc3339: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Text(s) => write_json_string(out, s),
        Value::Date(_) | Value::Time(_) => {
            out.push('"');
            write_plain(out, v);
            out.push('"');
        }
        Value::Timestamp(ts) => {
            out.push('"');
            if timestamp_rfc3339 {
                write_date(out, ts.date());
                out.push('T');
                write_time(out, ts.time());
                out.push('Z');
            } else {
                write_timestamp(out, *ts);
            }
            out.push('"');
        }
        Value::Dec(x, _) if !x.is_finite() => out.push_str("null"),
        other => write_plain(out, other),
    }
}

/// A JSON string with the escapes RFC 8259 requires.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn csv(v: Value) -> String {
        let mut s = String::new();
        write_csv_field(&mut s, &v);
        s
    }

    #[test]
    fn csv_distinguishes_null_from_empty_text() {
        assert_eq!(csv(Value::Null), "");
        assert_eq!(csv(Value::Text(String::new())), "\"\"");
    }

    #[test]
    fn csv_quotes_what_it_must() {
        assert_eq!(csv("a,b".into()), "\"a,b\"");
        assert_eq!(csv("say \"hi\"".into()), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("plain".into()), "plain");
        assert_eq!(csv("line\nbreak".into()), "\"line\nbreak\"");
    }

    #[test]
    fn decimals_keep_scale_and_never_print_negative_zero() {
        assert_eq!(csv(Value::dec(15.5, 2)), "15.50");
        assert_eq!(csv(Value::dec(-0.0001, 2)), "0.00");
        assert_eq!(csv(Value::dec(-1.005, 1)), "-1.0");
    }

    #[test]
    fn sql_literals_double_quotes() {
        let mut s = String::new();
        write_sql_literal(&mut s, &"O'Brien".into());
        assert_eq!(s, "'O''Brien'");
        s.clear();
        write_sql_literal(&mut s, &Value::Date(date!(2026 - 03 - 01)));
        assert_eq!(s, "'2026-03-01'");
    }

    #[test]
    fn json_timestamps_in_both_forms() {
        let ts = Value::Timestamp(datetime!(2026-03-01 12:00:10));
        let mut a = String::new();
        write_json_value(&mut a, &ts, true);
        assert_eq!(a, "\"2026-03-01T12:00:10Z\"");
        let mut b = String::new();
        write_json_value(&mut b, &ts, false);
        assert_eq!(b, "\"2026-03-01 12:00:10\"");
    }

    #[test]
    fn json_strings_escape_controls() {
        let mut s = String::new();
        write_json_string(&mut s, "a\"b\\c\u{1}");
        assert_eq!(s, r#""a\"b\\c\u0001""#);
        let parsed: String = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed, "a\"b\\c\u{1}");
    }
}
