//! stdout: every record as one JSON line, for piping (`genims stream all --sink stdout | jq`).
//!
//! Rows arrive encoded as JSON Lines (the same JSON objects the Kafka topics carry) and are
//! written as they are. A closed pipe is fatal: nobody is listening any more.

use std::io::Write as _;

use anyhow::Result;
use bytes::Bytes;

use super::{Fatal, Live, Progress, Sink};
use crate::encode::Format;
use crate::rows::Table;

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
        Format::Jsonl
    }

    fn write(&mut self, _day: i64, _table: Table, bytes: Bytes, _rows: u64) -> Result<()> {
        self.out.write_all(&bytes).map_err(Self::io)
    }
}

impl Live for StdoutSink {
    fn commit(&mut self, _progress: &Progress) -> Result<()> {
        self.out.flush().map_err(Self::io)
    }

    fn close(&mut self) -> Result<()> {
        self.out.flush().map_err(Self::io)
    }
}
