//! The live console's memory: what `GET /` and the `/api/…` endpoints of the control plane
//! show of a running stream.
//!
//! Per machine of the shard, a [`Trace`] keeps the last minutes of every sensor's readings
//! (one slot per 10-s reading, the value as the sinks print it: four decimals, held as a
//! fixed-point `i32`), the machine's SCADA state per minute, its last SCADA rows and its
//! recent maintenance and fault records (as tagged cells, spelled as the JSON the sinks
//! publish when a page asks). The generator feeds it through [`Tap`], an [`Emit`] receiver
//! in front of the tick buffers, so the console sees exactly the rows the sinks get; the
//! endpoints show only what the release loop has released ([`Console::release`]).
//!
//! Memory is fixed at start: `sensors × (minutes + AHEAD) × 6 × 4` bytes of readings, plus
//! per machine its newest released SCADA row and those generated ahead of it (about 280
//! bytes each), its maintenance and fault records of the last week (64 at most) and the
//! marks of the readings its slots still hold ([`Console::bytes`] tells the fixed part, and
//! the start-up line logs it); [`minutes_within`] shortens the history of a plant too large
//! for `[stream] console_mb`. `[stream] console_minutes = 0` turns the console off.

pub mod api;
pub mod assets;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::clock::{SCADA_STEP, SENSOR_STEP};
use crate::encode::cells::{replay, Cell, Reader};
use crate::encode::{encode, encode_fields, text::scaled, Format};
use crate::rows::{Cells, Emit, Row, Table};
use crate::sim::machine::State;
use crate::sim::Engine;
use crate::stream::generate::EpisodeView;

/// Minutes a trace holds beyond the history shown: the generator runs up to two blocks
/// ahead of the release loop, and those minutes must not overwrite the oldest shown.
pub const AHEAD: usize = 3;
/// Readings per minute.
const PER_MINUTE: usize = (SCADA_STEP / SENSOR_STEP) as usize;
/// A slot with no reading (a gap, or a minute not generated yet).
const NONE: i32 = i32::MIN;
/// A reading beyond ±214,748.3647: its value is among the trace's marks.
const WIDE: i32 = i32::MAX;
/// A minute with no SCADA row.
const NO_STATE: u8 = u8::MAX;
/// SCADA rows kept per machine (the newest released one is shown).
const SCADA_ROWS: usize = AHEAD + 1;
/// Maintenance and fault records kept per machine at most.
const EVENTS: usize = 64;
/// How long a maintenance or fault record is kept and shown: a week. Bounds the records'
/// memory by the plant's rate of records rather than by how long the stream has run (a
/// default machine has about 0.2 a day; a ×1000 plant that kept 64 each of ~830 bytes of
/// JSON would have held about 13 GB after a year).
pub const EVENT_AGE: i64 = 7 * crate::clock::DAY;
/// Readings of a quality other than `good` kept per machine.
const MARKS: usize = 128;
/// The qualities a mark names, by [`Mark::quality`].
pub const QUALITIES: [&str; 4] = ["good", "uncertain", "out_of_range", "other"];

/// The minutes of history, at most `minutes`, whose readings for `sensors` sensors fit in
/// `budget` bytes (at least one).
pub fn minutes_within(minutes: usize, sensors: usize, budget: usize) -> usize {
    let per_minute = (sensors * PER_MINUTE * 4).max(1);
    (budget / per_minute).saturating_sub(AHEAD).clamp(1, minutes.max(1))
}

/// A sensor as the console draws it: its id and its role (name, label, unit and limits).
#[derive(Debug, Clone)]
pub struct SensorInfo {
    pub id: String,
    pub role: &'static crate::plant::roles::Role,
}

/// A machine as the console lists it.
#[derive(Debug, Clone)]
pub struct MachineInfo {
    pub id: String,
    pub name: String,
    pub machine_type: &'static str,
    pub line: usize,
    pub sensors: Vec<SensorInfo>,
}

