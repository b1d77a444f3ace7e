//! The two baselines `genims evaluate` scores beside the reference detectors: the static
//! threshold a context-free dashboard applies, and a random detector with the labels'
//! positive rate.
//!
//! Both come from the catalogue, so a new pattern file gets its baselines without code: the
//! static rule reads the last operating value of the pattern's primary sensor (the first
//! signature's role) against its warning limit in the signature's direction (every sensor,
//! either way, for a pattern that strikes sensors; SQL `genims_threshold`); the random detector flags each (machine, time) of a machine the pattern
//! applies to with the prevalence of positives, from a seeded ChaCha stream per (pattern,
//! machine, time), so two evaluations of one database agree.

use rand::Rng as _;

use crate::faults::Pattern;
use crate::plant::roles;
use crate::rng;

/// A pattern's static-threshold rule: `sensor` (a sensor name; every sensor when `None`)
/// beyond its warning limit in `direction` (`up`, `down` or `either`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRule {
    pub sensor: Option<&'static str>,
    pub direction: &'static str,
}

impl StaticRule {
    /// The rule of pattern `p`, from its first signature.
    pub fn of(p: &Pattern) -> StaticRule {
        let Some(sig) = p.primary_signature() else {
            return StaticRule { sensor: None, direction: "either" };
        };
        let direction = match sig.direction.as_str() {
            "up" => "up",
            "down" => "down",
            _ => "either",
        };
        // The catalogue's loader refuses unknown roles; a role without a label reads every sensor.
        StaticRule { sensor: roles::role(&sig.role).map(|r| r.label), direction }
    }

    /// One line saying what the rule flags.
    pub fn describe(&self) -> String {
        let sensor = self.sensor.unwrap_or("any sensor");
        match self.direction {
            "up" => format!("{sensor} above its warning limit"),
            "down" => format!("{sensor} below its warning limit"),
            _ => format!("{sensor} outside its warning limits"),
        }
    }
}

/// Whether the random baseline flags `machine` for `pattern` at `t`, at rate `rate`.
pub fn random_flag(pattern: &str, machine: &str, t: i64, rate: f64) -> bool {
    let mut r = rng::stream(0, &[rng::label("evaluate-random"), rng::label(pattern), rng::label(machine), t as u64]);
    r.random::<f64>() < rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Catalogue;

    fn rule(name: &str) -> StaticRule {
        let cat = Catalogue::builtin();
        StaticRule::of(cat.patterns.iter().find(|p| p.name == name).expect("a builtin pattern"))
    }

    #[test]
    fn rules_follow_the_primary_signature() {
        assert_eq!(rule("bearing_failure"), StaticRule { sensor: Some("Spindle Bearing Vibration"), direction: "up" });
        assert_eq!(rule("hydraulic_leak"), StaticRule { sensor: Some("Hydraulic Pressure"), direction: "down" });
        assert_eq!(rule("welding_quality"), StaticRule { sensor: Some("Weld Current"), direction: "either" });
        assert_eq!(rule("electrical_fault"), StaticRule { sensor: Some("Supply Voltage"), direction: "either" });
        assert_eq!(rule("sensor_drift"), StaticRule { sensor: None, direction: "either" });
        assert_eq!(rule("tool_wear").describe(), "Cutting Tool Vibration above its warning limit");
    }

    #[test]
    fn the_random_baseline_is_seeded_and_keeps_its_rate() {
        let flags = |rate| (0..20_000).filter(|&t| random_flag("tool_wear", "MCH-000001", t * 3600, rate)).count();
        assert_eq!(flags(0.0), 0);
        assert_eq!(flags(1.0), 20_000);
        let n = flags(0.1);
        assert!((1_800..2_200).contains(&n), "rate 0.1 flagged {n} of 20000");
        assert_eq!(n, flags(0.1), "the same evaluation flags the same (machine, time) pairs");
        let set = |m: &str| (0..200).filter(|&t| random_flag("tool_wear", m, t * 3600, 0.5)).collect::<Vec<_>>();
        assert_ne!(set("MCH-000001"), set("MCH-000002"), "machines draw independently");
    }
}
