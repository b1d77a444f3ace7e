//! `genims stream`: the live daemon. The shared engine runs minute by minute, paced to the
//! wall clock, and every record goes to each sink as its tick comes.
//!
//! ```text
//!  generator thread ──blocks──▶ release loop ──ticks──▶ queue ▶ delivery task ▶ sink
//!  (engine, 1 min ahead)        (paces to the clock)    (memory,  (one per sink, async,
//!                                                         then      on the daemon's
//!                                                         disk)     runtime)
//! ```
//!
//! Generation is CPU-bound and runs on threads of its own; delivery, signals and the
//! statistics line are tasks on the one runtime the command owns.
//!
//! Each sink resumes from its own progress (PostgreSQL: a row committed with every flush;
//! Kafka: a file written after acknowledgement), so a restart regenerates exactly what a
//! sink lacks. The engine is deterministic: regenerating is the same as replaying.

pub mod buffer;
pub mod console;
pub mod control;
pub mod deliver;
pub mod generate;
pub mod inject;
pub mod metrics;
pub mod opcua;
mod pace;
mod retention;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::cli::{usage, StreamArgs, StreamKind};
use crate::clock::{instant_string, SCADA_STEP, SENSOR_STEP};
use crate::config::Config;
use crate::encode::Format;
use crate::rows::Table;
use crate::sim::scope::{self, Shard};
use crate::sim::unit::Counters;
use crate::sim::Engine;
use crate::sink::{Live, Progress, SinkKind};
use buffer::{Buffer, Offer};
use deliver::{Control, Flush};
use generate::{Generator, Plan, Taps, Tick};
use metrics::{Metrics, SinkMetrics, SinkView, View};
use pace::Pace;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long before its minute a block is generated at least.
const GENERATION_LEAD: Duration = Duration::from_secs(5);

/// A validated stream request.
struct Request {
    kind: StreamKind,
    name: String,
    speed: Option<f64>,
    sinks: Vec<SinkKind>,
    start: Option<i64>,
    end: Option<i64>,
    fault_rate: f64,
    shard: Shard,
    /// Progress files and spool directories.
    state_dir: std::path::PathBuf,
    /// The control plane's address, if served.
    listen: Option<std::net::SocketAddr>,
}

impl Request {
    fn from_args(cfg: &Config, args: &StreamArgs) -> Result<Request> {
        let sinks = if args.sink.is_empty() { cfg.stream.sinks.clone() } else { args.sink.clone() };
        if sinks.is_empty() {
            return Err(usage("no sinks: give --sink postgres,kafka,mqtt,stdout or set [stream] sinks"));
        }
        if let Some(twice) = sinks.iter().enumerate().find_map(|(i, s)| sinks[..i].contains(s).then_some(s)) {
            let all: Vec<&str> = sinks.iter().map(|k| k.name()).collect();
            return Err(usage(format!("--sink {}: {twice} is named twice", all.join(","))));
        }
        let (start, end) = (args.start.map(scope::floor_minute), args.end.map(scope::floor_minute));
        if let (Some(a), Some(b)) = (start, end) {
            crate::request::check_window(a, b).map_err(usage)?;
        }
        let fault_rate = args.fault_rate.unwrap_or(cfg.stream.fault_rate);
        let shard = crate::request::shard(args.shard, |k| std::env::var(k).ok())?;
        let kind_name = match args.kind {
            StreamKind::Iot => "iot",
            StreamKind::Scada => "scada",
            StreamKind::All => "all",
        };
        let name = if shard.count > 1 {
            format!("{kind_name}-{}of{}", shard.index, shard.count)
        } else {
            kind_name.to_owned()
        };
        let state_dir = args.state_dir.clone().unwrap_or_else(|| cfg.stream.state_dir.clone());
        let listen = match &args.listen {
            Some(l) => crate::config::parse_listen(l).map_err(|e| usage(format!("--listen: {e}")))?,
            None => cfg.stream.listen,
        };
        if let Some(addr) = listen {
            control::check_exposure(addr, cfg.stream.control_token.as_ref())?;
        }
        Ok(Request {
            kind: args.kind,
            name,
            speed: args.speed.0,
            sinks,
            start,
            end,
            fault_rate,
            shard,
            state_dir,
            listen,
        })
    }

