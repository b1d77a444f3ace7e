//! `genims backfill`: operational history for a time window, as fast as the machine allows.
//!
//! The window is cut into units (machine × UTC day). Worker threads compute units in any
//! order; the writer hands them to the sink strictly in unit order (day by day, machine by
//! machine), holding at most a few units in memory, so output is byte-identical whatever the
//! thread count and memory stays flat however long the window.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Instant;

use anyhow::Result;

use crate::cli::usage;
use crate::cli::BackfillArgs;
use crate::clock::DAY;
use crate::config::Config;
use crate::encode::Encoded;
use crate::rows::Table;
use crate::sim::scope::Shard;
use crate::sim::unit::UnitSpec;
use crate::sim::Engine;
use crate::sink::{Bulk, SinkKind};

/// Units computed ahead of the writer, per worker thread.
const AHEAD_PER_THREAD: usize = 2;

/// A validated backfill request.
#[derive(Debug, Clone)]
pub struct Request {
    pub window: (i64, i64),
    pub fault_rate: f64,
    pub shard: Shard,
    pub out: SinkKind,
    pub dir: PathBuf,
}

impl Request {
    pub fn from_args(cfg: &Config, args: &BackfillArgs) -> Result<Request> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
        let window = crate::request::window(args.days, args.start, args.end, now).map_err(usage)?;
        let shard = crate::request::shard(args.shard, |k| std::env::var(k).ok())?;
        let out = args.out.unwrap_or(SinkKind::Csv);
        if !out.writes_files() && args.path.is_some() {
            return Err(usage(format!(
                "--path names a directory for file outputs; it cannot be used with --out {}",
                out.bulk_name()
            )));
        }
        let dir = args.path.clone().unwrap_or_else(|| cfg.output.dir.clone());
        Ok(Request { window, fault_rate: args.fault_rate, shard, out, dir })
    }

    /// Machines of this shard.
    pub fn machines(&self, total: usize) -> Vec<usize> {
        self.shard.machines(total)
    }
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct Summary {
    pub rows: [u64; Table::COUNT],
    pub labels: BTreeMap<usize, u64>,
    pub seconds: f64,
}

/// Runs `genims backfill`.
pub fn run(cfg: &Config, args: &BackfillArgs, rt: &tokio::runtime::Handle) -> Result<()> {
    if args.finalize {
        crate::sink::postgres::finalize(rt, &cfg.postgres.target()?)?;
        eprintln!(
            "genims: finalized {}: id sequences advanced, planner statistics refreshed",
            cfg.postgres.target()?.shown
        );
        return Ok(());
    }
    let req = Request::from_args(cfg, args)?;
    let mut engine = cfg.engine(req.fault_rate)?;
    engine.restrict_patterns(&args.patterns).map_err(|e| usage(format!("--patterns: {e}")))?;
    crate::request::check_start(&engine, req.window.0)
        .and_then(|()| crate::request::check_shard(&engine, req.shard))
        .map_err(usage)?;
    if let Some(file) = &args.injections {
        if !file.is_file() {
            return Err(usage(format!(
                "--injections {}: no such file (a stream keeps its journal as <state-dir>/<stream>.injections.jsonl)",
                file.display()
            )));
        }
        let entries = crate::sim::inject::read_journal(file)?;
        if entries.is_empty() {
            anyhow::bail!("--injections {}: the file holds no injections (is it the right file?)", file.display());
        }
        engine.apply_injections(&entries).map_err(|e| anyhow::anyhow!("--injections {}: {e}", file.display()))?;
    }
    let run_name = match req.shard.count {
        1 => "backfill".to_owned(),
        n => format!("backfill-{}of{n}", req.shard.index),
    };
    let run = cfg.sink_run(&engine, rt, (&run_name, req.shard), req.window, &req.dir);
    let mut sink = req.out.open_bulk(&run)?;
    let machines = req.machines(engine.plant.machines.len());
    let summary = drive(&engine, req.window, &machines, sink.as_mut(), std::io::stderr().is_terminal())?;
    sink.finish()?;
    report(&engine, &req, &summary);
    Ok(())
}

