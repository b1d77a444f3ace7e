//! The ten master tables as rows: column names (exactly as in `sql/10_master.sql`) and one
//! [`Value`] per column for every entity of the plant.

use super::Plant;
use crate::value::Value;

/// One table's name, columns and rows.
pub struct TableRows {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Value>>,
}

pub const FACTORIES: &[&str] = &[
    "factory_id",
    "factory_name",
    "country",
    "city",
    "region",
    "timezone",
    "total_area_sqm",
    "operational_since",
    "factory_type",
    "certification",
    "status",
    "created_at",
];
pub const PRODUCTION_LINES: &[&str] = &[
    "line_id",
    "factory_id",
    "line_name",
    "line_number",
    "product_category",
    "line_type",
    "design_capacity_units_per_hour",
    "installed_capacity_units_per_hour",
    "line_length_meters",
    "num_stations",
    "automation_level",
    "commissioning_date",
    "status",
    "created_at",
];
pub const MACHINES: &[&str] = &[
    "machine_id",
    "line_id",
    "factory_id",
    "machine_name",
    "machine_code",
    "machine_type",
    "manufacturer",
    "model_number",
    "serial_number",
    "installation_date",
    "last_major_overhaul",
    "design_capacity_units_per_hour",
    "power_rating_kw",
    "maintenance_schedule",
    "criticality",
    "asset_value_usd",
    "expected_life_years",
    "current_age_years",
    "status",
    "created_at",
];
pub const SENSORS: &[&str] = &[
    "sensor_id",
    "machine_id",
    "line_id",
    "factory_id",
    "sensor_name",
    "sensor_code",
    "sensor_type",
    "measurement_unit",
    "measurement_range_min",
    "measurement_range_max",
    "normal_operating_min",
    "normal_operating_max",
    "warning_threshold_min",
    "warning_threshold_max",
    "critical_threshold_min",
    "critical_threshold_max",
    "sampling_frequency_hz",
    "data_protocol",
    "manufacturer",
    "model_number",
    "calibration_date",
    "calibration_frequency_days",
    "accuracy_percentage",
    "status",
    "created_at",
];
pub const EMPLOYEES: &[&str] = &[
    "employee_id",
    "factory_id",
    "line_id",
    "employee_code",
    "first_name",
    "last_name",
    "email",
    "phone",
    "role",
    "department",
    "skill_level",
    "shift",
    "hire_date",
    "experience_years",
    "certifications",
    "status",
    "created_at",
];
pub const SHIFTS: &[&str] = &[
    "shift_id",
    "factory_id",
    "shift_name",
    "shift_code",
    "start_time",
    "end_time",
    "duration_hours",
    "shift_type",
    "break_duration_minutes",
    "days_of_week",
    "status",
    "created_at",
];
pub const PRODUCTS: &[&str] = &[
    "product_id",
    "product_code",
    "product_name",
    "product_category",
    "product_type",
    "description",
    "bill_of_material_complexity",
    "number_of_components",
    "standard_cycle_time_seconds",
    "target_quality_ppm",
    "unit_weight_kg",
    "material_type",
    "status",
    "created_at",
];
pub const CUSTOMERS: &[&str] = &[
    "customer_id",
    "customer_code",
    "customer_name",
    "customer_type",
    "country",
    "region",
    "industry_segment",
    "annual_volume_estimate",
    "quality_rating",
    "payment_terms_days",
    "sla_on_time_delivery_percentage",
    "sla_quality_ppm_max",
    "status",
    "created_at",
];
pub const LINE_PRODUCT_MAPPING: &[&str] = &[
    "mapping_id",
    "line_id",
    "product_id",
    "factory_id",
    "is_primary_line",
    "standard_cycle_time_seconds",
    "setup_time_minutes",
    "changeover_time_minutes",
    "yield_percentage",
    "status",
    "created_at",
];
pub const CUSTOMER_PRODUCT_MAPPING: &[&str] = &[
    "mapping_id",
    "customer_id",
    "product_id",
    "is_active",
    "annual_volume",
    "unit_price_usd",
    "lead_time_days",
    "quality_requirement_ppm",
    "created_at",
];

/// The master table names in load order.
pub const MASTER_TABLES: &[&str] = &[
    "factories",
    "production_lines",
    "machines",
    "sensors",
    "employees",
    "shifts",
    "products",
    "customers",
    "line_product_mapping",
    "customer_product_mapping",
];

