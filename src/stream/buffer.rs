//! A sink's queue: batches waiting for delivery, in memory up to a byte bound, then — only
//! while the sink is in an outage — spooled to disk up to a second bound, always handed out
//! in the order they arrived.
//!
//! When-full policy: **block**. A healthy sink that is slower than generation (`--speed
//! max`, catching up) fills its memory, and [`Buffer::offer`] hands the batch back: the
//! generator waits for the slowest sink instead of spooling. During an outage (the sink's
//! delivery is failing) batches overflow to the spool; when the spool is full too (or the
//! disk is), generation waits again. Nothing is ever dropped. Order holds because once
//! anything is spooled, every later batch is spooled too until the spool has drained
//! (memory always holds the older ones).

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;

use crate::rows::Table;
use crate::sim::unit::Counters;

/// Rows of one or more consecutive ticks for one sink, in its format.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Start of the first tick.
    pub first: i64,
    /// Every record before this instant is in this batch or an earlier one.
    pub through: i64,
    /// The batch ends inside a tick: its last rows are a part of a large plant's tick
    /// whose other parts follow in later batches (`through` is then that tick's start).
    pub open: bool,
    /// Per table (in [`Table::ALL`] order): encoded rows and their count; empty when none.
    pub tables: Vec<(Table, Vec<Bytes>, u64)>,
    /// Machine counters at the start of the batch's last minute (see
    /// [`crate::sink::Progress`]); every batch of a stream that publishes SCADA rows has them.
    pub counters: Option<(i64, Arc<BTreeMap<String, Counters>>)>,
}

impl Batch {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.2).sum()
    }

    pub fn bytes(&self) -> usize {
        self.tables.iter().flat_map(|t| t.1.iter()).map(Bytes::len).sum()
    }

    /// Appends a later batch.
    pub fn absorb(&mut self, later: Batch) {
        if self.tables.is_empty() {
            self.first = later.first;
        }
        self.through = later.through;
        self.open = later.open;
        for (table, parts, rows) in later.tables {
            match self.tables.iter_mut().find(|t| t.0 == table) {
                Some(t) => {
                    t.1.extend(parts);
                    t.2 += rows;
                }
                None => self.tables.push((table, parts, rows)),
            }
        }
        self.tables.sort_by_key(|t| t.0.index());
        if later.counters.is_some() {
            self.counters = later.counters;
        }
    }
}

/// Counts a queue reports for the statistics line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Depth {
    pub mem_rows: u64,
    pub mem_bytes: usize,
    pub spooled_rows: u64,
    pub spooled_batches: usize,
    pub spooled_bytes: usize,
}

/// What [`Buffer::offer`] did with a batch.
#[derive(Debug)]
pub enum Offer {
    Queued,
    /// No room: the batch comes back; wait ([`Buffer::wait_for_room`]) and offer it again.
    Full(Batch),
}

struct State {
    mem: VecDeque<Batch>,
    /// Spooled batches, oldest first: (sequence number, rows, bytes).
    spool: VecDeque<(u64, u64, usize)>,
    next_seq: u64,
    depth: Depth,
    closed: bool,
}

/// One sink's queue.
pub struct Buffer {
    state: Mutex<State>,
    /// Signalled when a batch arrives or the queue closes (the consumer, an async task,
    /// waits on it; a signal without a waiter is kept for the next wait).
    ready: tokio::sync::Notify,
    /// Signalled when a batch leaves (a producer waiting for room waits on it).
    room: Condvar,
    limit: usize,
    spool_limit: usize,
    dir: PathBuf,
    /// The sink's delivery is failing: overflow may go to the spool.
    outage: AtomicBool,
    /// A spool write failed (full disk): warned once until a write succeeds again.
    spool_failing: AtomicBool,
}

impl Buffer {
    /// A queue holding at most `limit` bytes in memory and, during an outage, at most
    /// `spool_limit` bytes more under `dir`, which is emptied first: a restarted stream
    /// regenerates whatever was not delivered.
    pub fn new(limit: usize, spool_limit: usize, dir: &Path) -> Result<Buffer> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot clear the spool directory {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the spool directory {}", dir.display()))?;
        let state =
            State { mem: VecDeque::new(), spool: VecDeque::new(), next_seq: 0, depth: Depth::default(), closed: false };
        Ok(Buffer {
            state: Mutex::new(state),
            ready: tokio::sync::Notify::new(),
            room: Condvar::new(),
            limit,
            spool_limit,
            dir: dir.to_owned(),
            outage: AtomicBool::new(false),
            spool_failing: AtomicBool::new(false),
        })
    }

