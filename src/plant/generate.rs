//! Deterministic generation of the plant from the seed, the sizes and the fault catalogue.
//!
//! Each kind of entity draws from its own ChaCha stream, so changing one size (say, the
//! employee count) leaves the other entities as they were. Exact totals come from
//! [`alloc::allocate`]; every per-parent range of SPEC §2 is respected by construction.

use crate::clock::{add_days, day_number, Date, Time};
use anyhow::{bail, Result};
use rand::seq::{IndexedRandom as _, SliceRandom as _};
use rand::Rng as _;

use super::alloc::{allocate, by_share};
use super::catalog::{self, SITES};
use super::roles::{self, LINE_TYPES, MAX_SENSORS_PER_MACHINE, MIN_SENSORS_PER_MACHINE};
use super::*;
use crate::rng::{self, Rng};
use crate::setting;

/// What a plant is generated from (`[plant]`): the seed, the reference date and how big it
/// is. Defaults reproduce the original package exactly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Every random draw of the plant and its operation derives from it.
    #[serde(deserialize_with = "setting::int::<_, _, 0, { i64::MAX }>")]
    pub seed: u64,
    /// The day the master data describes ("today" for hire dates, calibrations, ...).
    #[serde(deserialize_with = "setting::date")]
    pub reference_date: Date,
    // The counts admit the default plant ×10,000; what one host streams in real time is
    // bounded by its cores and memory instead (BENCHMARKS.md: the largest plant one host
    // streams).
    #[serde(deserialize_with = "setting::int::<_, _, 1, 50_000>")]
    pub factories: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 250_000>")]
    pub lines: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 2_500_000>")]
    pub machines: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 20_000_000>")]
    pub sensors: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 120_000_000>")]
    pub employees: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 20>")]
    pub products: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 10>")]
    pub customers: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 300_000>")]
    pub line_products: usize,
    #[serde(deserialize_with = "setting::int::<_, _, 1, 80>")]
    pub customer_products: usize,
}

/// The default seed: the day the original package was generated.
pub const DEFAULT_SEED: u64 = 20_251_219;

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            seed: DEFAULT_SEED,
            reference_date: jiff::civil::date(2025, 12, 19),
            factories: 4,
            lines: 20,
            machines: 228,
            sensors: 1716,
            employees: 11948,
            products: 20,
            customers: 10,
            line_products: 27,
            customer_products: 45,
        }
    }
}

/// Per-parent ranges of SPEC §2.
const LINES_PER_FACTORY: (usize, usize) = (4, 6);
const MACHINES_PER_LINE: (usize, usize) = (8, 15);
const EMPLOYEES_PER_FACTORY: (usize, usize) = (2000, 4000);
const PRODUCTS_PER_LINE: (usize, usize) = (1, 3);
const PRODUCTS_PER_CUSTOMER: (usize, usize) = (3, 8);

