//! Encoders: the receivers that turn the engine's typed rows into bytes a sink delivers.
//!
//! Each sink names the [`Format`] it takes (files: CSV, JSON Lines or SQL; PostgreSQL:
//! binary COPY; Kafka: keyed JSON records; stdout: JSON Lines; Parquet and MQTT: typed cells
//! they turn into column chunks and messages). Backfill receives the
//! engine's rows in an [`Encoded`] (one buffer per table); the stream encodes each row with
//! [`encode`] for every format its sinks take, straight into the tick it belongs to
//! (`stream::generate`). Text spellings live in [`text`], PostgreSQL's binary layout in
//! [`pgbinary`], typed cells in [`cells`].

pub mod cells;
pub mod pgbinary;
pub mod text;

use crate::rows::{Cells, Emit, Row, Table};
use pgbinary::Bin;
use text::{CsvText, JsonPlainText, JsonText, SqlText, Text};

pub use pgbinary::{PG_COPY_HEADER, PG_COPY_TRAILER};
pub use text::write_json_string;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Sql,
    PgBinary,
    /// Kafka frames: per row `u32` key length, key, `i64` timestamp (ms), `u32` value length,
    /// and the row as a JSON object.
    Kafka,
    /// Typed cells ([`cells`]), which the Parquet and MQTT sinks turn into their own
    /// encodings (column chunks; JSON and Sparkplug B payloads).
    Cells,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Sql => "sql",
            Format::PgBinary => "bin",
            Format::Kafka => "kafka",
            Format::Cells => "cells",
        }
    }
}

/// Appends one encoded row to `out`.
pub fn encode<R: Row>(fmt: Format, row: &R, out: &mut Vec<u8>) {
    match fmt {
        Format::Csv => {
            let mut c = Text::<CsvText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.push(b'\n');
        }
        Format::Jsonl => {
            out.push(b'{');
            let mut c = Text::<JsonText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.extend_from_slice(b"}\n");
        }
        Format::Sql => {
            out.push(b'(');
            let mut c = Text::<SqlText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.push(b')');
        }
        Format::PgBinary => {
            out.extend_from_slice(&(R::TABLE.columns().len() as i16).to_be_bytes());
            row.visit(&mut Bin { out });
        }
        Format::Kafka => {
            let key = row.key().as_bytes();
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(&(row.time() * 1000).to_le_bytes());
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            out.push(b'{');
            let mut c = Text::<JsonText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.push(b'}');
            let len = (out.len() - len_at - 4) as u32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        Format::Cells => row.visit(&mut cells::Tagged { out }),
    }
}

/// A decoded Kafka frame and the bytes after it: (key, timestamp ms, JSON value, rest).
pub type Frame<'a> = (&'a [u8], i64, &'a [u8], &'a [u8]);

/// One Kafka frame decoded: (key, timestamp ms, JSON value).
pub fn next_frame(buf: &[u8]) -> Option<Frame<'_>> {
    let u32_at = |o: usize| buf.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let klen = u32_at(0)?;
    let key = buf.get(4..4 + klen)?;
    let ts = i64::from_le_bytes(buf.get(4 + klen..12 + klen)?.try_into().ok()?);
    let vlen = u32_at(12 + klen)?;
    let value = buf.get(16 + klen..16 + klen + vlen)?;
    Some((key, ts, value, &buf[16 + klen + vlen..]))
}

/// Encodes cells given by `visit` for `columns` without a trailing newline: a CSV line, a
/// JSON object (timestamps RFC 3339 or `YYYY-MM-DD HH:MM:SS`), or a parenthesised SQL tuple.
/// The slower, dynamically dispatched path for small tables such as the master data.
pub fn encode_fields(
    fmt: Format,
    columns: &'static [&'static str],
    rfc3339: bool,
    out: &mut Vec<u8>,
    visit: impl FnOnce(&mut dyn Cells),
) {
    match fmt {
        Format::Csv => visit(&mut Text::<CsvText>::new(out, columns)),
        Format::Jsonl => {
            out.push(b'{');
            if rfc3339 {
                visit(&mut Text::<JsonText>::new(out, columns));
            } else {
                visit(&mut Text::<JsonPlainText>::new(out, columns));
            }
            out.push(b'}');
        }
        Format::Sql => {
            out.push(b'(');
            let mut c = Text::<SqlText>::new(out, columns);
            visit(&mut c);
            c.out.push(b')');
        }
        Format::PgBinary => {
            out.extend_from_slice(&(columns.len() as i16).to_be_bytes());
            visit(&mut Bin { out });
        }
        Format::Kafka => unreachable!("master data is not published to Kafka"),
        Format::Cells => visit(&mut cells::Tagged { out }),
    }
}

/// Rows per INSERT statement in SQL output.
const SQL_BATCH: u64 = 1000;

