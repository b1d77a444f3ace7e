//! The plant: master data of the GenIMS manufacturer.
//!
//! [`Plant::generate`] builds the whole plant deterministically from the seed, the sizes and
//! the fault catalogue (which decides which sensors each machine type must carry). The
//! entity structs here hold what the simulation engine needs; `tables` turns them into rows
//! of the ten master tables.

pub mod alloc;
pub mod catalog;
mod generate;
pub mod roles;
pub mod tables;

use crate::clock::{Date, Time};

pub use generate::Settings;

#[derive(Debug, Clone)]
pub struct Factory {
    pub id: String,
    pub name: String,
    pub code: &'static str,
    pub country: &'static str,
    pub city: &'static str,
    pub region: &'static str,
    pub timezone: &'static str,
    pub phone_prefix: &'static str,
    pub total_area_sqm: i64,
    pub operational_since: Date,
    pub certification: String,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub id: String,
    pub factory: usize,
    pub name: String,
    pub number: u32,
    pub product_category: &'static str,
    pub line_type: &'static str,
    pub design_capacity: i64,
    pub installed_capacity: i64,
    pub length_m: f64,
    pub num_stations: u32,
    pub automation_level: &'static str,
    pub commissioning_date: Date,
}

#[derive(Debug, Clone)]
pub struct Machine {
    pub id: String,
    pub line: usize,
    pub factory: usize,
    pub name: String,
    pub code: String,
    pub machine_type: &'static str,
    pub manufacturer: &'static str,
    pub model_number: String,
    pub serial_number: String,
    pub installation_date: Date,
    pub last_major_overhaul: Option<Date>,
    pub design_capacity: i64,
    pub power_rating_kw: f64,
    pub maintenance_schedule: &'static str,
    pub criticality: &'static str,
    pub asset_value_usd: f64,
    pub expected_life_years: i64,
    pub current_age_years: f64,
}

#[derive(Debug, Clone)]
pub struct Sensor {
    pub id: String,
    pub machine: usize,
    pub line: usize,
    pub factory: usize,
    pub role: &'static roles::Role,
    pub code: String,
    pub protocol: &'static str,
    pub manufacturer: &'static str,
    pub model_number: String,
    pub calibration_date: Date,
    pub calibration_frequency_days: i64,
    pub accuracy_pct: f64,
}

#[derive(Debug, Clone)]
pub struct Employee {
    pub id: String,
    pub factory: usize,
    pub line: Option<usize>,
    pub code: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub email: String,
    pub phone: String,
    pub role: &'static str,
    pub department: &'static str,
    pub skill_level: &'static str,
    pub shift: &'static str,
    pub hire_date: Date,
    pub experience_years: f64,
    pub certifications: Option<String>,
    pub status: &'static str,
}

/// An employee as the engine sees one (8 bytes; the row is 400 with its strings): the line
/// worked on, the role (index into the catalogue's employee roles), the shift (index into
/// the factory's six shifts, master order) and whether the employee is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staff {
    pub line: Option<u32>,
    pub role: u8,
    pub shift: u8,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct Shift {
    pub id: String,
    pub factory: usize,
    pub name: &'static str,
    pub code: &'static str,
    pub start: Time,
    pub end: Time,
    pub duration_hours: f64,
    pub break_minutes: i64,
    /// Comma-separated lower-case day names, e.g. `mon,tue,wed,thu,fri`.
    pub days: &'static str,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub spec: &'static catalog::ProductSpec,
    pub target_quality_ppm: i64,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub code: String,
    pub name: &'static str,
    pub country: &'static str,
    pub segment: &'static str,
    pub annual_volume: i64,
    pub quality_rating: &'static str,
    pub payment_terms_days: i64,
    pub sla_on_time_pct: f64,
    pub sla_quality_ppm: i64,
}

#[derive(Debug, Clone)]
pub struct LineProduct {
    pub id: String,
    pub line: usize,
    pub product: usize,
    pub is_primary: bool,
    pub cycle_time_s: i64,
    pub setup_minutes: i64,
    pub changeover_minutes: i64,
    pub yield_pct: f64,
}

#[derive(Debug, Clone)]
pub struct CustomerProduct {
    pub id: String,
    pub customer: usize,
    pub product: usize,
    pub is_active: bool,
    pub annual_volume: i64,
    pub unit_price_usd: f64,
    pub lead_time_days: i64,
    pub quality_ppm: i64,
}

