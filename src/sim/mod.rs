//! The simulation engine every command shares.
//!
//! [`Engine`] holds the plant, the fault catalogue and everything derived from them once
//! (set points, time zones, staff lookups). Work is cut into *units* — one machine over one
//! UTC day of the window — that are pure functions of (seed, configuration, machine, day):
//! any thread may compute any unit, in any order, and the rows come out identical. That is
//! what makes output deterministic, shardable by machine, and resumable.

pub mod calendar;
pub mod calibration;
pub mod episodes;
pub mod inject;
pub mod machine;
pub mod physics;
pub mod plan;
pub mod quality;
pub mod realism;
pub mod records;
pub mod scope;
pub mod signal;
pub mod unit;

use anyhow::Result;
use rand::Rng as _;

use crate::clock::Zone;
use crate::faults::Catalogue;
use crate::plant::Plant;
use crate::rng;
use physics::Behaviour;

/// Per-sensor constants drawn once from the seed.
#[derive(Debug, Clone)]
pub struct SensorParams {
    pub behaviour: Behaviour,
    /// Healthy running level.
    pub setpoint: f64,
    /// Half-width of the normal band.
    pub half_width: f64,
    pub smooth_amp: f64,
    pub white_amp: f64,
    /// Healthy probability that a reading is lost.
    pub miss_prob: f64,
    pub latency_ms: f64,
    /// Battery-powered (wireless) sensors drain over a year from this phase.
    pub battery_phase: Option<f64>,
}

/// Per-machine constants.
#[derive(Debug, Clone)]
pub struct MachineParams {
    pub speed_loss: f64,
    pub spindle_rpm: Option<i32>,
    pub feed_rate: Option<f64>,
    pub temp_sensor: Option<usize>,
    pub pressure_sensor: Option<usize>,
    pub maintenance_slot_min: i64,
    pub maintenance_weekday: u8,
    pub maintenance_day_of_month: u8,
}

/// Per-line constants.
#[derive(Debug, Clone)]
pub struct LineParams {
    /// Indices into `plant.line_products`, primary first.
    pub products: Vec<usize>,
    /// The last machine on the line: its output is the line's output.
    pub output_machine: usize,
    /// Break offset from mid-shift, minutes, per shift code.
    pub break_offset_min: [i64; 6],
    /// Employee indices by shift code: operators, technicians, supervisors (the engine
    /// names staff by index, never reading the employee rows).
    pub operators: [Vec<u32>; 6],
    pub technicians: [Vec<u32>; 6],
    pub supervisors: [Vec<u32>; 6],
}

/// The `salt`-th of `staff` (cyclically), if there is anyone.
pub fn pick(staff: &[u32], salt: usize) -> Option<crate::plant::EmployeeId> {
    (!staff.is_empty()).then(|| crate::plant::EmployeeId::new(staff[salt % staff.len()]))
}

/// The shared engine.
pub struct Engine {
    pub seed: u64,
    pub fault_rate: f64,
    pub plant: Plant,
    pub catalogue: Catalogue,
    pub zones: Vec<Zone>,
    pub ambient: Vec<f64>,
    pub sensors: Vec<SensorParams>,
    pub machines: Vec<MachineParams>,
    pub lines: Vec<LineParams>,
    /// First sensor index of each machine, plus the total at the end.
    pub sensor_start: Vec<usize>,
    /// Which catalogue patterns may strike (all by default).
    pub enabled: Vec<bool>,
    /// Episodes injected live or from a journal ([`inject`]).
    injected: std::sync::RwLock<std::sync::Arc<Vec<episodes::Episode>>>,
    /// The realistic plant's traits; `None` on an easy plant (see [`realism`]).
    pub realism: Option<realism::Realism>,
    /// The data-quality defects of delivered readings; `None` when `[quality]` is off.
    pub quality: Option<quality::Quality>,
    /// Threads for the work the engine spreads over machines (one per core unless the
    /// command says otherwise). Output does not depend on it.
    pub threads: usize,
}