/// The plant's hierarchy and the catalogue, copied from the engine at start (the control
/// plane outlives no engine, but runs on other threads).
#[derive(Debug, Clone)]
pub struct PlantInfo {
    /// (id, name) per factory.
    pub factories: Vec<(String, String)>,
    /// (id, name, factory) per line.
    pub lines: Vec<(String, String, usize)>,
    pub machines: Vec<MachineInfo>,
    /// Per factory, its lines; per line, its machines (plant indices, in order).
    pub factory_lines: Vec<Vec<usize>>,
    pub line_machines: Vec<Vec<usize>>,
    /// Catalogue patterns: name, the machine types it applies to, its severities.
    pub patterns: Vec<PatternInfo>,
}

/// A catalogue pattern as the injection form offers it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PatternInfo {
    pub name: String,
    pub machine_types: Vec<String>,
    pub severities: Vec<String>,
    pub min_hours: f64,
    pub max_hours: f64,
}

impl PlantInfo {
    pub fn of(engine: &Engine) -> PlantInfo {
        let p = &engine.plant;
        let machines = p
            .machines
            .iter()
            .enumerate()
            .map(|(m, mc)| MachineInfo {
                id: mc.id.clone(),
                name: mc.name.clone(),
                machine_type: mc.machine_type,
                line: mc.line,
                sensors: p.sensors[p.sensors_of(m)]
                    .iter()
                    .map(|s| SensorInfo { id: s.id.clone(), role: s.role })
                    .collect(),
            })
            .collect();
        let types: Vec<&str> = {
            let mut t: Vec<&str> = p.machines.iter().map(|m| m.machine_type).collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        let patterns = engine
            .catalogue
            .patterns
            .iter()
            .map(|pt| PatternInfo {
                name: pt.name.clone(),
                machine_types: types.iter().filter(|t| pt.applies_to(t)).map(|t| (*t).to_owned()).collect(),
                severities: pt.severities().into_iter().map(str::to_owned).collect(),
                min_hours: pt.duration.min_hours,
                max_hours: pt.duration.max_hours,
            })
            .collect();
        let mut factory_lines = vec![Vec::new(); p.factories.len()];
        for (l, line) in p.lines.iter().enumerate() {
            factory_lines[line.factory].push(l);
        }
        let mut line_machines = vec![Vec::new(); p.lines.len()];
        for (m, mc) in p.machines.iter().enumerate() {
            line_machines[mc.line].push(m);
        }
        PlantInfo {
            factory_lines,
            line_machines,
            factories: p.factories.iter().map(|f| (f.id.clone(), f.name.clone())).collect(),
            lines: p.lines.iter().map(|l| (l.id.clone(), l.name.clone(), l.factory)).collect(),
            machines,
            patterns,
        }
    }
}

/// A record kept as the sinks publish it.
#[derive(Debug, Clone)]
pub struct Record {
    /// When it may be released.
    pub at: i64,
    pub table: Table,
    /// The row as tagged cells ([`crate::encode::cells`]): a SCADA row about 280 bytes
    /// against its JSON's 1,060. [`Record::json`] spells it as the JSON Lines sink does
    /// when a page asks.
    pub cells: Box<[u8]>,
    /// A SCADA row's OEE (percent), read once here rather than from the row at each poll.
    pub oee: Option<f64>,
}

impl Record {
    /// The row as a JSON object, as the JSON Lines encoding prints it.
    pub fn json(&self) -> String {
        let cells: Vec<Cell> = Reader::new(&self.cells).collect();
        let mut out = Vec::with_capacity(self.cells.len() * 3);
        let scales = crate::db::schema::decimal_scales(self.table);
        encode_fields(Format::Jsonl, self.table.columns(), true, &mut out, |c| replay(&cells, scales, c));
        String::from_utf8(out).expect("JSON is UTF-8")
    }
}

/// A reading whose quality is not `good`.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pub ts: i64,
    pub value: f64,
    pub sensor: u16,
    /// Index in [`QUALITIES`].
    pub quality: u8,
}

/// One machine's recent past.
pub struct Trace {
    sensors: usize,
    /// Reading slots per sensor.
    slots: usize,
    /// `[sensor][slot]`: the reading × 10⁴, [`NONE`] or [`WIDE`].
    values: Vec<i32>,
    /// The newest SCADA rows, oldest first.
    pub scada: VecDeque<Record>,
    /// Maintenance and fault records of the last [`EVENT_AGE`], oldest first.
    pub events: VecDeque<Record>,
    pub marks: VecDeque<Mark>,
}

