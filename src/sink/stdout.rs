//! stdout: every record as one JSON line, for piping (`genims stream all --sink stdout | jq`).
//!
//! Rows arrive encoded as JSON Lines (the same JSON objects the Kafka topics carry) and are
//! written as they are. A closed pipe is fatal: nobody is listening any more.

use std::io::Write as _;

use anyhow::{anyhow, Result};
use bytes::Bytes;

use super::{Fatal, Live, Progress, Sink};
use crate::encode::Format;
use crate::rows::Table;

/// Holds a batch's parts until its commit writes them, in one blocking call off the
/// runtime's threads (a slow reader of the pipe must not stall other tasks).
#[derive(Default)]
pub struct StdoutSink {
    pending: Vec<Bytes>,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink::default()
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn format(&self) -> Format {
        Format::Jsonl
    }
}

#[async_trait::async_trait]
impl Live for StdoutSink {
    async fn write(&mut self, _day: i64, _table: Table, bytes: Bytes, _rows: u64) -> Result<()> {
        if !bytes.is_empty() {
            self.pending.push(bytes);
        }
        Ok(())
    }

    /// Nobody reads a closed pipe again: every failure of standard output is final.
    fn is_permanent(&self, _e: &anyhow::Error) -> bool {
        true
    }

    async fn commit(&mut self, _progress: &Progress) -> Result<()> {
        let parts = std::mem::take(&mut self.pending);
        let written = tokio::task::spawn_blocking(move || {
            let mut out = std::io::stdout().lock();
            parts.iter().try_for_each(|p| out.write_all(p)).and_then(|()| out.flush())
        })
        .await
        .map_err(|e| anyhow!("the stdout writer failed: {e}"))?;
        written.map_err(|e| Fatal(format!("cannot write to stdout: {e}")).into())
    }

    async fn reset(&mut self) -> Result<()> {
        self.pending.clear();
        Ok(())
    }
}
