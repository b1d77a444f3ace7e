//! File outputs: one file per table (per table and UTC day for sensor_data and
//! scada_machine_data), as CSV with a header (loadable by `COPY ... CSV HEADER`), JSON Lines,
//! or SQL INSERT scripts (loadable by psql). Every file is written under a temporary name and
//! renamed into place only when the whole run succeeds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Bulk, Sink};
use crate::clock::day_tag;
use crate::encode::Format;
use crate::output::atomic::AtomicFile;
use crate::rows::Table;

pub struct FileSink {
    dir: PathBuf,
    fmt: Format,
    open: BTreeMap<(Table, Option<i64>), AtomicFile>,
}

impl FileSink {
    /// Creates the directory if needed and the files of the non-daily tables.
    pub fn new(dir: PathBuf, fmt: Format) -> Result<FileSink> {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let mut sink = FileSink { dir, fmt, open: BTreeMap::new() };
        for t in Table::ALL.into_iter().filter(|t| !t.split_by_day()) {
            sink.file(t, None)?;
        }
        Ok(sink)
    }

    /// The path a table's file gets.
    pub fn path_of(dir: &std::path::Path, extension: &str, table: Table, day: Option<i64>) -> PathBuf {
        match day {
            Some(d) => dir.join(format!("{}_{}.{extension}", table.name(), day_tag(d))),
            None => dir.join(format!("{}.{extension}", table.name())),
        }
    }

    fn file(&mut self, table: Table, day: Option<i64>) -> Result<&mut AtomicFile> {
        let key = (table, day);
        if !self.open.contains_key(&key) {
            let mut f = AtomicFile::create(&Self::path_of(&self.dir, self.fmt.extension(), table, day))?;
            match self.fmt {
                Format::Csv => {
                    f.write_all(table.columns().join(",").as_bytes())?;
                    f.write_all(b"\n")?;
                }
                Format::Sql => f.write_all(
                    format!("-- genims {}: load with psql -v ON_ERROR_STOP=1 -f FILE\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nBEGIN;\n", table.name()).as_bytes(),
                )?,
                _ => {}
            }
            self.open.insert(key, f);
        }
        Ok(self.open.get_mut(&key).expect("just inserted"))
    }
}

impl Sink for FileSink {
    fn name(&self) -> &'static str {
        "files"
    }

    fn format(&self) -> Format {
        self.fmt
    }
}

impl Bulk for FileSink {
    fn write(&mut self, day: i64, table: Table, bytes: bytes::Bytes, _rows: u64) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let key_day = table.split_by_day().then_some(day);
        self.file(table, key_day)?.write_all(&bytes)
    }

    fn finish(&mut self) -> Result<()> {
        let files = std::mem::take(&mut self.open);
        let mut ready = Vec::with_capacity(files.len());
        for (_, mut f) in files {
            if self.fmt == Format::Sql {
                f.write_all(b"COMMIT;\n")?;
            }
            ready.push(f);
        }
        for f in ready {
            f.commit()?;
        }
        Ok(())
    }
}

/// Opens the files of `format` under the backfill's output directory (the registry's row).
pub fn open(run: &super::registry::Run, format: Format) -> Result<Box<dyn Bulk>> {
    Ok(Box::new(FileSink::new(run.dir.to_path_buf(), format)?))
}
