//! Data-quality defects as the engine delivers them: every way the delivered `sensor_data`
//! differs from what the sensors measured is one of the labelled defects, and the labels
//! account for every such difference — per reading and per stretch.

use std::collections::{BTreeMap, HashMap};

use super::quality::{Quality, DUPLICATE_ID_OFFSET, INVALID_VALUE};
use super::unit::{DayRun, UnitSpec};
use super::Engine;
use crate::clock::{DAY, SCADA_STEP, SENSOR_STEP};
use crate::rows::{Cells, Emit, Row, Table};

const DAY0: i64 = 1_772_323_200; // 2026-03-01

/// Defects far more frequent than the defaults, so one day of a few machines holds each kind.
fn dense() -> Quality {
    Quality {
        gaps_per_machine_day: 1.0,
        clock_skews_per_machine_day: 1.0,
        stale_per_sensor_day: 0.5,
        duplicate_rate: 0.005,
        late_rate: 0.01,
        spike_rate: 0.002,
        invalid_rate: 0.002,
        ..Quality::default()
    }
}

fn engine(quality: Option<Quality>) -> Engine {
    let mut e = super::seed_7_engine_at(0.3);
    e.quality = quality;
    e
}

/// A row's cells as text, numbers as Rust prints them.
#[derive(Default)]
struct Texts(Vec<String>);

impl Cells for Texts {
    fn null(&mut self) {
        self.0.push("NULL".into());
    }
    fn text(&mut self, s: &str) {
        self.0.push(s.into());
    }
    fn int4(&mut self, v: i32) {
        self.0.push(v.to_string());
    }
    fn int8(&mut self, v: i64) {
        self.0.push(v.to_string());
    }
    fn dec(&mut self, v: f64, _scale: u8) {
        self.0.push(v.to_string());
    }
    fn boolean(&mut self, b: bool) {
        self.0.push(b.to_string());
    }
    fn ts(&mut self, t: i64) {
        self.0.push(t.to_string());
    }
    fn date(&mut self, d: i64) {
        self.0.push(d.to_string());
    }
    fn time(&mut self, s: i64) {
        self.0.push(s.to_string());
    }
}

/// A delivered reading: its cells and release instant.
#[derive(Debug, Clone)]
struct Delivered {
    cells: Vec<String>,
    at: i64,
}

impl Delivered {
    fn id(&self) -> i64 {
        self.cells[0].parse().unwrap()
    }
    fn ts(&self) -> i64 {
        self.cells[5].parse().unwrap()
    }
    fn value(&self) -> f64 {
        self.cells[6].parse().unwrap()
    }
}

/// A label's fields.
#[derive(Debug, Clone)]
struct Label {
    defect: String,
    machine: String,
    sensor: String,
    start: i64,
    end: i64,
    records: i64,
    record_id: Option<i64>,
}

#[derive(Default)]
struct Collect {
    readings: Vec<Delivered>,
    labels: Vec<Label>,
}

impl Emit for Collect {
    fn emit<R: Row>(&mut self, row: &R, at: i64) {
        let mut c = Texts::default();
        row.visit(&mut c);
        let c = c.0;
        match R::TABLE {
            Table::SensorData => self.readings.push(Delivered { cells: c, at }),
            Table::QualityLabels => self.labels.push(Label {
                defect: c[1].clone(),
                machine: c[2].clone(),
                sensor: c[5].clone(),
                start: c[6].parse().unwrap(),
                end: c[7].parse().unwrap(),
                records: c[8].parse().unwrap(),
                record_id: c[9].parse().ok(),
            }),
            _ => {}
        }
    }
}

fn day_of(e: &Engine, m: usize) -> Collect {
    let mut out = Collect::default();
    let spec = UnitSpec::new(m, DAY0, (DAY0, DAY0 + DAY));
    e.generate_unit(spec, e.initial_counters(m, DAY0), &mut out);
    out
}

