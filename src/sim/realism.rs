//! The realistic plant (`[faults] difficulty = "realistic"`): what makes "normal" differ
//! from machine to machine and from hour to hour, and faults of *medium* detectability small
//! against that variation.
//!
//! With the setting at `easy` none of this applies and the signals are those of earlier
//! releases, value for value. With `realistic`, on top of the healthy process of `signal`:
//!
//! - **Machine individuality**: every sensor's healthy level sits at its own offset inside the
//!   normal band, its noise has its own scale (a loose fixture vibrates more), and its machine
//!   ages: levels creep up between preventive maintenances and fall back when one is done.
//!   A supply (mains, compressed air) is the plant's, so its noise is not the machine's. The
//!   sensors a *high* pattern's threshold watches keep their healthy level within
//!   [`HIGH_TIER_LEVEL_HW`] of their band's centre, however the traits add up.
//! - **Operating context**: what the line makes sets the load. A product's load follows its
//!   weight (`products.weight_kg`, on the SCADA record as `program_number`): a heavy part is
//!   cut, pressed and welded harder, so vibration, torque, force and weld current run higher,
//!   and feed and speed change with it (`feed_rate_mm_min`, `spindle_speed_rpm`). A drive
//!   starting from standstill draws an inrush current; the hall's temperature follows the
//!   local day and the season, and so do the machines' running temperatures.
//! - **Detectability tiers**: a pattern's `detectability` in its file scales its signature
//!   through the warning phase: *high* as written (a threshold sees it), *medium* at
//!   [`MEDIUM_GAIN`] of it (it hides in the context above until the critical phase), *low* at
//!   [`LOW_GAIN`]; a file's `warning_share` overrides the tier's share. The critical phase
//!   rises to the written failure values either way.
//!
//! Every draw comes from seeded streams of its own labels, so `easy` keeps its old streams
//! and a realistic plant is as deterministic as an easy one.

use rand::Rng as _;

use super::machine::{State, Timeline};
use super::Engine;
use crate::clock::{Zone, DAY, HOUR};
use crate::faults::Catalogue;
use crate::plant::Plant;
use crate::rng;

/// How hard the simulated plant is on detectors (`[faults] difficulty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Difficulty {
    /// Fixed healthy levels and full signatures: a threshold finds every fault (demos).
    Easy,
    /// Individual machines, operating context and detectability tiers (the default).
    #[default]
    Realistic,
}

impl Difficulty {
    /// The setting's values, as written in the configuration.
    pub const NAMES: [&'static str; 2] = ["easy", "realistic"];

    pub fn parse(s: &str) -> Option<Difficulty> {
        match s {
            "easy" => Some(Difficulty::Easy),
            "realistic" => Some(Difficulty::Realistic),
            _ => None,
        }
    }
}

impl std::str::FromStr for Difficulty {
    type Err = String;

    fn from_str(s: &str) -> Result<Difficulty, String> {
        Difficulty::parse(s).ok_or_else(|| crate::setting::not_one_of(s, &Difficulty::NAMES))
    }
}

/// The `[faults]` settings: which catalogue, and how hard the plant is.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// A directory of fault pattern files to use instead of the built-in catalogue.
    #[serde(deserialize_with = "crate::setting::maybe")]
    pub dir: Option<std::path::PathBuf>,
    #[serde(deserialize_with = "crate::setting::parsed")]
    pub difficulty: Difficulty,
}

/// Share of a medium pattern's signature shown through its warning phase.
pub const MEDIUM_GAIN: f64 = 0.45;
/// Share of a low pattern's signature shown through its warning phase.
pub const LOW_GAIN: f64 = 0.3;

/// The most a machine's healthy level creeps up between maintenances, in half-widths.
const MAX_AGEING_HW: f64 = 0.4;

/// How far from its normal band's centre, in half-widths, the healthy level of a sensor that
/// a *high* pattern's threshold watches can sit (its set point, individuality, load and
/// ageing together, smoothly limited): a healthy machine stays inside its normal band with
/// room for its noise, so the dashboard's threshold keeps working for high patterns.
pub const HIGH_TIER_LEVEL_HW: f64 = 0.5;

