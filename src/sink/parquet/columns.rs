//! The Parquet shape of genims's tables: each column's kind from its SQL type, the schema,
//! the encoding each column gets, and the buffers a row group is collected in before it is
//! encoded.
//!
//! Columns and names are the PostgreSQL tables', their types read from the DDL
//! ([`crate::db::schema::declared_columns`]): `VARCHAR`/`TEXT` → UTF-8 strings, `INTEGER` →
//! INT32, `BIGINT`/`BIGSERIAL` → INT64, `DECIMAL(p,s)` → DOUBLE (the value rounded to its
//! scale, the number CSV spells), `BOOLEAN`, `TIMESTAMP` → INT64 microseconds adjusted to
//! UTC, `DATE`, `TIME` → microseconds. Every column is optional (nullable).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use parquet::basic::{Encoding, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::column::writer::{get_typed_column_writer_mut, ColumnWriter};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::{EnabledStatistics, WriterPropertiesBuilder};
use parquet::schema::types::{ColumnPath, Type, TypePtr};

use crate::encode::cells::Cell;
use crate::rows::Table;

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
pub fn schema(table: Table) -> Result<TypePtr> {
    let fields = columns(table).into_iter().map(|(name, kind)| kind.field(&name)).collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Type::group_type_builder(table.name()).with_fields(fields).build()?))
}

