//! `genims prune`: retention run once on a database — everything older than a horizon
//! behind its newest data goes (see [`crate::db::retention`] for what and how).

use anyhow::Result;

use crate::cli::{usage, PruneArgs};
use crate::clock::{duration_text, instant_string, DAY};
use crate::config::Config;
use crate::db::{self, retention};

pub async fn run(cfg: &Config, args: &PruneArgs) -> Result<()> {
    let keep = match args.older_than {
        Some(secs) => secs,
        None if cfg.retention.days > 0 => i64::from(cfg.retention.days) * DAY,
        None => return Err(usage("give --older-than (such as 30d), or set [retention] days")),
    };
    let target = cfg.postgres.target()?;
    let client = db::connect(&target).await?;
    let Some(newest) = retention::newest(&client).await? else {
        eprintln!("genims: prune: the database holds no sensor or SCADA data; nothing to do");
        return Ok(());
    };
    let horizon = retention::horizon(newest, keep);
    let plant = crate::plant::Plant::generate(&cfg.plant, &cfg.fault_catalogue()?)?;
    let machines: Vec<&str> = plant.machines.iter().map(|m| m.id.as_str()).collect();
    let lines: Vec<&str> = plant.lines.iter().map(|l| l.id.as_str()).collect();
    let removed = retention::prune(&client, horizon, &retention::Scope { machines: &machines, lines: &lines }).await?;
    for (table, rows) in &removed.rows {
        eprintln!("genims: prune: {table}: {rows} rows removed");
    }
    for p in &removed.partitions {
        eprintln!("genims: prune: partition {p} dropped");
    }
    eprintln!(
        "genims: pruned everything before {} ({} behind the newest data, {}): {} rows, {} partitions",
        instant_string(horizon),
        duration_text(keep),
        instant_string(newest),
        removed.total_rows(),
        removed.partitions.len()
    );
    Ok(())
}