/// Per-sensor traits of the realistic plant.
#[derive(Debug, Clone, Copy)]
pub struct SensorTraits {
    /// Offset of the healthy level, in half-widths of the normal band.
    pub offset_hw: f64,
    /// Factor on the sensor's noise.
    pub noise: f64,
    /// How the level responds to the product's load, in half-widths per unit of load.
    pub load_hw: f64,
    /// Creep since the last maintenance, in half-widths per day.
    pub ageing_hw_per_day: f64,
    /// Share of the hall's temperature swing a running temperature follows.
    pub ambient_share: f64,
    /// The most the healthy level strays from the normal band's centre, in half-widths:
    /// [`HIGH_TIER_LEVEL_HW`] for a sensor a high pattern's threshold watches, else none.
    pub level_limit_hw: Option<f64>,
}

/// Everything the realistic plant draws once from the seed.
#[derive(Debug, Clone)]
pub struct Realism {
    /// Per line product: its load, -1 (light work) ..= 1 (heavy work).
    pub load: Vec<f64>,
    pub sensors: Vec<SensorTraits>,
    /// Per factory: the daily and seasonal swing of the hall's temperature, °C.
    pub ambient_swing: Vec<(f64, f64)>,
}

/// How strongly a role's level follows the product's load, in half-widths of its normal band
/// per unit of load. Roles that mostly serve high-detectability patterns move less, so that a
/// threshold keeps working for them; cutting and welding follow the work most.
fn load_response(role: &str) -> f64 {
    match role {
        "tool_vibration" | "feed_force" | "spindle_torque" | "joint_torque" => 0.9,
        "weld_current" | "arc_voltage" | "wire_feed_speed" | "press_force" | "applied_torque" => 0.7,
        "electrode_force" => 0.5,
        "spindle_bearing_vibration" | "motor_vibration" | "gearbox_vibration" => 0.3,
        "motor_current" | "spindle_speed" | "motor_speed" => 0.25,
        "motor_temperature" | "spindle_bearing_temperature" | "gearbox_temperature" => 0.15,
        _ => 0.0,
    }
}

/// Whether a role ages (wear raises it between maintenances): vibrations, currents and
/// temperatures do, except the process values a controller holds at their set point
/// whatever the wear — a welding power source's current, an oven's or a part's temperature,
/// chilled water.
fn ages(role: &str, sensor_type: &str) -> bool {
    let regulated =
        matches!(role, "weld_current" | "oven_temperature" | "part_temperature" | "cooling_water_temperature");
    !regulated && matches!(sensor_type, "vibration" | "current" | "temperature")
}

/// The roles a dashboard's threshold watches for a *high* pattern: each high pattern's primary
/// signature's role, the sensor of its static rule.
pub fn threshold_roles(catalogue: &Catalogue) -> Vec<&str> {
    catalogue
        .patterns
        .iter()
        .filter(|p| p.detectability == "high")
        .filter_map(|p| p.primary_signature().map(|s| s.role.as_str()))
        .collect()
}

