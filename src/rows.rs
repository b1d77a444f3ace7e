//! Operational rows and their encodings.
//!
//! Each operational table has a row struct that lists its cells in column order through the
//! [`Cells`] visitor. One visitor per output format (CSV, JSON Lines, SQL literals,
//! PostgreSQL binary COPY) writes straight into a byte buffer, so a row is encoded without
//! intermediate allocation and every format spells timestamps, decimals, booleans and NULL
//! the same way (SPEC §7).

use crate::sim::clock::{civil_from_days, write_sql_ts, DAY};

/// The operational tables genims writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    SensorData,
    ScadaMachineData,
    MachineFaults,
    MaintenanceEvents,
    ProductionRuns,
    SensorHealth,
    FaultLabels,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::SensorData,
        Table::ScadaMachineData,
        Table::MachineFaults,
        Table::MaintenanceEvents,
        Table::ProductionRuns,
        Table::SensorHealth,
        Table::FaultLabels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::SensorData => "sensor_data",
            Table::ScadaMachineData => "scada_machine_data",
            Table::MachineFaults => "machine_faults",
            Table::MaintenanceEvents => "maintenance_events",
            Table::ProductionRuns => "production_runs",
            Table::SensorHealth => "sensor_health",
            Table::FaultLabels => "fault_labels",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Large tables get one file (and partition) per UTC day.
    pub fn split_by_day(self) -> bool {
        matches!(self, Table::SensorData | Table::ScadaMachineData)
    }

    /// The columns genims writes, in order: every column of the table, so files load with a
    /// plain `COPY table FROM file CSV HEADER`. created_at/updated_at hold when the record
    /// came into being in simulated time (never the wall clock), keeping output deterministic.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::SensorData => SENSOR_DATA,
            Table::ScadaMachineData => SCADA,
            Table::MachineFaults => FAULTS,
            Table::MaintenanceEvents => MAINTENANCE,
            Table::ProductionRuns => RUNS,
            Table::SensorHealth => HEALTH,
            Table::FaultLabels => LABELS,
        }
    }

    /// The id column whose sequence must be advanced after explicit ids are loaded.
    pub fn serial(self) -> Option<&'static str> {
        match self {
            Table::SensorData => Some("sensor_data_id"),
            Table::ScadaMachineData => Some("scada_id"),
            Table::MachineFaults => Some("fault_id"),
            Table::SensorHealth => Some("health_id"),
            _ => None,
        }
    }
}

