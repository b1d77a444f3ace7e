//! Delivery: one worker thread per sink takes batches from the sink's queue, coalesces them
//! up to a size (or a linger time), writes and commits them with the stream's progress, and
//! on a failure that may pass retries the same batch with exponential backoff after
//! reconnecting. A failure that cannot pass stops the stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::buffer::{Batch, Buffer};
use super::metrics::SinkMetrics;
use crate::sim::clock::DAY;
use crate::sink::{retryable, Live, Progress};

/// The first wait after a failure; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Shared stop signal: set on SIGTERM/SIGINT, a fatal error, or the end of the window.
#[derive(Default)]
pub struct Control {
    stop: AtomicBool,
    /// When set: give up undelivered batches at this instant (a signal's grace period).
    deadline: Mutex<Option<Instant>>,
    failure: Mutex<Option<String>>,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Control {
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Stops generating; workers deliver what is queued until `grace` has passed (`None`:
    /// until everything is delivered).
    pub fn stop(&self, grace: Option<Duration>) {
        if let Some(g) = grace {
            let mut d = self.deadline.lock().expect("no poisoned lock");
            let at = Instant::now() + g;
            *d = Some(d.map_or(at, |old| old.min(at)));
        }
        self.stop.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock().expect("no poisoned lock");
        self.wake.notify_all();
    }

    /// Stops with an error the process exits with.
    pub fn fail(&self, msg: String, grace: Duration) {
        self.failure.lock().expect("no poisoned lock").get_or_insert(msg);
        self.stop(Some(grace));
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("no poisoned lock").clone()
    }

    /// Stopping on a signal or an error (with a grace deadline), not at the window's end.
    pub fn stopping_with_deadline(&self) -> bool {
        self.deadline.lock().expect("no poisoned lock").is_some()
    }

    pub fn past_deadline(&self) -> bool {
        self.deadline.lock().expect("no poisoned lock").is_some_and(|d| Instant::now() >= d)
    }

    /// Sleeps `d`, or until the grace deadline when that comes first; a call to `stop`
    /// wakes it early.
    pub fn sleep(&self, d: Duration) {
        let d = match *self.deadline.lock().expect("no poisoned lock") {
            Some(at) => d.min(at.saturating_duration_since(Instant::now())),
            None => d,
        };
        let guard = self.lock.lock().expect("no poisoned lock");
        let _ = self.wake.wait_timeout(guard, d).expect("no poisoned lock");
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
pub fn run(
    mut sink: Box<dyn Live>,
    queue: Arc<Buffer>,
    stream: String,
    flush: Flush,
    stats: SinkMetrics,
    ctl: Arc<Control>,
) {
    let name = sink.name();
    let result = (|| -> Result<()> {
        loop {
            if ctl.past_deadline() {
                return Ok(());
            }
            let Some(mut batch) = queue.pop(Duration::from_millis(200))? else {
                if queue.finished() {
                    return Ok(());
                }
                continue;
            };
            // Flush on size, or once the first batch has lingered long enough.
            let until = Instant::now() + flush.linger;
            while batch.rows() < flush.max_rows {
                match queue.pop(until.saturating_duration_since(Instant::now()))? {
                    Some(more) => batch.absorb(more),
                    None => break,
                }
            }
            if !deliver(sink.as_mut(), &batch, &stream, &queue, &stats, &ctl)? {
                return Ok(());
            }
        }
    })();
    let result = result.and_then(|()| if ctl.past_deadline() { Ok(()) } else { sink.close() });
    if let Err(e) = result {
        ctl.fail(format!("{name}: {e:#}"), flush.grace);
    }
}

/// Writes and commits one batch, retrying while the failure may pass. Returns false when
/// the stream gave up on it (its progress stays unrecorded, so a restart regenerates it).
fn deliver(
    sink: &mut dyn Live,
    batch: &Batch,
    stream: &str,
    queue: &Buffer,
    stats: &SinkMetrics,
    ctl: &Control,
) -> Result<bool> {
    let progress = Progress { stream: stream.to_owned(), through: batch.through, counters: batch.counters.clone() };
    let day = batch.first - batch.first.rem_euclid(DAY);
    let mut backoff = BACKOFF_START;
    let mut failures = 0u32;
    loop {
        let attempt = (|| -> Result<()> {
            for (table, parts, rows) in &batch.tables {
                for (i, p) in parts.iter().enumerate() {
                    sink.write(day, *table, p.clone(), if i == 0 { *rows } else { 0 })?;
                }
            }
            sink.commit(&progress)
        })();
        match attempt {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(sink = sink.name(), failures, "delivering again");
                }
                stats.delivered(batch.tables.iter().map(|(t, _, n)| (*t, *n)), batch.through);
                queue.set_outage(false);
                return Ok(true);
            }
            Err(e) if retryable(&e) => {
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
                ctl.sleep(backoff);
                if ctl.past_deadline() {
                    return Ok(false);
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                if let Err(e) = sink.reset() {
                    if !retryable(&e) {
                        return Err(e);
                    }
                    tracing::debug!(sink = sink.name(), "reconnect failed: {e:#}");
                }
            }
            Err(e) => return Err(e),
        }
    }
}