impl Realism {
    pub fn new(seed: u64, plant: &Plant, catalogue: &Catalogue) -> Realism {
        let watched = threshold_roles(catalogue);
        let load = plant
            .line_products
            .iter()
            .enumerate()
            .map(|(i, lp)| {
                // Weight sets the load (0.8 .. 15.5 kg, median ≈ 3.3 kg); a line's process adds its own.
                let w = plant.products[lp.product].spec.weight_kg.max(0.1);
                let mut r = rng::stream(seed, &[rng::label("product-load"), i as u64]);
                ((w.ln() - 1.2) / 1.0 + r.random_range(-0.2..0.2)).clamp(-1.0, 1.0)
            })
            .collect();
        let machine_noise: Vec<(f64, f64)> = (0..plant.machines.len())
            .map(|m| {
                let mut r = rng::stream(seed, &[rng::label("machine-traits"), m as u64]);
                (r.random_range(0.7..1.6), r.random_range(0.002..0.012))
            })
            .collect();
        let sensors = plant
            .sensors
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut r = rng::stream(seed, &[rng::label("sensor-traits"), i as u64]);
                let (noise, ageing) = machine_noise[s.machine];
                let offset_hw = r.random_range(-0.2..0.2);
                let thermal = s.role.sensor_type == "temperature";
                // A supply (mains, compressed air, a transducer's excitation) is the plant's:
                // its noise is the feed's, not the machine's.
                let supply = matches!(super::physics::behaviour(s.role.name), super::physics::Behaviour::Supply);
                let jitter = r.random_range(0.85..1.15);
                SensorTraits {
                    offset_hw,
                    // A temperature is smoothed by its thermal mass: a noisy machine's
                    // temperatures are no noisier than a typical one's.
                    noise: if supply {
                        jitter
                    } else if thermal {
                        (noise * jitter).min(1.0)
                    } else {
                        noise * jitter
                    },
                    load_hw: load_response(s.role.name),
                    ageing_hw_per_day: if ages(s.role.name, s.role.sensor_type) { ageing } else { 0.0 },
                    ambient_share: if thermal { 0.3 } else { 0.0 },
                    level_limit_hw: watched.contains(&s.role.name).then_some(HIGH_TIER_LEVEL_HW),
                }
            })
            .collect();
        let ambient_swing = plant
            .factories
            .iter()
            .map(|f| match f.city {
                // Tropical: a small season, a warm afternoon.
                "Chennai" => (3.0, 1.5),
                _ => (2.5, 5.0),
            })
            .collect();
        Realism { load, sensors, ambient_swing }
    }

    /// The hall's temperature offset from its yearly mean at `t`: warmest mid-afternoon local
    /// time and in late July.
    pub fn ambient_offset(&self, factory: usize, zone: &Zone, t: i64) -> f64 {
        let (daily, seasonal) = self.ambient_swing[factory];
        let local_hour = (t + zone.offset(t)).rem_euclid(DAY) as f64 / HOUR as f64;
        let year_day = (t.rem_euclid(DAY * 36_525 / 100) / DAY) as f64;
        daily * (std::f64::consts::TAU * (local_hour - 15.0) / 24.0).cos()
            + seasonal * (std::f64::consts::TAU * (year_day - 205.0) / 365.25).cos()
    }
}

/// The share of its signature a pattern shows through onset and warning phase: its file's
/// `warning_share`, else its detectability's — all of it for *high*, [`MEDIUM_GAIN`] for
/// *medium*, [`LOW_GAIN`] for *low*.
pub fn warning_share(pattern: &crate::faults::Pattern) -> f64 {
    pattern.warning_share.unwrap_or(match pattern.detectability.as_str() {
        "medium" => MEDIUM_GAIN,
        "low" => LOW_GAIN,
        _ => 1.0,
    })
}

/// The share of a signature a pattern showing `share` of it through its warning phase shows
/// at progress `p`: `share` through onset and warning phase, rising to all of it across the
/// critical phase (from progress 2/3 to 1).
pub fn tier_gain(share: f64, p: f64) -> f64 {
    let critical = ((p - 2.0 / 3.0) * 3.0).clamp(0.0, 1.0);
    share + (1.0 - share) * critical
}

/// `x` smoothly limited to `-limit..limit` (steepest, and nearly `x`, near 0): keeps the order
/// of machines' levels while pulling the extremes in.
pub fn limited(x: f64, limit: f64) -> f64 {
    limit * (x / limit).tanh()
}

/// Days since machine service at `t` as a creep in half-widths (capped).
pub fn ageing_hw(traits: &SensorTraits, since_service_s: i64) -> f64 {
    (traits.ageing_hw_per_day * since_service_s.max(0) as f64 / DAY as f64).min(MAX_AGEING_HW)
}

/// Seconds since the machine of `tl` was last serviced (its last planned preventive window
/// ended) at `t`; a quarter when its history holds none.
pub fn since_service(tl: &Timeline, t: i64) -> i64 {
    let i = tl.services.partition_point(|&end| end <= t);
    match i {
        0 => 92 * DAY,
        _ => t - tl.services[i - 1],
    }
}