pub const SENSOR_DATA: &[&str] = &[
    "sensor_data_id",
    "sensor_id",
    "machine_id",
    "line_id",
    "factory_id",
    "timestamp",
    "measurement_value",
    "measurement_unit",
    "status",
    "quality",
    "is_below_warning",
    "is_above_warning",
    "is_below_critical",
    "is_above_critical",
    "min_value_1min",
    "max_value_1min",
    "avg_value_1min",
    "std_dev_1min",
    "anomaly_score",
    "is_anomaly",
    "data_source",
    "protocol",
    "created_at",
];
pub const SCADA: &[&str] = &[
    "scada_id",
    "machine_id",
    "line_id",
    "factory_id",
    "timestamp",
    "machine_state",
    "operation_mode",
    "fault_code",
    "fault_description",
    "parts_produced_cumulative",
    "parts_produced_shift",
    "parts_rejected_shift",
    "target_cycle_time_seconds",
    "actual_cycle_time_seconds",
    "availability_percentage",
    "performance_percentage",
    "quality_percentage",
    "oee_percentage",
    "spindle_speed_rpm",
    "feed_rate_mm_min",
    "tool_number",
    "program_number",
    "power_consumption_kw",
    "energy_consumed_kwh",
    "temperature_setpoint_c",
    "temperature_actual_c",
    "pressure_setpoint_bar",
    "pressure_actual_bar",
    "downtime_seconds_shift",
    "last_fault_timestamp",
    "uptime_seconds_shift",
    "active_alarms",
    "alarm_codes",
    "warning_codes",
    "shift_id",
    "operator_id",
    "data_source",
    "data_quality",
    "created_at",
];
pub const FAULTS: &[&str] = &[
    "fault_id",
    "machine_id",
    "line_id",
    "factory_id",
    "fault_code",
    "fault_category",
    "fault_severity",
    "fault_description",
    "fault_start_time",
    "fault_end_time",
    "fault_duration_seconds",
    "production_loss_units",
    "downtime_minutes",
    "estimated_cost_usd",
    "root_cause_category",
    "root_cause_description",
    "contributing_sensors",
    "resolution_action",
    "maintenance_ticket_id",
    "resolved_by",
    "detection_method",
    "predicted_in_advance",
    "advance_warning_hours",
    "status",
    "created_at",
    "updated_at",
];
pub const MAINTENANCE: &[&str] = &[
    "maintenance_id",
    "machine_id",
    "line_id",
    "factory_id",
    "maintenance_type",
    "maintenance_category",
    "priority",
    "scheduled_start",
    "actual_start",
    "actual_end",
    "duration_minutes",
    "work_description",
    "parts_replaced",
    "parts_cost_usd",
    "labor_hours",
    "labor_cost_usd",
    "total_cost_usd",
    "technician_id",
    "supervisor_id",
    "related_fault_id",
    "completion_status",
    "notes",
    "follow_up_required",
    "next_maintenance_due",
    "created_at",
    "updated_at",
];
pub const RUNS: &[&str] = &[
    "run_id",
    "line_id",
    "factory_id",
    "product_id",
    "run_number",
    "batch_number",
    "work_order_number",
    "customer_id",
    "run_start_time",
    "run_end_time",
    "planned_duration_minutes",
    "actual_duration_minutes",
    "target_quantity",
    "actual_quantity",
    "rejected_quantity",
    "scrapped_quantity",
    "rework_quantity",
    "first_pass_yield_percentage",
    "defect_rate_ppm",
    "quality_grade",
    "oee_percentage",
    "availability_percentage",
    "performance_percentage",
    "quality_percentage",
    "previous_product_id",
    "changeover_time_minutes",
    "shift_id",
    "supervisor_id",
    "status",
    "created_at",
    "updated_at",
];
pub const HEALTH: &[&str] = &[
    "health_id",
    "sensor_id",
    "machine_id",
    "timestamp",
    "health_score",
    "drift_percentage",
    "noise_level",
    "days_since_calibration",
    "is_calibration_due",
    "calibration_drift_detected",
    "packet_loss_percentage",
    "average_latency_ms",
    "last_communication",
    "communication_failures_24h",
    "battery_percentage",
    "is_low_battery",
    "stuck_value_detected",
    "erratic_readings_detected",
    "out_of_range_readings_24h",
    "overall_status",
    "created_at",
];
pub const LABELS: &[&str] = &[
    "episode_id",
    "machine_id",
    "line_id",
    "factory_id",
    "pattern",
    "fault_code",
    "severity",
    "variant",
    "onset_time",
    "warning_time",
    "critical_time",
    "fault_time",
    "fault_end_time",
    "end_time",
    "reaches_fault",
    "affected_sensors",
    "parameters",
];

/// Receives a row's cells in column order.
pub trait Cells {
    fn null(&mut self);
    fn text(&mut self, s: &str);
    fn int4(&mut self, v: i32);
    fn int8(&mut self, v: i64);
    /// A decimal with `scale` digits after the point.
    fn dec(&mut self, v: f64, scale: u8);
    fn boolean(&mut self, b: bool);
    /// A UTC timestamp, Unix seconds.
    fn ts(&mut self, t: i64);
    /// A date, days since 1970-01-01.
    fn date(&mut self, days: i64);
    /// A time of day, seconds since midnight.
    fn time(&mut self, secs: i64);

    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }
    fn opt_ts(&mut self, t: Option<i64>) {
        match t {
            Some(t) => self.ts(t),
            None => self.null(),
        }
    }
    fn opt_dec(&mut self, v: Option<f64>, scale: u8) {
        match v {
            Some(v) => self.dec(v, scale),
            None => self.null(),
        }
    }
    fn opt_int4(&mut self, v: Option<i32>) {
        match v {
            Some(v) => self.int4(v),
            None => self.null(),
        }
    }
}