    fn tables(&self) -> Vec<Table> {
        match self.kind {
            // The readings and the ground truth of their data-quality defects.
            StreamKind::Iot => vec![Table::SensorData, Table::QualityLabels],
            StreamKind::Scada => vec![Table::ScadaMachineData],
            StreamKind::All => Table::ALL.to_vec(),
        }
    }

    fn step(&self) -> i64 {
        if self.kind == StreamKind::Scada {
            SCADA_STEP
        } else {
            SENSOR_STEP
        }
    }
}

/// Opens every sink; one line per sink that cannot start. With `allow_degraded`, the
/// stream runs with the sinks that work (but never with none).
fn open_sinks(
    cfg: &Config,
    req: &Request,
    args: &StreamArgs,
    engine: &Engine,
    rt: &tokio::runtime::Handle,
) -> Result<Vec<Box<dyn Live>>> {
    let window = (req.start.unwrap_or(0), req.end.unwrap_or(i64::MAX));
    let run = cfg.sink_run(engine, rt, (&req.name, req.shard), window, &req.state_dir);
    let mut open = Vec::new();
    let mut failed = Vec::new();
    for &kind in &req.sinks {
        let sink = kind.open_live(&run);
        match sink {
            Ok(s) => open.push(s),
            Err(e) => failed.push(format!("sink {kind}: {e:#}")),
        }
    }
    if !failed.is_empty() {
        if args.allow_degraded && !open.is_empty() {
            for f in &failed {
                tracing::warn!("starting without {f}");
            }
        } else {
            let hint = if open.is_empty() || args.allow_degraded {
                ""
            } else {
                "\n(--allow-degraded starts with the sinks that work)"
            };
            bail!("{}{hint}", failed.join("\n"));
        }
    }
    Ok(open)
}

/// The stream's engine, its patterns restricted, its start and shard checked.
fn engine_for(cfg: &Config, req: &Request, args: &StreamArgs) -> Result<Engine> {
    // Only PostgreSQL takes master data (and checks its fingerprint, employees included).
    let mut engine = cfg.engine_with(req.fault_rate, req.sinks.contains(&SinkKind::Postgres))?;
    engine.restrict_patterns(&args.patterns).map_err(|e| usage(format!("--patterns: {e}")))?;
    req.start
        .map_or(Ok(()), |a| crate::request::check_start(&engine, a))
        .and_then(|()| crate::request::check_shard(&engine, req.shard))
        .map_err(usage)?;
    Ok(engine)
}

