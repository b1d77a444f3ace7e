//! The stream's retention: with `[retention] days` set and a PostgreSQL sink, a task prunes
//! the database at start and every hour of simulated time (hourly at real-time speed),
//! everything more than `days` behind the simulated clock, on a connection of its own. A
//! failed run (the server away, say) is logged and tried again an hour later; the stream
//! goes on either way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::clock::{instant_string, DAY};
use crate::db::{self, retention, Target};

/// What a stream's retention task needs.
pub struct Task {
    pub days: u32,
    pub target: Target,
    pub machines: Vec<String>,
    pub lines: Vec<String>,
    /// Where the stream starts (the simulated clock before the first tick).
    pub start: i64,
}

impl Task {
    /// Runs until `finished` is cancelled.
    pub async fn run(self, metrics: Arc<Metrics>, finished: CancellationToken) {
        let mut client: Option<tokio_postgres::Client> = None;
        let mut last_hour = i64::MIN;
        loop {
            let now = Some(metrics.simulated()).filter(|t| *t > 0).unwrap_or(self.start);
            if now.div_euclid(3600) > last_hour {
                last_hour = now.div_euclid(3600);
                if let Err(e) = self.once(&mut client, now, &metrics).await {
                    client = None;
                    metrics.retention_failed();
                    tracing::warn!("retention failed, tried again in an hour of simulated time: {e:#}");
                }
            }
            tokio::select! {
                () = finished.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    async fn once(
        &self,
        client: &mut Option<tokio_postgres::Client>,
        now: i64,
        metrics: &Metrics,
    ) -> anyhow::Result<()> {
        let began = Instant::now();
        if client.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
            *client = Some(db::connect(&self.target).await?);
        }
        let c = client.as_ref().expect("connected");
        let horizon = retention::horizon(now, i64::from(self.days) * DAY);
        let machines: Vec<&str> = self.machines.iter().map(String::as_str).collect();
        let lines: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        let removed = retention::prune(c, horizon, &retention::Scope { machines: &machines, lines: &lines }).await?;
        metrics.retained(&removed, horizon, self.days);
        if removed.total_rows() > 0 || !removed.partitions.is_empty() {
            tracing::info!(
                horizon = %instant_string(horizon),
                rows = removed.total_rows(),
                partitions = removed.partitions.len(),
                took_ms = began.elapsed().as_millis(),
                "retention removed data before the horizon"
            );
        }
        Ok(())
    }
}