    /// Marks the sink as failing (overflow may spool) or delivering again.
    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::Relaxed);
        if on {
            self.room.notify_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("no panic while holding the buffer lock")
    }

    /// Queues a batch in memory while there is room, else on the spool during an outage
    /// (or while older batches are spooled) as far as the spool's bound and the disk allow;
    /// otherwise hands it back. Never waits.
    pub fn offer(&self, batch: Batch) -> Result<Offer> {
        let mut st = self.lock();
        let size = batch.bytes();
        if st.spool.is_empty() && (st.depth.mem_bytes + size <= self.limit || st.mem.is_empty()) {
            st.depth.mem_bytes += size;
            st.depth.mem_rows += batch.rows();
            st.mem.push_back(batch);
            drop(st);
            self.ready.notify_one();
            return Ok(Offer::Queued);
        }
        let may_spool = self.outage.load(Ordering::Relaxed) || !st.spool.is_empty();
        if !may_spool || st.depth.spooled_bytes + size > self.spool_limit {
            return Ok(Offer::Full(batch));
        }
        let seq = st.next_seq;
        drop(st);
        if let Err(e) = write_spool(&self.spool_path(seq), &batch) {
            if !self.spool_failing.swap(true, Ordering::Relaxed) {
                tracing::warn!("{e:#}; generation waits for the sink instead");
            }
            return Ok(Offer::Full(batch));
        }
        self.spool_failing.store(false, Ordering::Relaxed);
        let mut st = self.lock();
        st.next_seq += 1;
        let rows = batch.rows();
        st.spool.push_back((seq, rows, size));
        st.depth.spooled_rows += rows;
        st.depth.spooled_batches += 1;
        st.depth.spooled_bytes += size;
        drop(st);
        self.ready.notify_one();
        Ok(Offer::Queued)
    }

    /// Waits until a batch leaves the queue (or the sink fails), at most `wait`.
    pub fn wait_for_room(&self, wait: Duration) {
        let st = self.lock();
        let _ = self.room.wait_timeout(st, wait).expect("no poisoned lock");
    }

    /// No more batches will come: consumers drain what is queued, then get `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// The oldest batch, waiting for one at most `wait` (`None`: until one comes);
    /// `Ok(None)` when none came in time, or the queue is closed and empty.
    pub async fn pop(&self, wait: Option<Duration>) -> Result<Option<Batch>> {
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        loop {
            if let Some(b) = self.try_pop()? {
                return Ok(Some(b));
            }
            if self.lock().closed {
                return Ok(None);
            }
            // A batch offered since `try_pop` left a signal behind: no wake-up is lost.
            match deadline {
                Some(at) => {
                    if tokio::time::timeout_at(at, self.ready.notified()).await.is_err() {
                        return Ok(None);
                    }
                }
                None => self.ready.notified().await,
            }
        }
    }

    /// The oldest batch, if there is one, without waiting (a spooled batch is read from
    /// disk: a bounded read of one batch).
    pub fn try_pop(&self) -> Result<Option<Batch>> {
        let mut st = self.lock();
        if let Some(b) = st.mem.pop_front() {
            st.depth.mem_bytes -= b.bytes();
            st.depth.mem_rows -= b.rows();
            drop(st);
            self.room.notify_all();
            return Ok(Some(b));
        }
        let Some(&(seq, rows, size)) = st.spool.front() else { return Ok(None) };
        drop(st);
        let path = self.spool_path(seq);
        let batch = read_spool(&path)?;
        let _ = std::fs::remove_file(&path);
        let mut st = self.lock();
        st.spool.pop_front();
        st.depth.spooled_rows -= rows;
        st.depth.spooled_batches -= 1;
        st.depth.spooled_bytes -= size;
        drop(st);
        self.room.notify_all();
        Ok(Some(batch))
    }

    pub fn depth(&self) -> Depth {
        self.lock().depth
    }

    fn spool_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:012}.batch"))
    }
}