/// Extra drive level while a drive spins up from standstill: a motor's inrush current, a
/// spindle's run-up vibration. A share of the running level, decaying within a minute of a
/// start from a stop (fault, maintenance, setup or idle).
pub fn start_surge(tl: &Timeline, t: i64) -> f64 {
    let k = tl.minute_index(t);
    if k == 0 || tl.minutes[k].state != State::Running || tl.minutes[k - 1].state == State::Running {
        return 0.0;
    }
    let into = (t - tl.start).rem_euclid(60) as f64;
    0.6 * (-into / 15.0).exp()
}

/// What the realistic plant adds to one reading; [`Context::NEUTRAL`] on an easy plant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Context {
    /// Added to the healthy running level (individuality, load, ageing, warm hall).
    pub shift: f64,
    /// Added to the hall's temperature.
    pub ambient: f64,
    /// Factor on the noise.
    pub noise: f64,
    /// Start-up surge, a share of the running level.
    pub surge: f64,
}

impl Context {
    /// Nothing added: the signals of an easy plant, value for value.
    pub const NEUTRAL: Context = Context { shift: 0.0, ambient: 0.0, noise: 1.0, surge: 0.0 };
}

impl Engine {
    /// The context of sensor `s`'s reading at `t`, during the timeline's run `run`.
    pub fn context(&self, s: usize, t: i64, tl: &Timeline, run: u32) -> Context {
        let Some(r) = &self.realism else {
            return Context::NEUTRAL;
        };
        let sensor = &self.plant.sensors[s];
        let traits = &r.sensors[s];
        let load = r.load[tl.runs[run as usize].lpm];
        // The hall's temperature reaches only temperatures: skip the zone lookup elsewhere.
        let thermal = matches!(self.sensors[s].behaviour, super::physics::Behaviour::Thermal { .. });
        let ambient = if thermal || traits.ambient_share > 0.0 {
            r.ambient_offset(sensor.factory, &self.zones[sensor.factory], t)
        } else {
            0.0
        };
        let mut level_hw = traits.offset_hw + traits.load_hw * load + ageing_hw(traits, since_service(tl, t));
        if let Some(limit) = traits.level_limit_hw {
            let p = &self.sensors[s];
            let set_hw = (p.setpoint - (sensor.role.normal.0 + sensor.role.normal.1) / 2.0) / p.half_width;
            level_hw = limited(set_hw + level_hw, limit) - set_hw;
        }
        let surge = match sensor.role.sensor_type {
            "current" | "vibration" => start_surge(tl, t),
            _ => 0.0,
        };
        Context {
            shift: level_hw * self.sensors[s].half_width + traits.ambient_share * ambient,
            ambient,
            noise: traits.noise,
            surge,
        }
    }

    /// The load of the product machine `m`'s line makes in `run` (0 on an easy plant).
    pub fn load(&self, tl: &Timeline, run: u32) -> f64 {
        self.realism.as_ref().map_or(0.0, |r| r.load[tl.runs[run as usize].lpm])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_shrink_the_warning_phase_only() {
        assert_eq!(tier_gain(1.0, 0.4), 1.0);
        assert_eq!(tier_gain(MEDIUM_GAIN, 0.0), MEDIUM_GAIN);
        assert_eq!(tier_gain(MEDIUM_GAIN, 0.5), MEDIUM_GAIN, "the warning phase shows a fraction");
        assert!((tier_gain(MEDIUM_GAIN, 1.0) - 1.0).abs() < 1e-12, "the critical phase ends at the failure value");
        let mid = tier_gain(MEDIUM_GAIN, 5.0 / 6.0);
        assert!(mid > MEDIUM_GAIN && mid < 1.0, "rises across the critical phase: {mid}");
        let cat = crate::faults::Catalogue::builtin();
        let share = |name: &str| warning_share(cat.patterns.iter().find(|p| p.name == name).unwrap());
        assert_eq!(share("bearing_failure"), 1.0, "high: the whole signature");
        assert_eq!(share("tool_wear"), MEDIUM_GAIN, "medium: the tier's share");
        assert!(share("robot_positioning") < MEDIUM_GAIN, "robot_positioning sets a share of its own");
    }

    #[test]
    fn limited_levels_keep_their_order_inside_the_limit() {
        let xs: Vec<f64> = (-40..=40).map(|i| i as f64 * 0.05).collect();
        let ys: Vec<f64> = xs.iter().map(|&x| limited(x, HIGH_TIER_LEVEL_HW)).collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "machines keep their order");
        assert!(ys.iter().all(|y| y.abs() < HIGH_TIER_LEVEL_HW), "every level inside the limit");
        assert!((limited(0.1, 0.5) - 0.1).abs() < 0.002, "a small level is nearly kept: {}", limited(0.1, 0.5));
        assert!(limited(0.9, 0.5) > 0.45, "the top of the band is pulled in, not flattened to the centre");
    }