/// Runs `genims stream`.
pub fn run(cfg: &Config, args: &StreamArgs, rt: &tokio::runtime::Handle) -> Result<()> {
    let req = Request::from_args(cfg, args)?;
    let listener = req.listen.map(control::bind).transpose()?;
    let mut engine = engine_for(cfg, &req, args)?;
    // Injections travel from the control plane and the OPC UA server to the generator thread.
    let (commands_tx, commands) = mpsc::channel::<inject::Command>();
    // Bound before any sink opens: a taken port or a bad certificate fails the start.
    let shard = req.shard.machines(engine.plant.machines.len());
    let opcua = opcua::start(&cfg.opcua, &req.state_dir, &engine, &shard, commands_tx.clone(), rt)?;
    let mut sinks = open_sinks(cfg, &req, args, &engine, rt)?;
    let journal = rt.block_on(injection_journal(&req, &engine, &mut sinks))?;
    // The sinks hold the master data they need (or its fingerprint) from here on.
    engine.shed_master_rows();
    let machines = req.shard.machines(engine.plant.machines.len());
    let (start, skip, resume) = rt.block_on(where_to_start(&req, &mut sinks))?;
    let g0 = start - start.rem_euclid(SCADA_STEP);
    let end = req.end.unwrap_or(i64::MAX / 4);
    if g0 >= end {
        // A finished window: running the same command again is not an error.
        tracing::info!(stream = %req.name, through = %instant_string(start), end = %instant_string(end), "nothing to do: every sink already holds the stream up to --end");
        return Ok(());
    }
    let known = rt.block_on(known_counters(g0, &mut sinks, &resume))?;
    let counters = engine.counters_of(&machines, g0, &known);
    let mut formats: Vec<Format> = sinks.iter().map(|s| s.format()).collect();
    formats.sort_by_key(|f| *f as u8);
    formats.dedup();
    // Every sink holds the stream up to g0 (a restart): the episodes in progress there are
    // labelled already (Kafka and MQTT would otherwise get their labels twice).
    let continues = resume.iter().all(|p| p.as_ref().is_some_and(|p| p.through >= g0));
    let plan = plan(cfg, &req, &engine, &machines, &formats, (g0, end), continues);

    let ctl = Arc::new(Control::new(rt.clone()));
    let grace = Duration::from_secs(cfg.stream.shutdown_grace_s);
    watch_signals(rt, Arc::clone(&ctl), grace);
    let metrics = Arc::new(Metrics::new(engine.catalogue.patterns.iter().map(|p| p.name.clone()).collect()));
    let (lanes, workers) = start_workers(cfg, &req, sinks, &skip, &formats, &ctl, &metrics, rt)?;
    tracing::info!(
        stream = %req.name,
        start = %instant_string(start),
        end = %req.end.map_or("never".to_owned(), instant_string),
        speed = %req.speed.map_or("max".to_owned(), |s| s.to_string()),
        sinks = %lanes.iter().map(|l| l.name).collect::<Vec<_>>().join(","),
        machines = machines.len(),
        "stream starting"
    );
    let pace = Arc::new(Pace::new(req.speed, g0, now_secs()));
    let console = open_console(cfg, &req, &engine, &machines);
    let view = Arc::new(View::new(
        Arc::clone(&metrics),
        Arc::clone(&pace),
        lanes.iter().map(|l| SinkView { name: l.name, queue: Arc::clone(&l.queue), stats: l.stats.clone() }).collect(),
        console,
    ));
    // The control plane answers through the final drain, until the process ends.
    let server = listener.map(|l| {
        let token = cfg.stream.control_token.clone();
        let plane =
            control::Plane::new(Arc::clone(&view), Arc::clone(&ctl), commands_tx.clone(), token, &req.name, req.speed);
        serve_control(l, plane, &req, &view, rt)
    });
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    // Statistics go on through the final drain, until every delivery task has ended.
    let finished = CancellationToken::new();
    let stats_task = {
        let (ctl, view, finished) = (Arc::clone(&ctl), Arc::clone(&view), finished.clone());
        let every = Duration::from_secs(cfg.stream.stats_interval_s);
        let name = req.name.clone();
        rt.spawn(async move {
            finished.run_until_cancelled(stats_loop(&name, &ctl, &view, every)).await;
        })
    };
    let retention_task = retention_task(cfg, &req, &engine, &machines, g0)?
        .map(|task| rt.spawn(task.run(Arc::clone(&metrics), finished.clone())));
    drop(commands_tx);
    let steering = Steering { commands, journal, view: Arc::clone(&view) };
    let taps = Taps { console: view.console.clone(), opcua: opcua.clone() };
    let released = release(&engine, plan, counters, engine.threads, &lanes, &ctl, &view, taps, steering);
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    if let Err(e) = &released {
        ctl.fail(format!("{e:#}"), grace);
    }
    shut_down(&lanes, &ctl, grace, workers, rt);
    finished.cancel();
    let _ = rt.block_on(stats_task);
    if let Some(t) = retention_task {
        let _ = rt.block_on(t);
    }
    if let Some(s) = server {
        s.abort();
    }
    if let Some(f) = &opcua {
        f.stop();
    }
    tracing::debug!("final metrics:\n{}", metrics.encode());
    match ctl.failure() {
        Some(f) => bail!("{f}"),
        None => Ok(()),
    }
}

/// Serves the control plane on its own task.
fn serve_control(
    l: std::net::TcpListener,
    plane: control::Plane,
    req: &Request,
    view: &View,
    rt: &tokio::runtime::Handle,
) -> tokio::task::JoinHandle<()> {
    let listen = req.listen.expect("bound");
    let console = if view.console.is_some() { format!(", the console at http://{listen}/") } else { String::new() };
    tracing::info!(%listen, "serving /metrics, /healthz, /readyz, /faults{console}");
    rt.spawn(control::serve(l, plane))
}