impl Trace {
    fn new(sensors: usize, minutes: usize) -> Trace {
        let slots = minutes * PER_MINUTE;
        Trace {
            sensors,
            slots,
            values: vec![NONE; sensors * slots],
            scada: VecDeque::with_capacity(SCADA_ROWS),
            events: VecDeque::new(),
            marks: VecDeque::new(),
        }
    }

    fn slot(&self, ts: i64) -> usize {
        ts.div_euclid(SENSOR_STEP).rem_euclid(self.slots as i64) as usize
    }

    /// Forgets `[a, b)` before it is generated (again).
    fn begin(&mut self, a: i64, b: i64) {
        let mut t = a - a.rem_euclid(SENSOR_STEP);
        while t < b {
            let k = self.slot(t);
            for s in 0..self.sensors {
                self.values[s * self.slots + k] = NONE;
            }
            t += SENSOR_STEP;
        }
    }

    fn reading(&mut self, sensor: usize, ts: i64, value: f64, quality: u8) {
        let v = i32::try_from(scaled(value, 4)).ok().filter(|v| *v != NONE && *v != WIDE).unwrap_or(WIDE);
        let k = self.slot(ts);
        self.values[sensor * self.slots + k] = v;
        if quality != 0 || v == WIDE {
            // Marks older than the slots show nothing (a mark names a reading the slots hold).
            let horizon = ts - self.slots as i64 * SENSOR_STEP;
            while self.marks.front().is_some_and(|m| m.ts <= horizon) || self.marks.len() == MARKS {
                self.marks.pop_front();
            }
            self.marks.push_back(Mark { ts, sensor: sensor as u16, quality, value });
        }
    }

    /// Sensor `s`'s reading at `ts` (a multiple of 10 s), if any.
    pub fn value(&self, s: usize, ts: i64) -> Option<f64> {
        match self.values[s * self.slots + self.slot(ts)] {
            NONE => None,
            WIDE => self.marks.iter().rev().find(|m| m.ts == ts && m.sensor as usize == s).map(|m| m.value),
            v => Some(f64::from(v) / 1e4),
        }
    }

    /// The newest SCADA row released before `through`.
    pub fn scada_before(&self, through: i64) -> Option<&Record> {
        self.scada.iter().rev().find(|r| r.at < through)
    }

    /// Keeps `rec`; a SCADA row also forgets the rows before the newest released before
    /// `released` (only that one is shown, and the generator's rows ahead of it are kept),
    /// and another record those older than [`EVENT_AGE`] before it.
    fn record(&mut self, rec: Record, released: i64) {
        let (list, cap) = match rec.table {
            Table::ScadaMachineData => {
                while self.scada.get(1).is_some_and(|next| next.at < released) {
                    self.scada.pop_front();
                }
                (&mut self.scada, SCADA_ROWS)
            }
            _ => {
                while self.events.front().is_some_and(|old| old.at <= rec.at - EVENT_AGE) {
                    self.events.pop_front();
                }
                (&mut self.events, EVENTS)
            }
        };
        if list.len() == cap {
            list.pop_front();
        }
        list.push_back(rec);
    }

    fn bytes(&self) -> usize {
        self.values.len() * 4 + MARKS * std::mem::size_of::<Mark>()
    }
}

/// The console's memory of every machine of the stream.
pub struct Console {
    pub plant: PlantInfo,
    /// Minutes shown at most.
    pub minutes: usize,
    /// Per plant machine: its trace, when the stream generates it.
    traces: Vec<Option<Mutex<Trace>>>,
    /// Per plant machine, per minute slot: the SCADA state's index in [`State::ALL`], or
    /// [`NO_STATE`]. One array for the plant, not one per trace: `/api/plant` reads every
    /// machine's state, and reads it without taking the machine's lock.
    states: Vec<AtomicU8>,
    /// Minute slots per machine in `states`.
    minute_slots: usize,
    /// Everything before this instant is released.
    released: AtomicI64,
    /// Episodes seen in the history shown, as last seen (a machine's page tints their
    /// phases after they end).
    recent: Mutex<Vec<EpisodeView>>,
}