#[test]
fn every_difference_from_the_measured_readings_is_a_labelled_defect() {
    let (clean, dirty) = (engine(None), engine(Some(dense())));
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for m in [0, 5, 17, 42] {
        let truth = day_of(&clean, m);
        let got = day_of(&dirty, m);
        assert!(truth.labels.is_empty(), "a clean plant labels nothing");
        let machine = &clean.plant.machines[m].id;
        for l in &got.labels {
            *kinds.entry(l.defect.clone()).or_default() += 1;
            assert_eq!(&l.machine, machine);
        }
        let by_id: HashMap<i64, &Delivered> = truth.readings.iter().map(|r| (r.id(), r)).collect();
        let labels = |kind: &'static str| got.labels.iter().filter(move |l| l.defect == kind);
        let labelled = |kind: &'static str, id: i64| labels(kind).any(|l| l.record_id == Some(id));
        let within = |kind: &'static str, sensor: &str, t: i64| {
            labels(kind).any(|l| (l.sensor == "NULL" || l.sensor == sensor) && l.start <= t && t < l.end)
        };
        let (mut lost, mut shifted, mut repeated) = (0i64, 0i64, 0i64);
        let delivered: HashMap<i64, &Delivered> = got.readings.iter().map(|r| (r.id(), r)).collect();
        assert_eq!(delivered.len(), got.readings.len(), "machine {m}: every delivered reading has its own id");
        for r in &truth.readings {
            let (sensor, t) = (&r.cells[1], r.ts());
            let Some(d) = delivered.get(&r.id()) else {
                assert!(within("gap", sensor, t), "machine {m}: reading {} lost outside a gateway gap", r.id());
                lost += 1;
                continue;
            };
            assert!(!within("gap", sensor, t), "machine {m}: reading {} delivered inside a gap", r.id());
            if d.ts() != t {
                assert!(
                    within("clock_skew", sensor, t),
                    "reading {}: time {} for {t} outside a clock skew",
                    r.id(),
                    d.ts()
                );
                assert!((d.ts() - t).abs() <= dense().clock_skew_max_s && (d.ts() - t) % SENSOR_STEP != 0);
                shifted += 1;
            } else {
                assert!(!within("clock_skew", sensor, t), "reading {}: on time inside a clock skew", r.id());
            }
            let stale = within("stale", sensor, t);
            repeated += i64::from(stale);
            if d.value() != r.value() && !stale {
                let invalid = d.value() == INVALID_VALUE && labelled("invalid", r.id());
                assert!(
                    invalid || labelled("spike", r.id()),
                    "reading {}: value {} for {}, unlabelled",
                    r.id(),
                    d.value(),
                    r.value()
                );
                assert!(!invalid || d.cells[9] == "out_of_range", "an invalid value is flagged out_of_range");
            }
            if d.value() == r.value() && !stale {
                let n = r.cells.len() - 1; // created_at follows the (possibly skewed) timestamp
                assert_eq!(
                    d.cells[6..n],
                    r.cells[6..n],
                    "reading {}: an untouched reading is delivered as measured",
                    r.id()
                );
            }
            let late = labels("late").find(|l| l.record_id == Some(r.id()));
            match late {
                Some(_) => {
                    assert!(
                        d.at > t && d.at / SCADA_STEP == t / SCADA_STEP,
                        "late reading {} released at {}",
                        r.id(),
                        d.at
                    )
                }
                None => assert_eq!(d.at, t, "reading {}: released at its own time", r.id()),
            }
        }
        for d in got.readings.iter().filter(|d| d.id() >= DUPLICATE_ID_OFFSET) {
            let original =
                delivered.get(&(d.id() - DUPLICATE_ID_OFFSET)).expect("a duplicate copies a delivered reading");
            assert_eq!(d.cells[1..], original.cells[1..], "a duplicate repeats its reading");
            assert!(labelled("duplicate", d.id()), "duplicate {} unlabelled", d.id());
            assert!(by_id.contains_key(&(d.id() - DUPLICATE_ID_OFFSET)));
        }
        let extra = got.readings.len() as i64 - (truth.readings.len() as i64 - lost);
        assert_eq!(extra, labels("duplicate").count() as i64, "machine {m}: one extra reading per duplicate label");
        let sum = |kind: &'static str| labels(kind).map(|l| l.records).sum::<i64>();
        assert_eq!(sum("gap"), lost, "machine {m}: gap labels count the readings lost");
        assert_eq!(sum("clock_skew"), shifted, "machine {m}: clock skew labels count the readings shifted");
        assert_eq!(sum("stale"), repeated, "machine {m}: stale labels count the readings repeated");
        for l in labels("spike").chain(labels("invalid")) {
            let id = l.record_id.unwrap();
            assert_ne!(delivered[&id].value(), by_id[&id].value(), "{l:?} changed its reading");
        }
    }
    for kind in ["gap", "clock_skew", "stale", "duplicate", "late", "spike", "invalid"] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind} defect in the sample: {kinds:?}");
    }
}

#[test]
fn a_window_starting_inside_a_stale_stretch_repeats_the_same_record() {
    let e = engine(Some(dense()));
    let mut checked = 0;
    for m in 0..12 {
        let whole = day_of(&e, m);
        let Some(stale) = whole.labels.iter().find(|l| l.defect == "stale" && l.end - l.start >= 3 * SCADA_STEP) else {
            continue;
        };
        // A stream resuming at a minute inside the stretch.
        let from = stale.start - stale.start.rem_euclid(SCADA_STEP) + 2 * SCADA_STEP;
        let spec = UnitSpec::new(m, DAY0, (from, DAY0 + DAY));
        let mut part = Collect::default();
        let mut run = DayRun::new(&e, spec, e.initial_counters(m, from));
        while !run.done() {
            let next = run.next_instant() + SCADA_STEP;
            run.run_until(next, &mut part);
        }
        let want: Vec<_> = whole.readings.iter().filter(|r| r.at >= from).map(|r| (&r.cells, r.at)).collect();
        let got: Vec<_> = part.readings.iter().map(|r| (&r.cells, r.at)).collect();
        assert!(got == want, "machine {m}: the readings from {from} differ from the whole day's");
        checked += 1;
    }
    assert!(checked >= 3, "the sample holds stale stretches ({checked})");
}
