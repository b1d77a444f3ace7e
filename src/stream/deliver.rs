//! Delivery: one task per sink, on the daemon's runtime, takes batches from the sink's
//! queue, coalesces them up to a size (or a linger time), writes and commits them with the
//! stream's progress, and on a failure that may pass retries the same batch with
//! exponential backoff after reconnecting. A failure that cannot pass stops the stream.
//!
//! Shutdown is two cancellation tokens in [`Control`]: `stop` ends generation (a signal,
//! a fatal error, the window's end), and `give_up` — fired when a signal's grace period
//! runs out — cancels every delivery task at its next await point: an uncommitted batch is
//! dropped with its transaction, and the next run regenerates it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use super::buffer::{Batch, Buffer};
use super::metrics::SinkMetrics;
use crate::clock::DAY;
use crate::sink::{Live, Progress};

/// The first wait after a failure; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The stream's stop signals, shared by the generator and release threads and the
/// delivery tasks.
pub struct Control {
    /// Generation stops: on SIGTERM/SIGINT, a fatal error, or the end of the window.
    stop: CancellationToken,
    /// Undelivered batches are given up: the grace period after a signal or error is over.
    give_up: CancellationToken,
    /// When `give_up` fires, if a grace period was set.
    deadline: Mutex<Option<Instant>>,
    failure: Mutex<Option<String>>,
    /// The daemon's runtime, for the grace timer and for threads that wait on `stop`.
    rt: tokio::runtime::Handle,
}

impl Control {
    pub fn new(rt: tokio::runtime::Handle) -> Control {
        Control {
            stop: CancellationToken::new(),
            give_up: CancellationToken::new(),
            deadline: Mutex::new(None),
            failure: Mutex::new(None),
            rt,
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Stops generating; delivery goes on with what is queued until `grace` has passed
    /// (`None`: until everything is delivered). The earliest grace deadline holds.
    pub fn stop(&self, grace: Option<Duration>) {
        if let Some(g) = grace {
            let at = Instant::now() + g;
            let mut d = self.deadline.lock().expect("no poisoned lock");
            if d.is_none_or(|old| at < old) {
                *d = Some(at);
                let give_up = self.give_up.clone();
                self.rt.spawn(async move {
                    tokio::time::sleep_until(at.into()).await;
                    give_up.cancel();
                });
            }
        }
        self.stop.cancel();
    }

    /// Stops with an error the process exits with.
    pub fn fail(&self, msg: String, grace: Duration) {
        self.failure.lock().expect("no poisoned lock").get_or_insert(msg);
        self.stop(Some(grace));
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("no poisoned lock").clone()
    }

    /// When undelivered batches will be given up, if the stream stops with a grace period.
    pub fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().expect("no poisoned lock")
    }

    /// Completes when undelivered batches are given up.
    pub async fn given_up(&self) {
        self.give_up.cancelled().await
    }

    /// Blocks the calling thread (never a runtime thread) for `d`, or until the stream
    /// stops.
    pub fn sleep(&self, d: Duration) {
        self.rt.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(d) => {}
                () = self.stop.cancelled() => {}
            }
        })
    }
}

/// How a worker batches.
#[derive(Debug, Clone, Copy)]
pub struct Flush {
    /// Rows per commit at most (a batch of one tick may exceed it).
    pub max_rows: u64,
    /// How long to wait for more ticks before committing a small batch.
    pub linger: Duration,
    /// How long a stopping worker keeps trying.
    pub grace: Duration,
}

/// Runs one sink until its queue is closed and drained, or the stream gives up.
pub async fn run(
    mut sink: Box<dyn Live>,
    queue: std::sync::Arc<Buffer>,
    stream: String,
    flush: Flush,
    stats: SinkMetrics,
    ctl: std::sync::Arc<Control>,
) {
    let name = sink.name();
    let drained = tokio::select! {
        r = drain(sink.as_mut(), &queue, &stream, flush, &stats) => Some(r),
        () = ctl.given_up() => None,
    };
    let result = match drained {
        Some(Ok(())) => tokio::select! {
            r = sink.close() => r,
            () = ctl.given_up() => Ok(()),
        },
        Some(Err(e)) => Err(e),
        None => Ok(()),
    };
    if let Err(e) = result {
        ctl.fail(format!("{name}: {e:#}"), flush.grace);
    }
}

/// Delivers batches until the queue is closed and empty.
async fn drain(sink: &mut dyn Live, queue: &Buffer, stream: &str, flush: Flush, stats: &SinkMetrics) -> Result<()> {
    let whole = sink.whole_ticks();
    while let Some(mut batch) = queue.pop(None).await? {
        // Flush on size, or once the first batch has lingered long enough; a sink that
        // commits rows with its progress takes a tick's parts up to its last.
        let until = Instant::now() + flush.linger;
        while batch.rows() < flush.max_rows || (whole && batch.open) {
            let wait = (!(whole && batch.open)).then(|| until.saturating_duration_since(Instant::now()));
            match queue.pop(wait).await? {
                Some(more) => batch.absorb(more),
                None => break,
            }
        }
        if whole && batch.open {
            // The stream stopped inside a tick: committing its first parts would make a
            // restart, which regenerates the whole tick, write them again.
            tracing::debug!(sink = sink.name(), through = batch.through, "a tick's first parts left for the restart");
            return Ok(());
        }
        stats.taken(batch.rows());
        deliver(sink, &batch, stream, queue, stats).await?;
    }
    Ok(())
}

