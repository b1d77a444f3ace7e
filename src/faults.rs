//! The fault catalogue: one TOML file per fault pattern (`faults/*.toml`).
//!
//! The catalogue is data, not code. Each file declares a pattern's code, category, severity,
//! the machine types it applies to, the sensor roles it moves with their signature, its
//! duration and progression shape, and its effects on the machine. The ten patterns of the
//! product ship inside the binary; `[faults] dir` in the configuration (or `GENIMS_FAULTS_DIR`)
//! points at a directory of the user's own files instead.
//!
//! Loading checks every file completely and reports every problem at once, each with its
//! file, field and reason, so a user editing a pattern fixes all mistakes in one pass.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::plant::roles::{self, Role};

/// The built-in catalogue, compiled in from `faults/`.
const BUILTIN: &[(&str, &str)] = &[
    ("bearing_failure.toml", include_str!("../faults/bearing_failure.toml")),
    ("motor_overheating.toml", include_str!("../faults/motor_overheating.toml")),
    ("hydraulic_leak.toml", include_str!("../faults/hydraulic_leak.toml")),
    ("tool_wear.toml", include_str!("../faults/tool_wear.toml")),
    ("welding_quality.toml", include_str!("../faults/welding_quality.toml")),
    ("pneumatic_leak.toml", include_str!("../faults/pneumatic_leak.toml")),
    ("coolant_failure.toml", include_str!("../faults/coolant_failure.toml")),
    ("robot_positioning.toml", include_str!("../faults/robot_positioning.toml")),
    ("electrical_fault.toml", include_str!("../faults/electrical_fault.toml")),
    ("sensor_drift.toml", include_str!("../faults/sensor_drift.toml")),
];

const CATEGORIES: &[&str] = &["mechanical", "electrical", "hydraulic", "pneumatic", "control", "quality"];
const SEVERITIES: &[&str] = &["critical", "major", "minor", "warning"];
const DETECTABILITY: &[&str] = &["high", "medium", "low"];
const MAINTENANCE_CATEGORIES: &[&str] = &["mechanical", "electrical", "hydraulic", "lubrication", "calibration"];
const SHAPES: &[&str] = &["slow_then_rapid", "rapid", "gradual", "sudden", "sudden_or_gradual", "erratic"];
const ENDINGS: &[&str] = &["fault", "tool_change", "none"];

/// A validated catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub patterns: Vec<Pattern>,
}

/// "all" or a list of machine types.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MachineTypes {
    Keyword(String),
    List(Vec<String>),
}

/// One severity or a range of two ("minor"–"major").
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Severity {
    One(String),
    Range(Vec<String>),
}

/// One fault pattern as written in its file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub name: String,
    pub code: String,
    pub category: String,
    pub severity: Severity,
    pub detectability: String,
    /// On the realistic plant, the share of the signature the warning phase shows (0 < share
    /// <= 1); unset, its detectability's (see `sim::realism::warning_share`).
    pub warning_share: Option<f64>,
    pub description: String,
    pub machine_types: MachineTypes,
    /// "machine" (default) or "sensor": what one episode affects.
    #[serde(default = "default_scope")]
    pub scope: String,
    pub root_cause: String,
    pub resolution: String,
    pub maintenance_category: String,
    #[serde(default)]
    pub parts: Vec<String>,
    /// Relative likelihood among the patterns that apply to a machine (default 1).
    #[serde(default = "default_weight")]
    pub weight: f64,
    pub duration: DurationSpec,
    pub progression: Progression,
    #[serde(default)]
    pub signature: Vec<Signature>,
    pub drift: Option<Drift>,
    pub effects: Effects,
    /// Where the pattern came from (file path or `builtin:NAME`); not part of the file.
    #[serde(skip)]
    pub source: String,
}

fn default_weight() -> f64 {
    1.0
}

