//! Where data goes: files written atomically, and the master-data encoders.

pub mod atomic;
pub mod master;

/// The `[output]` settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where `backfill --out csv|jsonl|sql|parquet` and `seed --out csv|sql` write.
    #[serde(deserialize_with = "crate::setting::parsed")]
    pub dir: std::path::PathBuf,
    /// How `backfill --out parquet` lays its files out: `hive` (a directory per table,
    /// `sensor_data/date=2026-03-01/part-0.parquet`) or `flat` (`sensor_data_20260301.parquet`,
    /// as CSV).
    #[serde(deserialize_with = "crate::setting::parsed")]
    pub parquet_layout: ParquetLayout,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { dir: std::path::PathBuf::from("./genims-data"), parquet_layout: ParquetLayout::Hive }
    }
}

/// The file layout of Parquet output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetLayout {
    /// A Hive-partitioned dataset per table: one directory per table, a `date=YYYY-MM-DD`
    /// directory per day of the tables split by day.
    Hive,
    /// Files side by side, named as CSV's.
    Flat,
}

impl std::str::FromStr for ParquetLayout {
    type Err = String;

    fn from_str(s: &str) -> Result<ParquetLayout, String> {
        match s {
            "hive" => Ok(ParquetLayout::Hive),
            "flat" => Ok(ParquetLayout::Flat),
            other => Err(format!("`{other}` is not a Parquet layout: use hive or flat")),
        }
    }
}
