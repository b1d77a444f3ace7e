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
    while let Some(mut batch) = queue.pop(None).await? {
        // Flush on size, or once the first batch has lingered long enough.
        let until = Instant::now() + flush.linger;
        while batch.rows() < flush.max_rows {
            match queue.pop(Some(until.saturating_duration_since(Instant::now()))).await? {
                Some(more) => batch.absorb(more),
                None => break,
            }
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