impl Console {
    /// A console of `minutes` of history over `machines` (plant indices).
    pub fn new(engine: &Engine, machines: &[usize], minutes: usize) -> Console {
        let plant = PlantInfo::of(engine);
        let mut traces: Vec<Option<Mutex<Trace>>> = (0..plant.machines.len()).map(|_| None).collect();
        for &m in machines {
            traces[m] = Some(Mutex::new(Trace::new(plant.machines[m].sensors.len(), minutes + AHEAD)));
        }
        let minute_slots = minutes + AHEAD;
        let states = (0..traces.len() * minute_slots).map(|_| AtomicU8::new(NO_STATE)).collect();
        Console {
            plant,
            minutes,
            traces,
            states,
            minute_slots,
            released: AtomicI64::new(0),
            recent: Mutex::new(Vec::new()),
        }
    }

    fn state_slot(&self, m: usize, ts: i64) -> usize {
        m * self.minute_slots + ts.div_euclid(SCADA_STEP).rem_euclid(self.minute_slots as i64) as usize
    }

    /// Machine `m`'s SCADA state at minute `ts`, if a row said.
    pub fn state(&self, m: usize, ts: i64) -> Option<State> {
        State::ALL.get(self.states[self.state_slot(m, ts)].load(Ordering::Relaxed) as usize).copied()
    }

    fn set_state(&self, m: usize, ts: i64, state: u8) {
        self.states[self.state_slot(m, ts)].store(state, Ordering::Relaxed);
    }

    /// Notes episodes as they now stand (each replaces what was seen of it) and forgets
    /// those that ended before the history shown.
    pub fn note_episodes<'a>(&self, episodes: impl IntoIterator<Item = &'a EpisodeView>) {
        let mut recent = self.recent.lock().expect("no poisoned lock");
        for e in episodes {
            match recent.iter_mut().find(|r| r.id == e.id) {
                Some(r) => *r = e.clone(),
                None => recent.push(e.clone()),
            }
        }
        let horizon = crate::clock::instant_string(self.released() - self.minutes as i64 * SCADA_STEP);
        recent.retain(|e| e.end >= horizon);
    }

    /// Forgets episode `id` (cancelled before its onset: it never happens).
    pub fn forget(&self, id: i64) {
        self.recent.lock().expect("no poisoned lock").retain(|e| e.id != id);
    }

    /// Machine `id`'s episodes seen in the history shown, by onset.
    pub fn episodes_of(&self, id: &str) -> Vec<EpisodeView> {
        let recent = self.recent.lock().expect("no poisoned lock");
        let mut list: Vec<EpisodeView> = recent.iter().filter(|e| e.machine_id == id).cloned().collect();
        list.sort_by(|a, b| (&a.onset, a.id).cmp(&(&b.onset, b.id)));
        list
    }

    /// Machine `m`'s trace, locked; `None` when this stream does not generate it.
    pub fn trace(&self, m: usize) -> Option<MutexGuard<'_, Trace>> {
        self.traces.get(m)?.as_ref().map(|t| t.lock().expect("no poisoned lock"))
    }

    /// Whether this stream generates machine `m`.
    pub fn holds(&self, m: usize) -> bool {
        self.traces.get(m).is_some_and(Option::is_some)
    }

    /// Everything before `through` has been released to the sinks.
    pub fn release(&self, through: i64) {
        self.released.fetch_max(through, Ordering::Relaxed);
    }

    /// The instant before which the console shows rows (0 before the first tick).
    pub fn released(&self) -> i64 {
        self.released.load(Ordering::Relaxed)
    }

    /// Bytes the traces and states hold (fixed at start).
    pub fn bytes(&self) -> usize {
        self.states.len()
            + self.traces.iter().flatten().map(|t| t.lock().expect("no poisoned lock").bytes()).sum::<usize>()
    }

    /// Machine `m`'s rows of `[a, b)` go through the returned receiver, in front of `inner`.
    pub fn tap<'c, E: Emit>(&'c self, m: usize, a: i64, b: i64, inner: &'c mut E) -> Option<Tap<'c, E>> {
        let mut trace = self.trace(m)?;
        trace.begin(a, b);
        // The minutes starting in the block (a block of one tick may start none).
        let mut t = a + (SCADA_STEP - a.rem_euclid(SCADA_STEP)) % SCADA_STEP;
        while t < b {
            self.set_state(m, t, NO_STATE);
            t += SCADA_STEP;
        }
        Some(Tap { inner, trace, console: self, m, sensors: &self.plant.machines[m].sensors, cells: Vec::new() })
    }
}