/// The console's memory, when the control plane is served and `[stream] console_minutes`
/// is not 0.
fn open_console(cfg: &Config, req: &Request, engine: &Engine, machines: &[usize]) -> Option<Arc<console::Console>> {
    if req.listen.is_none() || cfg.stream.console_minutes == 0 {
        return None;
    }
    let sensors: usize = machines.iter().map(|&m| engine.plant.sensors_of(m).len()).sum();
    let minutes = console::minutes_within(cfg.stream.console_minutes, sensors, cfg.stream.console_mb << 20);
    if minutes < cfg.stream.console_minutes {
        tracing::warn!(
            minutes,
            sensors,
            "the console keeps {minutes} of [stream] console_minutes = {} within [stream] console_mb = {}",
            cfg.stream.console_minutes,
            cfg.stream.console_mb
        );
    }
    let c = console::Console::new(engine, machines, minutes);
    tracing::info!(
        minutes = c.minutes,
        machines = machines.len(),
        mib = format!("{:.1}", c.bytes() as f64 / f64::from(1 << 20)),
        "the console keeps the last minutes of every sensor ([stream] console_minutes)"
    );
    Some(Arc::new(c))
}

/// The retention task of a stream that delivers to PostgreSQL with `[retention] days` set.
fn retention_task(
    cfg: &Config,
    req: &Request,
    engine: &Engine,
    machines: &[usize],
    start: i64,
) -> Result<Option<retention::Task>> {
    if cfg.retention.days == 0 || !req.sinks.contains(&SinkKind::Postgres) {
        return Ok(None);
    }
    Ok(Some(retention::Task {
        days: cfg.retention.days,
        target: cfg.postgres.target()?,
        machines: machines.iter().map(|&m| engine.plant.machines[m].id.clone()).collect(),
        lines: engine.plant.lines.iter().map(|l| l.id.clone()).collect(),
        start,
    }))
}

/// The stream's injection journal — its file, extended by what a sink kept when the file
/// was lost or is behind — applied to the engine before anything is generated or counted,
/// and handed to the sinks that keep a copy with their commits.
async fn injection_journal(
    req: &Request,
    engine: &Engine,
    sinks: &mut [Box<dyn Live>],
) -> Result<crate::sim::inject::Journal> {
    let mut journal = crate::sim::inject::Journal::open(&req.state_dir, &req.name)?;
    for s in sinks.iter_mut() {
        let kept = s.injections(&req.name).await.map_err(|e| anyhow!("sink {}: {e:#}", s.name()))?;
        let restored = journal.adopt(&kept, s.name())?;
        if restored > 0 {
            tracing::info!(sink = s.name(), entries = restored, journal = %journal.path().display(), "injection journal restored from the sink");
        }
    }
    engine
        .apply_injections(&journal.entries)
        .map_err(|e| anyhow!("injection journal {}: {e}", journal.path().display()))?;
    if !journal.entries.is_empty() {
        tracing::info!(journal = %journal.path().display(), entries = journal.entries.len(), "injections re-applied");
    }
    for s in sinks.iter_mut() {
        s.keep_injections(&req.name, journal.shared());
    }
    Ok(journal)
}

/// Each sink's saved progress, the instant the stream starts at, and per sink the instant
/// through which it already holds everything (its ticks up to there are skipped).
///
/// With `--start T`, a sink whose progress lies after T resumes there (a restart of the same
/// command finishes the window instead of rewriting it); one whose progress lies before T
/// starts at T.
async fn where_to_start(req: &Request, sinks: &mut [Box<dyn Live>]) -> Result<(i64, Vec<i64>, Vec<Option<Progress>>)> {
    let mut resume: Vec<Option<Progress>> = Vec::new();
    for s in sinks.iter_mut() {
        resume.push(s.resume(&req.name).await.map_err(|e| anyhow!("sink {}: {e:#}", s.name()))?);
    }
    let skip: Vec<i64> = match req.start {
        Some(t) => {
            for (s, p) in sinks.iter().zip(&resume) {
                if let Some(p) = p.as_ref().filter(|p| p.through > t) {
                    tracing::info!(sink = s.name(), through = %instant_string(p.through), "the sink already holds the stream from --start on: resuming where it stopped");
                }
            }
            resume.iter().map(|p| p.as_ref().map_or(t, |p| p.through.max(t))).collect()
        }
        None => {
            // A stream with nowhere to resume starts at the current minute (so fault labels
            // of the episodes in progress, published at the window's first tick, are not
            // skipped).
            let now = now_secs() as i64;
            let fresh = resume.iter().flatten().map(|p| p.through).min().unwrap_or(now - now.rem_euclid(SCADA_STEP));
            resume.iter().map(|p| p.as_ref().map_or(fresh, |p| p.through)).collect()
        }
    };
    let start = skip.iter().copied().min().expect("at least one sink");
    Ok((start, skip, resume))
}

