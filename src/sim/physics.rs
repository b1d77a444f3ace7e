//! How each sensor role behaves physically while its machine runs, idles or is down.
//!
//! A role's behaviour decides the healthy signal: drives follow the machine's motion with a
//! short lag and go quiet when it stops, temperatures lag load and relax toward ambient,
//! pumps and supplies hold their level while the machine is powered. Fault episodes are
//! layered on top by `signal`.

use super::machine::State;

/// The behaviour class of a sensor role.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Follows the drive: set point while running, `idle_frac` of it while idle or in
    /// setup, `off` when the machine is down (fault, maintenance).
    Drive { idle_frac: f64, off: f64 },
    /// First-order thermal lag (time constant in minutes) between ambient and the running
    /// set point. `keeps_heat`: heaters or pumps stay on while idle. A part that does not
    /// keep heat is cooled by the air its shaft moves, so it cools [`STANDSTILL_COOLING`]
    /// times slower than it heats.
    Thermal { tau_min: f64, keeps_heat: bool },
    /// On while the machine is powered (running, idle, setup); falls to zero when down.
    Pump,
    /// Always at its set point (grid voltage, plant air, control supply).
    Supply,
    /// The value of the last process cycle, held between cycles; zero when down.
    Hold,
    /// A signed error around zero; its scatter scales with motion.
    Position,
    /// Slowly varying around its set point regardless of state.
    Static,
}

/// How many times slower a self-ventilated part (a motor winding, a bearing, a gearbox) cools
/// once its shaft slows than it heats while running: its fan and the air its rotation moves
/// stop with it (IEC 60034-1 rates a motor's cooling at standstill separately; two to four
/// times its heating time constant is usual). A motor with a blocked fan that idles for a
/// quarter hour comes back still hot.
pub const STANDSTILL_COOLING: f64 = 3.0;

/// The behaviour of a role by name.
pub fn behaviour(role: &str) -> Behaviour {
    use Behaviour::*;
    match role {
        "spindle_bearing_vibration" | "tool_vibration" | "motor_vibration" | "gearbox_vibration" => {
            Drive { idle_frac: 0.06, off: 0.4 }
        }
        "motor_current" => Drive { idle_frac: 0.1, off: 3.0 },
        "spindle_speed" | "motor_speed" | "feed_force" | "spindle_torque" | "ram_position" | "joint_torque"
        | "wire_feed_speed" => Drive { idle_frac: 0.0, off: 0.0 },
        "air_flow" => Drive { idle_frac: 0.4, off: 30.0 },
        "spindle_bearing_temperature" => Thermal { tau_min: 40.0, keeps_heat: false },
        "motor_temperature" => Thermal { tau_min: 25.0, keeps_heat: false },
        "gearbox_temperature" => Thermal { tau_min: 45.0, keeps_heat: false },
        "hydraulic_oil_temperature" => Thermal { tau_min: 60.0, keeps_heat: true },
        "oven_temperature" => Thermal { tau_min: 45.0, keeps_heat: true },
        "coolant_flow" | "hydraulic_pressure" | "hydraulic_flow" | "exhaust_air_flow" => Pump,
        "supply_voltage"
        | "control_voltage"
        | "pneumatic_pressure"
        | "paint_line_pressure"
        | "transducer_voltage"
        | "gripper_vacuum" => Supply,
        "weld_current"
        | "arc_voltage"
        | "electrode_force"
        | "shielding_gas_flow"
        | "electrostatic_voltage"
        | "test_pressure"
        | "applied_torque"
        | "press_force" => Hold,
        "position_error" | "axis_following_error" | "scan_deviation" => Position,
        "coolant_temperature"
        | "cooling_water_temperature"
        | "cabinet_temperature"
        | "electrode_tip_wear"
        | "belt_tension"
        | "part_temperature" => Static,
        other => panic!("sensor role `{other}` has no behaviour (add it to sim::physics::behaviour)"),
    }
}

impl Behaviour {
    /// How much of the running level the role shows in `state`, before lag (0..=1).
    pub fn activity(self, state: State) -> f64 {
        let down = matches!(state, State::Fault | State::Maintenance);
        match self {
            Behaviour::Drive { idle_frac, .. } => match state {
                State::Running => 1.0,
                State::Idle | State::Setup => idle_frac,
                _ => 0.0,
            },
            Behaviour::Thermal { keeps_heat, .. } => match state {
                State::Running => 1.0,
                State::Idle | State::Setup if keeps_heat => 1.0,
                State::Idle | State::Setup => 0.15,
                _ => 0.0,
            },
            Behaviour::Pump | Behaviour::Hold => {
                if down {
                    0.0
                } else {
                    1.0
                }
            }
            Behaviour::Position => match state {
                State::Running => 1.0,
                State::Setup => 0.3,
                _ => 0.05,
            },
            Behaviour::Supply | Behaviour::Static => 1.0,
        }
    }

    /// Lag time constant in minutes applied to `activity` while it rises (0: follows within
    /// the minute). A pump (coolant, hydraulic power unit, exhaust fan) reaches its flow or
    /// pressure within seconds of being switched on, so it has none: with a minute's constant
    /// a grinder back from maintenance read half its coolant flow a minute after it started,
    /// which a flow alarm took for a failing pump.
    pub fn tau_min(self) -> f64 {
        match self {
            Behaviour::Thermal { tau_min, .. } => tau_min,
            Behaviour::Drive { .. } => 0.5,
            _ => 0.0,
        }
    }

    /// Lag time constant in minutes applied to `activity` while it falls. A pump switched off
    /// coasts down and its lines drain or bleed off over about a minute.
    pub fn cooling_tau_min(self) -> f64 {
        match self {
            Behaviour::Thermal { tau_min, keeps_heat: false } => tau_min * STANDSTILL_COOLING,
            Behaviour::Pump => 1.0,
            other => other.tau_min(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::plant::roles::ROLES;

    #[test]
    fn every_role_has_a_behaviour() {
        for r in ROLES {
            let _ = super::behaviour(r.name);
        }
    }
}
