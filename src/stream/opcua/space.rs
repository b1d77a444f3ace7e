//! The address space: the plant's ISA-95 hierarchy as OPC UA nodes, built once at start
//! from the plant's master data.
//!
//! ```text
//! Objects/Plant                          ns=<NAMESPACE_URI>;s=Plant
//!   <factory>                            s=<factory_id>
//!     <line>                             s=<line_id>
//!       <machine>                        s=<machine_id>
//!         <sensor>  (AnalogItemType)     s=<machine_id>/<sensor_id>
//!           EURange, EngineeringUnits,
//!           NormalRange, WarningRange, CriticalRange   s=<machine_id>/<sensor_id>/<property>
//!         State                          s=<machine_id>/State
//!           <scada column>               s=<machine_id>/State/<column>
//!         InjectFault, ClearFault        s=<machine_id>/InjectFault, …/ClearFault
//! ```
//!
//! Browse names are the master data's ids, display names its names; the same plant gives
//! the same nodes, whatever the run.

use std::collections::HashMap;

use opcua::server::address_space::{
    AddressSpace, EventNotifier, MethodBuilder, NodeType, ObjectBuilder, VariableBuilder,
};
use opcua::types::{
    Argument, DataTypeId, DataValue, EUInformation, ExtensionObject, LocalizedText, NodeId, ObjectTypeId,
    QualifiedName, Range, StatusCode, VariableTypeId, Variant,
};

use super::manager::Method;

use crate::plant::roles::Role;
use crate::rows::Table;
use crate::sink::parquet::Kind;
use crate::stream::console::PlantInfo;

/// The namespace of genims's nodes.
pub const NAMESPACE_URI: &str = "urn:genims:plant";
/// UNECE Recommendation 20 units, as OPC UA's `EUInformation` names them.
const UNECE_URI: &str = "http://www.opcfoundation.org/UA/units/un/cefact";

/// A machine's variables, by the index a [`super::feed::Update`] names: its sensors in
/// plant order, then its SCADA columns.
pub struct MachineNodes {
    pub nodes: Vec<NodeId>,
    pub sensors: usize,
}

/// The SCADA columns that become a machine's `State` variables: (column position, name,
/// kind).
pub fn state_columns() -> Vec<(usize, String, Kind)> {
    crate::sink::mqtt::value_columns(Table::ScadaMachineData)
}

/// The nodes built: each plant machine's variables (empty for machines not served), and the
/// machines' methods.
pub struct Built {
    pub machines: Vec<MachineNodes>,
    pub methods: HashMap<NodeId, Method>,
    /// The `GroundTruth` object, when ground truth is published.
    pub ground_truth: Option<NodeId>,
}

/// What the address space offers beyond the plant's nodes.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    /// Variables are history-readable.
    pub history: bool,
    /// A `GroundTruth` object publishes the episodes' phases.
    pub ground_truth: bool,
}

/// Adds the plant's nodes for `machines` (plant indices) to `space`.
pub fn build(space: &mut AddressSpace, ns: u16, plant: &PlantInfo, machines: &[usize], offer: Offer) -> Built {
    let history = offer.history;
    let id = |s: &str| NodeId::new(ns, s.to_owned());
    let root = id("Plant");
    ObjectBuilder::new(&root, QualifiedName::new(ns, "Plant"), "Plant")
        .has_type_definition(ObjectTypeId::FolderType)
        .organized_by(NodeId::objects_folder_id())
        .insert(space);
    super::events::add_types(space, ns, offer.ground_truth);
    let ground_truth = offer.ground_truth.then(|| {
        let gt = id("GroundTruth");
        ObjectBuilder::new(&gt, QualifiedName::new(ns, "GroundTruth"), "GroundTruth")
            .description("the fault episodes' phases: labels, published only here")
            .has_type_definition(ObjectTypeId::BaseObjectType)
            .event_notifier(EventNotifier::SUBSCRIBE_TO_EVENTS)
            .organized_by(root.clone())
            .insert(space);
        gt
    });
    let columns = state_columns();
    let mut out: Vec<MachineNodes> =
        plant.machines.iter().map(|_| MachineNodes { nodes: Vec::new(), sensors: 0 }).collect();
    let mut made_factory = vec![false; plant.factories.len()];
    let mut made_line = vec![false; plant.lines.len()];
    let mut methods = HashMap::new();
    for &m in machines {
        let mc = &plant.machines[m];
        let (line_id, line_name, f) = &plant.lines[mc.line];
        let (factory_id, factory_name) = &plant.factories[*f];
        if !std::mem::replace(&mut made_factory[*f], true) {
            object(space, id(factory_id), QualifiedName::new(ns, factory_id.as_str()), factory_name, &root);
        }
        if !std::mem::replace(&mut made_line[mc.line], true) {
            object(space, id(line_id), QualifiedName::new(ns, line_id.as_str()), line_name, &id(factory_id));
        }
        let machine = id(&mc.id);
        object(space, machine.clone(), QualifiedName::new(ns, mc.id.as_str()), &mc.name, &id(line_id));
        let mut nodes = Vec::with_capacity(mc.sensors.len() + columns.len());
        for s in &mc.sensors {
            nodes.push(sensor(space, ns, &mc.id, &s.id, s.role, &machine, history));
        }
        let state = id(&format!("{}/State", mc.id));
        ObjectBuilder::new(&state, QualifiedName::new(ns, "State"), "State")
            .has_type_definition(ObjectTypeId::BaseObjectType)
            .component_of(machine.clone())
            .insert(space);
        for (_, name, kind) in &columns {
            let v = id(&format!("{}/State/{name}", mc.id));
            historized(VariableBuilder::new(&v, QualifiedName::new(ns, name.as_str()), name.as_str()), history)
                .data_type(data_type(*kind))
                .value(Variant::Empty)
                .has_type_definition(VariableTypeId::BaseDataVariableType)
                .component_of(state.clone())
                .insert(space);
            nodes.push(v);
        }
        for node in &nodes {
            awaiting_first_value(space, node);
        }
        add_methods(space, ns, &mc.id, &machine, &mut methods);
        out[m] = MachineNodes { nodes, sensors: mc.sensors.len() };
    }
    Built { machines: out, methods, ground_truth }
}