/// A row of an operational table.
pub trait Row {
    const TABLE: Table;
    fn visit<C: Cells + ?Sized>(&self, c: &mut C);
    /// The message key for Kafka: the machine the row belongs to.
    fn key(&self) -> &str;
    /// When the row happened (Unix seconds): the Kafka record timestamp.
    fn time(&self) -> i64;
}

/// The encodings genims writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Sql,
    PgBinary,
    /// Kafka frames: per row `u32` key length, key, `i64` timestamp (ms), `u32` value length,
    /// and the row as a JSON object.
    Kafka,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Sql => "sql",
            Format::PgBinary => "bin",
            Format::Kafka => "kafka",
        }
    }
}

/// Appends one encoded row to `out`.
pub fn encode<R: Row>(fmt: Format, row: &R, out: &mut Vec<u8>) {
    match fmt {
        Format::Csv => {
            let mut c = Text::<CsvText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.push(b'\n');
        }
        Format::Jsonl => {
            out.push(b'{');
            let mut c = Text::<JsonText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.extend_from_slice(b"}\n");
        }
        Format::Sql => {
            out.push(b'(');
            let mut c = Text::<SqlText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.push(b')');
        }
        Format::PgBinary => {
            out.extend_from_slice(&(R::TABLE.columns().len() as i16).to_be_bytes());
            row.visit(&mut Bin { out });
        }
        Format::Kafka => {
            let key = row.key().as_bytes();
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(&(row.time() * 1000).to_le_bytes());
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            out.push(b'{');
            let mut c = Text::<JsonText>::new(out, R::TABLE.columns());
            row.visit(&mut c);
            c.out.push(b'}');
            let len = (out.len() - len_at - 4) as u32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
    }
}

/// A decoded Kafka frame and the bytes after it: (key, timestamp ms, JSON value, rest).
pub type Frame<'a> = (&'a [u8], i64, &'a [u8], &'a [u8]);

/// One Kafka frame decoded: (key, timestamp ms, JSON value).
pub fn next_frame(buf: &[u8]) -> Option<Frame<'_>> {
    let u32_at = |o: usize| buf.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let klen = u32_at(0)?;
    let key = buf.get(4..4 + klen)?;
    let ts = i64::from_le_bytes(buf.get(4 + klen..12 + klen)?.try_into().ok()?);
    let vlen = u32_at(12 + klen)?;
    let value = buf.get(16 + klen..16 + klen + vlen)?;
    Some((key, ts, value, &buf[16 + klen + vlen..]))
}

/// Encodes cells given by `visit` for `columns` without a trailing newline: a CSV line, a
/// JSON object (timestamps RFC 3339 or `YYYY-MM-DD HH:MM:SS`), or a parenthesised SQL tuple.
/// The slower, dynamically dispatched path for small tables such as the master data.
pub fn encode_fields(
    fmt: Format,
    columns: &'static [&'static str],
    rfc3339: bool,
    out: &mut Vec<u8>,
    visit: impl FnOnce(&mut dyn Cells),
) {
    match fmt {
        Format::Csv => visit(&mut Text::<CsvText>::new(out, columns)),
        Format::Jsonl => {
            out.push(b'{');
            if rfc3339 {
                visit(&mut Text::<JsonText>::new(out, columns));
            } else {
                visit(&mut Text::<JsonPlainText>::new(out, columns));
            }
            out.push(b'}');
        }
        Format::Sql => {
            out.push(b'(');
            let mut c = Text::<SqlText>::new(out, columns);
            visit(&mut c);
            c.out.push(b')');
        }
        Format::PgBinary => {
            out.extend_from_slice(&(columns.len() as i16).to_be_bytes());
            visit(&mut Bin { out });
        }
        Format::Kafka => unreachable!("master data is not published to Kafka"),
    }
}