/// A queue and a delivery task per sink.
#[allow(clippy::too_many_arguments)]
fn start_workers(
    cfg: &Config,
    req: &Request,
    sinks: Vec<Box<dyn Live>>,
    skip: &[i64],
    formats: &[Format],
    ctl: &Arc<Control>,
    metrics: &Metrics,
    rt: &tokio::runtime::Handle,
) -> Result<(Vec<Lane>, JoinSet<()>)> {
    let flush = Flush {
        max_rows: cfg.stream.batch_rows,
        linger: Duration::from_millis(cfg.stream.linger_ms),
        grace: Duration::from_secs(cfg.stream.shutdown_grace_s),
    };
    let mut workers = JoinSet::new();
    let mut lanes = Vec::new();
    for (sink, &skip) in sinks.into_iter().zip(skip) {
        let fmt = formats.iter().position(|f| *f == sink.format()).expect("format planned");
        let name = sink.name();
        let spool = req.state_dir.join("spool").join(format!("{}-{name}", req.name));
        let queue = Arc::new(Buffer::new(cfg.stream.buffer_mb << 20, cfg.stream.spool_max_mb << 20, &spool)?);
        let stats = metrics.sink(name);
        stats.set_through(skip);
        let work = deliver::run(sink, Arc::clone(&queue), req.name.clone(), flush, stats.clone(), Arc::clone(ctl));
        workers.spawn_on(work, rt);
        lanes.push(Lane { name, fmt, skip, queue, stats });
    }
    Ok((lanes, workers))
}

/// Closes the queues and waits for the delivery tasks: until they have delivered
/// everything at the window's end, at most the grace period after a signal or an error
/// (then the tasks are cancelled: an uncommitted transaction is rolled back, and a restart
/// regenerates its rows).
fn shut_down(lanes: &[Lane], ctl: &Control, grace: Duration, mut workers: JoinSet<()>, rt: &tokio::runtime::Handle) {
    for l in lanes {
        l.queue.close();
    }
    if ctl.stopping() {
        tracing::info!(grace_s = grace.as_secs(), "stopping: delivering what is queued");
    }
    ctl.stop(if ctl.stopping() { Some(grace) } else { None });
    let waited = Instant::now();
    rt.block_on(async {
        // Cancelled tasks end at their next await point; a second's slack covers a call
        // that does not yield (a spool read).
        let all = async { while workers.join_next().await.is_some() {} };
        match ctl.deadline() {
            None => all.await,
            Some(at) => {
                if tokio::time::timeout_at((at + Duration::from_secs(1)).into(), all).await.is_err() {
                    tracing::warn!("a sink did not finish within the grace period");
                    workers.abort_all();
                }
            }
        }
    });
    let left: u64 = lanes
        .iter()
        .map(|l| {
            let d = l.queue.depth();
            d.mem_rows + d.spooled_rows + l.stats.in_hand()
        })
        .sum();
    for l in lanes {
        tracing::info!(sink = l.name, sent_rows = l.stats.delivered_total(), through = %instant_string(l.stats.through()), "sink stopped");
    }
    if left > 0 {
        tracing::warn!(rows = left, "stopped before delivering every queued row; a restart regenerates them");
    }
    tracing::info!(seconds = waited.elapsed().as_secs_f64(), "stream stopped");
}

/// One sink's place in the release loop.
struct Lane {
    name: &'static str,
    /// Index of its format in the plan.
    fmt: usize,
    /// Ticks through this instant are already in the sink.
    skip: i64,
    queue: Arc<Buffer>,
    stats: SinkMetrics,
}

/// Counters of machines at `g0` that the sinks hold (PostgreSQL's SCADA rows, Kafka's
/// progress file); the engine continues them (and estimates the others).
async fn known_counters(g0: i64, sinks: &mut [Box<dyn Live>], resume: &[Option<Progress>]) -> Result<scope::Known> {
    let mut known = scope::Known::new();
    for p in resume.iter().flatten() {
        if let Some((at, map)) = &p.counters {
            if *at <= g0 {
                known.extend(map.iter().map(|(id, c)| (id.clone(), (*at, *c))));
            }
        }
    }
    for s in sinks.iter_mut() {
        known.extend(s.checkpoints(g0).await.map_err(|e| anyhow!("sink {}: {e:#}", s.name()))?);
    }
    Ok(known)
}

