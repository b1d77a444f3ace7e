//! Sensor roles and machine-type sensor profiles.
//!
//! A sensor is not a generic "temperature": it has a *role* on its machine (spindle bearing
//! temperature, hydraulic pressure, weld current, ...). The role fixes the sensor type, unit,
//! measurement range and the normal, warning and critical bands. A *profile* lists the roles
//! that make sense on a machine type, most important first.
//!
//! Band semantics (used by every status flag genims writes): a reading is *critical* when it
//! lies below `critical.0` or above `critical.1`, otherwise *warning* when below `warning.0`
//! or above `warning.1`, otherwise *normal*. `normal` is the band the signal occupies while
//! the machine runs healthily. For every role
//! `range.0 < critical.0 <= warning.0 <= normal.0 < normal.1 <= warning.1 <= critical.1 < range.1`,
//! which a unit test checks. Limits for one-sided signals sit below the physical floor the
//! engine keeps (ambient temperature, structure-borne vibration), so they mean "signal lost".

/// One sensor role.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Role {
    pub name: &'static str,
    /// Human label, used as the sensor's name.
    pub label: &'static str,
    /// Short code used in sensor codes.
    pub code: &'static str,
    pub sensor_type: &'static str,
    pub unit: &'static str,
    pub range: (f64, f64),
    pub normal: (f64, f64),
    pub warning: (f64, f64),
    pub critical: (f64, f64),
    pub sampling_hz: f64,
}

macro_rules! role {
    ($name:literal, $label:literal, $code:literal, $ty:literal, $unit:literal,
     range $r:expr, normal $n:expr, warning $w:expr, critical $c:expr, hz $hz:expr) => {
        Role {
            name: $name,
            label: $label,
            code: $code,
            sensor_type: $ty,
            unit: $unit,
            range: $r,
            normal: $n,
            warning: $w,
            critical: $c,
            sampling_hz: $hz,
        }
    };
}