fn write_time(out: &mut Vec<u8>, secs: i64) {
    let s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    out.extend_from_slice(s.as_bytes());
}

/// A JSON string with the escapes RFC 8259 requires.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Writes `v` scaled by 10^scale as a fixed-point decimal, never `-0`, in one copy.
fn write_fixed(out: &mut Vec<u8>, v: f64, scale: u8) {
    let scaled = scaled(v, scale);
    let mut abs = scaled.unsigned_abs();
    let mut buf = [b'0'; 32];
    let mut i = buf.len();
    for _ in 0..scale {
        i -= 1;
        buf[i] = b'0' + (abs % 10) as u8;
        abs /= 10;
    }
    if scale > 0 {
        i -= 1;
        buf[i] = b'.';
    }
    loop {
        i -= 1;
        buf[i] = b'0' + (abs % 10) as u8;
        abs /= 10;
        if abs == 0 {
            break;
        }
    }
    if scaled < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}

const POW10: [f64; 9] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];

/// `v` × 10^scale rounded half away from zero.
pub fn scaled(v: f64, scale: u8) -> i64 {
    (v * POW10[usize::from(scale)]).round() as i64
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

fn write_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let s = format!("{y:04}-{m:02}-{d:02}");
    out.extend_from_slice(s.as_bytes());
}

thread_local! {
    /// The last timestamp spelled, and its text: consecutive rows mostly share one.
    static LAST_TS: std::cell::RefCell<(i64, Vec<u8>)> = const { std::cell::RefCell::new((i64::MIN, Vec::new())) };
}

/// `write_sql_ts` with a one-entry cache.
fn write_ts_cached(out: &mut Vec<u8>, t: i64) {
    LAST_TS.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != t {
            c.1.clear();
            write_sql_ts(&mut c.1, t);
            c.0 = t;
        }
        out.extend_from_slice(&c.1);
    });
}

/// A text dialect. Zero-sized markers keep each dialect's encoder fully specialised (the
/// CSV path is the hot one).
trait Dialect {
    /// Separator between cells.
    const SEP: &'static [u8];
    /// Spelling of NULL.
    const NULL: &'static [u8];
    /// Quote around dates and times (0: none).
    const QUOTE: u8;
    /// Cells are keyed by column name (a JSON object).
    const KEYED: bool = false;
    /// Timestamps as RFC 3339 (`…T…Z`).
    const RFC3339: bool = false;
    fn text(out: &mut Vec<u8>, s: &str);
}

/// PostgreSQL CSV: NULL is an empty field, text quoted only when needed.
struct CsvText;
/// SQL literals inside a parenthesised tuple.
struct SqlText;
/// A JSON object keyed by column name, timestamps RFC 3339 (operational data).
struct JsonText;
/// A JSON object with `YYYY-MM-DD HH:MM:SS` timestamps (master data).
struct JsonPlainText;

impl Dialect for CsvText {
    const SEP: &'static [u8] = b",";
    const NULL: &'static [u8] = b"";
    const QUOTE: u8 = 0;
    fn text(out: &mut Vec<u8>, s: &str) {
        let needs = s.is_empty()
            || s.starts_with(' ')
            || s.ends_with(' ')
            || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r' | b'\\'));
        if needs {
            write_quoted(out, s, b'"');
        } else {
            out.extend_from_slice(s.as_bytes());
        }
    }
}

impl Dialect for SqlText {
    const SEP: &'static [u8] = b", ";
    const NULL: &'static [u8] = b"NULL";
    const QUOTE: u8 = b'\'';
    fn text(out: &mut Vec<u8>, s: &str) {
        write_quoted(out, s, b'\'');
    }
}

impl Dialect for JsonText {
    const SEP: &'static [u8] = b",";
    const NULL: &'static [u8] = b"null";
    const QUOTE: u8 = b'"';
    const KEYED: bool = true;
    const RFC3339: bool = true;
    fn text(out: &mut Vec<u8>, s: &str) {
        write_json_string(out, s);
    }
}