fn default_scope() -> String {
    "machine".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationSpec {
    pub min_hours: f64,
    pub max_hours: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progression {
    pub shape: String,
    pub rapid_hours: Option<[f64; 2]>,
    pub sudden_share: Option<f64>,
    pub sudden_hours: Option<[f64; 2]>,
    pub gradual_hours: Option<[f64; 2]>,
}

/// How one sensor role moves during an episode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub role: String,
    /// up | down | either | scatter
    pub direction: String,
    pub normal: [f64; 2],
    pub warning: Option<[f64; 2]>,
    pub critical: Option<[f64; 2]>,
    pub failure: Option<f64>,
    pub rate_per_hour: Option<[f64; 2]>,
    pub fluctuation: Option<f64>,
    pub scatter_pct: Option<f64>,
    pub increase_pct: Option<[f64; 2]>,
    pub increase_abs: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    pub offset_pct_per_month: [f64; 2],
    pub acceleration: f64,
    pub stuck_share: f64,
    pub erratic_share: f64,
    pub packet_loss_pct: [f64; 2],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    #[serde(default)]
    pub cycle_time_pct: [f64; 2],
    #[serde(default)]
    pub power_pct: [f64; 2],
    #[serde(default)]
    pub reject_pct: [f64; 2],
    pub ends_in: String,
}

/// Every problem found while loading, each naming its file and field.
#[derive(Debug)]
pub struct CatalogueError {
    pub problems: Vec<String>,
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the fault catalogue has {} problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CatalogueError {}

impl Pattern {
    /// The signature a threshold on this pattern watches: its first one (the primary
    /// sensor's); none for a pattern that strikes sensors.
    pub fn primary_signature(&self) -> Option<&Signature> {
        if self.scope == "sensor" {
            None
        } else {
            self.signature.first()
        }
    }

    /// Whether this pattern can strike a machine of `machine_type`.
    pub fn applies_to(&self, machine_type: &str) -> bool {
        match &self.machine_types {
            MachineTypes::Keyword(_) => true,
            MachineTypes::List(types) => types.iter().any(|t| t == machine_type),
        }
    }

    /// The sensor roles a machine needs for this pattern to show its signature.
    pub fn required_roles(&self) -> impl Iterator<Item = &str> {
        self.signature.iter().map(|s| s.role.as_str())
    }

    /// Severities this pattern can have (one, or the two ends of a range).
    pub fn severities(&self) -> Vec<&str> {
        match &self.severity {
            Severity::One(s) => vec![s.as_str()],
            Severity::Range(v) => v.iter().map(String::as_str).collect(),
        }
    }

    pub fn is_sensor_scoped(&self) -> bool {
        self.scope == "sensor"
    }
}

impl Catalogue {
    /// The catalogue compiled into the binary.
    pub fn builtin() -> Catalogue {
        let files = BUILTIN.iter().map(|(name, text)| (format!("builtin:{name}"), (*text).to_owned()));
        Catalogue::parse(files.collect()).expect("the built-in fault catalogue is valid (tested)")
    }

    /// Loads every `*.toml` file in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Catalogue, CatalogueError> {
        let one = |msg: String| CatalogueError { problems: vec![msg] };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| one(format!("{}: cannot read fault catalogue directory: {e}", dir.display())))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(one(format!("{}: no *.toml fault pattern files in this directory", dir.display())));
        }
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for p in paths {
            match std::fs::read_to_string(&p) {
                Ok(text) => files.push((p.display().to_string(), text)),
                Err(e) => problems.push(format!("{}: cannot read: {e}", p.display())),
            }
        }
        if !problems.is_empty() {
            return Err(CatalogueError { problems });
        }
        Catalogue::parse(files)
    }

    /// Parses and validates `(source name, text)` pairs.
    pub fn parse(files: Vec<(String, String)>) -> Result<Catalogue, CatalogueError> {
        let mut problems = Vec::new();
        let mut patterns = Vec::new();
        for (source, text) in files {
            match toml::from_str::<Pattern>(&text) {
                Ok(mut p) => {
                    p.source = source;
                    validate(&p, &mut problems);
                    patterns.push(p);
                }
                Err(e) => problems.push(format!("{source}: {}", one_line(&e.to_string()))),
            }
        }
        check_unique(&patterns, &mut problems);
        if problems.is_empty() {
            Ok(Catalogue { patterns })
        } else {
            Err(CatalogueError { problems })
        }
    }
}

