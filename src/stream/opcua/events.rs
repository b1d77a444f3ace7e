//! The plant's OPC UA events, and their types in the address space.
//!
//! What a control system sees is published by each machine and the `Server` object:
//!
//! - `MachineStateEventType`: the machine's SCADA state changed (`Machine`,
//!   `PreviousState`, `State`);
//! - `MachineFaultEventType`: a fault tripped (`Machine`, `FaultCode`, `FaultCategory`,
//!   `FaultSeverity`, `Description`), a `machine_faults` row;
//! - `MaintenanceEventType`: a work order (`Machine`, `MaintenanceType`, `Category`,
//!   `Priority`, `Description`), a `maintenance_events` row.
//!
//! Ground truth — which pattern a machine suffers and in which phase — is never among
//! them. With `[opcua] ground_truth = true`, a `GroundTruth` object under `Plant`
//! publishes `FaultPhaseEventType` (`Machine`, `Sensor`, `Pattern`, `Phase`, `EpisodeId`)
//! at each episode's onset, warning, critical, fault and end, from its fault label; no
//! other node does.

use opcua::nodes::BaseEventType;
use opcua::server::address_space::{AddressSpace, ObjectTypeBuilder, VariableBuilder};
use opcua::types::{ByteString, DataTypeId, NodeId, ObjectTypeId, QualifiedName, UAString, VariableTypeId};
use opcua::Event;

use super::feed::date_time;

#[derive(Event)]
#[opcua(identifier = "s=MachineStateEventType", namespace = "urn:genims:plant")]
pub struct MachineStateEvent {
    base: BaseEventType,
    own_namespace_index: u16,
    machine: UAString,
    previous_state: UAString,
    state: UAString,
}

#[derive(Event)]
#[opcua(identifier = "s=MachineFaultEventType", namespace = "urn:genims:plant")]
pub struct MachineFaultEvent {
    base: BaseEventType,
    own_namespace_index: u16,
    machine: UAString,
    fault_code: UAString,
    fault_category: UAString,
    fault_severity: UAString,
    description: UAString,
}

#[derive(Event)]
#[opcua(identifier = "s=MaintenanceEventType", namespace = "urn:genims:plant")]
pub struct MaintenanceEvent {
    base: BaseEventType,
    own_namespace_index: u16,
    machine: UAString,
    maintenance_type: UAString,
    category: UAString,
    priority: UAString,
    description: UAString,
}

#[derive(Event)]
#[opcua(identifier = "s=FaultPhaseEventType", namespace = "urn:genims:plant")]
pub struct FaultPhaseEvent {
    base: BaseEventType,
    own_namespace_index: u16,
    machine: UAString,
    sensor: UAString,
    pattern: UAString,
    phase: UAString,
    episode_id: i64,
}

/// An event as the feed keeps it until its instant is released.
#[derive(Debug, Clone, PartialEq)]
pub enum PlantEvent {
    State {
        previous: String,
        state: String,
    },
    Fault {
        code: String,
        category: String,
        severity: String,
        description: String,
    },
    Maintenance {
        kind: String,
        category: String,
        priority: String,
        description: String,
    },
    /// Ground truth: published only under `GroundTruth`.
    Phase {
        episode: i64,
        pattern: String,
        phase: &'static str,
        sensor: Option<String>,
    },
}

impl PlantEvent {
    /// Whether it is ground truth.
    pub fn is_truth(&self) -> bool {
        matches!(self, PlantEvent::Phase { .. })
    }

    /// The event at `ts` of `machine` (its node and id), numbered `seq` among the
    /// machine's events: its id is the same in every run.
    pub fn build(&self, ns: u16, machine: (&NodeId, &str), ts: i64, seq: u64) -> Box<dyn opcua::nodes::Event + Send> {
        let (node, id) = machine;
        let time = date_time(ts);
        let event_id = event_id(id, ts, seq);
        let base = |type_id: NodeId, message: String, severity: u16| {
            BaseEventType::new(type_id, event_id.clone(), message, time)
                .set_source_node(node.clone())
                .set_source_name(UAString::from(id))
                .set_severity(severity)
        };
        let s = |t: &str| UAString::from(t);
        match self {
            PlantEvent::State { previous, state } => Box::new(MachineStateEvent {
                base: base(type_id(ns, "MachineStateEventType"), format!("{id}: {previous} → {state}"), 100),
                own_namespace_index: ns,
                machine: s(id),
                previous_state: s(previous),
                state: s(state),
            }),
            PlantEvent::Fault { code, category, severity, description } => Box::new(MachineFaultEvent {
                base: base(type_id(ns, "MachineFaultEventType"), format!("{id}: fault {code}: {description}"), 800),
                own_namespace_index: ns,
                machine: s(id),
                fault_code: s(code),
                fault_category: s(category),
                fault_severity: s(severity),
                description: s(description),
            }),
            PlantEvent::Maintenance { kind, category, priority, description } => Box::new(MaintenanceEvent {
                base: base(
                    type_id(ns, "MaintenanceEventType"),
                    format!("{id}: {kind} maintenance: {description}"),
                    300,
                ),
                own_namespace_index: ns,
                machine: s(id),
                maintenance_type: s(kind),
                category: s(category),
                priority: s(priority),
                description: s(description),
            }),
            PlantEvent::Phase { episode, pattern, phase, sensor } => Box::new(FaultPhaseEvent {
                base: base(type_id(ns, "FaultPhaseEventType"), format!("{id}: {pattern} {phase}"), 500),
                own_namespace_index: ns,
                machine: s(id),
                sensor: sensor.as_deref().map_or_else(UAString::null, UAString::from),
                pattern: s(pattern),
                phase: s(phase),
                episode_id: *episode,
            }),
        }
    }
}