const MAGIC: &[u8; 8] = b"GNMSPL02";

/// Writes a batch under a temporary name and renames it into place.
fn write_spool(path: &Path, b: &Batch) -> Result<()> {
    let mut out = Vec::with_capacity(b.bytes() + 256);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&b.first.to_le_bytes());
    out.extend_from_slice(&b.through.to_le_bytes());
    out.push(u8::from(b.open));
    out.extend_from_slice(&(b.tables.len() as u32).to_le_bytes());
    for (table, parts, rows) in &b.tables {
        out.push(table.index() as u8);
        out.extend_from_slice(&rows.to_le_bytes());
        let len: usize = parts.iter().map(Bytes::len).sum();
        out.extend_from_slice(&(len as u64).to_le_bytes());
        for p in parts {
            out.extend_from_slice(p);
        }
    }
    match &b.counters {
        None => out.push(0),
        Some((at, map)) => {
            out.push(1);
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&(map.len() as u32).to_le_bytes());
            for (id, c) in map.iter() {
                out.extend_from_slice(&(id.len() as u16).to_le_bytes());
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&c.parts.to_le_bytes());
                out.extend_from_slice(&c.energy_kwh.to_le_bytes());
            }
        }
    }
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow!("cannot spool to {}: {e}", path.display())
    })
}