/// What the generator thread steers by: the control plane's commands, and the journal
/// they are written to.
struct Steering {
    commands: mpsc::Receiver<inject::Command>,
    journal: crate::sim::inject::Journal,
    /// Where `GET /faults` reads the changes from.
    view: Arc<View>,
}

impl Steering {
    /// Waits up to `d` for a command and applies it (or sleeps when nobody can send one).
    fn wait(&mut self, d: Duration, ctl: &Control, engine: &Engine, gen: &mut Generator<'_>) {
        match self.commands.recv_timeout(d) {
            Ok(cmd) => inject::handle(cmd, engine, gen, &mut self.journal, &self.view),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => ctl.sleep(d),
        }
    }

    /// Applies the commands waiting now.
    fn drain(&mut self, engine: &Engine, gen: &mut Generator<'_>) {
        while let Ok(cmd) = self.commands.try_recv() {
            inject::handle(cmd, engine, gen, &mut self.journal, &self.view);
        }
    }
}

/// What the stream generates over `window` (`continues`: [`Plan::continues`]): its tables,
/// tick, formats and machines, and on a large shard ticks in parts (said in the log).
fn plan(
    cfg: &Config,
    req: &Request,
    engine: &Engine,
    machines: &[usize],
    formats: &[Format],
    window: (i64, i64),
    continues: bool,
) -> Plan {
    let sensors: usize = machines.iter().map(|&m| engine.plant.sensors_of(m).len()).sum();
    let (ticks_only, part_sensors) = Plan::large(sensors, cfg.stream.tick_part_sensors);
    let plan = Plan {
        tables: req.tables(),
        step: req.step(),
        formats: formats.to_vec(),
        machines: machines.to_vec(),
        window,
        counters: req.kind != StreamKind::Iot,
        ticks_only,
        part_sensors,
        continues,
    };
    if ticks_only {
        tracing::info!(
            stream = %req.name,
            sensors,
            "a tick at a time, in {} parts of about [stream] tick_part_sensors = {} sensors",
            plan.parts(|m| engine.plant.sensors_of(m).len()).len(),
            cfg.stream.tick_part_sensors
        );
    }
    plan
}