/// Writes and commits one batch, retrying while the failure may pass (until the stream
/// gives up on it by cancelling the task: its progress stays unrecorded, so a restart
/// regenerates it).
async fn deliver(sink: &mut dyn Live, batch: &Batch, stream: &str, queue: &Buffer, stats: &SinkMetrics) -> Result<()> {
    let progress = Progress { stream: stream.to_owned(), through: batch.through, counters: batch.counters.clone() };
    let day = batch.first - batch.first.rem_euclid(DAY);
    let mut backoff = BACKOFF_START;
    let mut failures = 0u32;
    loop {
        let depth = queue.depth();
        sink.backlog(failures > 0 || depth.mem_rows + depth.spooled_rows > 0);
        match write_and_commit(sink, batch, day, &progress).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(sink = sink.name(), failures, "delivering again");
                }
                stats.delivered(batch.tables.iter().map(|(t, _, n)| (*t, *n)), batch.through);
                queue.set_outage(false);
                return Ok(());
            }
            Err(e) if !sink.is_permanent(&e) => {
                failures += 1;
                stats.failed();
                queue.set_outage(true);
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(
                        sink = sink.name(),
                        failures,
                        retry_in_ms = backoff.as_millis() as u64,
                        "delivery failed, will retry: {e:#}"
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                if let Err(e) = sink.reset().await {
                    if sink.is_permanent(&e) {
                        return Err(e);
                    }
                    tracing::debug!(sink = sink.name(), "reconnect failed: {e:#}");
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt: every part of the batch, then the commit with its progress.
async fn write_and_commit(sink: &mut dyn Live, batch: &Batch, day: i64, progress: &Progress) -> Result<()> {
    for (table, parts, rows) in &batch.tables {
        for (i, p) in parts.iter().enumerate() {
            sink.write(day, *table, p.clone(), if i == 0 { *rows } else { 0 }).await?;
        }
    }
    sink.commit(progress).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Format;
    use crate::rows::Table;
    use crate::stream::buffer::Offer;
    use crate::stream::metrics::Metrics;
    use bytes::Bytes;
    use std::sync::Arc;

    /// A sink that records what it is given: per commit, the rows written since the last
    /// and the progress.
    struct Recording {
        whole: bool,
        written: Vec<u8>,
        commits: Vec<(Vec<u8>, i64)>,
    }

    impl crate::sink::Sink for Recording {
        fn name(&self) -> &'static str {
            "recording"
        }
        fn format(&self) -> Format {
            Format::Jsonl
        }
    }

    #[async_trait::async_trait]
    impl Live for Recording {
        async fn write(&mut self, _day: i64, _table: Table, bytes: Bytes, _rows: u64) -> Result<()> {
            self.written.extend_from_slice(&bytes);
            Ok(())
        }
        async fn commit(&mut self, progress: &Progress) -> Result<()> {
            self.commits.push((std::mem::take(&mut self.written), progress.through));
            Ok(())
        }
        fn whole_ticks(&self) -> bool {
            self.whole
        }
        fn is_permanent(&self, _e: &anyhow::Error) -> bool {
            true
        }
    }

    /// Part `k` of the tick at `first` (10 s), `of` parts: one row, the byte `tag`.
    fn part(first: i64, k: usize, of: usize, tag: u8) -> Batch {
        let open = k + 1 < of;
        Batch {
            first,
            through: if open { first } else { first + 10 },
            open,
            tables: vec![(Table::SensorData, vec![Bytes::from(vec![tag])], 1)],
            counters: None,
        }
    }

    /// Parts that arrive further apart than the linger time: a sink committing rows with
    /// its progress (PostgreSQL) commits each tick whole, and leaves a tick the stream
    /// stopped inside to the restart; another sink commits each part as it comes, its
    /// progress at the tick's start until the last.
    #[test]
    fn a_tick_in_parts_is_committed_whole_where_rows_and_progress_commit_together() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for whole in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let queue = Arc::new(Buffer::new(1 << 20, 0, &dir.path().join("spool")).unwrap());
            let flush = Flush { max_rows: 1, linger: Duration::from_millis(5), grace: Duration::from_secs(1) };
            let stats = Metrics::new(Vec::new()).sink("recording");
            let mut sink = Recording { whole, written: Vec::new(), commits: Vec::new() };
            let feeder = {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || {
                    // Two ticks of three parts, then the first part of a third.
                    for (first, k, tag) in
                        [(0, 0, 1), (0, 1, 2), (0, 2, 3), (10, 0, 4), (10, 1, 5), (10, 2, 6), (20, 0, 7)]
                    {
                        std::thread::sleep(Duration::from_millis(20));
                        assert!(matches!(queue.offer(part(first, k, 3, tag)).unwrap(), Offer::Queued));
                    }
                    queue.close();
                })
            };
            rt.block_on(drain(&mut sink, &queue, "all", flush, &stats)).unwrap();
            feeder.join().unwrap();
            if whole {
                assert_eq!(
                    sink.commits,
                    vec![(vec![1, 2, 3], 10), (vec![4, 5, 6], 20)],
                    "whole ticks committed, the third tick's first part left"
                );
            } else {
                let through: Vec<i64> = sink.commits.iter().map(|c| c.1).collect();
                let rows: Vec<u8> = sink.commits.iter().flat_map(|c| c.0.clone()).collect();
                assert_eq!(rows, vec![1, 2, 3, 4, 5, 6, 7], "every part delivered as it came");
                assert_eq!(through, vec![0, 0, 10, 10, 10, 20, 20], "the progress moves at a tick's last part");
            }
        }
    }
}