/// Every role genims knows. Bands follow the fault catalogue (SPEC §4).
pub const ROLES: &[Role] = &[
    role!("spindle_bearing_vibration", "Spindle Bearing Vibration", "SBV", "vibration", "mm/s",
          range (0.0, 50.0), normal (5.0, 15.0), warning (0.2, 15.0), critical (0.1, 20.0), hz 10000.0),
    role!("spindle_bearing_temperature", "Spindle Bearing Temperature", "SBT", "temperature", "Celsius",
          range (-20.0, 150.0), normal (40.0, 60.0), warning (5.0, 60.0), critical (0.0, 75.0), hz 1.0),
    role!("tool_vibration", "Cutting Tool Vibration", "TLV", "vibration", "mm/s",
          range (0.0, 50.0), normal (8.0, 12.0), warning (0.2, 12.0), critical (0.1, 18.0), hz 10000.0),
    role!("motor_current", "Motor Current", "MCR", "current", "ampere",
          range (-100.0, 600.0), normal (320.0, 360.0), warning (-5.0, 360.0), critical (-20.0, 440.0), hz 1000.0),
    role!("motor_temperature", "Motor Winding Temperature", "MTT", "temperature", "Celsius",
          range (-20.0, 200.0), normal (45.0, 70.0), warning (5.0, 70.0), critical (0.0, 85.0), hz 1.0),
    role!("supply_voltage", "Supply Voltage", "SPV", "voltage", "volt",
          range (0.0, 600.0), normal (380.0, 420.0), warning (380.0, 420.0), critical (360.0, 440.0), hz 1000.0),
    role!("coolant_temperature", "Coolant Temperature", "CLT", "temperature", "Celsius",
          range (-20.0, 100.0), normal (20.0, 25.0), warning (10.0, 25.0), critical (5.0, 35.0), hz 1.0),
    role!("coolant_flow", "Coolant Flow", "CLF", "flow", "L/min",
          range (0.0, 150.0), normal (40.0, 80.0), warning (40.0, 90.0), critical (20.0, 110.0), hz 1.0),
    role!("hydraulic_pressure", "Hydraulic Pressure", "HYP", "pressure", "bar",
          range (0.0, 250.0), normal (120.0, 150.0), warning (120.0, 160.0), critical (100.0, 180.0), hz 10.0),
    role!("hydraulic_flow", "Hydraulic Flow", "HYF", "flow", "L/min",
          range (0.0, 200.0), normal (60.0, 90.0), warning (50.0, 100.0), critical (35.0, 120.0), hz 1.0),
    role!("hydraulic_oil_temperature", "Hydraulic Oil Temperature", "HOT", "temperature", "Celsius",
          range (-20.0, 120.0), normal (40.0, 55.0), warning (10.0, 60.0), critical (5.0, 70.0), hz 1.0),
    role!("weld_current", "Weld Current", "WCR", "current", "kA",
          range (0.0, 25.0), normal (8.0, 12.0), warning (8.0, 12.0), critical (7.0, 13.0), hz 1000.0),
    role!("arc_voltage", "Arc Voltage", "ARV", "voltage", "volt",
          range (0.0, 60.0), normal (24.0, 28.0), warning (24.0, 28.0), critical (20.0, 32.0), hz 1000.0),
    role!("electrode_force", "Electrode Force", "ELF", "force", "kN",
          range (0.0, 15.0), normal (3.0, 5.0), warning (3.0, 5.5), critical (2.5, 6.5), hz 100.0),
    role!("pneumatic_pressure", "Pneumatic Supply Pressure", "PNP", "pressure", "bar",
          range (-1.0, 12.0), normal (5.0, 7.0), warning (5.0, 7.5), critical (4.0, 8.5), hz 10.0),
    role!("air_flow", "Compressed Air Flow", "AIF", "flow", "L/min",
          range (0.0, 1000.0), normal (150.0, 300.0), warning (20.0, 350.0), critical (10.0, 450.0), hz 1.0),
    role!("position_error", "Robot Position Error", "RPE", "displacement", "mm",
          range (-5.0, 5.0), normal (-0.05, 0.05), warning (-0.1, 0.1), critical (-0.5, 0.5), hz 100.0),
    role!("cabinet_temperature", "Control Cabinet Temperature", "CBT", "temperature", "Celsius",
          range (-20.0, 100.0), normal (25.0, 40.0), warning (5.0, 45.0), critical (0.0, 55.0), hz 0.1),
    role!("control_voltage", "Control Voltage 24V DC", "CTV", "voltage", "volt",
          range (0.0, 36.0), normal (23.5, 24.5), warning (22.8, 25.2), critical (21.6, 26.4), hz 10.0),
    role!("spindle_speed", "Spindle Speed", "SPS", "speed", "rpm",
          range (-24000.0, 24000.0), normal (3000.0, 12000.0), warning (-10.0, 12500.0), critical (-100.0, 14000.0), hz 10.0),
    role!("motor_speed", "Motor Speed", "MSP", "speed", "rpm",
          range (-3600.0, 3600.0), normal (1400.0, 1500.0), warning (-10.0, 1550.0), critical (-100.0, 1650.0), hz 10.0),
    role!("motor_vibration", "Motor Vibration", "MTV", "vibration", "mm/s",
          range (0.0, 50.0), normal (1.0, 4.5), warning (0.2, 4.5), critical (0.1, 7.1), hz 10000.0),
    role!("gearbox_vibration", "Gearbox Vibration", "GBV", "vibration", "mm/s",
          range (0.0, 50.0), normal (1.5, 6.0), warning (0.2, 7.1), critical (0.1, 11.0), hz 10000.0),
    role!("gearbox_temperature", "Gearbox Oil Temperature", "GBT", "temperature", "Celsius",
          range (-20.0, 150.0), normal (40.0, 65.0), warning (5.0, 75.0), critical (0.0, 90.0), hz 1.0),
    role!("feed_force", "Feed Force", "FDF", "force", "kN",
          range (-50.0, 50.0), normal (2.0, 8.0), warning (-1.0, 10.0), critical (-5.0, 15.0), hz 100.0),
    role!("axis_following_error", "Axis Following Error", "AFE", "displacement", "mm",
          range (-2.0, 2.0), normal (-0.01, 0.01), warning (-0.02, 0.02), critical (-0.05, 0.05), hz 100.0),
    role!("spindle_torque", "Spindle Torque", "SPT", "torque", "Nm",
          range (-500.0, 500.0), normal (40.0, 120.0), warning (-20.0, 150.0), critical (-50.0, 180.0), hz 100.0),
    role!("oven_temperature", "Oven Air Temperature", "OVT", "temperature", "Celsius",
          range (-20.0, 350.0), normal (170.0, 190.0), warning (160.0, 200.0), critical (150.0, 210.0), hz 1.0),
    role!("paint_line_pressure", "Paint Line Pressure", "PLP", "pressure", "bar",
          range (-1.0, 10.0), normal (2.0, 4.0), warning (1.5, 4.5), critical (1.0, 5.5), hz 10.0),
    role!("exhaust_air_flow", "Exhaust Air Flow", "EXF", "flow", "L/min",
          range (0.0, 100000.0), normal (40000.0, 60000.0), warning (35000.0, 65000.0), critical (30000.0, 70000.0), hz 1.0),
    role!("test_pressure", "Test Pressure", "TSP", "pressure", "bar",
          range (-1.0, 20.0), normal (7.8, 8.2), warning (7.5, 8.5), critical (7.0, 9.0), hz 10.0),
    role!("applied_torque", "Applied Torque", "APT", "torque", "Nm",
          range (-100.0, 100.0), normal (20.0, 30.0), warning (-1.0, 32.0), critical (-5.0, 35.0), hz 100.0),
    role!("press_force", "Press Force", "PRF", "force", "kN",
          range (-10.0, 200.0), normal (40.0, 80.0), warning (-1.0, 90.0), critical (-5.0, 110.0), hz 100.0),
    role!("ram_position", "Ram Position", "RAM", "displacement", "mm",
          range (-10.0, 500.0), normal (0.0, 300.0), warning (-1.0, 310.0), critical (-5.0, 320.0), hz 100.0),
    role!("scan_deviation", "Dimensional Deviation", "SCD", "displacement", "mm",
          range (-2.0, 2.0), normal (-0.02, 0.02), warning (-0.05, 0.05), critical (-0.1, 0.1), hz 10.0),
    role!("transducer_voltage", "Transducer Excitation Voltage", "TRV", "voltage", "volt",
          range (0.0, 500.0), normal (180.0, 220.0), warning (170.0, 230.0), critical (150.0, 250.0), hz 1000.0),
    role!("joint_torque", "Joint Torque", "JTQ", "torque", "Nm",
          range (-2000.0, 2000.0), normal (-600.0, 600.0), warning (-800.0, 800.0), critical (-1000.0, 1000.0), hz 100.0),
    role!("gripper_vacuum", "Gripper Vacuum", "GRV", "pressure", "bar",
          range (-1.0, 1.0), normal (-0.8, -0.6), warning (-0.9, -0.5), critical (-0.95, -0.4), hz 10.0),
    role!("shielding_gas_flow", "Shielding Gas Flow", "SGF", "flow", "L/min",
          range (0.0, 50.0), normal (12.0, 18.0), warning (10.0, 20.0), critical (8.0, 25.0), hz 1.0),
    role!("wire_feed_speed", "Wire Feed Motor Speed", "WFS", "speed", "rpm",
          range (-500.0, 500.0), normal (150.0, 250.0), warning (-5.0, 280.0), critical (-20.0, 320.0), hz 10.0),
    role!("cooling_water_temperature", "Cooling Water Temperature", "CWT", "temperature", "Celsius",
          range (-20.0, 100.0), normal (20.0, 30.0), warning (5.0, 35.0), critical (0.0, 40.0), hz 1.0),
    role!("electrode_tip_wear", "Electrode Tip Wear", "ETW", "displacement", "mm",
          range (-10.0, 10.0), normal (0.0, 1.5), warning (-0.5, 2.0), critical (-1.0, 3.0), hz 1.0),
    role!("belt_tension", "Belt Tension", "BLT", "force", "kN",
          range (0.0, 20.0), normal (2.0, 4.0), warning (1.5, 4.5), critical (1.0, 5.5), hz 1.0),
    role!("part_temperature", "Part Temperature", "PTT", "temperature", "Celsius",
          range (-20.0, 100.0), normal (18.0, 30.0), warning (5.0, 35.0), critical (0.0, 45.0), hz 1.0),
    role!("electrostatic_voltage", "Electrostatic Gun Voltage", "ESV", "voltage", "volt",
          range (0.0, 120000.0), normal (60000.0, 90000.0), warning (50000.0, 95000.0), critical (40000.0, 100000.0), hz 10.0),
];

