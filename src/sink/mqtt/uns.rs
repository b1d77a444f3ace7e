//! The Unified Namespace mode (`[mqtt] mode = "uns"`): one topic per thing in the plant's
//! hierarchy, the row as a JSON object with the table's column names (the same object as
//! the Kafka record's value).
//!
//! ```text
//! <prefix>/<factory>/<line>/<machine>/<sensor>                one reading (sensor_data)
//! <prefix>/<factory>/<line>/<machine>/state                   SCADA, retained
//! <prefix>/<factory>/<line>/<machine>/events/<table>          machine_faults, maintenance_events,
//!                                                             sensor_health, fault_labels
//! <prefix>/<factory>/<line>/events/production_runs            a line's production runs
//! ```
//!
//! State topics are retained, so a subscriber learns every machine's last state at once.

use std::sync::Arc;

use anyhow::{anyhow, Result};

use super::conn::Conn;
use super::{Access, Layout, Places, Scope};
use crate::encode::cells::{replay, Cell, Reader};
use crate::encode::{encode_fields, Format};
use crate::rows::Table;

pub struct Uns {
    access: Access,
    prefix: String,
    places: Places,
    /// The connection's client id suffix.
    run: String,
    /// None once closed.
    conn: Option<Conn>,
    layouts: Vec<Layout>,
    json: Vec<u8>,
}

impl Uns {
    pub async fn open(access: Access, prefix: &str, scope: &Scope<'_>) -> Result<Uns> {
        let run = scope.run.to_owned();
        let conn = Conn::open(access.options(&run), access.qos, Arc::clone(&access.shown), None).await?;
        Ok(Uns {
            access,
            prefix: prefix.to_owned(),
            places: Places::of(scope.plant),
            run,
            conn: Some(conn),
            layouts: Table::ALL.iter().map(|t| Layout::of(*t)).collect(),
            json: Vec::new(),
        })
    }

    /// The topic of one row, and whether it is retained.
    fn topic(&self, table: Table, row: &[Cell]) -> Result<(String, bool)> {
        let l = &self.layouts[table.index()];
        let p = &self.prefix;
        if let Some(m) = l.machine.map(|i| super::text(&row[i])) {
            let (factory, line) = self
                .places
                .machines
                .get(m)
                .ok_or_else(|| anyhow!("{}: machine {m} is not in the plant", table.name()))?;
            return Ok(match table {
                Table::SensorData => {
                    let sensor = l.sensor.map_or("", |i| super::text(&row[i]));
                    (format!("{p}/{factory}/{line}/{m}/{sensor}"), false)
                }
                Table::ScadaMachineData => (format!("{p}/{factory}/{line}/{m}/state"), true),
                _ => (format!("{p}/{factory}/{line}/{m}/events/{}", table.name()), false),
            });
        }
        let line = l.line.map_or("", |i| super::text(&row[i]));
        let factory =
            self.places.lines.get(line).ok_or_else(|| anyhow!("{}: line {line} is not in the plant", table.name()))?;
        Ok((format!("{p}/{factory}/{line}/events/{}", table.name()), false))
    }

    /// Publishes every row of `bytes` (tagged cells of `table`).
    pub async fn push(&mut self, table: Table, bytes: &[u8]) -> Result<()> {
        let n = self.layouts[table.index()].columns;
        let mut cells = Reader::new(bytes);
        let mut row: Vec<Cell> = Vec::with_capacity(n);
        loop {
            row.clear();
            row.extend(cells.by_ref().take(n));
            if row.is_empty() {
                return Ok(());
            }
            let (topic, retain) = self.topic(table, &row)?;
            self.json.clear();
            let scales = crate::db::schema::decimal_scales(table);
            encode_fields(Format::Jsonl, table.columns(), true, &mut self.json, |c| replay(&row, scales, c));
            let conn = self.conn.as_mut().ok_or_else(|| anyhow!("the MQTT connection is closed"))?;
            conn.publish(topic, retain, self.json.clone()).await?;
        }
    }

    /// Waits until the broker has every message published so far.
    pub async fn settle(&mut self) -> Result<()> {
        match &self.conn {
            Some(conn) => conn.settle().await,
            None => Ok(()),
        }
    }

    /// A new connection in place of a failed one.
    pub async fn reconnect(&mut self) -> Result<()> {
        self.conn = None;
        let conn =
            Conn::open(self.access.options(&self.run), self.access.qos, Arc::clone(&self.access.shown), None).await?;
        self.conn = Some(conn);
        Ok(())
    }

    /// Disconnects after the messages published so far.
    pub async fn close(&mut self) -> Result<()> {
        match self.conn.take() {
            Some(conn) => conn.close().await,
            None => Ok(()),
        }
    }
}
