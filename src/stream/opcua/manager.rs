//! The plant's node manager: the services async-opcua asks of genims's namespace — reads,
//! monitored items (values are pushed as the stream releases them, so no sampler runs),
//! `HistoryRead` (raw) from the [`History`], and the machines' `InjectFault` and
//! `ClearFault` methods, which go through the control plane's code path and journal.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use opcua::server::address_space::{read_node_value, AddressSpace};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{InMemoryNodeManagerBuilder, InMemoryNodeManagerImpl};
use opcua::server::node_manager::{
    HistoryNode, MethodCall, NodeManagerBuilder, ParsedReadValueId, RequestContext, ServerContext,
};
use opcua::server::{ContinuationPoint, CreateMonitoredItem};
use opcua::sync::RwLock;
use opcua::types::{DataValue, HistoryData, NodeId, ReadRawModifiedDetails, StatusCode, TimestampsToReturn, Variant};

use super::history::History;
use super::space::NAMESPACE_URI;
use crate::sim::inject::Refusal;
use crate::stream::inject::{Command, InjectRequest, Reply};

/// Values one `HistoryRead` answers per node at most (the rest follow a continuation point).
const MAX_VALUES_PER_READ: usize = 100_000;
/// How long a method waits for the stream to apply it.
const APPLY_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A machine's method: which, and of which machine.
#[derive(Debug, Clone)]
pub enum Method {
    Inject(String),
    Clear,
}

/// What the node manager shares with the rest of the server.
pub struct Shared {
    pub history: Arc<History>,
    /// The generator thread's command queue (the control plane's), when changes are served.
    pub commands: Option<Mutex<mpsc::Sender<Command>>>,
    /// Method node → what it does, set once the address space is built.
    pub methods: OnceLock<HashMap<NodeId, Method>>,
}

/// The node manager of genims's namespace.
pub struct PlantManager {
    namespace: NamespaceMetadata,
    shared: Arc<Shared>,
}

/// The builder async-opcua calls when the server is built: registers the namespace.
pub fn builder(shared: Arc<Shared>) -> impl NodeManagerBuilder {
    InMemoryNodeManagerBuilder::new(move |context: ServerContext, space: &mut AddressSpace| {
        let mut namespace = NamespaceMetadata { namespace_uri: NAMESPACE_URI.to_owned(), ..Default::default() };
        namespace.namespace_index = context.type_tree.write().namespaces_mut().add_namespace(NAMESPACE_URI);
        space.add_namespace(NAMESPACE_URI, namespace.namespace_index);
        PlantManager { namespace, shared }
    })
}

/// The rest of a `HistoryRead` beyond its first answer.
struct Rest(Vec<DataValue>);

#[async_trait]
impl InMemoryNodeManagerImpl for PlantManager {
    async fn init(&self, _space: &mut AddressSpace, _context: ServerContext) {}

    fn name(&self) -> &str {
        "genims"
    }

    fn namespaces(&self) -> Vec<NamespaceMetadata> {
        vec![self.namespace.clone()]
    }

    async fn read_values(
        &self,
        context: &RequestContext,
        space: &RwLock<AddressSpace>,
        nodes: &[&ParsedReadValueId],
        max_age: f64,
        timestamps: TimestampsToReturn,
    ) -> Vec<DataValue> {
        let space = space.read();
        nodes
            .iter()
            .map(|n| match space.validate_node_read(context, n) {
                Ok(node) => read_node_value(node, context, n, max_age, timestamps),
                Err(e) => DataValue { status: Some(e), ..DataValue::null() },
            })
            .collect()
    }

    async fn create_value_monitored_items(
        &self,
        context: &RequestContext,
        space: &RwLock<AddressSpace>,
        items: &mut [&mut &mut CreateMonitoredItem],
    ) {
        let to_read: Vec<&ParsedReadValueId> = items.iter().map(|i| i.item_to_monitor()).collect();
        let values = self.read_values(context, space, &to_read, 0.0, TimestampsToReturn::Both).await;
        for (value, item) in values.into_iter().zip(items.iter_mut()) {
            if value.status() != StatusCode::BadAttributeIdInvalid {
                item.set_initial_value(value);
            }
            item.set_status(StatusCode::Good);
        }
    }