const MACHINING: &[&str] = &["cnc_mill", "cnc_lathe", "drill_press", "grinding_machine", "boring_machine"];

/// Each line's products, output machine, break offsets and staff by shift, gathered in one
/// pass over each plant table (so set-up stays linear in the plant's size).
fn line_params(seed: u64, plant: &Plant) -> Vec<LineParams> {
    let n = plant.lines.len();
    let mut products: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, lp) in plant.line_products.iter().enumerate() {
        products[lp.line].push(i);
    }
    let mut output: Vec<usize> = vec![0; n];
    for (m, mc) in plant.machines.iter().enumerate() {
        output[mc.line] = output[mc.line].max(m);
    }
    type ByShift = [Vec<u32>; 6];
    let mut staff: Vec<[ByShift; 3]> = (0..n).map(|_| Default::default()).collect();
    for (i, e) in plant.staff.iter().enumerate() {
        let (Some(l), true) = (e.line, e.active) else { continue };
        let name = crate::plant::catalog::EMPLOYEE_ROLES[usize::from(e.role)].0;
        let Some(role) = ["operator", "technician", "supervisor"].iter().position(|r| *r == name) else { continue };
        let i = u32::try_from(i).expect("plant size limits keep employee indices in u32");
        staff[l as usize][role][usize::from(e.shift)].push(i);
    }
    products
        .into_iter()
        .zip(output)
        .zip(staff)
        .enumerate()
        .map(|(l, ((mut products, output_machine), [operators, technicians, supervisors]))| {
            let mut r = rng::stream(seed, &[rng::label("line-params"), l as u64]);
            products.sort_by_key(|&i| !plant.line_products[i].is_primary);
            let mut break_offset_min = [0i64; 6];
            for b in &mut break_offset_min {
                *b = r.random_range(-2..=2) * 15;
            }
            LineParams { products, output_machine, break_offset_min, operators, technicians, supervisors }
        })
        .collect()
}