/// How each column of `table` is encoded, chosen from measurements of a default-plant day
/// (BENCHMARKS.md, 2026-12-05):
/// - a table's first column, its serial key, is unique and rising: delta encoding, no
///   dictionary (the day's files 7 % smaller, 5 % faster);
/// - decimals (readings, their one-minute statistics, scores) are mostly distinct, so a
///   dictionary costs a hash per value and is then abandoned by the writer: plain doubles
///   under zstd are 10 % smaller and 5 % faster (split into byte streams they were 60 %
///   larger: four decimal places do not split well). They carry no min/max statistics:
///   every row group holds every sensor, so its range of values is the whole plant's and
///   would never let a reader skip it (3 % of the writing time);
/// - everything else keeps the writer's dictionary and statistics (ids, units, states and
///   timestamps repeat within a row group, and timestamps and ids prune).
pub fn encodings(table: Table, mut props: WriterPropertiesBuilder) -> WriterPropertiesBuilder {
    for (i, (name, kind)) in columns(table).into_iter().enumerate() {
        let path = ColumnPath::from(name.as_str());
        let encoding = match kind {
            Kind::Int64 if i == 0 => Encoding::DELTA_BINARY_PACKED,
            Kind::Double => Encoding::PLAIN,
            _ => continue,
        };
        props = props.set_column_dictionary_enabled(path.clone(), false).set_column_encoding(path.clone(), encoding);
        if kind == Kind::Double {
            props = props.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    props
}

/// One column's values of a row group being filled: non-null values only, and the
/// definition level (1 = value, 0 = null) of every row.
pub struct Column {
    name: String,
    kind: Kind,
    values: Values,
    defined: Vec<i16>,
}

enum Values {
    Text(Texts),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

impl Column {
    pub fn new(name: String, kind: Kind) -> Column {
        let values = match kind {
            Kind::Text => Values::Text(Texts::default()),
            Kind::Int32 | Kind::Date => Values::I32(Vec::new()),
            Kind::Int64 | Kind::Timestamp | Kind::Time => Values::I64(Vec::new()),
            Kind::Double => Values::F64(Vec::new()),
            Kind::Bool => Values::Bool(Vec::new()),
        };
        Column { name, kind, values, defined: Vec::new() }
    }

    /// The empty columns of `table`.
    pub fn all_of(table: Table) -> Vec<Column> {
        columns(table).into_iter().map(|(name, kind)| Column::new(name, kind)).collect()
    }

    /// Appends one cell; a cell of another type than the column's is a bug in genims.
    pub fn push(&mut self, cell: Cell) -> Result<()> {
        const MICROS: i64 = 1_000_000;
        match (&mut self.values, cell) {
            (_, Cell::Null) => {
                self.defined.push(0);
                return Ok(());
            }
            (Values::Text(t), Cell::Text(s)) => t.push(s),
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

    /// Writes the buffered values into `w` (one column chunk), and empties the buffer,
    /// keeping its memory for the next row group.
    pub fn write(&mut self, w: &mut ColumnWriter<'_>) -> parquet::errors::Result<()> {
        let defined = Some(&self.defined[..]);
        match &mut self.values {
            Values::Text(t) => {
                get_typed_column_writer_mut::<ByteArrayType>(w).write_batch(&t.values, defined, None)?;
                t.values.clear();
            }
            Values::I32(v) => {
                get_typed_column_writer_mut::<Int32Type>(w).write_batch(v, defined, None)?;
                v.clear();
            }
            Values::I64(v) => {
                get_typed_column_writer_mut::<Int64Type>(w).write_batch(v, defined, None)?;
                v.clear();
            }
            Values::F64(v) => {
                get_typed_column_writer_mut::<DoubleType>(w).write_batch(v, defined, None)?;
                v.clear();
            }
            Values::Bool(v) => {
                get_typed_column_writer_mut::<BoolType>(w).write_batch(v, defined, None)?;
                v.clear();
            }
        }
        self.defined.clear();
        Ok(())
    }
}

/// A text column's values. Text columns repeat a few values (ids, units, states): each
/// distinct value is kept once for the life of the process ([`intern`]), so that a value is
/// a pointer the writer copies and drops for free, where an owned or shared buffer would
/// cost an allocation or two atomic operations per cell. A column with more distinct values
/// than [`DISTINCT_KEPT`] (free text) keeps the rest as owned copies.
#[derive(Default)]
struct Texts {
    values: Vec<ByteArray>,
    /// The value pushed last: columns often repeat it row after row.
    last: Option<ByteArray>,
    /// The column's distinct values met so far.
    known: HashMap<&'static [u8], ByteArray>,
}

/// Distinct values a text column keeps as shared constants, at most.
const DISTINCT_KEPT: usize = 1 << 16;
/// Bytes of distinct text kept for the life of the process, at most.
const INTERNED_BYTES: usize = 64 << 20;

impl Texts {
    fn push(&mut self, s: &[u8]) {
        if let Some(last) = self.last.as_ref().filter(|l| l.data() == s) {
            self.values.push(last.clone());
            return;
        }
        let value = match self.known.get(s) {
            Some(v) => v.clone(),
            None if self.known.len() < DISTINCT_KEPT => match intern(s) {
                Some(kept) => {
                    let v = ByteArray::from(bytes::Bytes::from_static(kept));
                    self.known.insert(kept, v.clone());
                    v
                }
                None => ByteArray::from(s.to_vec()),
            },
            None => ByteArray::from(s.to_vec()),
        };
        self.last = Some(value.clone());
        self.values.push(value);
    }
}

/// `s` kept for the life of the process, once per distinct value (`None` once
/// [`INTERNED_BYTES`] are kept). A backfill writes the same few thousand ids and names
/// into every file; they are kept once.
fn intern(s: &[u8]) -> Option<&'static [u8]> {
    static KEPT: Mutex<(BTreeSet<&'static [u8]>, usize)> = Mutex::new((BTreeSet::new(), 0));
    let mut kept = KEPT.lock().expect("no poisoned lock");
    if let Some(k) = kept.0.get(s) {
        return Some(k);
    }
    if kept.1 + s.len() > INTERNED_BYTES {
        return None;
    }
    let k: &'static [u8] = Box::leak(s.to_vec().into_boxed_slice());
    kept.0.insert(k);
    kept.1 += s.len();
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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

    /// Text values come out as pushed, whether repeated, met before, or beyond the distinct
    /// values a column keeps; a value met before is the same kept bytes.
    #[test]
    fn text_values_are_kept_once_and_read_back_as_pushed() {
        let mut t = Texts::default();
        let mut pushed: Vec<Vec<u8>> = Vec::new();
        for i in 0..DISTINCT_KEPT + 100 {
            for v in [format!("value-{i}"), format!("value-{i}"), "normal".to_owned(), format!("value-{}", i / 2)] {
                t.push(v.as_bytes());
                pushed.push(v.into_bytes());
            }
        }
        assert_eq!(t.values.len(), pushed.len());
        assert!(t.values.iter().zip(&pushed).all(|(a, b)| a.data() == &b[..]), "a value changed on its way");
        assert_eq!(t.known.len(), DISTINCT_KEPT, "at most {DISTINCT_KEPT} distinct values kept per column");
        let (a, b) = (&t.values[2], &t.values[6]);
        assert_eq!(a.data().as_ptr(), b.data().as_ptr(), "`normal` is kept once");
    }
}