fn report(engine: &Engine, req: &Request, s: &Summary) {
    let total: u64 = s.rows.iter().sum();
    let shard =
        if req.shard.count > 1 { format!("shard {}/{}: ", req.shard.index, req.shard.count) } else { String::new() };
    let mut lines = vec![format!(
        "genims: backfill {} .. {} ({shard}{} of {} machines) in {:.1} s, {} rows ({:.0} rows/s)",
        crate::clock::date_string(req.window.0),
        crate::clock::date_string(req.window.1),
        req.machines(engine.plant.machines.len()).len(),
        engine.plant.machines.len(),
        s.seconds,
        total,
        total as f64 / s.seconds.max(1e-9)
    )];
    for t in Table::ALL {
        lines.push(format!("  {:<20} {:>12}", t.name(), s.rows[t.index()]));
    }
    let episodes: Vec<String> =
        s.labels.iter().map(|(p, n)| format!("{} {}", engine.catalogue.patterns[*p].name, n)).collect();
    lines.push(format!("  episodes: {}", if episodes.is_empty() { "none".to_owned() } else { episodes.join(", ") }));
    if req.out.writes_files() {
        lines.push(format!("  written under {}", req.dir.display()));
    }
    eprintln!("{}", lines.join("\n"));
}

/// Generates every unit of `window` for `machines` into `sink`, in order.
pub fn drive(
    engine: &Engine,
    window: (i64, i64),
    machines: &[usize],
    sink: &mut dyn Bulk,
    progress: bool,
) -> Result<Summary> {
    let started = Instant::now();
    let threads = engine.threads;
    let first_day = window.0 - window.0.rem_euclid(DAY);
    let days: Vec<i64> = (0..).map(|k| first_day + k * DAY).take_while(|&d| d < window.1).collect();
    let carried = sink.checkpoints(window.0)?;
    let units: Vec<(usize, usize)> = (0..days.len()).flat_map(|d| (0..machines.len()).map(move |k| (d, k))).collect();
    let fmt = sink.format();
    // On a terminal the bar shows at once, while the counters are carried to the window's
    // start (a long window spends a while there before the first unit).
    let bar = progress.then(|| {
        let b = indicatif::ProgressBar::new(units.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} units, {msg} (ETA {eta})",
            )
            .expect("valid template"),
        );
        b.set_message(format!(
            "{} machines × {} days: carrying counters to the window's start",
            machines.len(),
            days.len()
        ));
        b.enable_steady_tick(std::time::Duration::from_millis(200));
        b
    });
    let counters = engine.day_counters(machines, window, &days, &carried);

    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let written = (Mutex::new(0usize), Condvar::new());
    let ahead = threads * AHEAD_PER_THREAD;
    let (tx, rx) = mpsc::sync_channel::<(usize, Encoded)>(ahead);
    let mut summary = Summary::default();
    let result: Result<()> = std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, abort, written, units, counters, days) = (&next, &abort, &written, &units, &counters, &days);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= units.len() || abort.load(Ordering::Relaxed) {
                    break;
                }
                {
                    let mut w = written.0.lock().expect("no poisoned lock");
                    while i >= *w + ahead && !abort.load(Ordering::Relaxed) {
                        w = written.1.wait(w).expect("no poisoned lock");
                    }
                }
                if abort.load(Ordering::Relaxed) {
                    break;
                }
                let (d, k) = units[i];
                let m = machines[k];
                let spec = UnitSpec::new(m, days[d], window);
                let mut rows = Encoded::new(fmt);
                engine.generate_unit(spec, counters[k][d], &mut rows);
                rows.finish();
                if tx.send((i, rows)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // The receiver ends with this closure, before the scope joins the workers: after a
        // sink error, a worker blocked on the full channel wakes up (its send fails) and ends.
        let rx = rx;
        let mut pending: BTreeMap<usize, Encoded> = BTreeMap::new();
        let mut want = 0usize;
        let mut total_rows = 0u64;
        for (i, rows) in rx.iter() {
            pending.insert(i, rows);
            while let Some(mut u) = pending.remove(&want) {
                let (d, _) = units[want];
                for t in Table::ALL {
                    let n = u.rows[t.index()];
                    summary.rows[t.index()] += n;
                    total_rows += n;
                    let bytes = bytes::Bytes::from(std::mem::take(&mut u.bufs[t.index()]));
                    if let Err(e) = sink.write(days[d], t, bytes, n) {
                        abort.store(true, Ordering::Relaxed);
                        written.1.notify_all();
                        return Err(e);
                    }
                }
                for (p, n) in u.labels_by_pattern {
                    *summary.labels.entry(p).or_default() += n;
                }
                want += 1;
                *written.0.lock().expect("no poisoned lock") = want;
                written.1.notify_all();
                if let Some(b) = &bar {
                    b.inc(1);
                    let secs = started.elapsed().as_secs_f64().max(1e-9);
                    b.set_message(format!("{total_rows} rows, {:.0} rows/s", total_rows as f64 / secs));
                }
            }
        }
        Ok(())
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