/// A master row's `status`.
fn active() -> Value {
    Value::from("active")
}

impl Plant {
    /// Every master table with its rows, in [`MASTER_TABLES`] order.
    pub fn master_tables(&self) -> Vec<TableRows> {
        let created = Value::Timestamp(self.reference_date.to_datetime(crate::clock::Time::midnight()));
        let table = |name, columns, rows| TableRows { name, columns, rows };
        vec![
            table("factories", FACTORIES, self.factories_rows(&created)),
            table("production_lines", PRODUCTION_LINES, self.production_lines_rows(&created)),
            table("machines", MACHINES, self.machines_rows(&created)),
            table("sensors", SENSORS, self.sensors_rows(&created)),
            table("employees", EMPLOYEES, self.employees_rows(&created)),
            table("shifts", SHIFTS, self.shifts_rows(&created)),
            table("products", PRODUCTS, self.products_rows(&created)),
            table("customers", CUSTOMERS, self.customers_rows(&created)),
            table("line_product_mapping", LINE_PRODUCT_MAPPING, self.line_product_mapping_rows(&created)),
            table("customer_product_mapping", CUSTOMER_PRODUCT_MAPPING, self.customer_product_mapping_rows(&created)),
        ]
    }

    /// The rows of `factories`.
    fn factories_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.factories
            .iter()
            .map(|f| {
                vec![
                    f.id.as_str().into(),
                    f.name.as_str().into(),
                    f.country.into(),
                    f.city.into(),
                    f.region.into(),
                    f.timezone.into(),
                    f.total_area_sqm.into(),
                    f.operational_since.into(),
                    "manufacturing".into(),
                    f.certification.as_str().into(),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `production_lines`.
    fn production_lines_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.lines
            .iter()
            .map(|l| {
                vec![
                    l.id.as_str().into(),
                    self.factories[l.factory].id.as_str().into(),
                    l.name.as_str().into(),
                    l.number.into(),
                    l.product_category.into(),
                    l.line_type.into(),
                    l.design_capacity.into(),
                    l.installed_capacity.into(),
                    Value::dec(l.length_m, 2),
                    l.num_stations.into(),
                    l.automation_level.into(),
                    l.commissioning_date.into(),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `machines`.
    fn machines_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.machines
            .iter()
            .map(|m| {
                vec![
                    m.id.as_str().into(),
                    self.lines[m.line].id.as_str().into(),
                    self.factories[m.factory].id.as_str().into(),
                    m.name.as_str().into(),
                    m.code.as_str().into(),
                    m.machine_type.into(),
                    m.manufacturer.into(),
                    m.model_number.as_str().into(),
                    m.serial_number.as_str().into(),
                    m.installation_date.into(),
                    m.last_major_overhaul.map_or(Value::Null, Value::Date),
                    m.design_capacity.into(),
                    Value::dec(m.power_rating_kw, 2),
                    m.maintenance_schedule.into(),
                    m.criticality.into(),
                    Value::dec(m.asset_value_usd, 2),
                    m.expected_life_years.into(),
                    Value::dec(m.current_age_years, 2),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `sensors`.
    fn sensors_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.sensors
            .iter()
            .map(|s| {
                let r = s.role;
                vec![
                    s.id.as_str().into(),
                    self.machines[s.machine].id.as_str().into(),
                    self.lines[s.line].id.as_str().into(),
                    self.factories[s.factory].id.as_str().into(),
                    r.label.into(),
                    s.code.as_str().into(),
                    r.sensor_type.into(),
                    r.unit.into(),
                    Value::dec(r.range.0, 4),
                    Value::dec(r.range.1, 4),
                    Value::dec(r.normal.0, 4),
                    Value::dec(r.normal.1, 4),
                    Value::dec(r.warning.0, 4),
                    Value::dec(r.warning.1, 4),
                    Value::dec(r.critical.0, 4),
                    Value::dec(r.critical.1, 4),
                    Value::dec(r.sampling_hz, 2),
                    s.protocol.into(),
                    s.manufacturer.into(),
                    s.model_number.as_str().into(),
                    s.calibration_date.into(),
                    s.calibration_frequency_days.into(),
                    Value::dec(s.accuracy_pct, 2),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `employees`.
    fn employees_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.employees
            .iter()
            .map(|e| {
                vec![
                    e.id.as_str().into(),
                    self.factories[e.factory].id.as_str().into(),
                    Value::opt_text(e.line.map(|l| self.lines[l].id.as_str())),
                    e.code.as_str().into(),
                    e.first_name.into(),
                    e.last_name.into(),
                    e.email.as_str().into(),
                    e.phone.as_str().into(),
                    e.role.into(),
                    e.department.into(),
                    e.skill_level.into(),
                    e.shift.into(),
                    e.hire_date.into(),
                    Value::dec(e.experience_years, 2),
                    Value::opt_text(e.certifications.as_deref()),
                    e.status.into(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `shifts`.
    fn shifts_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.shifts
            .iter()
            .map(|s| {
                vec![
                    s.id.as_str().into(),
                    self.factories[s.factory].id.as_str().into(),
                    s.name.into(),
                    s.code.into(),
                    Value::Time(s.start),
                    Value::Time(s.end),
                    Value::dec(s.duration_hours, 2),
                    "regular".into(),
                    s.break_minutes.into(),
                    s.days.into(),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `products`.
    fn products_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.products
            .iter()
            .map(|p| {
                let s = p.spec;
                let complexity = match s.components {
                    0..=3 => "simple",
                    4..=10 => "moderate",
                    _ => "complex",
                };
                vec![
                    p.id.as_str().into(),
                    s.code.into(),
                    s.name.into(),
                    s.category.into(),
                    if s.components > 1 { "assembly" } else { "component" }.into(),
                    format!("{} for passenger and commercial vehicles; {} components", s.name, s.components).into(),
                    complexity.into(),
                    s.components.into(),
                    s.cycle_time_s.into(),
                    p.target_quality_ppm.into(),
                    Value::dec(s.weight_kg, 3),
                    super::catalog::material(s.category).into(),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `customers`.
    fn customers_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.customers
            .iter()
            .map(|c| {
                vec![
                    c.id.as_str().into(),
                    c.code.as_str().into(),
                    c.name.into(),
                    "OEM".into(),
                    c.country.into(),
                    super::catalog::customer_region(c.country).into(),
                    c.segment.into(),
                    c.annual_volume.into(),
                    c.quality_rating.into(),
                    c.payment_terms_days.into(),
                    Value::dec(c.sla_on_time_pct, 2),
                    c.sla_quality_ppm.into(),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `line_product_mapping`.
    fn line_product_mapping_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.line_products
            .iter()
            .map(|m| {
                vec![
                    m.id.as_str().into(),
                    self.lines[m.line].id.as_str().into(),
                    self.products[m.product].id.as_str().into(),
                    self.factories[self.lines[m.line].factory].id.as_str().into(),
                    m.is_primary.into(),
                    m.cycle_time_s.into(),
                    m.setup_minutes.into(),
                    m.changeover_minutes.into(),
                    Value::dec(m.yield_pct, 2),
                    active(),
                    created.clone(),
                ]
            })
            .collect()
    }

    /// The rows of `customer_product_mapping`.
    fn customer_product_mapping_rows(&self, created: &Value) -> Vec<Vec<Value>> {
        self.customer_products
            .iter()
            .map(|m| {
                vec![
                    m.id.as_str().into(),
                    self.customers[m.customer].id.as_str().into(),
                    self.products[m.product].id.as_str().into(),
                    m.is_active.into(),
                    m.annual_volume.into(),
                    Value::dec(m.unit_price_usd, 2),
                    m.lead_time_days.into(),
                    m.quality_ppm.into(),
                    created.clone(),
                ]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_match_the_ddl() {
        let ddl = include_str!("../../sql/10_master.sql");
        let settings = crate::plant::Settings { seed: 1, ..Default::default() };
        let plant = Plant::generate(&settings, &crate::faults::Catalogue::builtin()).unwrap();
        for t in plant.master_tables() {
            let start = ddl
                .find(&format!("CREATE TABLE IF NOT EXISTS {} (", t.name))
                .unwrap_or_else(|| panic!("{} not in DDL", t.name));
            let body = &ddl[start..start + ddl[start..].find(");").unwrap()];
            let ddl_cols: Vec<&str> = body
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().next().unwrap_or(""))
                .filter(|c| !c.is_empty())
                .collect();
            assert_eq!(ddl_cols, t.columns, "columns of {} differ between DDL and writer", t.name);
            for row in &t.rows {
                assert_eq!(row.len(), t.columns.len(), "a {} row has the wrong width", t.name);
            }
        }
    }
}