/// Squeezes toml's multi-line error (with its source excerpt) into one line.
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().filter(|l| !l.trim().is_empty());
    let head = lines.next().unwrap_or("").trim().to_owned();
    let reason = msg.lines().last().unwrap_or("").trim();
    if reason.is_empty() || head.contains(reason) {
        head
    } else {
        format!("{head}: {reason}")
    }
}

fn check_unique(patterns: &[Pattern], problems: &mut Vec<String>) {
    for (i, a) in patterns.iter().enumerate() {
        for b in &patterns[i + 1..] {
            if a.name == b.name {
                problems.push(format!("{}: name: `{}` is also the name of {}", b.source, b.name, a.source));
            }
            if a.code == b.code {
                problems.push(format!("{}: code: `{}` is also the code of {}", b.source, b.code, a.source));
            }
        }
    }
}

fn one_of(problems: &mut Vec<String>, source: &str, field: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        problems.push(format!("{source}: {field}: `{value}` is not one of {}", allowed.join(", ")));
    }
}

fn range_ok(problems: &mut Vec<String>, source: &str, field: &str, r: [f64; 2], min: f64) {
    if !(r[0].is_finite() && r[1].is_finite() && r[0] >= min && r[0] <= r[1]) {
        problems.push(format!("{source}: {field}: [{}, {}] must be an ordered pair of numbers >= {min}", r[0], r[1]));
    }
}

fn validate(p: &Pattern, problems: &mut Vec<String>) {
    let src = p.source.as_str();
    let stem = Path::new(src.trim_start_matches("builtin:")).file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if p.name != stem {
        problems.push(format!("{src}: name: `{}` must match the file name `{stem}.toml`", p.name));
    }
    if p.code.trim().is_empty() || p.code.len() > 50 {
        problems.push(format!("{src}: code: must be 1 to 50 characters"));
    }
    one_of(problems, src, "category", &p.category, CATEGORIES);
    one_of(problems, src, "detectability", &p.detectability, DETECTABILITY);
    if let Some(w) = p.warning_share {
        if !(w > 0.0 && w <= 1.0) {
            problems.push(format!("{src}: warning_share: {w} must be above 0 and at most 1"));
        }
    }
    one_of(problems, src, "maintenance_category", &p.maintenance_category, MAINTENANCE_CATEGORIES);
    one_of(problems, src, "scope", &p.scope, &["machine", "sensor"]);
    let sev = p.severities();
    if sev.is_empty() || sev.len() > 2 {
        problems.push(format!("{src}: severity: give one severity or a list of two"));
    }
    for s in sev {
        one_of(problems, src, "severity", s, SEVERITIES);
    }
    validate_machine_types(p, problems);
    if !(p.weight > 0.0 && p.weight.is_finite()) {
        problems.push(format!("{src}: weight: {} must be a positive number", p.weight));
    }
    let d = &p.duration;
    if !(d.min_hours > 0.0 && d.min_hours <= d.max_hours && d.max_hours.is_finite()) {
        problems.push(format!(
            "{src}: duration: min_hours ({}) must be > 0 and <= max_hours ({})",
            d.min_hours, d.max_hours
        ));
    }
    validate_progression(p, problems);
    for (i, s) in p.signature.iter().enumerate() {
        validate_signature(p, i, s, problems);
    }
    if p.is_sensor_scoped() {
        match &p.drift {
            None => problems.push(format!("{src}: drift: a sensor-scoped pattern needs a [drift] table")),
            Some(d) => {
                range_ok(problems, src, "drift.offset_pct_per_month", d.offset_pct_per_month, 0.0);
                range_ok(problems, src, "drift.packet_loss_pct", d.packet_loss_pct, 0.0);
                if d.acceleration.is_nan() || d.acceleration <= 0.0 {
                    problems.push(format!("{src}: drift.acceleration: must be > 0"));
                }
                for (f, v) in [("stuck_share", d.stuck_share), ("erratic_share", d.erratic_share)] {
                    if !(0.0..=1.0).contains(&v) {
                        problems.push(format!("{src}: drift.{f}: {v} must lie in 0..1"));
                    }
                }
            }
        }
    } else if p.signature.is_empty() {
        problems.push(format!("{src}: signature: a machine-scoped pattern needs at least one [[signature]]"));
    }
    one_of(problems, src, "effects.ends_in", &p.effects.ends_in, ENDINGS);
    for (f, r) in [
        ("effects.cycle_time_pct", p.effects.cycle_time_pct),
        ("effects.power_pct", p.effects.power_pct),
        ("effects.reject_pct", p.effects.reject_pct),
    ] {
        range_ok(problems, src, f, r, 0.0);
    }
    if p.effects.reject_pct[1] > 100.0 {
        problems.push(format!("{src}: effects.reject_pct: cannot exceed 100"));
    }
}

