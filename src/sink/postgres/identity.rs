//! The identity of the plant that made a database's master data: seed, reference date,
//! sizes and a fingerprint of the ten master tables' content.
//!
//! `genims seed` records it beside the master rows (table `genims_plant`); every load or
//! stream into PostgreSQL compares it with its own plant and refuses a mismatch, naming both,
//! because operational rows from another plant would contradict the `sensors` and
//! `machines` tables without any error.

use crate::clock::Date;
use anyhow::{anyhow, bail, Result};

use crate::db;
use crate::plant::tables::TableRows;
use crate::plant::{Plant, Settings};

/// What identifies a plant's master data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantIdentity {
    pub seed: u64,
    pub reference_date: Date,
    /// `factories=4 lines=20 …`, for messages.
    pub sizes: String,
    /// FNV-1a over every master table's CSV, as 16 hex digits: it also covers a changed
    /// fault catalogue (which decides the sensors machines carry).
    pub fingerprint: String,
}

impl PlantIdentity {
    pub fn new(settings: &Settings, tables: &[TableRows]) -> PlantIdentity {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for t in tables {
            for b in t.name.bytes().chain(crate::output::master::csv(t)) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
            }
        }
        let s = settings;
        let sizes = format!(
            "factories={} lines={} machines={} sensors={} employees={} products={} customers={} line_products={} customer_products={}",
            s.factories, s.lines, s.machines, s.sensors, s.employees, s.products, s.customers, s.line_products, s.customer_products
        );
        PlantIdentity { seed: s.seed, reference_date: s.reference_date, sizes, fingerprint: format!("{h:016x}") }
    }

    /// The identity of a generated plant.
    pub fn of(settings: &Settings, plant: &Plant) -> PlantIdentity {
        PlantIdentity::new(settings, &plant.master_tables())
    }

    /// One line for messages.
    pub fn describe(&self) -> String {
        format!("seed {}, reference date {}, {}", self.seed, self.reference_date, self.sizes)
    }

    /// The statement that records this identity (in the seed's transaction or SQL file).
    pub fn upsert_sql(&self) -> String {
        format!(
            "INSERT INTO genims_plant (only_row, seed, reference_date, sizes, fingerprint) VALUES (true, {}, '{}', '{}', '{}')\n\
             ON CONFLICT (only_row) DO UPDATE SET seed = EXCLUDED.seed, reference_date = EXCLUDED.reference_date, \
             sizes = EXCLUDED.sizes, fingerprint = EXCLUDED.fingerprint, loaded_at = now();\n",
            self.seed, self.reference_date, self.sizes, self.fingerprint
        )
    }

    /// Refuses to write operational rows of this plant into a database whose master data
    /// came from another plant. A database without master data accepts any plant.
    pub async fn check(&self, client: &tokio_postgres::Client) -> Result<()> {
        let err = |e: tokio_postgres::Error| anyhow!("cannot read the plant record: {}", db::cause(&e));
        let row = client
            .query_opt("SELECT seed::text, reference_date::text, sizes, fingerprint FROM genims_plant", &[])
            .await
            .map_err(err)?;
        let Some(row) = row else {
            let sensors: i64 = client.query_one("SELECT count(*) FROM sensors", &[]).await.map_err(err)?.get(0);
            if sensors > 0 {
                bail!(
                    "the database holds master data ({sensors} sensors) but no record of the plant that made it \
                     (loaded by an older genims or by hand): reload it with `genims seed --out db --replace` using \
                     this run's seed and [plant] settings ({})",
                    self.describe()
                );
            }
            return Ok(());
        };
        let (seed, date, sizes, fingerprint): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if fingerprint != self.fingerprint {
            let stored = format!("seed {seed}, reference date {date}, {sizes}");
            let hint =
                if stored == self.describe() { " (the fault catalogue or the genims version differs)" } else { "" };
            bail!(
                "the database's master data came from another plant: it has {stored}; this run has {}{hint}. \
                 Run with the same --seed and [plant] settings, or reload the master data with `genims seed --out db --replace`",
                self.describe()
            );
        }
        Ok(())
    }
}
