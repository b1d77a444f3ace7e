//! Tagged cells: the engine's rows as typed values in a compact byte form, for sinks that
//! build their own encoding from values rather than text (Parquet's column chunks).
//!
//! Each cell is one tag byte and its payload (little-endian): text as a `u32` length and
//! UTF-8 bytes, integers, timestamps, dates and times as `i64` (`i32` for `int4`), booleans
//! as one byte, decimals as the `f64` nearest to the value rounded to its scale — the
//! number CSV spells. A row is its cells in column order; [`Reader`] reads them back.

use super::text::scaled;
use crate::rows::Cells;

const NULL: u8 = 0;
const TEXT: u8 = 1;
const INT4: u8 = 2;
const INT8: u8 = 3;
const DEC: u8 = 4;
const BOOL: u8 = 5;
const TS: u8 = 6;
const DATE: u8 = 7;
const TIME: u8 = 8;

/// Appends tagged cells to `out`.
pub struct Tagged<'a> {
    pub out: &'a mut Vec<u8>,
}

impl Cells for Tagged<'_> {
    fn null(&mut self) {
        self.out.push(NULL);
    }
    fn text(&mut self, s: &str) {
        self.out.push(TEXT);
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }
    fn int4(&mut self, v: i32) {
        self.out.push(INT4);
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn int8(&mut self, v: i64) {
        self.tagged(INT8, v);
    }
    fn dec(&mut self, v: f64, scale: u8) {
        let rounded = scaled(v, scale) as f64 / 10f64.powi(i32::from(scale));
        self.out.push(DEC);
        self.out.extend_from_slice(&rounded.to_le_bytes());
    }
    fn boolean(&mut self, b: bool) {
        self.out.extend_from_slice(&[BOOL, u8::from(b)]);
    }
    fn ts(&mut self, t: i64) {
        self.tagged(TS, t);
    }
    fn date(&mut self, days: i64) {
        self.tagged(DATE, days);
    }
    fn time(&mut self, secs: i64) {
        self.tagged(TIME, secs);
    }
}

impl Tagged<'_> {
    fn tagged(&mut self, tag: u8, v: i64) {
        self.out.push(tag);
        self.out.extend_from_slice(&v.to_le_bytes());
    }
}

/// One cell read back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Text(&'a [u8]),
    Int4(i32),
    Int8(i64),
    /// The decimal's value, rounded to its scale.
    Dec(f64),
    Bool(bool),
    /// Unix seconds, UTC.
    Ts(i64),
    /// Days since 1970-01-01.
    Date(i64),
    /// Seconds since midnight.
    Time(i64),
}

/// Feeds one row's cells to `to` as the row's own `visit` did, so any other encoder can
/// follow; `scales` are its columns' decimal scales (a decimal cell holds only the value).
pub fn replay(row: &[Cell], scales: &[u8], to: &mut dyn Cells) {
    for (cell, &scale) in row.iter().zip(scales) {
        match *cell {
            Cell::Null => to.null(),
            Cell::Text(b) => to.text(std::str::from_utf8(b).expect("genims writes UTF-8")),
            Cell::Int4(v) => to.int4(v),
            Cell::Int8(v) => to.int8(v),
            Cell::Dec(v) => to.dec(v, scale),
            Cell::Bool(b) => to.boolean(b),
            Cell::Ts(t) => to.ts(t),
            Cell::Date(d) => to.date(d),
            Cell::Time(t) => to.time(t),
        }
    }
}

/// Reads the cells of a buffer [`Tagged`] wrote, in order.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        head
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Cell<'a>;

    /// The next cell. The buffer is this process's own encoding: a malformed one is a bug,
    /// and panics.
    fn next(&mut self) -> Option<Cell<'a>> {
        let (&tag, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(match tag {
            NULL => Cell::Null,
            TEXT => {
                let n = u32::from_le_bytes(self.take(4).try_into().expect("4 bytes")) as usize;
                Cell::Text(self.take(n))
            }
            INT4 => Cell::Int4(i32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))),
            INT8 => Cell::Int8(self.i64()),
            DEC => Cell::Dec(f64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))),
            BOOL => Cell::Bool(self.take(1)[0] != 0),
            TS => Cell::Ts(self.i64()),
            DATE => Cell::Date(self.i64()),
            TIME => Cell::Time(self.i64()),
            t => panic!("malformed tagged cells: tag {t}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_reads_back_as_written() {
        let mut out = Vec::new();
        let mut t = Tagged { out: &mut out };
        t.int8(-7);
        t.text("Grüße, \"x\"");
        t.null();
        t.int4(42);
        t.dec(12.34567, 2);
        t.dec(-0.00001, 4);
        t.boolean(true);
        t.ts(1_772_366_410);
        t.date(20_513);
        t.time(79_200);
        t.text("");
        let cells: Vec<Cell> = Reader::new(&out).collect();
        assert_eq!(
            cells,
            [
                Cell::Int8(-7),
                Cell::Text("Grüße, \"x\"".as_bytes()),
                Cell::Null,
                Cell::Int4(42),
                Cell::Dec(12.35),
                Cell::Dec(0.0),
                Cell::Bool(true),
                Cell::Ts(1_772_366_410),
                Cell::Date(20_513),
                Cell::Time(79_200),
                Cell::Text(b""),
            ]
        );
        let scales = [0, 0, 0, 0, 2, 4, 0, 0, 0, 0, 0];
        let mut again = Vec::new();
        replay(&cells, &scales, &mut Tagged { out: &mut again });
        assert_eq!(again, out, "replayed cells encode as the originals");
    }
}