/// Generates blocks on a thread of their own and releases their ticks as the pace allows.
#[allow(clippy::too_many_arguments)]
fn release(
    engine: &Engine,
    plan: Plan,
    counters: Vec<Counters>,
    threads: usize,
    lanes: &[Lane],
    ctl: &Control,
    view: &View,
    taps: Taps,
    mut steering: Steering,
) -> Result<()> {
    let (pace, metrics) = (&view.pace, &view.metrics);
    // A rendezvous channel: at most one block waits while another is released.
    let (tx, rx) = mpsc::sync_channel::<Vec<Tick>>(0);
    let step = plan.step;
    // On a large plant a block is a tick whose rows are large (a gigabyte of JSON at ×1000):
    // it is generated no earlier than a tick before it is due, once the tick before it is
    // released, so memory holds one generated tick, not two.
    let lead_cap = plan.ticks_only.then(|| pace.period(step)).flatten().unwrap_or(Duration::MAX);
    let gen_taps = taps.clone();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut gen = Generator::new(engine, plan, counters, threads).with_taps(gen_taps);
            let mut took = Duration::ZERO;
            // A tick begun in parts is finished, even when stopping: its parts out so far
            // would otherwise be sent again after a restart.
            while !ctl.stopping() || gen.mid_tick() {
                // Generate just in time (memory holds one minute, not two), with a lead of
                // a few times what the last block took; a tick's later parts at once.
                let lead = (took * 3).max(GENERATION_LEAD).min(lead_cap);
                let due = gen.next_start().filter(|_| !gen.mid_tick());
                while let Some(wait) = due.and_then(|a| pace.wait_for(a)).filter(|w| *w > lead) {
                    if ctl.stopping() {
                        return;
                    }
                    let d = (wait - lead).min(Duration::from_secs(1));
                    if on_minute(&gen) {
                        steering.wait(d, ctl, engine, &mut gen);
                    } else {
                        ctl.sleep(d);
                    }
                }
                // Injections and clears are taken between minutes only, where they take
                // effect: none meets a minute whose ticks are partly out.
                if on_minute(&gen) {
                    steering.drain(engine, &mut gen);
                }
                let started = Instant::now();
                // Ahead of the clock (or less than a tick behind: a stream's start) a block
                // is one tick, a tick's rows held at once; further behind (catching up,
                // --speed max) a minute, which costs less per row.
                let ahead = gen.next_start().and_then(|a| pace.wait_for(a + step)).is_some();
                let Some(block) = gen.next_block(ahead) else { break };
                took = started.elapsed();
                if tx.send(block).is_err() {
                    break;
                }
            }
        });
        // The receiver ends with this closure, so a generator blocked on a full channel
        // wakes up and ends too.
        let rx = rx;
        // Whether the last release was a part of a tick whose other parts follow: a stop
        // waits for them (unless its grace has run out).
        let mut mid_tick = false;
        let leave =
            |mid_tick: bool| ctl.stopping() && (!mid_tick || ctl.deadline().is_some_and(|d| Instant::now() >= d));
        let mut watchdog = Instant::now();
        let mut beat = || {
            if watchdog.elapsed() >= Duration::from_secs(1) {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                watchdog = Instant::now();
            }
        };
        for block in rx.iter() {
            for tick in block {
                while let Some(wait) = pace.wait_for(tick.first) {
                    if leave(mid_tick) {
                        return Ok(());
                    }
                    ctl.sleep(wait.min(Duration::from_secs(1)));
                    beat();
                }
                if leave(mid_tick) {
                    return Ok(());
                }
                mid_tick = tick.open();
                for (table, _, rows) in &tick.batches[0].tables {
                    metrics.generated(*table, *rows);
                }
                if let Some(status) = &tick.status {
                    view.set_plant(tick.first, status);
                }
                if !tick.open() {
                    metrics.set_simulated(tick.through);
                    taps.release(tick.through);
                }
                for l in lanes {
                    if tick.through > l.skip {
                        // Back-pressure: a full queue makes generation wait for its sink.
                        let mut batch = tick.batches[l.fmt].clone();
                        while let Offer::Full(back) =
                            l.queue.offer(batch).map_err(|e| anyhow!("sink {}: {e:#}", l.name))?
                        {
                            if leave(mid_tick) {
                                return Ok(());
                            }
                            batch = back;
                            l.queue.wait_for_room(Duration::from_millis(500));
                            beat();
                        }
                    }
                }
            }
            beat();
        }
        Ok(())
    })
}

/// Whether the generator's next block starts a minute (not a later part of its first tick).
fn on_minute(gen: &Generator<'_>) -> bool {
    !gen.mid_tick() && gen.next_start().is_some_and(|a| a.rem_euclid(SCADA_STEP) == 0)
}

/// Logs a statistics line every `every`, until cancelled when every delivery task has
/// ended (through the final drain).
async fn stats_loop(name: &str, ctl: &Control, view: &View, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = now_secs();
        view.refresh(now);
        let sinks: Vec<String> = view
            .lanes
            .iter()
            .map(|l| {
                let (d, s) = (l.queue.depth(), &l.stats);
                let through = s.through();
                let lag = view.pace.lag(through, now).map_or(String::new(), |l| format!(" lag {l:.0}s"));
                format!(
                    "{}: sent {} buffered {} spooled {} errors {} at {}{lag}{}",
                    l.name,
                    s.delivered_total(),
                    d.mem_rows,
                    d.spooled_rows,
                    s.errors(),
                    instant_string(through),
                    if s.retrying() { " (retrying)" } else { "" }
                )
            })
            .collect();
        let draining = if ctl.stopping() { "draining: " } else { "" };
        let line = format!("{draining}generated {} rows; {}", view.metrics.generated_total(), sinks.join("; "));
        tracing::info!(stream = name, "{line}");
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(&line)]);
    }
}

/// Stops the stream gracefully on SIGTERM or SIGINT; a second signal exits at once.
fn watch_signals(rt: &tokio::runtime::Handle, ctl: Arc<Control>, grace: Duration) {
    rt.spawn(async move {
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            let mut seen = 0;
            loop {
                let which = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                seen += 1;
                if seen > 1 {
                    tracing::warn!("{which} again: exiting now; a restart regenerates what was not delivered");
                    std::process::exit(130);
                }
                tracing::info!("{which}: stopping");
                ctl.stop(Some(grace));
            }
        }
    });
}

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
