//! stdout: every record as one JSON line, for piping (`genims stream all --sink stdout | jq`).
//!
//! Rows arrive as Kafka frames (the same JSON values the topics carry); the sink writes each
//! value followed by a newline. A closed pipe is fatal: nobody is listening any more.

use std::io::Write as _;

use anyhow::Result;
use bytes::Bytes;

use super::{Fatal, Progress, Sink};
use crate::rows::{next_frame, Format, Table};

pub struct StdoutSink {
    out: std::io::BufWriter<std::io::Stdout>,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink { out: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()) }
    }

    fn io(e: std::io::Error) -> anyhow::Error {
        Fatal(format!("cannot write to stdout: {e}")).into()
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn format(&self) -> Format {
        Format::Kafka
    }

    fn write(&mut self, _day: i64, _table: Table, bytes: Bytes, _rows: u64) -> Result<()> {
        let mut rest = &bytes[..];
        while let Some((_, _, value, next)) = next_frame(rest) {
            self.out.write_all(value).map_err(Self::io)?;
            self.out.write_all(b"\n").map_err(Self::io)?;
            rest = next;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(Self::io)
    }

    fn commit(&mut self, _progress: &Progress) -> Result<()> {
        self.finish()
    }
}