impl Dialect for JsonPlainText {
    const SEP: &'static [u8] = b",";
    const NULL: &'static [u8] = b"null";
    const QUOTE: u8 = b'"';
    const KEYED: bool = true;
    fn text(out: &mut Vec<u8>, s: &str) {
        write_json_string(out, s);
    }
}

/// Encodes cells as text in dialect `D`: the cell separator, NULL, and how text and dates are
/// quoted differ; numbers and booleans are spelled the same everywhere.
struct Text<'a, D> {
    out: &'a mut Vec<u8>,
    cols: &'static [&'static str],
    i: usize,
    dialect: std::marker::PhantomData<D>,
}

impl<'a, D: Dialect> Text<'a, D> {
    fn new(out: &'a mut Vec<u8>, cols: &'static [&'static str]) -> Text<'a, D> {
        Text { out, cols, i: 0, dialect: std::marker::PhantomData }
    }

    /// Starts the next cell: separator, and the key in JSON.
    #[inline]
    fn cell(&mut self) {
        if self.i > 0 {
            self.out.extend_from_slice(D::SEP);
        }
        if D::KEYED {
            self.out.push(b'"');
            self.out.extend_from_slice(self.cols[self.i].as_bytes());
            self.out.extend_from_slice(b"\":");
        }
        self.i += 1;
    }

    #[inline]
    fn quote(&mut self) {
        if D::QUOTE != 0 {
            self.out.push(D::QUOTE);
        }
    }
}

impl<D: Dialect> Cells for Text<'_, D> {
    fn null(&mut self) {
        self.cell();
        self.out.extend_from_slice(D::NULL);
    }
    fn text(&mut self, s: &str) {
        self.cell();
        D::text(self.out, s);
    }
    fn int4(&mut self, v: i32) {
        self.cell();
        write_i64(self.out, i64::from(v));
    }
    fn int8(&mut self, v: i64) {
        self.cell();
        write_i64(self.out, v);
    }
    fn dec(&mut self, v: f64, scale: u8) {
        self.cell();
        write_fixed(self.out, v, scale);
    }
    fn boolean(&mut self, b: bool) {
        self.cell();
        self.out.extend_from_slice(if b { b"true" } else { b"false" });
    }
    fn ts(&mut self, t: i64) {
        self.cell();
        self.quote();
        let start = self.out.len();
        write_ts_cached(self.out, t);
        if D::RFC3339 {
            self.out[start + 10] = b'T';
            self.out.push(b'Z');
        }
        self.quote();
    }
    fn date(&mut self, days: i64) {
        self.cell();
        self.quote();
        write_date(self.out, days);
        self.quote();
    }
    fn time(&mut self, secs: i64) {
        self.cell();
        self.quote();
        write_time(self.out, secs);
        self.quote();
    }
}

/// `s` between `q` quotes, with `q` doubled inside.
fn write_quoted(out: &mut Vec<u8>, s: &str, q: u8) {
    out.push(q);
    for b in s.bytes() {
        if b == q {
            out.push(q);
        }
        out.push(b);
    }
    out.push(q);
}

/// PostgreSQL's binary COPY format: per field an i32 length (-1 for NULL) and the bytes.
struct Bin<'a> {
    out: &'a mut Vec<u8>,
}

/// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const PG_EPOCH_SECS: i64 = 946_684_800;

