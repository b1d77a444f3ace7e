//! Parquet files (`backfill --out parquet`): one file per table, per table and UTC day for
//! sensor_data and scada_machine_data (`sensor_data_20260301.parquet`), as CSV has.
//!
//! Columns and names are the PostgreSQL tables', their types read from the DDL
//! ([`crate::db::schema::declared_columns`]): `VARCHAR`/`TEXT` → UTF-8 strings, `INTEGER` →
//! INT32, `BIGINT`/`BIGSERIAL` → INT64, `DECIMAL(p,s)` → DOUBLE (the value rounded to its
//! scale, the number CSV spells), `BOOLEAN`, `TIMESTAMP` → INT64 microseconds adjusted to
//! UTC, `DATE`, `TIME` → microseconds. Every column is optional (nullable). Written through
//! the Apache Arrow project's `parquet` crate: zstd level 3, dictionary encoding (kept for
//! repetitive columns, dropped by the writer where a dictionary outgrows its page), column
//! statistics, row groups of [`ROW_GROUP_ROWS`] rows. Files are written under temporary
//! names and appear when the whole run succeeded; the same seed and window give identical
//! files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{Type, TypePtr};

use super::{Bulk, Sink};
use crate::encode::cells::{Cell, Reader};
use crate::encode::Format;
use crate::output::atomic::AtomicFile;
use crate::rows::Table;
use crate::sink::files::FileSink;

/// Rows per row group: 524,288 (for sensor_data ≈ 22 MB encoded, ≈ 10 MB on disk; 29 per
/// default-plant day) — large enough for column scans, small enough to hold one in memory
/// per open file.
pub const ROW_GROUP_ROWS: usize = 1 << 19;
/// zstd level of every column chunk.
const ZSTD_LEVEL: i32 = 3;

/// What a column holds, from its SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int32,
    Int64,
    Double,
    Bool,
    Timestamp,
    Date,
    Time,
}

impl Kind {
    /// The kind of SQL type `sql` (as the DDL writes it).
    pub fn of_sql(sql: &str) -> Option<Kind> {
        let base = sql.split('(').next().unwrap_or(sql).trim().to_ascii_uppercase();
        Some(match base.as_str() {
            "VARCHAR" | "TEXT" | "CHAR" | "JSON" | "JSONB" => Kind::Text,
            "INTEGER" | "INT" | "SMALLINT" => Kind::Int32,
            "BIGINT" | "BIGSERIAL" => Kind::Int64,
            "DECIMAL" | "NUMERIC" | "REAL" | "DOUBLE" => Kind::Double,
            "BOOLEAN" => Kind::Bool,
            "TIMESTAMP" | "TIMESTAMPTZ" => Kind::Timestamp,
            "DATE" => Kind::Date,
            "TIME" => Kind::Time,
            _ => return None,
        })
    }

    fn field(self, name: &str) -> Result<TypePtr> {
        let (physical, logical) = match self {
            Kind::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
            Kind::Int32 => (Physical::INT32, None),
            Kind::Int64 => (Physical::INT64, None),
            Kind::Double => (Physical::DOUBLE, None),
            Kind::Bool => (Physical::BOOLEAN, None),
            Kind::Timestamp => (Physical::INT64, Some(LogicalType::timestamp(true, TimeUnit::MICROS))),
            Kind::Date => (Physical::INT32, Some(LogicalType::Date)),
            Kind::Time => (Physical::INT64, Some(LogicalType::time(false, TimeUnit::MICROS))),
        };
        Ok(Arc::new(
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()?,
        ))
    }
}

/// The columns of `table` with their kinds, from the DDL.
pub fn columns(table: Table) -> Vec<(String, Kind)> {
    crate::db::schema::declared_columns(table.name())
        .into_iter()
        .map(|(name, sql)| {
            let kind =
                Kind::of_sql(&sql).unwrap_or_else(|| panic!("{}.{name}: no Parquet type for {sql}", table.name()));
            (name, kind)
        })
        .collect()
}

/// The Parquet schema of `table`.
fn schema(table: Table) -> Result<TypePtr> {
    let fields = columns(table).into_iter().map(|(name, kind)| kind.field(&name)).collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Type::group_type_builder(table.name()).with_fields(fields).build()?))
}