fn type_id(ns: u16, name: &str) -> NodeId {
    NodeId::new(ns, name.to_owned())
}

/// 16 bytes from the machine, instant and number: the same event has the same id.
fn event_id(machine: &str, ts: i64, seq: u64) -> ByteString {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in machine.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut bytes = h.to_be_bytes().to_vec();
    bytes.extend_from_slice(&(ts.wrapping_mul(1 << 20) ^ seq as i64).to_be_bytes());
    ByteString::from(bytes)
}

/// The event types and their fields (as properties, so clients can select them).
pub fn add_types(space: &mut AddressSpace, ns: u16, ground_truth: bool) {
    let types: [(&str, &[(&str, DataTypeId)]); 4] = [
        (
            "MachineStateEventType",
            &[("Machine", DataTypeId::String), ("PreviousState", DataTypeId::String), ("State", DataTypeId::String)],
        ),
        (
            "MachineFaultEventType",
            &[
                ("Machine", DataTypeId::String),
                ("FaultCode", DataTypeId::String),
                ("FaultCategory", DataTypeId::String),
                ("FaultSeverity", DataTypeId::String),
                ("Description", DataTypeId::String),
            ],
        ),
        (
            "MaintenanceEventType",
            &[
                ("Machine", DataTypeId::String),
                ("MaintenanceType", DataTypeId::String),
                ("Category", DataTypeId::String),
                ("Priority", DataTypeId::String),
                ("Description", DataTypeId::String),
            ],
        ),
        (
            "FaultPhaseEventType",
            &[
                ("Machine", DataTypeId::String),
                ("Sensor", DataTypeId::String),
                ("Pattern", DataTypeId::String),
                ("Phase", DataTypeId::String),
                ("EpisodeId", DataTypeId::Int64),
            ],
        ),
    ];
    for (name, fields) in types {
        if name == "FaultPhaseEventType" && !ground_truth {
            continue;
        }
        let t = type_id(ns, name);
        ObjectTypeBuilder::new(&t, QualifiedName::new(ns, name), name)
            .is_abstract(false)
            .subtype_of(ObjectTypeId::BaseEventType)
            .insert(space);
        for (field, ty) in fields {
            VariableBuilder::new(&NodeId::new(ns, format!("{name}/{field}")), QualifiedName::new(ns, *field), *field)
                .data_type(*ty)
                .has_type_definition(VariableTypeId::PropertyType)
                .property_of(t.clone())
                .insert(space);
        }
    }
}

/// A row's cells, kept whole: events come from rare rows (faults, work orders, labels).
#[derive(Default)]
pub struct AllCells(pub Vec<Cell>);

/// One cell of [`AllCells`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Ts(i64),
    Other,
}

impl AllCells {
    pub fn text(&self, k: usize) -> &str {
        match self.0.get(k) {
            Some(Cell::Text(s)) => s,
            _ => "",
        }
    }

    pub fn int(&self, k: usize) -> Option<i64> {
        match self.0.get(k) {
            Some(Cell::Int(v) | Cell::Ts(v)) => Some(*v),
            _ => None,
        }
    }
}

impl crate::rows::Cells for AllCells {
    fn null(&mut self) {
        self.0.push(Cell::Null);
    }
    fn text(&mut self, s: &str) {
        self.0.push(Cell::Text(s.to_owned()));
    }
    fn int4(&mut self, v: i32) {
        self.0.push(Cell::Int(i64::from(v)));
    }
    fn int8(&mut self, v: i64) {
        self.0.push(Cell::Int(v));
    }
    fn dec(&mut self, _v: f64, _scale: u8) {
        self.0.push(Cell::Other);
    }
    fn boolean(&mut self, _b: bool) {
        self.0.push(Cell::Other);
    }
    fn ts(&mut self, t: i64) {
        self.0.push(Cell::Ts(t));
    }
    fn date(&mut self, _days: i64) {
        self.0.push(Cell::Other);
    }
    fn time(&mut self, _secs: i64) {
        self.0.push(Cell::Other);
    }
}