/// A shift: name, code, start and end (hour, minute), hours, break minutes, days.
type ShiftSpec = (&'static str, &'static str, (u8, u8), (u8, u8), f64, i64, &'static str);

/// The six shifts of every factory, in factory-local time.
const SHIFTS: &[ShiftSpec] = &[
    ("Shift A", "shift_a", (6, 0), (14, 0), 8.0, 30, "mon,tue,wed,thu,fri"),
    ("Shift B", "shift_b", (14, 0), (22, 0), 8.0, 30, "mon,tue,wed,thu,fri"),
    ("Shift C", "shift_c", (22, 0), (6, 0), 8.0, 30, "mon,tue,wed,thu,fri"),
    ("Weekend A", "weekend_a", (6, 0), (18, 0), 12.0, 60, "sat,sun"),
    ("Weekend B", "weekend_b", (18, 0), (6, 0), 12.0, 60, "sat,sun"),
    ("General", "general", (9, 0), (18, 0), 9.0, 60, "mon,tue,wed,thu,fri"),
];

fn infeasible(what: &str, asked: usize, parents: &str, (min, max): (usize, usize)) -> anyhow::Error {
    anyhow::anyhow!("plant.{what} = {asked} cannot be placed: {parents} need between {min} and {max} {what}")
}

fn date_between(rng: &mut Rng, from: Date, to: Date) -> Date {
    let days = (day_number(to) - day_number(from)).max(0);
    add_days(from, rng.random_range(0..=days))
}

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// Title-cases a snake_case type name, keeping acronyms upper-case.
fn label(name: &str) -> String {
    name.split('_')
        .map(|w| match w {
            "cnc" => "CNC".to_owned(),
            "x" => "X".to_owned(),
            "ray" => "Ray".to_owned(),
            w => {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace("X Ray", "X-Ray")
}

/// ASCII for e-mail addresses: transliterates German letters and drops the rest.
fn ascii(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    out
}

impl Plant {
    /// Generates the plant. Fails with a message naming the size that cannot be met.
    pub fn generate(sizes: &Settings, faults: &impl RequiredRoles) -> Result<Plant> {
        Plant::generate_with(sizes, faults, true)
    }

    /// The same plant without the employee rows (their [`Staff`] only), for a run whose
    /// outputs never write them: at ×1000, 12 million rows of 400 bytes.
    pub fn generate_without_employee_rows(sizes: &Settings, faults: &impl RequiredRoles) -> Result<Plant> {
        Plant::generate_with(sizes, faults, false)
    }

    fn generate_with(sizes: &Settings, faults: &impl RequiredRoles, employee_rows: bool) -> Result<Plant> {
        let (seed, reference_date) = (sizes.seed, sizes.reference_date);
        if sizes.factories == 0 {
            bail!("plant.factories must be at least 1");
        }
        if !(1..=catalog::PRODUCTS.len()).contains(&sizes.products) {
            bail!(
                "plant.products = {} must lie in 1..={} (the product catalogue)",
                sizes.products,
                catalog::PRODUCTS.len()
            );
        }
        if !(1..=catalog::CUSTOMERS.len()).contains(&sizes.customers) {
            bail!(
                "plant.customers = {} must lie in 1..={} (the customer catalogue)",
                sizes.customers,
                catalog::CUSTOMERS.len()
            );
        }
        let r = |name: &str| rng::stream(seed, &[rng::label(name)]);
        let mut plant = Plant {
            reference_date,
            factories: factories(&mut r("factories"), sizes, reference_date),
            lines: Vec::new(),
            machines: Vec::new(),
            sensors: Vec::new(),
            employees: Vec::new(),
            staff: Vec::new(),
            shifts: Vec::new(),
            products: products(&mut r("products"), sizes),
            customers: customers(&mut r("customers"), sizes),
            line_products: Vec::new(),
            customer_products: Vec::new(),
        };
        plant.lines = plant.make_lines(&mut r("lines"), sizes)?;
        plant.machines = plant.make_machines(&mut r("machines"), sizes)?;
        plant.sensors = plant.make_sensors(&mut r("sensors"), sizes, faults)?;
        plant.shifts = plant.make_shifts();
        (plant.employees, plant.staff) = plant.make_employees(&mut r("employees"), sizes, employee_rows)?;
        plant.line_products = plant.make_line_products(&mut r("line_products"), sizes)?;
        plant.customer_products = plant.make_customer_products(&mut r("customer_products"), sizes)?;
        Ok(plant)
    }

    fn make_lines(&self, rng: &mut Rng, sizes: &Settings) -> Result<Vec<Line>> {
        let per_factory = allocate(rng, &vec![LINES_PER_FACTORY; self.factories.len()], sizes.lines)
            .map_err(|b| infeasible("lines", sizes.lines, &format!("{} factories", self.factories.len()), b))?;
        let mut types: Vec<&'static str> = (0..sizes.lines).map(|i| LINE_TYPES[i % LINE_TYPES.len()].0).collect();
        types.shuffle(rng);
        let mut categories: Vec<&'static str> = Vec::new();
        for p in &self.products {
            if !categories.contains(&p.spec.category) {
                categories.push(p.spec.category);
            }
        }
        let mut cats: Vec<&'static str> = (0..sizes.lines).map(|i| categories[i % categories.len()]).collect();
        cats.shuffle(rng);
        let mut lines = Vec::with_capacity(sizes.lines);
        for (f, &n) in per_factory.iter().enumerate() {
            let factory = &self.factories[f];
            for number in 1..=n as u32 {
                let i = lines.len();
                let (line_type, category) = (types[i], cats[i]);
                let design = rng.random_range(20..=120) as i64;
                let automation = match line_type {
                    "machining" | "welding" | "painting" => {
                        *["fully-automated", "fully-automated", "semi-automated"].choose(rng).unwrap()
                    }
                    "assembly" => {
                        *["semi-automated", "semi-automated", "manual", "fully-automated"].choose(rng).unwrap()
                    }
                    _ => *["semi-automated", "fully-automated"].choose(rng).unwrap(),
                };
                lines.push(Line {
                    id: id("LINE", i),
                    factory: f,
                    name: format!("{} {} {} Line {number:02}", factory.city, label(category), label(line_type)),
                    number,
                    product_category: category,
                    line_type,
                    design_capacity: design,
                    installed_capacity: (design as f64 * rng.random_range(0.85..=1.0)).round() as i64,
                    length_m: round_to(rng.random_range(40.0..200.0), 0.5),
                    num_stations: 0,
                    automation_level: automation,
                    commissioning_date: date_between(
                        rng,
                        factory.operational_since,
                        add_days(self.reference_date, -365),
                    ),
                });
            }
        }
        Ok(lines)
    }

    fn make_machines(&mut self, rng: &mut Rng, sizes: &Settings) -> Result<Vec<Machine>> {
        let per_line = allocate(rng, &vec![MACHINES_PER_LINE; self.lines.len()], sizes.machines)
            .map_err(|b| infeasible("machines", sizes.machines, &format!("{} lines", self.lines.len()), b))?;
        let mut machines = Vec::with_capacity(sizes.machines);
        for (l, &n) in per_line.iter().enumerate() {
            let line = &mut self.lines[l];
            line.num_stations = n as u32;
            let kinds = LINE_TYPES.iter().find(|(t, _)| *t == line.line_type).map(|(_, k)| k).expect("known line type");
            let mut types: Vec<&'static str> = kinds.to_vec();
            types.shuffle(rng);
            while types.len() < n {
                types.push(*kinds.choose(rng).unwrap());
            }
            let site = self.factories[line.factory].code;
            for (pos, &machine_type) in types.iter().enumerate() {
                let nth = types[..=pos].iter().filter(|t| **t == machine_type).count();
                let manufacturer = *catalog::manufacturers(machine_type).choose(rng).unwrap();
                let installed = date_between(rng, line.commissioning_date, add_days(self.reference_date, -60));
                let age = (day_number(self.reference_date) - day_number(installed)) as f64 / 365.25;
                let overhaul = (age > 4.0 && rng.random_bool(0.6))
                    .then(|| date_between(rng, add_days(installed, 3 * 365), add_days(self.reference_date, -30)));
                let (pmin, pmax) = catalog::power_range_kw(machine_type);
                let initials: String = manufacturer.split(' ').filter_map(|w| w.chars().next()).collect();
                machines.push(Machine {
                    id: id("MCH", machines.len()),
                    line: l,
                    factory: line.factory,
                    name: format!("{} {nth:02}", label(machine_type)),
                    code: format!("{site}-L{:02}-M{:02}", line.number, pos + 1),
                    machine_type,
                    manufacturer,
                    model_number: format!("{}-{}", initials.to_uppercase(), rng.random_range(1000..9999)),
                    serial_number: format!("SN{}{:06}", installed.year(), rng.random_range(0..1_000_000)),
                    installation_date: installed,
                    last_major_overhaul: overhaul,
                    design_capacity: (line.design_capacity as f64 * rng.random_range(1.0..1.3)).round() as i64,
                    power_rating_kw: round_to(rng.random_range(pmin..pmax), 0.5),
                    maintenance_schedule: [("daily", 1), ("weekly", 6), ("monthly", 9), ("quarterly", 4)]
                        .choose_weighted(rng, |w| w.1)
                        .unwrap()
                        .0,
                    criticality: [("critical", 15), ("high", 35), ("medium", 35), ("low", 15)]
                        .choose_weighted(rng, |w| w.1)
                        .unwrap()
                        .0,
                    asset_value_usd: round_to(pmax * rng.random_range(4000.0..12000.0), 100.0),
                    expected_life_years: rng.random_range(10..=25),
                    current_age_years: (age * 100.0).round() / 100.0,
                });
            }
        }
        Ok(machines)
    }

    fn make_sensors(&self, rng: &mut Rng, sizes: &Settings, faults: &impl RequiredRoles) -> Result<Vec<Sensor>> {
        let required: Vec<Vec<&'static str>> =
            self.machines.iter().map(|m| faults.required_roles(m.machine_type)).collect();
        let bounds: Vec<(usize, usize)> =
            required.iter().map(|r| (r.len().max(MIN_SENSORS_PER_MACHINE), MAX_SENSORS_PER_MACHINE)).collect();
        let per_machine = allocate(rng, &bounds, sizes.sensors).map_err(|b| {
            infeasible(
                "sensors",
                sizes.sensors,
                &format!("{} machines (with the sensors their fault patterns need)", self.machines.len()),
                b,
            )
        })?;
        let mut sensors = Vec::with_capacity(sizes.sensors);
        for (m, machine) in self.machines.iter().enumerate() {
            let profile = roles::profile(machine.machine_type);
            let need = &required[m];
            let extra = per_machine[m] - need.len();
            let chosen = profile.iter().filter(|r| need.contains(r)).count();
            debug_assert_eq!(chosen, need.len());
            let mut optional_left = extra;
            for name in profile {
                let take = if need.contains(name) {
                    true
                } else if optional_left > 0 {
                    optional_left -= 1;
                    true
                } else {
                    false
                };
                if !take {
                    continue;
                }
                let role = roles::role(name).expect("profiles name known roles (tested)");
                let maker = *catalog::SENSOR_MAKERS.choose(rng).unwrap();
                let freq = *[90, 180, 365].choose(rng).unwrap();
                sensors.push(Sensor {
                    id: id("SNS", sensors.len()),
                    machine: m,
                    line: machine.line,
                    factory: machine.factory,
                    role,
                    code: format!("{}-{}", machine.code, role.code),
                    protocol: [("OPC-UA", 40), ("Modbus-TCP", 25), ("MQTT", 25), ("REST-API", 10)]
                        .choose_weighted(rng, |w| w.1)
                        .unwrap()
                        .0,
                    manufacturer: maker,
                    model_number: format!(
                        "{}-{}-{}",
                        &maker[..3].to_uppercase(),
                        role.code,
                        rng.random_range(100..999)
                    ),
                    calibration_date: add_days(self.reference_date, -rng.random_range(0..freq)),
                    calibration_frequency_days: freq,
                    accuracy_pct: f64::from(rng.random_range(10..=100u32)) / 100.0,
                });
            }
        }
        Ok(sensors)
    }

    fn make_shifts(&self) -> Vec<Shift> {
        let mut shifts = Vec::new();
        for f in 0..self.factories.len() {
            for &(name, code, start, end, hours, brk, days) in SHIFTS {
                shifts.push(Shift {
                    id: id("SHF", shifts.len()),
                    factory: f,
                    name,
                    code,
                    start: Time::new(start.0 as i8, start.1 as i8, 0, 0).expect("valid shift time"),
                    end: Time::new(end.0 as i8, end.1 as i8, 0, 0).expect("valid shift time"),
                    duration_hours: hours,
                    break_minutes: brk,
                    days,
                });
            }
        }
        shifts
    }

    /// The employees (their rows only if `rows`) and what the engine needs of each.
    fn make_employees(&self, rng: &mut Rng, sizes: &Settings, rows: bool) -> Result<(Vec<Employee>, Vec<Staff>)> {
        let per_factory = allocate(rng, &vec![EMPLOYEES_PER_FACTORY; self.factories.len()], sizes.employees)
            .map_err(|b| infeasible("employees", sizes.employees, &format!("{} factories", self.factories.len()), b))?;
        let shares: Vec<u32> = catalog::EMPLOYEE_ROLES.iter().map(|r| r.1).collect();
        let mut employees = Vec::with_capacity(if rows { sizes.employees } else { 0 });
        let mut staff = Vec::with_capacity(sizes.employees);
        for (f, &n) in per_factory.iter().enumerate() {
            let factory = &self.factories[f];
            let lines: Vec<usize> = (0..self.lines.len()).filter(|&l| self.lines[l].factory == f).collect();
            let (firsts, lasts) = catalog::names(factory.country);
            let mut number = 0;
            for (r, count) in by_share(n, &shares).into_iter().enumerate() {
                let (role, _, department, on_line) = catalog::EMPLOYEE_ROLES[r];
                for k in 0..count {
                    number += 1;
                    let first = *firsts.choose(rng).unwrap();
                    let last = *lasts.choose(rng).unwrap();
                    let tenure_days = rng.random_range(30..=25 * 365);
                    let hire = add_days(self.reference_date, -tenure_days).max(factory.operational_since);
                    let experience = (day_number(self.reference_date) - day_number(hire)) as f64 / 365.25
                        + rng.random_range(0.0..8.0);
                    let shift = if on_line {
                        [("shift_a", 25), ("shift_b", 25), ("shift_c", 20), ("weekend_a", 15), ("weekend_b", 15)]
                            .choose_weighted(rng, |w| w.1)
                            .unwrap()
                            .0
                    } else {
                        "general"
                    };
                    let n_certs = rng.random_range(0..=3);
                    // Drawn whether or not the row is made, so the rows that are made stay the same.
                    let certs = catalog::EMPLOYEE_CERTIFICATIONS.choose_multiple(rng, n_certs);
                    let phone: [i32; 3] =
                        [rng.random_range(100..999), rng.random_range(0..9999), rng.random_range(0..9999)];
                    let active = rng.random_bool(0.97);
                    let index = staff.len();
                    // Line staff spread evenly over the factory's lines.
                    let line = (on_line && !lines.is_empty()).then(|| lines[k % lines.len()]);
                    staff.push(Staff {
                        line: line.map(|l| l as u32),
                        role: r as u8,
                        shift: SHIFTS.iter().position(|s| s.1 == shift).expect("one of the six") as u8,
                        active,
                    });
                    if !rows {
                        continue;
                    }
                    let certs: Vec<&str> = certs.copied().collect();
                    employees.push(Employee {
                        id: id("EMP", index),
                        factory: f,
                        line,
                        code: format!("{}-{number:05}", factory.code),
                        first_name: first,
                        last_name: last,
                        email: format!("{}.{}.{}@genims.com", ascii(first), ascii(last), index + 1),
                        phone: format!("{} {:03} {:04} {:04}", factory.phone_prefix, phone[0], phone[1], phone[2]),
                        role,
                        department,
                        skill_level: match experience {
                            e if e < 2.0 => "trainee",
                            e if e < 6.0 => "skilled",
                            e if e < 12.0 => "senior",
                            _ => "expert",
                        },
                        shift,
                        hire_date: hire,
                        experience_years: (experience * 100.0).round() / 100.0,
                        certifications: (!certs.is_empty()).then(|| certs.join(", ")),
                        status: if active { "active" } else { "on_leave" },
                    });
                }
            }
        }
        Ok((employees, staff))
    }

    fn make_line_products(&self, rng: &mut Rng, sizes: &Settings) -> Result<Vec<LineProduct>> {
        let of_category = |cat: &str| -> Vec<usize> {
            (0..self.products.len()).filter(|&p| self.products[p].spec.category == cat).collect()
        };
        let bounds: Vec<(usize, usize)> = self
            .lines
            .iter()
            .map(|l| (PRODUCTS_PER_LINE.0, PRODUCTS_PER_LINE.1.min(of_category(l.product_category).len())))
            .collect();
        let per_line = allocate(rng, &bounds, sizes.line_products).map_err(|b| {
            infeasible(
                "line_products",
                sizes.line_products,
                &format!("{} lines (1-3 products of their category each)", self.lines.len()),
                b,
            )
        })?;
        let mut out = Vec::with_capacity(sizes.line_products);
        for (l, &n) in per_line.iter().enumerate() {
            let mut candidates = of_category(self.lines[l].product_category);
            candidates.shuffle(rng);
            for (k, &p) in candidates.iter().take(n).enumerate() {
                let std = f64::from(self.products[p].spec.cycle_time_s);
                out.push(LineProduct {
                    id: id("LPM", out.len()),
                    line: l,
                    product: p,
                    is_primary: k == 0,
                    cycle_time_s: (std * rng.random_range(0.9..1.15)).round() as i64,
                    setup_minutes: rng.random_range(15..=60),
                    changeover_minutes: rng.random_range(20..=90),
                    yield_pct: f64::from(rng.random_range(950..=995u32)) / 10.0,
                });
            }
        }
        Ok(out)
    }

    fn make_customer_products(&self, rng: &mut Rng, sizes: &Settings) -> Result<Vec<CustomerProduct>> {
        let bounds =
            vec![
                (PRODUCTS_PER_CUSTOMER.0.min(self.products.len()), PRODUCTS_PER_CUSTOMER.1.min(self.products.len()));
                self.customers.len()
            ];
        let per_customer = allocate(rng, &bounds, sizes.customer_products).map_err(|b| {
            infeasible(
                "customer_products",
                sizes.customer_products,
                &format!("{} customers (3-8 products each)", self.customers.len()),
                b,
            )
        })?;
        let mut out = Vec::with_capacity(sizes.customer_products);
        for (c, &n) in per_customer.iter().enumerate() {
            let mut candidates: Vec<usize> = (0..self.products.len()).collect();
            candidates.shuffle(rng);
            candidates.truncate(n);
            candidates.sort_unstable();
            for p in candidates {
                let spec = self.products[p].spec;
                out.push(CustomerProduct {
                    id: id("CPM", out.len()),
                    customer: c,
                    product: p,
                    is_active: rng.random_bool(0.9),
                    annual_volume: round_to(rng.random_range(5_000.0..200_000.0), 100.0) as i64,
                    unit_price_usd: (f64::from(spec.components) * rng.random_range(8.0..20.0)
                        + spec.weight_kg * 4.0
                        + 10.0)
                        .round(),
                    lead_time_days: rng.random_range(7..=45),
                    quality_ppm: *[50, 100, 200, 300, 500].choose(rng).unwrap(),
                });
            }
        }
        Ok(out)
    }
}

fn factories(rng: &mut Rng, sizes: &Settings, reference: Date) -> Vec<Factory> {
    (0..sizes.factories)
        .map(|i| {
            let site = &SITES[i % SITES.len()];
            let suffix = if i < SITES.len() { String::new() } else { format!(" {}", i / SITES.len() + 1) };
            let mut certs: Vec<&str> = catalog::CERTIFICATIONS[..2].to_vec();
            let extra = rng.random_range(0..=3);
            certs.extend(catalog::CERTIFICATIONS[2..].choose_multiple(rng, extra));
            Factory {
                id: id("FAC", i),
                name: format!("GenIMS {} Plant{suffix}", site.city),
                code: site.code,
                country: site.country,
                city: site.city,
                region: site.region,
                phone_prefix: site.phone_prefix,
                timezone: site.timezone,
                total_area_sqm: round_to(rng.random_range(40_000.0..150_000.0), 100.0) as i64,
                operational_since: date_between(rng, add_days(reference, -35 * 365), add_days(reference, -8 * 365)),
                certification: certs.join(", "),
            }
        })
        .collect()
}

fn products(rng: &mut Rng, sizes: &Settings) -> Vec<Product> {
    catalog::PRODUCTS[..sizes.products]
        .iter()
        .enumerate()
        .map(|(i, spec)| Product {
            id: id("PRD", i),
            spec,
            target_quality_ppm: *[50, 100, 200, 300, 500].choose(rng).unwrap(),
        })
        .collect()
}

fn customers(rng: &mut Rng, sizes: &Settings) -> Vec<Customer> {
    catalog::CUSTOMERS[..sizes.customers]
        .iter()
        .enumerate()
        .map(|(i, &(name, country))| {
            let code: String =
                name.chars().filter(char::is_ascii_alphabetic).take(3).collect::<String>().to_uppercase();
            Customer {
                id: id("CUST", i),
                code: format!("C-{code}"),
                name,
                country,
                segment: match name {
                    "Isuzu" => "commercial vehicles",
                    "BMW" | "Mercedes-Benz" => "premium vehicles",
                    _ => "passenger vehicles",
                },
                annual_volume: round_to(rng.random_range(100_000.0..2_000_000.0), 1000.0) as i64,
                quality_rating: ["A+", "A", "A", "B"].choose(rng).unwrap(),
                payment_terms_days: *[30, 45, 60, 90].choose(rng).unwrap(),
                sla_on_time_pct: f64::from(rng.random_range(950..=995u32)) / 10.0,
                sla_quality_ppm: *[50, 100, 200, 300, 500].choose(rng).unwrap(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Catalogue;

    fn plant(seed: u64) -> Plant {
        Plant::generate(&Settings { seed, ..Settings::default() }, &Catalogue::builtin()).unwrap()
    }

    #[test]
    fn default_sizes_are_exact() {
        let p = plant(1);
        let counts = [
            p.factories.len(),
            p.lines.len(),
            p.machines.len(),
            p.sensors.len(),
            p.employees.len(),
            p.shifts.len(),
            p.products.len(),
            p.customers.len(),
            p.line_products.len(),
            p.customer_products.len(),
        ];
        assert_eq!(counts, [4, 20, 228, 1716, 11948, 24, 20, 10, 27, 45]);
    }

    #[test]
    fn every_machine_has_the_sensors_its_patterns_need() {
        let cat = Catalogue::builtin();
        let p = plant(3);
        for (m, machine) in p.machines.iter().enumerate() {
            let have: Vec<&str> = p.sensors.iter().filter(|s| s.machine == m).map(|s| s.role.name).collect();
            assert!((5..=10).contains(&have.len()), "{} has {} sensors", machine.id, have.len());
            for need in cat.required_roles(machine.machine_type) {
                assert!(have.contains(&need), "{} ({}) lacks {need}", machine.id, machine.machine_type);
            }
        }
    }

    #[test]
    fn every_machine_type_exists() {
        let p = plant(5);
        for t in roles::machine_types() {
            assert!(p.machines.iter().any(|m| m.machine_type == t), "no {t} in the default plant");
        }
    }

    #[test]
    fn infeasible_sizes_are_named() {
        let sizes = Settings { machines: 500, ..Settings::default() };
        let err = Plant::generate(&Settings { seed: 1, ..sizes }, &Catalogue::builtin()).unwrap_err().to_string();
        assert_eq!(err, "plant.machines = 500 cannot be placed: 20 lines need between 160 and 300 machines");
    }

    #[test]
    fn labels_read_well() {
        assert_eq!(label("cnc_mill"), "CNC Mill");
        assert_eq!(label("x_ray"), "X-Ray");
        assert_eq!(ascii("Müller"), "mueller");
        assert_eq!(ascii("O'Brien"), "obrien");
    }
}
