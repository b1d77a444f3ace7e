//! Live fault injection: the control plane's requests (`POST /faults`, `DELETE
//! /faults/{id}`) travel as [`Command`]s to the generator thread, which applies them between
//! two minutes — journaled durably first, then in the engine, then in the machine's day in
//! progress — and answers. So an injection lands at a whole simulated minute that no row has
//! been generated for, and a restart (even after kill -9) re-applies the journal before
//! generating anything: the stream stays identical to one that had the injection from the
//! start.

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::generate::{EpisodeView, Generator};
use crate::sim::clock::instant_string;
use crate::sim::inject::{ceil_minute, Entry, Journal, Refusal};
use crate::sim::Engine;

/// What `POST /faults` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectRequest {
    pub machine_id: String,
    pub pattern: String,
    /// The onset (simulated time); now when absent.
    pub at: Option<i64>,
    pub duration_s: Option<i64>,
    pub severity: Option<String>,
    /// End the machine's injected episode (if any) to make room.
    pub replace: bool,
}

/// The answer to a command: the episode as JSON, or why not.
pub type Reply = Result<Value, Refusal>;

/// A request for the generator thread.
pub enum Command {
    Inject(InjectRequest, oneshot::Sender<Reply>),
    Clear(i64, oneshot::Sender<Reply>),
}

/// Applies one command at the generator's next minute and answers it.
pub fn handle(cmd: Command, engine: &Engine, gen: &mut Generator<'_>, journal: &mut Journal) {
    match cmd {
        Command::Inject(req, reply) => {
            let _ = reply.send(inject(req, engine, gen, journal));
        }
        Command::Clear(id, reply) => {
            let _ = reply.send(clear(id, engine, gen, journal));
        }
    }
}

fn inject(req: InjectRequest, engine: &Engine, gen: &mut Generator<'_>, journal: &mut Journal) -> Reply {
    let now = gen.next_start().ok_or_else(|| Refusal::Conflict("the stream's window has ended".to_owned()))?;
    let at = req.at.map_or(now, ceil_minute);
    if at < now {
        return Err(Refusal::Invalid(format!(
            "at {} is in the stream's past: it is at {} now",
            instant_string(at),
            instant_string(now)
        )));
    }
    let m = engine
        .plant
        .machines
        .iter()
        .position(|mc| mc.id == req.machine_id)
        .ok_or_else(|| Refusal::NotFound(format!("no machine {}", req.machine_id)))?;
    if !gen.holds(m) {
        return Err(Refusal::NotFound(format!("{} is not in this stream's shard", req.machine_id)));
    }
    let id = journal.next_id();
    let mut new = Vec::new();
    if req.replace {
        // The machine's injected episodes still to come or under way end now, making room.
        for ep in engine.injected().iter().filter(|e| e.machine == m && e.end() > at && e.cleared_at.is_none()) {
            new.push(Entry::Clear { id: ep.id, at: instant_string(at), replaced: true });
        }
    }
    new.push(Entry::Inject {
        id,
        machine_id: req.machine_id.clone(),
        pattern: req.pattern.clone(),
        at: instant_string(at),
        duration_s: req.duration_s,
        severity: req.severity.clone(),
    });
    commit(engine, gen, journal, m, new)?;
    view(engine, id, now)
}

fn clear(id: i64, engine: &Engine, gen: &mut Generator<'_>, journal: &mut Journal) -> Reply {
    let now = gen.next_start().ok_or_else(|| Refusal::Conflict("the stream's window has ended".to_owned()))?;
    let injected = engine.injected();
    let Some(ep) = injected.iter().find(|e| e.id == id) else {
        return Err(Refusal::NotFound(format!(
            "no injected episode {id} (catalogue episodes cannot be cleared; GET /faults lists the episodes)"
        )));
    };
    if ep.end() <= now {
        return Err(Refusal::Conflict(format!("episode {id} already ended at {}", instant_string(ep.end()))));
    }
    let m = ep.machine;
    commit(engine, gen, journal, m, vec![Entry::Clear { id, at: instant_string(now), replaced: false }])?;
    match view(engine, id, now) {
        Err(Refusal::NotFound(_)) => Ok(json!({ "id": id, "cancelled": true, "at": instant_string(now) })),
        other => other,
    }
}

/// Checks the entries against the whole journal, writes them durably, and applies them.
fn commit(
    engine: &Engine,
    gen: &mut Generator<'_>,
    journal: &mut Journal,
    m: usize,
    new: Vec<Entry>,
) -> Result<(), Refusal> {
    let mut all = journal.entries.clone();
    all.extend(new.iter().cloned());
    // Checked on a copy first: the engine keeps what it had if any entry is refused.
    engine.apply_injections(&all)?;
    if let Err(e) = journal.append(&new) {
        let _ = engine.apply_injections(&journal.entries);
        return Err(Refusal::Failed(format!("{e:#}")));
    }
    gen.rebuild(m);
    Ok(())
}

/// The injected episode `id` as `GET /faults` shows it.
fn view(engine: &Engine, id: i64, now: i64) -> Reply {
    let injected = engine.injected();
    let ep = injected.iter().find(|e| e.id == id).ok_or_else(|| Refusal::NotFound(format!("no episode {id}")))?;
    Ok(serde_json::to_value(EpisodeView::of(engine, ep, now)).expect("a view serializes"))
}