/// Looks a role up by name.
pub fn role(name: &str) -> Option<&'static Role> {
    ROLES.iter().find(|r| r.name == name)
}

/// Machine types by line type (SPEC §2).
pub const LINE_TYPES: &[(&str, [&str; 5])] = &[
    ("assembly", ["robot_arm", "screw_driver", "press_fit", "conveyor", "pick_place"]),
    ("machining", ["cnc_mill", "cnc_lathe", "drill_press", "grinding_machine", "boring_machine"]),
    ("testing", ["leak_tester", "torque_tester", "dimension_scanner", "ultrasonic_tester", "x_ray"]),
    ("painting", ["spray_booth", "powder_coating", "curing_oven", "surface_prep", "inspection_booth"]),
    ("welding", ["spot_welder", "arc_welder", "laser_welder", "robot_welder", "mig_welder"]),
];

/// All machine type names.
pub fn machine_types() -> impl Iterator<Item = &'static str> {
    LINE_TYPES.iter().flat_map(|(_, types)| types.iter().copied())
}

/// The milling and turning centres' profile.
const MILL: &[&str] = &[
    "spindle_bearing_vibration",
    "spindle_bearing_temperature",
    "tool_vibration",
    "motor_current",
    "coolant_temperature",
    "coolant_flow",
    "supply_voltage",
    "spindle_speed",
    "spindle_torque",
    "axis_following_error",
    "feed_force",
    "cabinet_temperature",
    "control_voltage",
];

