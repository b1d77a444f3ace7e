//! Parquet files (`backfill --out parquet`), laid out as a Hive-partitioned dataset per
//! table (`sensor_data/date=2026-03-01/part-0.parquet`, `fault_labels/part-0.parquet`: what
//! Spark, DuckDB, polars and Athena read as one table, pruning by date), or flat beside one
//! another as CSV is (`[output] parquet_layout = "flat"`: `sensor_data_20260301.parquet`).
//! A shard `i/n` writes `part-i-of-n.parquet`, so the shards of a backfill can share one
//! dataset.
//!
//! Written through the Apache Arrow project's `parquet` crate: zstd level 1, encodings per
//! column ([`columns::encodings`]), column statistics, row groups of [`ROW_GROUP_ROWS`]
//! rows, each row group's columns encoded in parallel ([`encode`]). Files are written under
//! temporary names and appear when the whole run succeeded; the same seed and window give
//! identical files.

mod columns;
mod encode;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use anyhow::{anyhow, bail, Context as _, Result};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{SchemaDescPtr, SchemaDescriptor};

pub use columns::{columns, Kind};

use super::{Bulk, Sink};
use crate::encode::cells::Reader;
use crate::encode::Format;
use crate::output::atomic::AtomicFile;
use crate::output::ParquetLayout;
use crate::rows::Table;
use crate::sim::scope::Shard;
use crate::sink::files::FileSink;
use columns::Column;
use encode::{Encoded, Pool};

/// Rows per row group: 262,144 (for sensor_data ≈ 4 MB on disk; 57 per default-plant day)
/// — large enough for column scans (DuckDB's own are 122,880), small enough to hold two in
/// memory per open file (about 80 MB each while they are filled and encoded).
pub const ROW_GROUP_ROWS: usize = 1 << 18;
/// zstd level of every column chunk: level 1 writes a week 8 % faster than level 3, and
/// its files are 16 % larger (still a tenth of the CSV).
const ZSTD_LEVEL: i32 = 1;
/// Row groups of one file being encoded at once, beyond the one being filled. More cost
/// memory and gain nothing measurable on two cores.
const ENCODING_PER_FILE: usize = 1;

/// One Parquet file being written: its writer, the row group being filled, and the row
/// groups being encoded, oldest first.
struct TableFile {
    path: PathBuf,
    table: Table,
    writer: SerializedFileWriter<AtomicFile>,
    schema: SchemaDescPtr,
    props: WriterPropertiesPtr,
    columns: Vec<Column>,
    rows: usize,
    encoding: VecDeque<Vec<mpsc::Receiver<Encoded>>>,
    /// Emptied columns of row groups written, for the next ones.
    spare: Vec<Vec<Column>>,
}

impl TableFile {
    fn create(path: PathBuf, table: Table, props: &WriterPropertiesPtr) -> Result<TableFile> {
        let file = AtomicFile::create(&path)?;
        let schema = columns::schema(table)?;
        let writer = SerializedFileWriter::new(file, Arc::clone(&schema), Arc::clone(props))
            .map_err(|e| cannot_write(&path, e))?;
        let schema = Arc::new(SchemaDescriptor::new(schema));
        let columns = Column::all_of(table);
        let (props, encoding, spare) = (Arc::clone(props), VecDeque::new(), Vec::new());
        Ok(TableFile { path, table, writer, schema, props, columns, rows: 0, encoding, spare })
    }

    /// Appends the rows of `cells` (tagged cells, whole rows).
    fn append(&mut self, cells: &[u8], pool: &Pool) -> Result<()> {
        let n = self.columns.len();
        let mut i = 0;
        for cell in Reader::new(cells) {
            self.columns[i].push(cell).map_err(|e| cannot_write(&self.path, e))?;
            i += 1;
            if i == n {
                i = 0;
                self.rows += 1;
                if self.rows == ROW_GROUP_ROWS {
                    self.flush(pool)?;
                }
            }
        }
        if i != 0 {
            bail!("cannot write {}: a row ended after {i} of {n} columns", self.path.display());
        }
        Ok(())
    }