/// The events a row makes: `(instant, event)`. A fault and a work order at the row's own
/// instant; a fault label (with `ground_truth`) the episode's phases from its onset on, each
/// at its time.
pub fn of_row(table: crate::rows::Table, c: &AllCells, at: i64, ground_truth: bool) -> Vec<(i64, PlantEvent)> {
    use crate::rows::Table;
    match table {
        // fault_code 4, fault_category 5, fault_severity 6, fault_description 7, start 8.
        Table::MachineFaults => vec![(
            c.int(8).unwrap_or(at),
            PlantEvent::Fault {
                code: c.text(4).to_owned(),
                category: c.text(5).to_owned(),
                severity: c.text(6).to_owned(),
                description: c.text(7).to_owned(),
            },
        )],
        // maintenance_type 4, category 5, priority 6, actual_start 8, work_description 11.
        Table::MaintenanceEvents => vec![(
            c.int(8).unwrap_or(at),
            PlantEvent::Maintenance {
                kind: c.text(4).to_owned(),
                category: c.text(5).to_owned(),
                priority: c.text(6).to_owned(),
                description: c.text(11).to_owned(),
            },
        )],
        // episode_id 0, pattern 4, onset 8, warning 9, critical 10, fault 11, end 13,
        // affected_sensors 15.
        Table::FaultLabels if ground_truth => {
            let episode = c.int(0).unwrap_or(0);
            let sensors = c.text(15);
            let phases = [("onset", 8), ("warning", 9), ("critical", 10), ("fault", 11), ("end", 13)];
            phases
                .iter()
                .filter_map(|&(phase, k)| Some((c.int(k)?, phase)))
                .map(|(t, phase)| {
                    let sensor = (!sensors.is_empty()).then(|| sensors.to_owned());
                    (t, PlantEvent::Phase { episode, pattern: c.text(4).to_owned(), phase, sensor })
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{Table, FAULTS, LABELS, MAINTENANCE};

    #[test]
    fn the_cells_read_are_the_columns_named() {
        assert_eq!(
            [FAULTS[4], FAULTS[5], FAULTS[6], FAULTS[7], FAULTS[8]],
            ["fault_code", "fault_category", "fault_severity", "fault_description", "fault_start_time"]
        );
        assert_eq!(
            [MAINTENANCE[4], MAINTENANCE[5], MAINTENANCE[6], MAINTENANCE[8], MAINTENANCE[11]],
            ["maintenance_type", "maintenance_category", "priority", "actual_start", "work_description"]
        );
        assert_eq!(
            [LABELS[0], LABELS[4], LABELS[8], LABELS[9], LABELS[10], LABELS[11], LABELS[13], LABELS[15]],
            [
                "episode_id",
                "pattern",
                "onset_time",
                "warning_time",
                "critical_time",
                "fault_time",
                "end_time",
                "affected_sensors"
            ]
        );
    }

    /// A label's phases become events only with ground truth asked for; a fault is an OT
    /// event whatever is asked.
    #[test]
    fn labels_are_events_only_as_ground_truth() {
        let mut label = AllCells(vec![
            Cell::Int(7),
            Cell::Text("M".into()),
            Cell::Null,
            Cell::Null,
            Cell::Text("tool_wear".into()),
        ]);
        label.0.extend([Cell::Null, Cell::Null, Cell::Null]);
        label.0.extend([Cell::Ts(100), Cell::Ts(200), Cell::Ts(300), Cell::Ts(400), Cell::Null, Cell::Ts(500)]);
        label.0.extend([Cell::Other, Cell::Text("S1".into())]);
        assert!(of_row(Table::FaultLabels, &label, 100, false).is_empty(), "no label without ground truth");
        let phases = of_row(Table::FaultLabels, &label, 100, true);
        let times: Vec<i64> = phases.iter().map(|p| p.0).collect();
        assert_eq!(times, [100, 200, 300, 400, 500]);
        assert!(phases.iter().all(|p| p.1.is_truth()));
        let mut fault = AllCells(vec![Cell::Int(1), Cell::Text("M".into()), Cell::Null, Cell::Null]);
        fault.0.extend(["BEAR-001", "mechanical", "critical", "bearing seized"].map(|t| Cell::Text(t.into())));
        fault.0.push(Cell::Ts(900));
        let e = of_row(Table::MachineFaults, &fault, 960, false);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 900);
        assert!(!e[0].1.is_truth());
    }
}