/// Each machine type's sensor profile: (machine types, roles most important first).
const PROFILES: &[(&[&str], &[&str])] = &[
    (
        &["robot_arm"],
        &[
            "position_error",
            "motor_current",
            "supply_voltage",
            "joint_torque",
            "axis_following_error",
            "motor_temperature",
            "gripper_vacuum",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["screw_driver"],
        &[
            "pneumatic_pressure",
            "air_flow",
            "motor_current",
            "supply_voltage",
            "applied_torque",
            "motor_speed",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["press_fit"],
        &[
            "hydraulic_pressure",
            "hydraulic_flow",
            "motor_current",
            "supply_voltage",
            "press_force",
            "ram_position",
            "hydraulic_oil_temperature",
            "motor_temperature",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["conveyor"],
        &[
            "motor_temperature",
            "motor_current",
            "supply_voltage",
            "motor_speed",
            "gearbox_vibration",
            "belt_tension",
            "gearbox_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["pick_place"],
        &[
            "pneumatic_pressure",
            "air_flow",
            "position_error",
            "motor_current",
            "supply_voltage",
            "gripper_vacuum",
            "axis_following_error",
            "motor_temperature",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (&["cnc_mill", "cnc_lathe"], MILL),
    (
        &["grinding_machine"],
        &[
            "spindle_bearing_vibration",
            "spindle_bearing_temperature",
            "coolant_temperature",
            "coolant_flow",
            "motor_current",
            "supply_voltage",
            "spindle_speed",
            "feed_force",
            "axis_following_error",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["drill_press", "boring_machine"],
        &[
            "tool_vibration",
            "motor_current",
            "spindle_bearing_temperature",
            "coolant_temperature",
            "coolant_flow",
            "supply_voltage",
            "spindle_speed",
            "feed_force",
            "spindle_torque",
            "axis_following_error",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["leak_tester"],
        &[
            "pneumatic_pressure",
            "air_flow",
            "motor_current",
            "supply_voltage",
            "test_pressure",
            "part_temperature",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["torque_tester"],
        &[
            "motor_current",
            "supply_voltage",
            "applied_torque",
            "motor_speed",
            "axis_following_error",
            "motor_temperature",
            "motor_vibration",
            "part_temperature",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["dimension_scanner", "inspection_booth"],
        &[
            "motor_current",
            "supply_voltage",
            "scan_deviation",
            "axis_following_error",
            "part_temperature",
            "motor_speed",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["ultrasonic_tester"],
        &[
            "motor_current",
            "supply_voltage",
            "transducer_voltage",
            "cooling_water_temperature",
            "part_temperature",
            "axis_following_error",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["x_ray"],
        &[
            "motor_current",
            "supply_voltage",
            "cooling_water_temperature",
            "axis_following_error",
            "part_temperature",
            "motor_speed",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["spray_booth"],
        &[
            "pneumatic_pressure",
            "air_flow",
            "motor_current",
            "supply_voltage",
            "paint_line_pressure",
            "exhaust_air_flow",
            "part_temperature",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["powder_coating"],
        &[
            "motor_current",
            "supply_voltage",
            "electrostatic_voltage",
            "pneumatic_pressure",
            "air_flow",
            "exhaust_air_flow",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["curing_oven"],
        &[
            "motor_temperature",
            "motor_current",
            "supply_voltage",
            "oven_temperature",
            "exhaust_air_flow",
            "motor_speed",
            "motor_vibration",
            "part_temperature",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["surface_prep"],
        &[
            "pneumatic_pressure",
            "air_flow",
            "motor_current",
            "supply_voltage",
            "cooling_water_temperature",
            "motor_speed",
            "motor_temperature",
            "motor_vibration",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["spot_welder"],
        &[
            "weld_current",
            "electrode_force",
            "arc_voltage",
            "motor_current",
            "supply_voltage",
            "electrode_tip_wear",
            "cooling_water_temperature",
            "motor_temperature",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["robot_welder"],
        &[
            "weld_current",
            "arc_voltage",
            "electrode_force",
            "position_error",
            "motor_current",
            "supply_voltage",
            "joint_torque",
            "shielding_gas_flow",
            "wire_feed_speed",
            "cooling_water_temperature",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
    (
        &["arc_welder", "laser_welder", "mig_welder"],
        &[
            "weld_current",
            "arc_voltage",
            "electrode_force",
            "motor_current",
            "supply_voltage",
            "shielding_gas_flow",
            "wire_feed_speed",
            "cooling_water_temperature",
            "cabinet_temperature",
            "control_voltage",
        ],
    ),
];

/// The sensor profile of a machine type: its roles, most important first. Every profile has
/// at least [`MAX_SENSORS_PER_MACHINE`] roles so any machine can be fully equipped.
pub fn profile(machine_type: &str) -> &'static [&'static str] {
    PROFILES.iter().find(|(types, _)| types.contains(&machine_type)).map_or(&[], |(_, roles)| roles)
}

/// Fewest and most sensors on one machine (SPEC §2).
pub const MIN_SENSORS_PER_MACHINE: usize = 5;
pub const MAX_SENSORS_PER_MACHINE: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_ordered_and_inside_the_range() {
        for r in ROLES {
            let ok = r.range.0 < r.critical.0
                && r.critical.0 <= r.warning.0
                && r.warning.0 <= r.normal.0
                && r.normal.0 < r.normal.1
                && r.normal.1 <= r.warning.1
                && r.warning.1 <= r.critical.1
                && r.critical.1 < r.range.1;
            assert!(ok, "role {} has disordered bands: {r:?}", r.name);
        }
    }

    #[test]
    fn role_names_and_codes_are_unique() {
        for (i, a) in ROLES.iter().enumerate() {
            for b in &ROLES[i + 1..] {
                assert_ne!(a.name, b.name, "duplicate role name");
                assert_ne!(a.code, b.code, "roles {} and {} share code {}", a.name, b.name, a.code);
            }
        }
    }

    #[test]
    fn every_profile_is_full_and_names_known_roles_once() {
        for t in machine_types() {
            let p = profile(t);
            assert!(p.len() >= MAX_SENSORS_PER_MACHINE, "profile of {t} has only {} roles", p.len());
            for (i, name) in p.iter().enumerate() {
                assert!(role(name).is_some(), "profile of {t} names unknown role {name}");
                assert!(!p[i + 1..].contains(name), "profile of {t} lists {name} twice");
            }
        }
    }

    #[test]
    fn documented_bands_match_the_catalogue() {
        let v = role("spindle_bearing_vibration").unwrap();
        assert_eq!((v.normal, v.warning.1, v.critical.1), ((5.0, 15.0), 15.0, 20.0));
        let h = role("hydraulic_pressure").unwrap();
        assert_eq!((h.normal, h.warning.0, h.critical.0), ((120.0, 150.0), 120.0, 100.0));
        let s = role("supply_voltage").unwrap();
        assert_eq!((s.warning, s.critical), ((380.0, 420.0), (360.0, 440.0)));
        let m = role("motor_current").unwrap();
        assert_eq!((m.normal, m.critical.1), ((320.0, 360.0), 440.0), "80-90 % and 110 % of 400 A");
    }
}