impl Engine {
    pub fn new(seed: u64, fault_rate: f64, plant: Plant, catalogue: Catalogue) -> Result<Engine> {
        let zones = plant.factories.iter().map(|f| Zone::new(f.timezone)).collect::<Result<Vec<_>>>()?;
        let ambient = plant
            .factories
            .iter()
            .map(|f| match f.city {
                "Chennai" => 27.0,
                "Detroit" | "Stuttgart" => 20.0,
                _ => 22.0,
            })
            .collect();
        let sensors = plant
            .sensors
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut r = rng::stream(seed, &[rng::label("sensor-params"), i as u64]);
                let r0 = s.role;
                let hw = (r0.normal.1 - r0.normal.0) / 2.0;
                let centre = (r0.normal.0 + r0.normal.1) / 2.0;
                let behaviour = physics::behaviour(r0.name);
                let setpoint = match behaviour {
                    Behaviour::Position => centre,
                    _ => centre + hw * r.random_range(-0.25..0.25),
                };
                SensorParams {
                    behaviour,
                    setpoint,
                    half_width: hw,
                    smooth_amp: 0.12 * hw,
                    white_amp: 0.035 * hw,
                    miss_prob: r.random_range(0.0005..0.003),
                    latency_ms: match s.protocol {
                        "OPC-UA" => 15.0,
                        "Modbus-TCP" => 8.0,
                        "MQTT" => 35.0,
                        _ => 120.0,
                    } * r.random_range(0.8..1.2),
                    battery_phase: (s.protocol == "MQTT").then(|| r.random::<f64>()),
                }
            })
            .collect();
        let mut sensor_start = Vec::with_capacity(plant.machines.len() + 1);
        let mut next = 0;
        for m in 0..plant.machines.len() {
            sensor_start.push(next);
            while next < plant.sensors.len() && plant.sensors[next].machine == m {
                next += 1;
            }
        }
        sensor_start.push(next);
        let machines = plant
            .machines
            .iter()
            .enumerate()
            .map(|(m, mc)| {
                let mut r = rng::stream(seed, &[rng::label("machine-params"), m as u64]);
                let range = sensor_start[m]..sensor_start[m + 1];
                let find = |ty: &str| range.clone().find(|&s| plant.sensors[s].role.sensor_type == ty);
                let machining = MACHINING.contains(&mc.machine_type);
                MachineParams {
                    speed_loss: r.random_range(0.02..0.07),
                    spindle_rpm: machining.then(|| r.random_range(3000..12000)),
                    feed_rate: machining.then(|| r.random_range(200.0..2000.0)),
                    temp_sensor: find("temperature"),
                    pressure_sensor: find("pressure"),
                    maintenance_slot_min: r.random_range(1..12) * 15,
                    maintenance_weekday: r.random_range(0..5),
                    maintenance_day_of_month: r.random_range(1..=28),
                }
            })
            .collect();
        let lines = line_params(seed, &plant);
        let enabled = vec![true; catalogue.patterns.len()];
        Ok(Engine {
            seed,
            fault_rate,
            plant,
            catalogue,
            zones,
            ambient,
            sensors,
            machines,
            lines,
            sensor_start,
            enabled,
            injected: Default::default(),
            realism: None,
            quality: None,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        })
    }

    /// Makes the plant as hard on detectors as `difficulty` says.
    pub fn set_difficulty(&mut self, difficulty: realism::Difficulty) {
        self.realism = match difficulty {
            realism::Difficulty::Easy => None,
            realism::Difficulty::Realistic => Some(realism::Realism::new(self.seed, &self.plant, &self.catalogue)),
        };
    }

    /// Drops the master rows generation never reads — the employees (rows name staff by
    /// index, see [`pick`]) and what set-up took of them: what a stream keeps for months once
    /// its sinks have the master data (at ×1000, 12 million employee rows, 4 GB).
    pub fn shed_master_rows(&mut self) {
        self.plant.employees = Vec::new();
        self.plant.staff = Vec::new();
    }

    /// Sensor indices of machine `m`.
    pub fn sensors_of(&self, m: usize) -> std::ops::Range<usize> {
        self.sensor_start[m]..self.sensor_start[m + 1]
    }

    /// The fault episodes of this engine's seed and rate, for the enabled patterns, paused by
    /// the machines' planned maintenance, with the injected ones.
    pub fn episodes(&self) -> episodes::EpisodeSource<'_> {
        episodes::EpisodeSource::new(self.seed, self.fault_rate, &self.plant, &self.catalogue)
            .only(&self.enabled)
            .paused_by(self)
            .with_injected(self.injected())
    }

    /// Limits fault injection to the named patterns (names or codes); an unknown name is an error.
    pub fn restrict_patterns(&mut self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut enabled = vec![false; self.catalogue.patterns.len()];
        for n in names {
            let i = self.catalogue.patterns.iter().position(|p| p.name == *n || p.code == *n).ok_or_else(|| {
                let known: Vec<&str> = self.catalogue.patterns.iter().map(|p| p.name.as_str()).collect();
                anyhow::anyhow!("unknown fault pattern `{n}` (known: {})", known.join(", "))
            })?;
            enabled[i] = true;
        }
        self.enabled = enabled;
        Ok(())
    }
}

/// The default plant of seed 7 and the built-in catalogue, for tests.
#[cfg(test)]
pub(crate) fn seed_7_plant() -> (Plant, Catalogue) {
    let cat = Catalogue::builtin();
    let plant = Plant::generate(&crate::plant::Settings { seed: 7, ..Default::default() }, &cat).unwrap();
    (plant, cat)
}

/// The engine of the default plant of seed 7 at fault rate `rate`, for tests.
#[cfg(test)]
pub(crate) fn seed_7_engine_at(rate: f64) -> Engine {
    let (plant, cat) = seed_7_plant();
    Engine::new(7, rate, plant, cat).unwrap()
}

/// The default plant of seed 7 at fault rate 1, for tests.
#[cfg(test)]
pub(crate) fn seed_7_engine() -> Engine {
    seed_7_engine_at(1.0)
}

#[cfg(test)]
mod quality_tests;
#[cfg(test)]
mod tests;