/// Until the stream writes a variable, it reads as OPC UA says a value not yet obtained
/// does: empty, `BadWaitingForInitialData`, without a source timestamp. (The builder's empty
/// value is `Good` and stamped with the server's clock: a client subscribing before the first
/// tick would record a good null at a wall-clock instant outside the simulated timeline.)
fn awaiting_first_value(space: &mut AddressSpace, node: &NodeId) {
    if let Some(NodeType::Variable(v)) = space.find_mut(node) {
        v.set_data_value(DataValue {
            value: Some(Variant::Empty),
            status: Some(StatusCode::BadWaitingForInitialData),
            ..DataValue::null()
        });
    }
}

/// A variable kept for `HistoryRead` when `on`.
fn historized(b: VariableBuilder, on: bool) -> VariableBuilder {
    if on {
        b.historizing(true).history_readable()
    } else {
        b
    }
}

/// `InjectFault(pattern, duration_hours, severity) → (episode_id, created, episode)` and
/// `ClearFault(episode_id) → (episode_id, created, episode)` on machine `id`.
fn add_methods(space: &mut AddressSpace, ns: u16, id: &str, machine: &NodeId, methods: &mut HashMap<NodeId, Method>) {
    let arg = |name: &str, ty: DataTypeId, what: &str| Argument {
        description: LocalizedText::new("en", what),
        ..(name, ty).into()
    };
    let outputs = [
        arg("episode_id", DataTypeId::Int64, "the episode's id, as GET /faults lists it"),
        arg("created", DataTypeId::Boolean, "true: made now (HTTP 201); false: the request found it as it stands"),
        arg("episode", DataTypeId::String, "the episode as the control plane's JSON"),
    ];
    let inputs = [
        arg("pattern", DataTypeId::String, "a catalogue pattern, e.g. bearing_failure"),
        arg("duration_hours", DataTypeId::Double, "the episode's length; 0: the pattern's own"),
        arg("severity", DataTypeId::String, "one of the pattern's severities; empty: its own"),
    ];
    let inject = method(space, (ns, id, "InjectFault"), machine, &inputs, &outputs);
    methods.insert(inject, Method::Inject(id.to_owned()));
    let inputs = [arg("episode_id", DataTypeId::Int64, "an injected episode's id")];
    let clear = method(space, (ns, id, "ClearFault"), machine, &inputs, &outputs);
    methods.insert(clear, Method::Clear);
}

/// Method `name` of machine `id` (`s=<id>/<name>`), executable, with its arguments.
fn method(
    space: &mut AddressSpace,
    (ns, id, name): (u16, &str, &str),
    machine: &NodeId,
    inputs: &[Argument],
    outputs: &[Argument],
) -> NodeId {
    let node = NodeId::new(ns, format!("{id}/{name}"));
    MethodBuilder::new(&node, QualifiedName::new(ns, name), name)
        .component_of(machine.clone())
        .executable(true)
        .user_executable(true)
        .input_args(space, &NodeId::new(ns, format!("{id}/{name}/InputArguments")), inputs)
        .output_args(space, &NodeId::new(ns, format!("{id}/{name}/OutputArguments")), outputs)
        .insert(space);
    node
}

fn object(space: &mut AddressSpace, node: NodeId, browse: QualifiedName, display: &str, parent: &NodeId) {
    ObjectBuilder::new(&node, browse, display)
        .has_type_definition(ObjectTypeId::BaseObjectType)
        .event_notifier(EventNotifier::SUBSCRIBE_TO_EVENTS)
        .organized_by(parent.clone())
        .insert(space);
}

