//! The values the server keeps for `HistoryRead`: every variable's values of the last
//! `[opcua] history_minutes` of simulated time (by source timestamp), written as they are
//! released and forgotten as the window moves on.
//!
//! Memory: about 70 bytes a value — for the default plant's hour, 360 readings of 1,716
//! sensors and 60 rows of 228 machines' 33 SCADA variables (1.07 M values): 75 MB of RSS
//! measured, against `history_minutes = 0`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use opcua::types::{DataValue, DateTime, NodeId, StatusCode, Variant};

use super::feed::date_time;

/// One value as kept.
struct Stored {
    ts: i64,
    value: Variant,
    status: StatusCode,
}

/// Every served variable's recent values.
pub struct History {
    /// Seconds of simulated time kept behind the newest value written (0: none).
    keep: i64,
    /// Per plant machine, per variable (its index among the machine's nodes).
    machines: Vec<Option<Mutex<Vec<VecDeque<Stored>>>>>,
    /// Variable → (machine, index), set once the address space is built.
    index: OnceLock<HashMap<NodeId, (usize, usize)>>,
}

impl History {
    /// An empty history keeping `minutes` for `nodes[m]` variables of each plant machine
    /// (0 for machines not served).
    pub fn new(minutes: usize, nodes: &[usize]) -> History {
        let machines =
            nodes.iter().map(|&n| (n > 0).then(|| Mutex::new((0..n).map(|_| VecDeque::new()).collect()))).collect();
        History { keep: minutes as i64 * 60, machines, index: OnceLock::new() }
    }

    /// Whether any value is kept.
    pub fn on(&self) -> bool {
        self.keep > 0
    }

    /// Names each variable's place, once.
    pub fn set_index(&self, index: HashMap<NodeId, (usize, usize)>) {
        let _ = self.index.set(index);
    }

    /// Keeps machine `m`'s values (variable index, value) written now, and forgets its values
    /// more than the window behind `through`.
    pub fn record<'a>(&self, m: usize, values: impl Iterator<Item = (usize, &'a DataValue)>, through: i64) {
        let Some(Some(machine)) = self.machines.get(m).filter(|_| self.on()) else { return };
        let mut machine = machine.lock().expect("no poisoned lock");
        for (k, dv) in values {
            let ts = dv.source_timestamp.map_or(through, |t| seconds(&t));
            let value = dv.value.clone().unwrap_or(Variant::Empty);
            machine[k].push_back(Stored { ts, value, status: dv.status.unwrap_or(StatusCode::Good) });
        }
        let horizon = through - self.keep;
        for values in machine.iter_mut() {
            while values.front().is_some_and(|v| v.ts < horizon) {
                values.pop_front();
            }
        }
    }

    /// Variable `node`'s kept values with source timestamps in `[from, to)` (ticks of OPC UA
    /// time), oldest first; `None` when it is not a variable this history keeps.
    pub fn read(&self, node: &NodeId, from: i64, to: i64) -> Option<Vec<DataValue>> {
        let &(m, k) = self.index.get()?.get(node)?;
        let machine = self.machines.get(m)?.as_ref()?.lock().expect("no poisoned lock");
        let mut out: Vec<(i64, DataValue)> = machine[k]
            .iter()
            .map(|v| (date_time(v.ts).checked_ticks(), v))
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(t, v)| {
                let dv = DataValue {
                    value: Some(v.value.clone()),
                    status: Some(v.status),
                    source_timestamp: Some(date_time(v.ts)),
                    ..Default::default()
                };
                (t, dv)
            })
            .collect();
        // Late readings were written after later ones.
        out.sort_by_key(|(t, _)| *t);
        Some(out.into_iter().map(|(_, dv)| dv).collect())
    }
}

/// A `DateTime` as Unix seconds.
pub fn seconds(t: &DateTime) -> i64 {
    chrono::DateTime::<chrono::Utc>::from(*t).timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dv(ts: i64, v: f64) -> DataValue {
        DataValue { value: Some(Variant::Double(v)), source_timestamp: Some(date_time(ts)), ..Default::default() }
    }

    #[test]
    fn a_window_of_values_is_kept_in_time_order() {
        let h = History::new(1, &[2, 0]);
        let node = NodeId::new(2, "M/S");
        h.set_index(HashMap::from([(node.clone(), (0, 1))]));
        h.record(0, [(1, &dv(600, 1.0)), (1, &dv(620, 3.0))].into_iter(), 630);
        // A late reading, written after a later one.
        h.record(0, [(1, &dv(610, 2.0))].into_iter(), 640);
        let all = h.read(&node, i64::MIN, i64::MAX).unwrap();
        let values: Vec<f64> = all.iter().map(|d| d.value.clone().unwrap().try_cast_to::<f64>().unwrap()).collect();
        assert_eq!(values, [1.0, 2.0, 3.0]);
        let from = date_time(610).checked_ticks();
        let to = date_time(620).checked_ticks();
        assert_eq!(h.read(&node, from, to).unwrap().len(), 1, "[from, to): 610 only");
        // A minute on, what lies more than a minute behind is forgotten.
        h.record(0, [(1, &dv(675, 4.0))].into_iter(), 680);
        assert_eq!(h.read(&node, i64::MIN, i64::MAX).unwrap().len(), 3, "600 is forgotten at 680");
        assert!(h.read(&NodeId::new(2, "other"), 0, 1).is_none());
    }
}