/// What decides the sensors a machine must carry: the roles its type needs so that every
/// fault pattern that applies to it can show its signature (the fault catalogue, which
/// implements this; the plant itself knows nothing of faults).
pub trait RequiredRoles {
    /// The roles every machine of `machine_type` must carry, in profile order.
    fn required_roles(&self, machine_type: &str) -> Vec<&'static str>;
}

/// The whole plant.
#[derive(Debug, Clone)]
pub struct Plant {
    /// The date the master data describes (ages, calibration dates and created_at derive
    /// from it, never from the wall clock).
    pub reference_date: Date,
    pub factories: Vec<Factory>,
    pub lines: Vec<Line>,
    pub machines: Vec<Machine>,
    pub sensors: Vec<Sensor>,
    /// The employee rows; empty in a plant generated without them
    /// ([`Plant::generate_without_employee_rows`]).
    pub employees: Vec<Employee>,
    /// What the engine needs of each employee (by index), kept whether or not the rows are.
    pub staff: Vec<Staff>,
    pub shifts: Vec<Shift>,
    pub products: Vec<Product>,
    pub customers: Vec<Customer>,
    pub line_products: Vec<LineProduct>,
    pub customer_products: Vec<CustomerProduct>,
}

/// `PREFIX-000001` style identifiers (1-based).
pub fn id(prefix: &str, index: usize) -> String {
    format!("{prefix}-{:06}", index + 1)
}

/// An employee's id, `EMP-000001` as [`id`] spells it, made from the employee's index
/// without the employee rows (the engine names staff on rows; the rows themselves are
/// master data the stream need not keep). Lives on the stack.
#[derive(Debug, Clone, Copy)]
pub struct EmployeeId {
    buf: [u8; 24],
    len: u8,
}

impl EmployeeId {
    pub fn new(index: u32) -> EmployeeId {
        let mut buf = *b"EMP-00000000000000000000";
        let mut digits = [0u8; 10];
        let (mut n, mut k) = (index + 1, 0);
        while n > 0 {
            digits[k] = b'0' + (n % 10) as u8;
            n /= 10;
            k += 1;
        }
        let width = k.max(6);
        for (i, d) in digits[..k].iter().enumerate() {
            buf[4 + width - 1 - i] = *d;
        }
        EmployeeId { buf, len: (4 + width) as u8 }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).expect("ASCII digits")
    }
}

impl Plant {
    /// Indices of machine `m`'s sensors (sensors are stored grouped by machine).
    pub fn sensors_of(&self, m: usize) -> std::ops::Range<usize> {
        let start = self.sensors.partition_point(|s| s.machine < m);
        let end = self.sensors.partition_point(|s| s.machine <= m);
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plant generated without employee rows keeps every employee's staff record, the
    /// same as the full plant's and as its rows say, and every other table.
    #[test]
    fn a_plant_without_employee_rows_keeps_their_staff() {
        let cat = crate::faults::Catalogue::builtin();
        let settings = Settings { seed: 11, ..Default::default() };
        let full = Plant::generate(&settings, &cat).unwrap();
        let lean = Plant::generate_without_employee_rows(&settings, &cat).unwrap();
        assert!(lean.employees.is_empty() && full.employees.len() == settings.employees);
        assert_eq!(lean.staff, full.staff, "the same staff with or without the rows");
        for (e, s) in full.employees.iter().zip(&full.staff) {
            assert_eq!(e.line.map(|l| l as u32), s.line, "{}: line", e.id);
            assert_eq!(e.role, catalog::EMPLOYEE_ROLES[usize::from(s.role)].0, "{}: role", e.id);
            assert_eq!(e.status == "active", s.active, "{}: status", e.id);
        }
        let (a, b) = (full.master_tables(), lean.master_tables());
        for (x, y) in a.iter().zip(&b).filter(|(x, _)| x.name != "employees") {
            assert!(crate::output::master::csv(x) == crate::output::master::csv(y), "{}: the same rows", x.name);
        }
    }

    /// The stack-made employee id is the one the employees table carries, at every width.
    #[test]
    fn employee_ids_match_the_table_spelling() {
        for i in [0u32, 1, 8, 9, 98, 99_998, 999_998, 999_999, 11_947_999, u32::MAX - 1] {
            assert_eq!(EmployeeId::new(i).as_str(), id("EMP", i as usize), "employee index {i}");
        }
    }
}