fn validate_machine_types(p: &Pattern, problems: &mut Vec<String>) {
    let src = p.source.as_str();
    match &p.machine_types {
        MachineTypes::Keyword(k) if k == "all" => {}
        MachineTypes::Keyword(k) => {
            problems.push(format!("{src}: machine_types: `{k}` must be \"all\" or a list of machine types"))
        }
        MachineTypes::List(list) if list.is_empty() => {
            problems.push(format!("{src}: machine_types: the list is empty"))
        }
        MachineTypes::List(list) => {
            for t in list {
                if !roles::machine_types().any(|k| k == t) {
                    let known: Vec<&str> = roles::machine_types().collect();
                    problems.push(format!(
                        "{src}: machine_types: unknown machine type `{t}` (known: {})",
                        known.join(", ")
                    ));
                }
            }
        }
    }
}

fn validate_progression(p: &Pattern, problems: &mut Vec<String>) {
    let src = p.source.as_str();
    let g = &p.progression;
    one_of(problems, src, "progression.shape", &g.shape, SHAPES);
    let within = |problems: &mut Vec<String>, field: &str, r: Option<[f64; 2]>| match r {
        None => problems.push(format!("{src}: progression.{field}: required by shape `{}`", g.shape)),
        Some(r) => {
            range_ok(problems, src, &format!("progression.{field}"), r, 0.0);
            if r[1] > p.duration.max_hours + 1e-9 {
                problems.push(format!(
                    "{src}: progression.{field}: {} h exceeds duration.max_hours ({})",
                    r[1], p.duration.max_hours
                ));
            }
        }
    };
    match g.shape.as_str() {
        "slow_then_rapid" => within(problems, "rapid_hours", g.rapid_hours),
        "sudden_or_gradual" => {
            within(problems, "sudden_hours", g.sudden_hours);
            within(problems, "gradual_hours", g.gradual_hours);
            match g.sudden_share {
                Some(s) if (0.0..=1.0).contains(&s) => {}
                Some(s) => problems.push(format!("{src}: progression.sudden_share: {s} must lie in 0..1")),
                None => {
                    problems.push(format!("{src}: progression.sudden_share: required by shape `sudden_or_gradual`"))
                }
            }
        }
        _ => {}
    }
}