/// One column's values of the row group being filled: non-null values only, and the
/// definition level (1 = value, 0 = null) of every row.
struct Column {
    name: String,
    kind: Kind,
    values: Values,
    defined: Vec<i16>,
}

enum Values {
    /// UTF-8 bytes of every value back to back, and where each ends.
    Text(Vec<u8>, Vec<usize>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

impl Column {
    fn new(name: String, kind: Kind) -> Column {
        let values = match kind {
            Kind::Text => Values::Text(Vec::new(), Vec::new()),
            Kind::Int32 | Kind::Date => Values::I32(Vec::new()),
            Kind::Int64 | Kind::Timestamp | Kind::Time => Values::I64(Vec::new()),
            Kind::Double => Values::F64(Vec::new()),
            Kind::Bool => Values::Bool(Vec::new()),
        };
        Column { name, kind, values, defined: Vec::new() }
    }

    /// Appends one cell; a cell of another type than the column's is a bug in genims.
    fn push(&mut self, cell: Cell) -> Result<()> {
        const MICROS: i64 = 1_000_000;
        match (&mut self.values, cell) {
            (_, Cell::Null) => {
                self.defined.push(0);
                return Ok(());
            }
            (Values::Text(bytes, ends), Cell::Text(s)) => {
                bytes.extend_from_slice(s);
                ends.push(bytes.len());
            }
            (Values::I32(v), Cell::Int4(x)) if self.kind == Kind::Int32 => v.push(x),
            (Values::I32(v), Cell::Int8(x)) if self.kind == Kind::Int32 => v.push(i32::try_from(x)?),
            (Values::I32(v), Cell::Date(d)) if self.kind == Kind::Date => v.push(i32::try_from(d)?),
            (Values::I64(v), Cell::Int8(x)) if self.kind == Kind::Int64 => v.push(x),
            (Values::I64(v), Cell::Int4(x)) if self.kind == Kind::Int64 => v.push(i64::from(x)),
            (Values::I64(v), Cell::Ts(t)) if self.kind == Kind::Timestamp => v.push(t * MICROS),
            (Values::I64(v), Cell::Time(t)) if self.kind == Kind::Time => v.push(t * MICROS),
            (Values::F64(v), Cell::Dec(x)) => v.push(x),
            (Values::F64(v), Cell::Int4(x)) => v.push(f64::from(x)),
            (Values::F64(v), Cell::Int8(x)) => v.push(x as f64),
            (Values::Bool(v), Cell::Bool(b)) => v.push(b),
            (_, cell) => bail!("column {} is {:?} in the schema, but genims produced {cell:?}", self.name, self.kind),
        }
        self.defined.push(1);
        Ok(())
    }

    /// Writes the buffered values as one column chunk, and empties the buffer.
    fn write(&mut self, w: &mut parquet::file::writer::SerializedColumnWriter<'_>) -> parquet::errors::Result<()> {
        let defined = Some(&self.defined[..]);
        match &mut self.values {
            Values::Text(bytes, ends) => {
                let all = bytes::Bytes::from(std::mem::take(bytes));
                let mut start = 0;
                let values: Vec<ByteArray> = ends
                    .iter()
                    .map(|&end| {
                        let v = ByteArray::from(all.slice(start..end));
                        start = end;
                        v
                    })
                    .collect();
                w.typed::<ByteArrayType>().write_batch(&values, defined, None)?;
                ends.clear();
            }
            Values::I32(v) => {
                w.typed::<Int32Type>().write_batch(v, defined, None)?;
                v.clear();
            }
            Values::I64(v) => {
                w.typed::<Int64Type>().write_batch(v, defined, None)?;
                v.clear();
            }
            Values::F64(v) => {
                w.typed::<DoubleType>().write_batch(v, defined, None)?;
                v.clear();
            }
            Values::Bool(v) => {
                w.typed::<BoolType>().write_batch(v, defined, None)?;
                v.clear();
            }
        }
        self.defined.clear();
        Ok(())
    }
}

/// One Parquet file being written: its writer and the row group being filled.
struct TableFile {
    path: PathBuf,
    writer: SerializedFileWriter<AtomicFile>,
    columns: Vec<Column>,
    rows: usize,
}

impl TableFile {
    fn create(path: PathBuf, table: Table, props: &WriterPropertiesPtr) -> Result<TableFile> {
        let file = AtomicFile::create(&path)?;
        let writer =
            SerializedFileWriter::new(file, schema(table)?, props.clone()).map_err(|e| cannot_write(&path, e))?;
        let columns = columns(table).into_iter().map(|(name, kind)| Column::new(name, kind)).collect();
        Ok(TableFile { path, writer, columns, rows: 0 })
    }

    /// Appends the rows of `cells` (tagged cells, whole rows).
    fn append(&mut self, cells: &[u8]) -> Result<()> {
        let n = self.columns.len();
        let mut i = 0;
        for cell in Reader::new(cells) {
            self.columns[i].push(cell).map_err(|e| cannot_write(&self.path, e))?;
            i += 1;
            if i == n {
                i = 0;
                self.rows += 1;
                if self.rows == ROW_GROUP_ROWS {
                    self.flush()?;
                }
            }
        }
        if i != 0 {
            bail!("cannot write {}: a row ended after {i} of {n} columns", self.path.display());
        }
        Ok(())
    }

    /// Writes the rows held as one row group.
    fn flush(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let path = &self.path;
        let fail = |e| cannot_write(path, e);
        let mut group = self.writer.next_row_group().map_err(fail)?;
        for column in &mut self.columns {
            let mut w = group
                .next_column()
                .map_err(fail)?
                .ok_or_else(|| anyhow!("cannot write {}: too few columns", path.display()))?;
            column.write(&mut w).map_err(|e| cannot_write(path, e))?;
            w.close().map_err(fail)?;
        }
        group.close().map_err(fail)?;
        self.rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer: the file, complete, under its temporary
    /// name.
    fn close(mut self) -> Result<AtomicFile> {
        self.flush()?;
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
    props: WriterPropertiesPtr,
    open: BTreeMap<(Table, Option<i64>), TableFile>,
    /// Files complete but not yet in place.
    closed: Vec<AtomicFile>,
}

impl ParquetSink {
    /// Creates the directory if needed.
    pub fn new(dir: PathBuf) -> Result<ParquetSink> {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("genims {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(ParquetSink { dir, props: Arc::new(props), open: BTreeMap::new(), closed: Vec::new() })
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
                self.closed.push(file.close()?);
            }
            let path = FileSink::path_of(&self.dir, "parquet", table, key.1);
            self.open.insert(key, TableFile::create(path, table, &self.props)?);
        }
        self.open.get_mut(&key).expect("open").append(&bytes)
    }

    fn finish(&mut self) -> Result<()> {
        // Every table gets its file, rows or not.
        for table in Table::ALL.into_iter().filter(|t| !t.split_by_day()) {
            if !self.open.contains_key(&(table, None)) {
                let path = FileSink::path_of(&self.dir, "parquet", table, None);
                self.open.insert((table, None), TableFile::create(path, table, &self.props)?);
            }
        }
        for (_, file) in std::mem::take(&mut self.open) {
            self.closed.push(file.close()?);
        }
        for file in std::mem::take(&mut self.closed) {
            file.commit()?;
        }
        Ok(())
    }
}

/// Opens the Parquet files under the backfill's output directory (the registry's row).
pub fn open_bulk(run: &super::registry::Run) -> Result<Box<dyn Bulk>> {
    Ok(Box::new(ParquetSink::new(run.dir.to_path_buf())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of every table has a Parquet type, and the types follow the DDL.
    #[test]
    fn every_column_maps_to_a_parquet_type() {
        for t in Table::ALL {
            let cols = columns(t);
            assert_eq!(cols.len(), t.columns().len(), "{}", t.name());
            schema(t).unwrap();
        }
        let kinds: BTreeMap<String, Kind> = columns(Table::SensorData).into_iter().collect();
        assert_eq!(kinds["sensor_data_id"], Kind::Int64);
        assert_eq!(kinds["sensor_id"], Kind::Text);
        assert_eq!(kinds["timestamp"], Kind::Timestamp);
        assert_eq!(kinds["measurement_value"], Kind::Double);
        assert_eq!(kinds["is_anomaly"], Kind::Bool);
        assert_eq!(Kind::of_sql("NUMERIC(20, 0)"), Some(Kind::Double));
        assert_eq!(Kind::of_sql("INTERVAL"), None);
    }
}