impl Cells for Bin<'_> {
    fn null(&mut self) {
        self.out.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn text(&mut self, s: &str) {
        self.out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }
    fn int4(&mut self, v: i32) {
        self.out.extend_from_slice(&4i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn int8(&mut self, v: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn dec(&mut self, v: f64, scale: u8) {
        write_pg_numeric(self.out, scaled(v, scale), scale);
    }
    fn boolean(&mut self, b: bool) {
        self.out.extend_from_slice(&1i32.to_be_bytes());
        self.out.push(u8::from(b));
    }
    fn ts(&mut self, t: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&((t - PG_EPOCH_SECS) * 1_000_000).to_be_bytes());
    }
    fn date(&mut self, days: i64) {
        self.out.extend_from_slice(&4i32.to_be_bytes());
        self.out.extend_from_slice(&((days - PG_EPOCH_SECS / DAY) as i32).to_be_bytes());
    }
    fn time(&mut self, secs: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&(secs * 1_000_000).to_be_bytes());
    }
}

/// Encodes `scaled / 10^scale` in PostgreSQL's binary numeric format (length-prefixed):
/// ndigits, weight, sign, dscale, then base-10000 digits.
pub fn write_pg_numeric(out: &mut Vec<u8>, scaled: i64, scale: u8) {
    let neg = scaled < 0;
    let mut abs = u128::from(scaled.unsigned_abs());
    // Align the fraction to whole base-10000 groups.
    let frac_groups = u32::from(scale).div_ceil(4);
    abs *= 10u128.pow(frac_groups * 4 - u32::from(scale));
    let mut digits: Vec<i16> = Vec::with_capacity(8);
    while abs > 0 {
        digits.push((abs % 10_000) as i16);
        abs /= 10_000;
    }
    // digits are little-endian groups; the lowest `frac_groups` are the fraction.
    let total = digits.len() as i32;
    let mut weight = total - 1 - frac_groups as i32;
    digits.reverse();
    // Strip leading and trailing zero groups.
    let lead = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..lead);
    weight -= lead as i32;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let len = 8 + 2 * digits.len();
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&(if neg && !digits.is_empty() { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&i16::from(scale).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

/// The binary COPY header and trailer.
pub const PG_COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
pub const PG_COPY_TRAILER: &[u8] = &[0xff, 0xff];

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample;
    impl Row for Sample {
        const TABLE: Table = Table::FaultLabels;
        fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
            c.int8(7);
            c.text("MCH-000001");
            c.null();
            c.text("O'Brien, \"x\"");
            c.dec(-0.00001, 4);
            c.dec(12.3456, 2);
            c.boolean(true);
            c.ts(1_772_366_410);
            c.date(20_513);
        }
        fn key(&self) -> &str {
            "MCH-000001"
        }
        fn time(&self) -> i64 {
            1_772_366_410
        }
    }

    #[test]
    fn kafka_frames_carry_key_timestamp_and_json() {
        let mut v = Vec::new();
        encode(Format::Kafka, &Sample, &mut v);
        encode(Format::Kafka, &Sample, &mut v);
        let (key, ts, value, rest) = next_frame(&v).unwrap();
        assert_eq!((key, ts), (&b"MCH-000001"[..], 1_772_366_410_000));
        let json: serde_json::Value = serde_json::from_slice(value).unwrap();
        assert_eq!(json["episode_id"], 7);
        let (_, _, _, rest) = next_frame(rest).unwrap();
        assert!(rest.is_empty() && next_frame(rest).is_none());
    }

    fn enc(f: Format) -> String {
        let mut v = Vec::new();
        encode(f, &Sample, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn csv_and_sql_spell_values_alike() {
        assert_eq!(
            enc(Format::Csv),
            "7,MCH-000001,,\"O'Brien, \"\"x\"\"\",0.0000,12.35,true,2026-03-01 12:00:10,2026-03-01\n"
        );
        assert_eq!(
            enc(Format::Sql),
            "(7, 'MCH-000001', NULL, 'O''Brien, \"x\"', 0.0000, 12.35, true, '2026-03-01 12:00:10', '2026-03-01')"
        );
    }

    #[test]
    fn json_lines_use_column_names_and_rfc3339() {
        let line = enc(Format::Jsonl);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["episode_id"], 7);
        assert_eq!(v["line_id"], serde_json::Value::Null);
        assert_eq!(v["fault_code"], 12.35);
        assert_eq!(v["variant"], "2026-03-01T12:00:10Z", "timestamps in RFC 3339");
        assert_eq!(v["onset_time"], "2026-03-01", "dates as YYYY-MM-DD");
    }

    /// Binary numerics, timestamps and booleans round-trip through a real PostgreSQL: what the
    /// server reads from our binary COPY prints exactly as our CSV encoder spells it.
    #[test]
    fn binary_copy_round_trips_through_postgres() {
        use futures_util::SinkExt as _;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let url =
            std::env::var("GENIMS_TEST_PG").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = rt.block_on(crate::db::connect(&url)).expect("PostgreSQL must be up (make test starts it)");
        let mut runner = TestRunner::new(Config { cases: 16, ..Config::default() });
        let value = (-1e9f64..1e9, 0u8..=4, any::<bool>(), 0i64..4_000_000_000);
        runner
            .run(&proptest::collection::vec(value, 1..200), |rows| {
                rt.block_on(async {
                    client.batch_execute("CREATE TEMP TABLE IF NOT EXISTS rt (v numeric(15,4), s int, b boolean, t timestamp); TRUNCATE rt").await.unwrap();
                    let sink = client.copy_in::<_, bytes::Bytes>("COPY rt (v, s, b, t) FROM STDIN (FORMAT binary)").await.unwrap();
                    futures_util::pin_mut!(sink);
                    let mut buf = PG_COPY_HEADER.to_vec();
                    let mut want = Vec::new();
                    for (i, &(v, scale, b, t)) in rows.iter().enumerate() {
                        // Column scale 4 holds any value written with scale <= 4.
                        let v = (v * 10f64.powi(i32::from(scale))).round() / 10f64.powi(i32::from(scale));
                        buf.extend_from_slice(&4i16.to_be_bytes());
                        Bin { out: &mut buf }.dec(v, 4);
                        Bin { out: &mut buf }.int4(i as i32);
                        Bin { out: &mut buf }.boolean(b);
                        Bin { out: &mut buf }.ts(t);
                        let mut text = Vec::new();
                        let mut c = Text::<CsvText>::new(&mut text, &["v", "b", "t"]);
                        c.dec(v, 4);
                        c.boolean(b);
                        c.ts(t);
                        want.push(String::from_utf8(text).unwrap());
                    }
                    buf.extend_from_slice(PG_COPY_TRAILER);
                    sink.send(bytes::Bytes::from(buf)).await.unwrap();
                    sink.finish().await.unwrap();
                    let got: Vec<String> = client
                        .query("SELECT v::text || ',' || b::text || ',' || to_char(t, 'YYYY-MM-DD HH24:MI:SS') FROM rt ORDER BY s", &[])
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    let got: Vec<String> = got.into_iter().map(|g| g.replace(",t,", ",true,").replace(",f,", ",false,")).collect();
                    prop_assert_eq!(got, want);
                    Ok(())
                })
            })
            .unwrap();
    }

    #[test]
    fn column_lists_are_the_tables_columns_in_ddl_order() {
        let ddl = [
            include_str!("../sql/20_events.sql"),
            include_str!("../sql/30_timeseries.sql"),
            include_str!("../sql/40_labels.sql"),
        ]
        .join("\n");
        for t in Table::ALL {
            let start = ddl
                .find(&format!("CREATE TABLE IF NOT EXISTS {} (", t.name()))
                .unwrap_or_else(|| panic!("{} not in DDL", t.name()));
            let end = start + ddl[start..].find("\n)").unwrap();
            let cols: Vec<&str> = ddl[start..end].lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
            assert_eq!(cols, t.columns(), "{}: writer columns must be every DDL column in order", t.name());
        }
    }

    #[test]
    fn numeric_binary_layout() {
        let mut v = Vec::new();
        write_pg_numeric(&mut v, 123_456_789, 4); // 12345.6789
                                                  // len 16: ndigits 4, weight 1, sign 0, dscale 4, digits 1 2345 6789 0? -> 1,2345,6789
        assert_eq!(&v[4..6], &3i16.to_be_bytes(), "three base-10000 digits");
        assert_eq!(&v[6..8], &1i16.to_be_bytes(), "weight 1");
        assert_eq!(&v[12..18], &[0, 1, 0x09, 0x29, 0x1a, 0x85]);
        let mut z = Vec::new();
        write_pg_numeric(&mut z, 0, 2);
        assert_eq!(z, [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
    }
}