/// Checks one signature's bands: ordered for its direction, and in agreement with the
/// sensor role's bands (so data, thresholds and catalogue tell one story).
fn validate_signature(p: &Pattern, i: usize, s: &Signature, problems: &mut Vec<String>) {
    let src = p.source.as_str();
    let at = format!("signature[{i}] ({})", s.role);
    let Some(role) = roles::role(&s.role) else {
        let known: Vec<&str> = roles::ROLES.iter().map(|r| r.name).collect();
        problems.push(format!("{src}: {at}.role: unknown sensor role (known: {})", known.join(", ")));
        return;
    };
    one_of(problems, src, &format!("{at}.direction"), &s.direction, &["up", "down", "either", "scatter"]);
    if !p.is_sensor_scoped() {
        for t in roles::machine_types().filter(|t| p.applies_to(t)) {
            if !roles::profile(t).contains(&role.name) {
                problems
                    .push(format!("{src}: {at}.role: machine type `{t}` has no `{}` sensor in its profile", role.name));
            }
        }
    }
    if s.normal != [role.normal.0, role.normal.1] {
        problems.push(format!(
            "{src}: {at}.normal: {:?} disagrees with the role's normal band [{}, {}]",
            s.normal, role.normal.0, role.normal.1
        ));
    }
    match (s.warning, s.critical) {
        (Some(w), Some(c)) => check_bands(src, &at, s, role, w, c, problems),
        (None, None) => {}
        _ => problems.push(format!("{src}: {at}: give both warning and critical bands, or neither")),
    }
    for (f, r) in
        [("rate_per_hour", s.rate_per_hour), ("increase_pct", s.increase_pct), ("increase_abs", s.increase_abs)]
    {
        if let Some(r) = r {
            range_ok(problems, src, &format!("{at}.{f}"), r, 0.0);
        }
    }
}

fn check_bands(src: &str, at: &str, s: &Signature, role: &Role, w: [f64; 2], c: [f64; 2], problems: &mut Vec<String>) {
    let n = s.normal;
    let (ordered, agrees, rule) = match s.direction.as_str() {
        "up" => (
            n[0] < n[1] && n[1] <= w[0] && w[0] < w[1] && w[1] <= c[0] + 1e-9 && c[0] < c[1],
            w[0] == role.warning.1 && c[0] == role.critical.1,
            format!("warning must start at {} and critical at {}", role.warning.1, role.critical.1),
        ),
        "down" => (
            c[0] < c[1] && c[1] <= w[0] + 1e-9 && w[0] < w[1] && w[1] <= n[0] && n[0] < n[1],
            w[1] == role.warning.0 && c[1] == role.critical.0,
            format!("warning must end at {} and critical at {}", role.warning.0, role.critical.0),
        ),
        _ => (
            c[0] <= w[0] && w[0] <= n[0] && n[0] < n[1] && n[1] <= w[1] && w[1] <= c[1],
            w == [role.critical.0, role.critical.1],
            format!("warning must be the role's alarm limits [{}, {}]", role.critical.0, role.critical.1),
        ),
    };
    if !ordered {
        problems.push(format!(
            "{src}: {at}: bands normal {n:?}, warning {w:?}, critical {c:?} are not ordered for direction `{}`",
            s.direction
        ));
    } else if !agrees {
        problems.push(format!("{src}: {at}: bands disagree with the `{}` role: {rule}", role.name));
    }
    if let Some(f) = s.failure {
        let ok = match s.direction.as_str() {
            "up" => f >= c[0],
            "down" => f <= c[1],
            _ => true,
        };
        if !ok {
            problems.push(format!("{src}: {at}.failure: {f} lies outside the critical band {c:?}"));
        }
    }
}