    #[test]
    fn difficulty_names_parse() {
        assert_eq!(Difficulty::parse("easy"), Some(Difficulty::Easy));
        assert_eq!(Difficulty::parse("realistic"), Some(Difficulty::Realistic));
        assert_eq!(Difficulty::parse("hard"), None);
    }

    /// The default plant of seed 7 and its realistic traits.
    fn plant() -> (Plant, Realism) {
        let (plant, cat) = crate::sim::seed_7_plant();
        let r = Realism::new(7, &plant, &cat);
        (plant, r)
    }

    #[test]
    fn heavier_products_load_the_machines_more() {
        let (plant, r) = plant();
        let weight = |i: usize| plant.products[plant.line_products[i].product].spec.weight_kg;
        let (light, heavy): (Vec<usize>, Vec<usize>) = (0..plant.line_products.len())
            .filter(|&i| weight(i) < 1.6 || weight(i) > 8.0)
            .partition(|&i| weight(i) < 1.6);
        assert!(!light.is_empty() && !heavy.is_empty(), "the default plant makes light and heavy parts");
        assert!(light.iter().all(|&i| r.load[i] < -0.5), "parts under 1.6 kg are light work");
        assert!(heavy.iter().all(|&i| r.load[i] > 0.5), "parts over 8 kg are heavy work");
        assert!(r.load.iter().all(|l| (-1.0..=1.0).contains(l)));
        // Individual noise differs between machines, and more than within one machine.
        let noise: Vec<f64> = r.sensors.iter().map(|s| s.noise).collect();
        let (lo, hi) = noise.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(lo < 0.9 && hi > 1.5, "noise factors span machines: {lo:.2} .. {hi:.2}");
    }

    #[test]
    fn worn_parts_age_and_regulated_process_values_do_not() {
        let (plant, r) = plant();
        let rate = |role: &str| {
            let i = plant.sensors.iter().position(|s| s.role.name == role).unwrap_or_else(|| panic!("a {role} sensor"));
            r.sensors[i].ageing_hw_per_day
        };
        for role in ["spindle_bearing_vibration", "motor_current", "motor_temperature"] {
            assert!(rate(role) > 0.0, "{role} creeps with wear");
        }
        for role in ["weld_current", "oven_temperature", "supply_voltage"] {
            assert_eq!(rate(role), 0.0, "{role} stays at its set point");
        }
    }

    #[test]
    fn the_hall_is_warm_in_the_afternoon_and_in_summer() {
        let (plant, r) = plant();
        let f = plant.factories.iter().position(|f| f.city == "Stuttgart").expect("a German factory");
        let zone = Zone::new(plant.factories[f].timezone).unwrap();
        // 2026-07-24 15:00 (UTC+2) and 2026-01-22 15:00 (UTC+1) in Stuttgart.
        let (jul, jan) = (1_784_898_000i64, 1_769_090_400i64);
        let summer_afternoon = r.ambient_offset(f, &zone, jul);
        let summer_night = r.ambient_offset(f, &zone, jul + 12 * HOUR);
        let winter_afternoon = r.ambient_offset(f, &zone, jan);
        assert!(summer_afternoon > 7.0, "{summer_afternoon}");
        assert!(summer_afternoon - summer_night > 4.5, "a daily swing: {summer_afternoon} vs {summer_night}");
        assert!(summer_afternoon - winter_afternoon > 9.0, "a season: {summer_afternoon} vs {winter_afternoon}");
    }
}