    async fn history_read_raw_modified(
        &self,
        _context: &RequestContext,
        details: &ReadRawModifiedDetails,
        nodes: &mut [&mut &mut HistoryNode],
        _timestamps: TimestampsToReturn,
    ) -> Result<(), StatusCode> {
        if details.is_read_modified {
            return Err(StatusCode::BadHistoryOperationUnsupported);
        }
        let per_node = match details.num_values_per_node as usize {
            0 => MAX_VALUES_PER_READ,
            n => n.min(MAX_VALUES_PER_READ),
        };
        let (start, end) = (&details.start_time, &details.end_time);
        // Null bounds are open; a start after the end reads backwards.
        let backward = !start.is_null() && (end.is_null() || start > end) && !(end.is_null() && start.is_null());
        let tick = |t: &opcua::types::DateTime, open: i64| if t.is_null() { open } else { t.checked_ticks() };
        let (from, to) = if backward {
            (tick(end, i64::MIN), tick(start, i64::MAX - 1) + 1)
        } else {
            (tick(start, i64::MIN), tick(end, i64::MAX))
        };
        for node in nodes.iter_mut() {
            let mut values = match node.continuation_point().map(|cp| cp.get::<Mutex<Rest>>()) {
                Some(Some(rest)) => std::mem::take(&mut rest.lock().expect("no poisoned lock").0),
                Some(None) => {
                    node.set_status(StatusCode::BadContinuationPointInvalid);
                    continue;
                }
                None => match self.shared.history.read(node.node_id(), from, to) {
                    Some(mut v) => {
                        if backward {
                            v.reverse();
                        }
                        v
                    }
                    None => {
                        node.set_status(StatusCode::BadHistoryOperationUnsupported);
                        continue;
                    }
                },
            };
            let rest = values.split_off(per_node.min(values.len()));
            if !rest.is_empty() {
                node.set_next_continuation_point(Some(ContinuationPoint::new(Box::new(Mutex::new(Rest(rest))))));
            }
            node.set_status(StatusCode::Good);
            node.set_result(HistoryData { data_values: Some(values) });
        }
        Ok(())
    }

    async fn call(
        &self,
        _context: &RequestContext,
        _space: &RwLock<AddressSpace>,
        methods: &mut [&mut &mut MethodCall],
    ) -> Result<(), StatusCode> {
        let Some(known) = self.shared.methods.get() else { return Err(StatusCode::BadMethodInvalid) };
        for call in methods.iter_mut() {
            let Some(method) = known.get(call.method_id()) else {
                call.set_status(StatusCode::BadMethodInvalid);
                continue;
            };
            match self.apply(method, call.arguments()).await {
                Ok(outputs) => {
                    call.set_outputs(outputs);
                    call.set_status(StatusCode::Good);
                }
                Err(status) => call.set_status(status),
            }
        }
        Ok(())
    }
}

impl PlantManager {
    /// Applies a method through the generator thread: the episode's id, whether it was made
    /// now (`true`, HTTP's 201) or found as it stands, and the episode as the control plane's
    /// JSON.
    async fn apply(&self, method: &Method, args: &[Variant]) -> Result<Vec<Variant>, StatusCode> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Reply>();
        let command = match method {
            Method::Inject(machine) => Command::Inject(inject_request(machine, args)?, tx),
            Method::Clear => match args {
                [Variant::Int64(id)] => Command::Clear(*id, tx),
                _ => return Err(StatusCode::BadInvalidArgument),
            },
        };
        let commands = self.shared.commands.as_ref().ok_or(StatusCode::BadNotSupported)?;
        commands.lock().expect("no poisoned lock").send(command).map_err(|_| StatusCode::BadShutdown)?;
        let reply = tokio::time::timeout(APPLY_LIMIT, rx).await.map_err(|_| StatusCode::BadTimeout)?;
        match reply.map_err(|_| StatusCode::BadShutdown)? {
            Ok(a) => Ok(vec![
                Variant::Int64(a.body["id"].as_i64().unwrap_or(0)),
                Variant::Boolean(a.created),
                Variant::from(a.body.to_string()),
            ]),
            Err(r) => Err(match r {
                Refusal::NotFound(_) => StatusCode::BadNotFound,
                Refusal::Invalid(_) => StatusCode::BadInvalidArgument,
                Refusal::Conflict(_) => StatusCode::BadInvalidState,
                Refusal::KeyReused(_) => StatusCode::BadRequestNotAllowed,
                Refusal::Failed(_) => StatusCode::BadInternalError,
            }),
        }
    }
}

/// `InjectFault(pattern, duration, severity)`: the pattern's name, a duration in hours
/// (0: the pattern's own), a severity (empty: the pattern's own).
fn inject_request(machine: &str, args: &[Variant]) -> Result<InjectRequest, StatusCode> {
    let [Variant::String(pattern), Variant::Double(hours), Variant::String(severity)] = args else {
        return Err(StatusCode::BadInvalidArgument);
    };
    if !hours.is_finite() || *hours < 0.0 {
        return Err(StatusCode::BadOutOfRange);
    }
    let duration_s = (*hours > 0.0).then(|| (hours * 3600.0).round() as i64);
    let severity = severity.value().clone().filter(|s| !s.is_empty());
    Ok(InjectRequest {
        machine_id: machine.to_owned(),
        pattern: pattern.value().clone().unwrap_or_default(),
        at: None,
        duration_s,
        severity,
        replace: false,
        key: None,
    })
}