/// A sensor: an `AnalogItemType` variable with its range, unit and limits.
fn sensor(
    space: &mut AddressSpace,
    ns: u16,
    machine_id: &str,
    sensor_id: &str,
    role: &Role,
    machine: &NodeId,
    history: bool,
) -> NodeId {
    let node = NodeId::new(ns, format!("{machine_id}/{sensor_id}"));
    historized(VariableBuilder::new(&node, QualifiedName::new(ns, sensor_id), role.label), history)
        .description(format!("{} ({}, {})", role.label, role.sensor_type, role.unit))
        .data_type(DataTypeId::Double)
        .value(Variant::Empty)
        .has_type_definition(VariableTypeId::AnalogItemType)
        .component_of(machine.clone())
        .insert(space);
    let range = |(low, high): (f64, f64)| Variant::from(ExtensionObject::from_message(Range { low, high }));
    // EURange and EngineeringUnits are the standard's properties (namespace 0), the limits
    // genims's own.
    let properties = [
        (0, "EURange", DataTypeId::Range, range(role.range)),
        (
            0,
            "EngineeringUnits",
            DataTypeId::EUInformation,
            Variant::from(ExtensionObject::from_message(unit(role.unit))),
        ),
        (ns, "NormalRange", DataTypeId::Range, range(role.normal)),
        (ns, "WarningRange", DataTypeId::Range, range(role.warning)),
        (ns, "CriticalRange", DataTypeId::Range, range(role.critical)),
    ];
    for (browse_ns, name, ty, value) in properties {
        let p = NodeId::new(ns, format!("{machine_id}/{sensor_id}/{name}"));
        VariableBuilder::new(&p, QualifiedName::new(browse_ns, name), name)
            .data_type(ty)
            .value(value)
            .has_type_definition(VariableTypeId::PropertyType)
            .property_of(node.clone())
            .insert(space);
    }
    node
}

/// The OPC UA data type of a column kind (dates and times of day as strings).
fn data_type(kind: Kind) -> DataTypeId {
    match kind {
        Kind::Text | Kind::Date | Kind::Time => DataTypeId::String,
        Kind::Int32 => DataTypeId::Int32,
        Kind::Int64 => DataTypeId::Int64,
        Kind::Double => DataTypeId::Double,
        Kind::Bool => DataTypeId::Boolean,
        Kind::Timestamp => DataTypeId::DateTime,
    }
}

/// The UNECE common code and symbol of a unit as the plant names it.
pub fn unece(unit: &str) -> Option<(&'static str, &'static str)> {
    Some(match unit {
        "Celsius" => ("CEL", "°C"),
        "L/min" => ("L2", "l/min"),
        "Nm" => ("NU", "N·m"),
        "ampere" => ("AMP", "A"),
        "bar" => ("BAR", "bar"),
        "kA" => ("B22", "kA"),
        "kN" => ("B47", "kN"),
        "mm" => ("MMT", "mm"),
        "mm/s" => ("C16", "mm/s"),
        "rpm" => ("RPM", "r/min"),
        "volt" => ("VLT", "V"),
        _ => return None,
    })
}

/// OPC UA's `UnitId` of a UNECE common code: its characters' bytes, big-endian.
pub fn unit_id(code: &str) -> i32 {
    code.bytes().fold(0i32, |id, b| (id << 8) | i32::from(b))
}

fn unit(name: &str) -> EUInformation {
    let (code, symbol) = unece(name).unwrap_or(("", name));
    EUInformation {
        namespace_uri: UNECE_URI.into(),
        unit_id: if code.is_empty() { -1 } else { unit_id(code) },
        display_name: LocalizedText::new("en", symbol),
        description: LocalizedText::new("en", name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_of_the_plant_has_its_unece_code() {
        for role in crate::plant::roles::ROLES {
            assert!(unece(role.unit).is_some(), "{}: unit {} has no UNECE code", role.name, role.unit);
        }
        // The specification's example: degree Celsius, "CEL" = 4408652.
        assert_eq!(unit_id("CEL"), 4_408_652);
        assert_eq!(unit_id("C16"), 0x43_31_36);
    }

    #[test]
    fn state_variables_are_the_scada_values_without_ids_or_time() {
        let names: Vec<String> = state_columns().into_iter().map(|c| c.1).collect();
        for kept in ["machine_state", "oee_percentage", "availability_percentage", "fault_code", "program_number"] {
            assert!(names.iter().any(|n| n == kept), "{kept} missing from {names:?}");
        }
        for dropped in ["scada_id", "machine_id", "line_id", "factory_id", "timestamp", "created_at"] {
            assert!(!names.iter().any(|n| n == dropped), "{dropped} is an id or the time");
        }
    }
}
