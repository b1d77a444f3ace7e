//! Text encodings of cells: PostgreSQL CSV, JSON (RFC 3339 or plain timestamps) and SQL
//! literals. One zero-sized dialect marker per spelling keeps each encoder fully
//! specialised; numbers, booleans and timestamps are spelled the same in all of them
//! (SPEC §7).

use crate::clock::{civil_from_days, write_sql_ts};
use crate::rows::Cells;

pub(crate) fn write_time(out: &mut Vec<u8>, secs: i64) {
    let s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    out.extend_from_slice(s.as_bytes());
}

/// A JSON string with the escapes RFC 8259 requires.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Writes `v` scaled by 10^scale as a fixed-point decimal, never `-0`, in one copy.
pub(crate) fn write_fixed(out: &mut Vec<u8>, v: f64, scale: u8) {
    let scaled = scaled(v, scale);
    let mut abs = scaled.unsigned_abs();
    let mut buf = [b'0'; 32];
    let mut i = buf.len();
    for _ in 0..scale {
        i -= 1;
        buf[i] = b'0' + (abs % 10) as u8;
        abs /= 10;
    }
    if scale > 0 {
        i -= 1;
        buf[i] = b'.';
    }
    loop {
        i -= 1;
        buf[i] = b'0' + (abs % 10) as u8;
        abs /= 10;
        if abs == 0 {
            break;
        }
    }
    if scaled < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}

const POW10: [f64; 9] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];

/// `v` × 10^scale rounded half away from zero.
pub fn scaled(v: f64, scale: u8) -> i64 {
    (v * POW10[usize::from(scale)]).round() as i64
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

pub(crate) fn write_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let s = format!("{y:04}-{m:02}-{d:02}");
    out.extend_from_slice(s.as_bytes());
}

thread_local! {
    /// The last timestamp spelled, and its text: consecutive rows mostly share one.
    static LAST_TS: std::cell::RefCell<(i64, Vec<u8>)> = const { std::cell::RefCell::new((i64::MIN, Vec::new())) };
}

/// `write_sql_ts` with a one-entry cache.
fn write_ts_cached(out: &mut Vec<u8>, t: i64) {
    LAST_TS.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != t {
            c.1.clear();
            write_sql_ts(&mut c.1, t);
            c.0 = t;
        }
        out.extend_from_slice(&c.1);
    });
}

/// A text dialect. Zero-sized markers keep each dialect's encoder fully specialised (the
/// CSV path is the hot one).
pub(crate) trait Dialect {
    /// Separator between cells.
    const SEP: &'static [u8];
    /// Spelling of NULL.
    const NULL: &'static [u8];
    /// Quote around dates and times (0: none).
    const QUOTE: u8;
    /// Cells are keyed by column name (a JSON object).
    const KEYED: bool = false;
    /// Timestamps as RFC 3339 (`…T…Z`).
    const RFC3339: bool = false;
    fn text(out: &mut Vec<u8>, s: &str);
}

/// PostgreSQL CSV: NULL is an empty field, text quoted only when needed.
pub(crate) struct CsvText;
/// SQL literals inside a parenthesised tuple.
pub(crate) struct SqlText;
/// A JSON object keyed by column name, timestamps RFC 3339 (operational data).
pub(crate) struct JsonText;
/// A JSON object with `YYYY-MM-DD HH:MM:SS` timestamps (master data).
pub(crate) struct JsonPlainText;

impl Dialect for CsvText {
    const SEP: &'static [u8] = b",";
    const NULL: &'static [u8] = b"";
    const QUOTE: u8 = 0;
    fn text(out: &mut Vec<u8>, s: &str) {
        let needs = s.is_empty()
            || s.starts_with(' ')
            || s.ends_with(' ')
            || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r' | b'\\'));
        if needs {
            write_quoted(out, s, b'"');
        } else {
            out.extend_from_slice(s.as_bytes());
        }
    }
}

impl Dialect for SqlText {
    const SEP: &'static [u8] = b", ";
    const NULL: &'static [u8] = b"NULL";
    const QUOTE: u8 = b'\'';
    fn text(out: &mut Vec<u8>, s: &str) {
        write_quoted(out, s, b'\'');
    }
}

impl Dialect for JsonText {
    const SEP: &'static [u8] = b",";
    const NULL: &'static [u8] = b"null";
    const QUOTE: u8 = b'"';
    const KEYED: bool = true;
    const RFC3339: bool = true;
    fn text(out: &mut Vec<u8>, s: &str) {
        write_json_string(out, s);
    }
}

impl Dialect for JsonPlainText {
    const SEP: &'static [u8] = b",";
    const NULL: &'static [u8] = b"null";
    const QUOTE: u8 = b'"';
    const KEYED: bool = true;
    fn text(out: &mut Vec<u8>, s: &str) {
        write_json_string(out, s);
    }
}

/// Encodes cells as text in dialect `D`: the cell separator, NULL, and how text and dates are
/// quoted differ; numbers and booleans are spelled the same everywhere.
pub(crate) struct Text<'a, D> {
    pub(crate) out: &'a mut Vec<u8>,
    cols: &'static [&'static str],
    i: usize,
    dialect: std::marker::PhantomData<D>,
}

impl<'a, D: Dialect> Text<'a, D> {
    pub(crate) fn new(out: &'a mut Vec<u8>, cols: &'static [&'static str]) -> Text<'a, D> {
        Text { out, cols, i: 0, dialect: std::marker::PhantomData }
    }

    /// Starts the next cell: separator, and the key in JSON.
    #[inline]
    fn cell(&mut self) {
        if self.i > 0 {
            self.out.extend_from_slice(D::SEP);
        }
        if D::KEYED {
            self.out.push(b'"');
            self.out.extend_from_slice(self.cols[self.i].as_bytes());
            self.out.extend_from_slice(b"\":");
        }
        self.i += 1;
    }

    #[inline]
    fn quote(&mut self) {
        if D::QUOTE != 0 {
            self.out.push(D::QUOTE);
        }
    }
}

impl<D: Dialect> Cells for Text<'_, D> {
    fn null(&mut self) {
        self.cell();
        self.out.extend_from_slice(D::NULL);
    }
    fn text(&mut self, s: &str) {
        self.cell();
        D::text(self.out, s);
    }
    fn int4(&mut self, v: i32) {
        self.cell();
        write_i64(self.out, i64::from(v));
    }
    fn int8(&mut self, v: i64) {
        self.cell();
        write_i64(self.out, v);
    }
    fn dec(&mut self, v: f64, scale: u8) {
        self.cell();
        write_fixed(self.out, v, scale);
    }
    fn boolean(&mut self, b: bool) {
        self.cell();
        self.out.extend_from_slice(if b { b"true" } else { b"false" });
    }
    fn ts(&mut self, t: i64) {
        self.cell();
        self.quote();
        let start = self.out.len();
        write_ts_cached(self.out, t);
        if D::RFC3339 {
            self.out[start + 10] = b'T';
            self.out.push(b'Z');
        }
        self.quote();
    }
    fn date(&mut self, days: i64) {
        self.cell();
        self.quote();
        write_date(self.out, days);
        self.quote();
    }
    fn time(&mut self, secs: i64) {
        self.cell();
        self.quote();
        write_time(self.out, secs);
        self.quote();
    }
}

/// `s` between `q` quotes, with `q` doubled inside.
pub(crate) fn write_quoted(out: &mut Vec<u8>, s: &str, q: u8) {
    out.push(q);
    for b in s.bytes() {
        if b == q {
            out.push(q);
        }
        out.push(b);
    }
    out.push(q);
}
