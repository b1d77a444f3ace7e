//! Live fault injection: the control plane's requests (`POST /faults`, `DELETE
//! /faults/{id}`) travel as [`Command`]s to the generator thread, which applies them between
//! two minutes — journaled durably first, then in the engine, then in the machine's day in
//! progress — and answers. So an injection lands at a whole simulated minute that no row has
//! been generated for, and a restart (even after kill -9) re-applies the journal before
//! generating anything: the stream stays identical to one that had the injection from the
//! start.
//!
//! Both requests may be retried safely: an injection repeated with its idempotency key finds
//! the episode it made, and clearing an episode already cleared or in repair changes
//! nothing. Each change is shown by `GET /faults` at once (see [`super::metrics::View`]).

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::generate::{EpisodeView, Generator};
use super::metrics::View;
use crate::clock::instant_string;
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
    /// The client's idempotency key (`Idempotency-Key`), if any.
    pub key: Option<String>,
}

/// What a command did: the episode as JSON, and whether it was made now (`201`) or the
/// request found it as it stands (`200`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: Value,
    pub created: bool,
}

/// The answer to a command, or why not.
pub type Reply = Result<Answer, Refusal>;

/// A request for the generator thread.
pub enum Command {
    Inject(InjectRequest, oneshot::Sender<Reply>),
    Clear(i64, oneshot::Sender<Reply>),
}

/// Applies one command at the generator's next minute, shows its effect in `view`'s episode
/// list, and answers it.
pub fn handle(cmd: Command, engine: &Engine, gen: &mut Generator<'_>, journal: &mut Journal, view: &View) {
    let (reply, answer) = match cmd {
        Command::Inject(req, reply) => (reply, inject(req, engine, gen, journal)),
        Command::Clear(id, reply) => (reply, clear(id, engine, gen, journal)),
    };
    if let (Ok(a), Some(now)) = (&answer, gen.next_minute()) {
        if let Some(id) = a.body["id"].as_i64() {
            view.note_change(now, id, episode_view(engine, id, now));
        }
    }
    let _ = reply.send(answer);
}

fn inject(req: InjectRequest, engine: &Engine, gen: &mut Generator<'_>, journal: &mut Journal) -> Reply {
    let now = gen.next_minute().ok_or_else(|| Refusal::Conflict("the stream's window has ended".to_owned()))?;
    if let Some(found) = repeated(&req, journal)? {
        return match cancelled_at(journal, found, engine) {
            Some(at) => Ok(cancelled(found, at)),
            None => answer(engine, found, now, false),
        };
    }
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
        key: req.key.clone(),
    });
    commit(engine, gen, journal, m, new)?;
    answer(engine, id, now, true)
}

/// The episode an earlier request with the same idempotency key made, if any; the key used
/// for a different request is refused.
fn repeated(req: &InjectRequest, journal: &Journal) -> Result<Option<i64>, Refusal> {
    let Some(key) = &req.key else { return Ok(None) };
    let Some(Entry::Inject { id, machine_id, pattern, at, duration_s, severity, .. }) =
        journal.entries.iter().find(|e| matches!(e, Entry::Inject { key: Some(k), .. } if k == key))
    else {
        return Ok(None);
    };
    let same_onset = req.at.is_none_or(|t| instant_string(ceil_minute(t)) == *at);
    let same = *machine_id == req.machine_id
        && *pattern == req.pattern
        && *duration_s == req.duration_s
        && *severity == req.severity
        && same_onset;
    if !same {
        return Err(Refusal::KeyReused(format!(
            "idempotency key `{key}` was used for another request (episode {id}: {pattern} on {machine_id} at {at})"
        )));
    }
    Ok(Some(*id))
}

/// Ends injected episode `id` now. Idempotent, since clients retry: an episode already
/// cleared (or cancelled before its onset), or whose fault is over and whose repair is under
/// way, is answered as it stands (200), and nothing is journaled.
fn clear(id: i64, engine: &Engine, gen: &mut Generator<'_>, journal: &mut Journal) -> Reply {
    let now = gen.next_minute().ok_or_else(|| Refusal::Conflict("the stream's window has ended".to_owned()))?;
    if let Some(at) = cancelled_at(journal, id, engine) {
        return Ok(cancelled(id, at));
    }
    let injected = engine.injected();
    let Some(ep) = injected.iter().find(|e| e.id == id) else {
        return Err(Refusal::NotFound(format!(
            "no injected episode {id} (catalogue episodes cannot be cleared; GET /faults lists the episodes)"
        )));
    };
    if ep.cleared_at.is_some() || (ep.fault_end <= now && now < ep.end()) {
        return answer(engine, id, now, false);
    }
    if ep.end() <= now {
        return Err(Refusal::Conflict(format!("episode {id} already ended at {}", instant_string(ep.end()))));
    }
    let m = ep.machine;
    commit(engine, gen, journal, m, vec![Entry::Clear { id, at: instant_string(now), replaced: false }])?;
    match answer(engine, id, now, false) {
        Err(Refusal::NotFound(_)) => Ok(cancelled(id, instant_string(now))),
        other => other,
    }
}

/// When injected episode `id` was cleared before its onset (it then never happens), if it
/// was: the journal holds its injection and a clear, and the engine no episode.
fn cancelled_at(journal: &Journal, id: i64, engine: &Engine) -> Option<String> {
    let injected = journal.entries.iter().any(|e| matches!(e, Entry::Inject { id: i, .. } if *i == id));
    if !injected || engine.injected().iter().any(|e| e.id == id) {
        return None;
    }
    journal.entries.iter().rev().find_map(|e| match e {
        Entry::Clear { id: i, at, .. } if *i == id => Some(at.clone()),
        _ => None,
    })
}

/// The answer to clearing an episode before its onset.
fn cancelled(id: i64, at: String) -> Answer {
    Answer { body: json!({ "id": id, "cancelled": true, "at": at }), created: false }
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

/// The injected episode `id` as `GET /faults` shows it at `now`, if it exists.
fn episode_view(engine: &Engine, id: i64, now: i64) -> Option<EpisodeView> {
    engine.injected().iter().find(|e| e.id == id).map(|ep| EpisodeView::of(engine, ep, now))
}

/// The injected episode `id` as the answer to a request.
fn answer(engine: &Engine, id: i64, now: i64, created: bool) -> Reply {
    let ep = episode_view(engine, id, now).ok_or_else(|| Refusal::NotFound(format!("no episode {id}")))?;
    Ok(Answer { body: serde_json::to_value(ep).expect("a view serializes"), created })
}
