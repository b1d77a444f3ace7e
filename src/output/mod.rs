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
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { dir: std::path::PathBuf::from("./genims-data") }
    }
}