/// An [`Emit`] receiver that keeps what the console shows of one machine's rows and hands
/// every row on.
pub struct Tap<'c, E: Emit> {
    inner: &'c mut E,
    trace: MutexGuard<'c, Trace>,
    console: &'c Console,
    m: usize,
    sensors: &'c [SensorInfo],
    cells: Vec<u8>,
}

impl<E: Emit> Tap<'_, E> {
    fn keep<R: Row>(&mut self, row: &R, at: i64, oee: Option<f64>) {
        self.cells.clear();
        encode(Format::Cells, row, &mut self.cells);
        let cells = self.cells.as_slice().into();
        self.trace.record(Record { at, table: R::TABLE, cells, oee }, self.console.released());
    }
}

impl<E: Emit> Emit for Tap<'_, E> {
    #[inline]
    fn emit<R: Row>(&mut self, row: &R, at: i64) {
        match R::TABLE {
            Table::SensorData => {
                let mut pick = Pick::new(self.sensors);
                row.visit(&mut pick);
                if let (Some(s), Some(ts), Some(v)) = (pick.sensor, pick.ts, pick.value) {
                    self.trace.reading(s, ts, v, pick.quality);
                }
            }
            Table::ScadaMachineData => {
                let mut pick = Pick::new(&[]);
                row.visit(&mut pick);
                if let (Some(ts), Some(state)) = (pick.ts, pick.state) {
                    self.console.set_state(self.m, ts, state);
                }
                self.keep(row, at, pick.value);
            }
            Table::MaintenanceEvents | Table::MachineFaults => self.keep(row, at, None),
            _ => {}
        }
        self.inner.emit(row, at);
    }

    fn labelled(&mut self, pattern: usize) {
        self.inner.labelled(pattern);
    }

    fn expect(&mut self, table: Table, rows: usize) {
        self.inner.expect(table, rows);
    }
}

/// The cells the console (and the OPC UA server) read from a reading or a SCADA row, by
/// column position (`sensor_data`: sensor_id 1, timestamp 5, measurement_value 6, quality 9;
/// `scada_machine_data`: timestamp 4, machine_state 5, oee_percentage 17 — into `value`).
pub(crate) struct Pick<'s> {
    col: usize,
    sensors: &'s [SensorInfo],
    /// The reading's sensor: its index among the machine's.
    pub sensor: Option<usize>,
    pub ts: Option<i64>,
    /// The reading's value (the OEE of a SCADA row), as the sinks print it.
    pub value: Option<f64>,
    /// The reading's quality: its index in [`QUALITIES`].
    pub quality: u8,
    /// The SCADA row's state: its index in [`State::ALL`].
    pub state: Option<u8>,
}