fn read_spool(path: &Path) -> Result<Batch> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .with_context(|| format!("cannot read spooled batch {}", path.display()))?;
    let data = Bytes::from(data);
    let bad = || anyhow!("spooled batch {} is damaged", path.display());
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<Bytes> {
        let s = data.get(at..at + n).ok_or_else(bad)?;
        let out = data.slice_ref(s);
        at += n;
        Ok(out)
    };
    let i64_ = |b: Bytes| i64::from_le_bytes(b[..].try_into().expect("8 bytes"));
    if &take(8)?[..] != MAGIC {
        bail!("{} is not a genims spool file", path.display());
    }
    let first = i64_(take(8)?);
    let through = i64_(take(8)?);
    let open = take(1)?[0] == 1;
    let n = u32::from_le_bytes(take(4)?[..].try_into().expect("4 bytes"));
    let mut tables = Vec::new();
    for _ in 0..n {
        let idx = take(1)?[0] as usize;
        let table = *Table::ALL.get(idx).ok_or_else(bad)?;
        let rows = u64::from_le_bytes(take(8)?[..].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(take(8)?[..].try_into().expect("8 bytes")) as usize;
        tables.push((table, vec![take(len)?], rows));
    }
    let counters = if take(1)?[0] == 1 {
        let at_ = i64_(take(8)?);
        let n = u32::from_le_bytes(take(4)?[..].try_into().expect("4 bytes"));
        let mut map = BTreeMap::new();
        for _ in 0..n {
            let len = u16::from_le_bytes(take(2)?[..].try_into().expect("2 bytes")) as usize;
            let id = String::from_utf8(take(len)?.to_vec()).map_err(|_| bad())?;
            let parts = i64_(take(8)?);
            let energy_kwh = f64::from_le_bytes(take(8)?[..].try_into().expect("8 bytes"));
            map.insert(id, Counters { parts, energy_kwh });
        }
        Some((at_, Arc::new(map)))
    } else {
        None
    };
    Ok(Batch { first, through, open, tables, counters })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(k: i64, size: usize) -> Batch {
        let mut counters = BTreeMap::new();
        counters.insert("MCH-000001".to_owned(), Counters { parts: k, energy_kwh: 1.5 });
        Batch {
            first: k * 10,
            through: k * 10 + 10,
            open: k % 3 == 1,
            tables: vec![
                (Table::SensorData, vec![Bytes::from(vec![k as u8; size])], 3),
                (Table::FaultLabels, vec![Bytes::from_static(b"x")], 1),
            ],
            counters: (k % 2 == 0).then(|| (k * 10, Arc::new(counters))),
        }
    }

    fn push(buf: &Buffer, b: Batch) {
        assert!(matches!(buf.offer(b).unwrap(), Offer::Queued), "the batch must be queued");
    }

    #[test]
    fn overflow_spools_to_disk_and_order_holds() {
        let dir = tempfile::tempdir().unwrap();
        let buf = Buffer::new(2_500, 1 << 20, &dir.path().join("spool")).unwrap();
        buf.set_outage(true);
        for k in 0..10 {
            push(&buf, batch(k, 1_000));
        }
        let d = buf.depth();
        assert_eq!((d.mem_rows, d.spooled_batches), (8, 8), "two batches fit in memory, eight go to disk: {d:?}");
        // Room in memory again does not let a new batch overtake spooled ones.
        buf.try_pop().unwrap().unwrap();
        buf.set_outage(false);
        push(&buf, batch(10, 10));
        assert_eq!(buf.depth().spooled_batches, 9, "a batch after spooled ones is spooled too");
        let mut got = vec![0];
        while let Some(b) = buf.try_pop().unwrap() {
            let k = b.first / 10;
            assert_eq!(b.rows(), 4);
            assert_eq!(b.counters.is_some(), k % 2 == 0, "counters survive the spool (batch {k})");
            assert_eq!(b.open, k % 3 == 1, "a tick's part stays open through the spool (batch {k})");
            let len = if k == 10 { 10 } else { 1_000 };
            assert_eq!(b.tables[0].1.concat(), vec![k as u8; len], "batch {k} comes back byte for byte");
            got.push(k);
        }
        assert_eq!(got, (0..=10).collect::<Vec<_>>(), "batches come out in arrival order");
        assert_eq!(buf.depth(), Depth::default());
        assert_eq!(
            std::fs::read_dir(dir.path().join("spool")).unwrap().count(),
            0,
            "delivered spool files are removed"
        );
    }

    /// A healthy sink's full queue hands batches back (the generator waits): nothing spools.
    /// During an outage overflow spools up to the spool's bound, then is handed back too.
    #[test]
    fn a_full_queue_blocks_unless_in_an_outage_and_the_spool_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let buf = Buffer::new(2_500, 2_100, &dir.path().join("spool")).unwrap();
        push(&buf, batch(0, 1_000));
        push(&buf, batch(1, 1_000));
        let Offer::Full(back) = buf.offer(batch(2, 1_000)).unwrap() else {
            panic!("a healthy sink's full queue must not spool")
        };
        assert_eq!(buf.depth().spooled_batches, 0);
        buf.set_outage(true);
        push(&buf, back);
        push(&buf, batch(3, 1_000));
        let Offer::Full(back) = buf.offer(batch(4, 1_000)).unwrap() else {
            panic!("the spool holds at most 2,100 bytes")
        };
        assert_eq!(buf.depth().spooled_batches, 2);
        // Once something is spooled, room in memory does not let a batch overtake it.
        buf.set_outage(false);
        assert_eq!(buf.try_pop().unwrap().unwrap().first, 0);
        assert!(
            matches!(buf.offer(back).unwrap(), Offer::Full(_)),
            "the spool is still full and older batches wait there"
        );
        let order: Vec<i64> = std::iter::from_fn(|| buf.try_pop().unwrap()).map(|b| b.first / 10).collect();
        assert_eq!(order, [1, 2, 3]);
    }

    #[test]
    fn a_spool_without_room_on_disk_blocks_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let buf = Buffer::new(10, 1 << 20, &spool).unwrap();
        buf.set_outage(true);
        push(&buf, batch(0, 100));
        std::fs::remove_dir_all(&spool).unwrap(); // the spool cannot be written now
        assert!(
            matches!(buf.offer(batch(1, 100)).unwrap(), Offer::Full(_)),
            "an unwritable spool makes generation wait"
        );
    }

    #[test]
    fn absorbed_batches_merge_per_table() {
        let mut a = batch(0, 4);
        a.absorb(batch(1, 4));
        assert_eq!((a.first, a.through, a.rows(), a.open), (0, 20, 8, true));
        assert_eq!(a.tables.len(), 2);
        a.absorb(batch(2, 4));
        assert!(!a.open, "a batch ending a tick's last part is whole");
        assert!(a.counters.is_some(), "the last counters known are kept");
    }
}