/// Rows encoded in one format, one buffer per table: what a sink writes.
pub struct Encoded {
    pub fmt: Format,
    pub bufs: [Vec<u8>; Table::COUNT],
    pub rows: [u64; Table::COUNT],
    /// Fault labels by pattern index, for the run summary.
    pub labels_by_pattern: Vec<(usize, u64)>,
}

impl Encoded {
    pub fn new(fmt: Format) -> Encoded {
        Encoded { fmt, bufs: Default::default(), rows: [0; Table::COUNT], labels_by_pattern: Vec::new() }
    }

    /// Reserves room for `rows` more rows of the two large tables (the engine announces them).
    fn reserve(&mut self, table: Table, rows: usize) {
        let per_row = match table {
            Table::SensorData => 190,
            _ => 260,
        };
        self.bufs[table.index()].reserve(rows * per_row);
    }

    /// Closes open SQL statements so each buffer is complete on its own.
    pub fn finish(&mut self) {
        if self.fmt == Format::Sql {
            for (buf, &n) in self.bufs.iter_mut().zip(&self.rows) {
                if n > 0 {
                    buf.extend_from_slice(b";\n");
                }
            }
        }
    }
}

impl Emit for Encoded {
    #[inline]
    fn emit<R: Row>(&mut self, row: &R, _at: i64) {
        let t = R::TABLE.index();
        if self.fmt == Format::Sql {
            let buf = &mut self.bufs[t];
            if self.rows[t] % SQL_BATCH == 0 {
                if self.rows[t] > 0 {
                    buf.extend_from_slice(b";\n");
                }
                buf.extend_from_slice(b"INSERT INTO ");
                buf.extend_from_slice(R::TABLE.name().as_bytes());
                buf.extend_from_slice(b" (");
                buf.extend_from_slice(R::TABLE.columns().join(", ").as_bytes());
                buf.extend_from_slice(b") VALUES\n");
            } else {
                buf.extend_from_slice(b",\n");
            }
        }
        encode(self.fmt, row, &mut self.bufs[t]);
        self.rows[t] += 1;
    }

    fn labelled(&mut self, pattern: usize) {
        match self.labels_by_pattern.iter_mut().find(|e| e.0 == pattern) {
            Some(e) => e.1 += 1,
            None => self.labels_by_pattern.push((pattern, 1)),
        }
    }

    fn expect(&mut self, table: Table, rows: usize) {
        self.reserve(table, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample;
    impl Row for Sample {
        const TABLE: Table = Table::FaultLabels;
        fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
            c.int8(7);
            c.text("MCH-000001");
            c.null();
            c.text("O'Brien, \"x\"");
            c.dec(-0.00001, 4);
            c.dec(12.3456, 2);
            c.boolean(true);
            c.ts(1_772_366_410);
            c.date(20_513);
        }
        fn key(&self) -> &str {
            "MCH-000001"
        }
        fn time(&self) -> i64 {
            1_772_366_410
        }
    }

    #[test]
    fn kafka_frames_carry_key_timestamp_and_json() {
        let mut v = Vec::new();
        encode(Format::Kafka, &Sample, &mut v);
        encode(Format::Kafka, &Sample, &mut v);
        let (key, ts, value, rest) = next_frame(&v).unwrap();
        assert_eq!((key, ts), (&b"MCH-000001"[..], 1_772_366_410_000));
        let json: serde_json::Value = serde_json::from_slice(value).unwrap();
        assert_eq!(json["episode_id"], 7);
        let (_, _, _, rest) = next_frame(rest).unwrap();
        assert!(rest.is_empty() && next_frame(rest).is_none());
    }

    fn enc(f: Format) -> String {
        let mut v = Vec::new();
        encode(f, &Sample, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn csv_and_sql_spell_values_alike() {
        assert_eq!(
            enc(Format::Csv),
            "7,MCH-000001,,\"O'Brien, \"\"x\"\"\",0.0000,12.35,true,2026-03-01 12:00:10,2026-03-01\n"
        );
        assert_eq!(
            enc(Format::Sql),
            "(7, 'MCH-000001', NULL, 'O''Brien, \"x\"', 0.0000, 12.35, true, '2026-03-01 12:00:10', '2026-03-01')"
        );
    }

    #[test]
    fn json_lines_use_column_names_and_rfc3339() {
        let line = enc(Format::Jsonl);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["episode_id"], 7);
        assert_eq!(v["line_id"], serde_json::Value::Null);
        assert_eq!(v["fault_code"], 12.35);
        assert_eq!(v["variant"], "2026-03-01T12:00:10Z", "timestamps in RFC 3339");
        assert_eq!(v["onset_time"], "2026-03-01", "dates as YYYY-MM-DD");
    }
}