impl<'s> Pick<'s> {
    /// Reads a reading of one of `sensors` (the machine's), or a SCADA row when empty.
    pub(crate) fn new(sensors: &'s [SensorInfo]) -> Pick<'s> {
        Pick { col: 0, sensors, sensor: None, ts: None, value: None, quality: 0, state: None }
    }
}

impl Cells for Pick<'_> {
    fn null(&mut self) {
        self.col += 1;
    }
    fn text(&mut self, s: &str) {
        match (self.sensors.is_empty(), self.col) {
            (false, 1) => self.sensor = self.sensors.iter().position(|x| x.id == s),
            (false, 9) => self.quality = QUALITIES.iter().position(|q| *q == s).unwrap_or(QUALITIES.len() - 1) as u8,
            (true, 5) => self.state = State::ALL.iter().position(|st| st.name() == s).map(|i| i as u8),
            _ => {}
        }
        self.col += 1;
    }
    fn int4(&mut self, _v: i32) {
        self.col += 1;
    }
    fn int8(&mut self, _v: i64) {
        self.col += 1;
    }
    fn dec(&mut self, v: f64, scale: u8) {
        if (self.col == 6 && !self.sensors.is_empty()) || (self.col == 17 && self.sensors.is_empty()) {
            // As the sinks print it.
            self.value = Some(scaled(v, scale) as f64 / 10f64.powi(i32::from(scale)));
        }
        self.col += 1;
    }
    fn boolean(&mut self, _b: bool) {
        self.col += 1;
    }
    fn ts(&mut self, t: i64) {
        if (self.col == 5 && !self.sensors.is_empty()) || (self.col == 4 && self.sensors.is_empty()) {
            self.ts = Some(t);
        }
        self.col += 1;
    }
    fn date(&mut self, _days: i64) {
        self.col += 1;
    }
    fn time(&mut self, _secs: i64) {
        self.col += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{SCADA, SENSOR_DATA};

    /// The positions [`Pick`] reads are the columns it means.
    #[test]
    fn pick_reads_the_columns_it_names() {
        assert_eq!(
            [SENSOR_DATA[1], SENSOR_DATA[5], SENSOR_DATA[6], SENSOR_DATA[9]],
            ["sensor_id", "timestamp", "measurement_value", "quality"]
        );
        assert_eq!([SCADA[4], SCADA[5], SCADA[17]], ["timestamp", "machine_state", "oee_percentage"]);
    }

    #[test]
    fn a_large_plant_keeps_fewer_minutes() {
        assert_eq!(minutes_within(60, 1716, 256 << 20), 60, "the default plant keeps the hour");
        // ×1000: 1.716 M sensors, 41 MB a minute.
        let m = minutes_within(60, 1_716_000, 256 << 20);
        assert_eq!(m, 3, "256 MiB hold 6 minutes of which 3 run ahead");
        assert!((m + AHEAD) * 1_716_000 * 24 <= 256 << 20);
        assert_eq!(minutes_within(60, 100_000_000, 256 << 20), 1, "never fewer than one");
    }

    /// A trace keeps what the sinks print: the readings to four decimals, gaps as gaps, wide
    /// values exactly, and a minute generated again forgets what it held.
    #[test]
    fn a_trace_keeps_the_printed_values_and_forgets_a_regenerated_minute() {
        let mut t = Trace::new(2, 4);
        t.begin(600, 660);
        t.reading(0, 600, 12.345_67, 0);
        t.reading(1, 610, -32768.0, 2);
        t.reading(1, 620, 250_000.123_4, 0);
        assert_eq!(t.value(0, 600), Some(12.3457));
        assert_eq!(t.value(0, 610), None, "no reading: a gap");
        assert_eq!(t.value(1, 610), Some(-32768.0));
        assert_eq!(t.value(1, 620), Some(250_000.123_4), "beyond i32's range: kept among the marks");
        assert_eq!(t.marks.len(), 2);
        t.begin(600, 660);
        assert_eq!(t.value(0, 600), None, "a minute generated again starts empty");
        // Four minutes of slots: a minute four minutes later takes the same slots.
        t.begin(840, 900);
        t.reading(0, 840, 1.0, 0);
        assert_eq!(t.value(0, 600), Some(1.0), "the ring wraps after its minutes");
    }

    /// What a trace can no longer show it forgets: SCADA rows older than the newest released
    /// one, and marks of readings whose slots have been taken again.
    #[test]
    fn a_trace_forgets_rows_and_marks_it_can_no_longer_show() {
        let mut t = Trace::new(1, 2);
        let row = |at| Record { at, table: Table::ScadaMachineData, cells: Box::new([]), oee: None };
        for at in [60, 120, 180] {
            t.record(row(at), 0);
        }
        assert_eq!(t.scada.len(), 3, "nothing released: every row kept");
        t.record(row(240), 181);
        assert_eq!(t.scada.iter().map(|r| r.at).collect::<Vec<_>>(), [180, 240], "180 is the newest released");
        assert_eq!(t.scada_before(181).map(|r| r.at), Some(180));
        for ts in [600, 610, 620, 730] {
            t.reading(0, ts, 1.0, 1);
        }
        // Two minutes of slots: the reading at 730 takes the slot of 610.
        assert_eq!(t.marks.iter().map(|m| m.ts).collect::<Vec<_>>(), [620, 730]);
    }

    /// Maintenance and fault records are kept for a week, and 64 at most: a stream that runs
    /// for months holds no more of them than one that has run for a week.
    #[test]
    fn a_trace_keeps_a_week_of_records() {
        let mut t = Trace::new(1, 2);
        let row = |at| Record { at, table: Table::MaintenanceEvents, cells: Box::new([]), oee: None };
        let day = crate::clock::DAY;
        for d in 0..10 {
            t.record(row(d * day), 0);
        }
        let kept: Vec<i64> = t.events.iter().map(|r| r.at / day).collect();
        assert_eq!(kept, [3, 4, 5, 6, 7, 8, 9], "the records of the week up to day 9");
        for k in 0..100 {
            t.record(row(10 * day + k), 0);
        }
        assert_eq!(t.events.len(), EVENTS, "never more than {EVENTS}");
        assert_eq!(t.events.front().map(|r| r.at), Some(10 * day + 36), "the newest {EVENTS} kept");
    }

    /// The tap sees a machine's rows as the engine emits them and hands each one on.
    #[test]
    fn the_tap_keeps_a_machines_readings_states_and_records() {
        let engine = crate::sim::seed_7_engine();
        let start = crate::clock::days_from_civil(2026, 3, 1) * crate::clock::DAY + 6 * crate::clock::HOUR;
        let console = Console::new(&engine, &[0, 1], 10);
        let counters = engine.counters_of(&[0], start, &Default::default());
        let spec =
            crate::sim::unit::UnitSpec::new(0, start - start.rem_euclid(crate::clock::DAY), (start, start + 120));
        let mut run = crate::sim::unit::DayRun::new(&engine, spec, counters[0]);
        let mut all = Collect::default();
        {
            let mut tap = console.tap(0, start, start + 120, &mut all).expect("machine 0 is held");
            run.run_until(start + 120, &mut tap);
        }
        assert!(console.trace(2).is_none() && console.holds(1) && !console.holds(2));
        let trace = console.trace(0).unwrap();
        let sensors = &console.plant.machines[0].sensors;
        assert!(!sensors.is_empty());
        let mut seen = 0;
        for (sensor, ts, value) in &all.readings {
            let s = sensors.iter().position(|x| &x.id == sensor).unwrap();
            assert_eq!(trace.value(s, *ts), Some(*value), "{sensor} at {ts}");
            seen += 1;
        }
        assert!(seen > 0, "the machine emitted readings");
        assert_eq!(all.scada, 2, "two SCADA rows handed on");
        assert!(console.state(0, start).is_some() && console.state(0, start + 60).is_some());
        assert!(console.state(1, start).is_none(), "machine 1 was not run");
        assert_eq!(trace.scada.len(), 2);
        let row = trace.scada_before(start + 1).unwrap();
        assert_eq!(row.json(), all.scada_json[0], "the kept row spells as the JSON Lines sink printed it");
        assert!(row.cells.len() * 3 < row.json().len(), "a kept row takes under a third of its JSON's bytes");
        let json: serde_json::Value = serde_json::from_str(&row.json()).unwrap();
        assert!(json["machine_state"].is_string());
        assert_eq!(row.oee, json["oee_percentage"].as_f64(), "the OEE read from the row is the one printed");
    }

    #[derive(Default)]
    struct Collect {
        readings: Vec<(String, i64, f64)>,
        scada: usize,
        scada_json: Vec<String>,
    }

    impl Emit for Collect {
        fn emit<R: Row>(&mut self, row: &R, _at: i64) {
            match R::TABLE {
                Table::SensorData => {
                    let mut buf = Vec::new();
                    encode(Format::Jsonl, row, &mut buf);
                    let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
                    let ts = crate::clock::parse_instant(v["timestamp"].as_str().unwrap()).unwrap();
                    let value: f64 = match &v["measurement_value"] {
                        serde_json::Value::Number(n) => n.as_f64().unwrap(),
                        serde_json::Value::String(s) => s.parse().unwrap(),
                        other => panic!("measurement_value {other}"),
                    };
                    self.readings.push((v["sensor_id"].as_str().unwrap().to_owned(), ts, value));
                }
                Table::ScadaMachineData => {
                    self.scada += 1;
                    let mut buf = Vec::new();
                    encode(Format::Jsonl, row, &mut buf);
                    self.scada_json.push(String::from_utf8(buf).unwrap().trim_end().to_owned());
                }
                _ => {}
            }
        }
    }
}