impl crate::plant::RequiredRoles for Catalogue {
    /// The roles every machine of `machine_type` must carry so that each applicable
    /// machine-scoped pattern can show its signature, in profile order.
    fn required_roles(&self, machine_type: &str) -> Vec<&'static str> {
        let needed: BTreeSet<&str> = self
            .patterns
            .iter()
            .filter(|p| !p.is_sensor_scoped() && p.applies_to(machine_type))
            .flat_map(|p| p.required_roles())
            .collect();
        roles::profile(machine_type).iter().copied().filter(|r| needed.contains(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant::RequiredRoles as _;

    fn builtin_files() -> Vec<(String, String)> {
        BUILTIN.iter().map(|(n, t)| (format!("builtin:{n}"), (*t).to_owned())).collect()
    }

    #[test]
    fn builtin_catalogue_is_valid_and_complete() {
        let c = Catalogue::parse(builtin_files()).unwrap_or_else(|e| panic!("{e}"));
        let codes: Vec<&str> = c.patterns.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "BEAR-001",
                "THERM-001",
                "HYD-001",
                "TOOL-001",
                "WELD-001",
                "PNEU-001",
                "COOL-001",
                "ROBO-001",
                "ELEC-001",
                "SENS-001"
            ]
        );
    }

    #[test]
    fn builtin_matches_the_faults_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("faults");
        let from_dir = Catalogue::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_dir.patterns.len(), BUILTIN.len(), "every file in faults/ must be compiled in");
    }

    #[test]
    fn every_problem_is_reported_with_file_and_field() {
        let mut files = builtin_files();
        files[0].1 = files[0]
            .1
            .replace("\"cnc_lathe\"", "\"cnc_lathee\"")
            .replace("critical = [20.0, 40.0]", "critical = [25.0, 40.0]");
        files[1].1 = files[1].1.replace("min_hours = 0.5", "min_hours = 5.0");
        let err = Catalogue::parse(files).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bearing_failure.toml: machine_types: unknown machine type `cnc_lathee`"), "{text}");
        assert!(
            text.contains("bearing_failure.toml: signature[0] (spindle_bearing_vibration): bands disagree"),
            "{text}"
        );
        assert!(text.contains("motor_overheating.toml: duration: min_hours (5)"), "{text}");
        assert_eq!(err.problems.len(), 3, "{text}");
    }

    #[test]
    fn syntax_and_unknown_fields_name_the_file() {
        let mut files = builtin_files();
        files[2].1.push_str("\nbogus_field = 1\n");
        let err = Catalogue::parse(files).unwrap_err().to_string();
        assert!(err.contains("builtin:hydraulic_leak.toml") && err.contains("bogus_field"), "{err}");
    }

    #[test]
    fn a_warning_share_must_be_a_share() {
        for bad in ["0.0", "1.5", "-0.2", "nan"] {
            let mut files = builtin_files();
            files[0].1 = files[0]
                .1
                .replace("detectability = \"high\"", &format!("detectability = \"high\"\nwarning_share = {bad}"));
            let err = Catalogue::parse(files).unwrap_err().to_string();
            assert!(
                err.contains("bearing_failure.toml: warning_share:") && err.contains("above 0 and at most 1"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn duplicate_codes_are_refused() {
        let mut files = builtin_files();
        let copy = files[0].1.replace("name = \"bearing_failure\"", "name = \"bearing_copy\"");
        files.push(("mine/bearing_copy.toml".into(), copy));
        let err = Catalogue::parse(files).unwrap_err().to_string();
        assert!(err.contains("code: `BEAR-001` is also the code of"), "{err}");
    }

    #[test]
    fn required_roles_cover_each_machine_types_patterns() {
        let c = Catalogue::builtin();
        let mill = c.required_roles("cnc_mill");
        for r in [
            "spindle_bearing_vibration",
            "spindle_bearing_temperature",
            "tool_vibration",
            "coolant_flow",
            "supply_voltage",
            "motor_current",
        ] {
            assert!(mill.contains(&r), "cnc_mill must carry {r}: {mill:?}");
        }
        for t in roles::machine_types() {
            let n = c.required_roles(t).len();
            assert!(n <= roles::MAX_SENSORS_PER_MACHINE, "{t} needs {n} roles, more than fit on a machine");
        }
    }
}