    /// Hands the rows held to the pool as one row group; writes the oldest row group being
    /// encoded if too many are.
    fn flush(&mut self, pool: &Pool) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let fresh = self.spare.pop().unwrap_or_else(|| Column::all_of(self.table));
        let full = std::mem::replace(&mut self.columns, fresh);
        let pending = full
            .into_iter()
            .enumerate()
            .map(|(i, c)| pool.submit(c, self.schema.column(i), Arc::clone(&self.props)))
            .collect();
        self.encoding.push_back(pending);
        self.rows = 0;
        while self.encoding.len() > ENCODING_PER_FILE {
            self.write_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest row group being encoded and appends it to the file.
    fn write_oldest(&mut self) -> Result<()> {
        let Some(pending) = self.encoding.pop_front() else { return Ok(()) };
        let path = &self.path;
        let fail = |e| cannot_write(path, e);
        let mut group = self.writer.next_row_group().map_err(fail)?;
        let mut emptied = Vec::with_capacity(pending.len());
        for rx in pending {
            let Encoded { column, chunk } =
                rx.recv().map_err(|_| anyhow!("cannot write {}: an encoder stopped", path.display()))?;
            let (bytes, close) = chunk.map_err(fail)?;
            group.append_column(&bytes, close).map_err(fail)?;
            emptied.push(column);
        }
        group.close().map_err(fail)?;
        self.spare.push(emptied);
        Ok(())
    }

    /// Writes the last row groups and the footer: the file, complete, under its temporary
    /// name.
    fn close(mut self, pool: &Pool) -> Result<AtomicFile> {
        self.flush(pool)?;
        while !self.encoding.is_empty() {
            self.write_oldest()?;
        }
        let path = self.path;
        self.writer.into_inner().map_err(|e| cannot_write(&path, e))
    }
}

/// `cannot write <path>: <cause>` with the innermost cause alone: a Parquet error wrapping
/// an I/O error shows both, so the cause would be said twice.
fn cannot_write(path: &std::path::Path, e: impl Into<anyhow::Error>) -> anyhow::Error {
    let e: anyhow::Error = e.into();
    anyhow!("cannot write {}: {}", path.display(), e.root_cause())
}

pub struct ParquetSink {
    dir: PathBuf,
    layout: ParquetLayout,
    /// `part-0.parquet`, or `part-i-of-n.parquet` for shard i/n.
    part: String,
    /// Each table's writer settings (its columns' encodings).
    props: BTreeMap<Table, WriterPropertiesPtr>,
    open: BTreeMap<(Table, Option<i64>), TableFile>,
    /// Files complete but not yet in place.
    closed: Vec<AtomicFile>,
    pool: Pool,
    /// Directories this run made, outermost first: removed again (when empty) if the run
    /// fails, so that a failed run leaves nothing behind.
    made: Vec<PathBuf>,
    finished: bool,
}

impl ParquetSink {
    /// Creates the directory if needed.
    pub fn new(dir: PathBuf, layout: ParquetLayout, shard: Shard) -> Result<ParquetSink> {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let mut props = BTreeMap::new();
        for table in Table::ALL {
            let builder = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .set_created_by(format!("genims {}", env!("CARGO_PKG_VERSION")));
            props.insert(table, Arc::new(columns::encodings(table, builder).build()));
        }
        let part = match shard.count {
            1 => "part-0.parquet".to_owned(),
            n => format!("part-{}-of-{n}.parquet", shard.index),
        };
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(ParquetSink {
            dir,
            layout,
            part,
            props,
            open: BTreeMap::new(),
            closed: Vec::new(),
            pool: Pool::new(threads),
            made: Vec::new(),
            finished: false,
        })
    }

    /// Where the file of `table` (and `day`, for a table split by day) goes.
    fn path_of(&self, table: Table, day: Option<i64>) -> PathBuf {
        match self.layout {
            ParquetLayout::Flat => FileSink::path_of(&self.dir, "parquet", table, day),
            ParquetLayout::Hive => {
                let dir = self.dir.join(table.name());
                let dir = match day {
                    Some(d) => dir.join(format!("date={}", crate::clock::date_string(d))),
                    None => dir,
                };
                dir.join(&self.part)
            }
        }
    }

    fn create(&mut self, table: Table, day: Option<i64>) -> Result<()> {
        let path = self.path_of(table, day);
        if let Some(dir) = path.parent() {
            let missing: Vec<PathBuf> = dir.ancestors().take_while(|a| !a.exists()).map(PathBuf::from).collect();
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
            self.made.extend(missing.into_iter().rev());
        }
        let file = TableFile::create(path, table, &self.props[&table])?;
        self.open.insert((table, day), file);
        Ok(())
    }
}

impl Sink for ParquetSink {
    fn name(&self) -> &'static str {
        "parquet files"
    }

    fn format(&self) -> Format {
        Format::Cells
    }
}

impl Bulk for ParquetSink {
    fn write(&mut self, day: i64, table: Table, bytes: bytes::Bytes, _rows: u64) -> Result<()> {
        let key = (table, table.split_by_day().then_some(day));
        if !self.open.contains_key(&key) {
            // Days arrive in order: a day file of this table that is still open is complete.
            let done: Vec<_> = self.open.keys().filter(|(t, d)| *t == table && d.is_some()).copied().collect();
            for k in done {
                let file = self.open.remove(&k).expect("open");
                self.closed.push(file.close(&self.pool)?);
            }
            self.create(key.0, key.1)?;
        }
        self.open.get_mut(&key).expect("open").append(&bytes, &self.pool)
    }

    fn finish(&mut self) -> Result<()> {
        // Every table gets its file, rows or not.
        for table in Table::ALL.into_iter().filter(|t| !t.split_by_day()) {
            if !self.open.contains_key(&(table, None)) {
                self.create(table, None)?;
            }
        }
        for (_, file) in std::mem::take(&mut self.open) {
            self.closed.push(file.close(&self.pool)?);
        }
        for file in std::mem::take(&mut self.closed) {
            file.commit()?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Temporary files go with their writers; then the directories, innermost first
        // (only those left empty).
        self.open.clear();
        self.closed.clear();
        for dir in self.made.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Opens the Parquet files under the backfill's output directory (the registry's row).
pub fn open_bulk(run: &super::registry::Run) -> Result<Box<dyn Bulk>> {
    Ok(Box::new(ParquetSink::new(run.dir.to_path_buf(), run.parquet_layout, run.shard)?))
}
