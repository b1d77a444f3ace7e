//! Encoders for the master data: one JSON document (SPEC §1 shape), a psql-loadable SQL
//! file, and CSV for `COPY ... FROM STDIN`. Cells are spelled by the shared encoders of
//! `rows`.

use crate::encode::{encode_fields, write_json_string, Format};
use crate::plant::tables::TableRows;

/// Rows per INSERT statement in the SQL file.
const INSERT_BATCH: usize = 500;

fn fields(fmt: Format, table: &TableRows, row: &[crate::value::Value], rfc3339: bool, out: &mut Vec<u8>) {
    encode_fields(fmt, table.columns, rfc3339, out, |c| {
        for v in row {
            v.visit(c);
        }
    });
}

/// `{"factories": [{...}, ...], ...}`: one key per table, one object per row and line,
/// timestamps as `YYYY-MM-DD HH:MM:SS`.
pub fn json(tables: &[TableRows]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 << 20);
    out.extend_from_slice(b"{\n");
    for (t, table) in tables.iter().enumerate() {
        out.extend_from_slice(b"  ");
        write_json_string(&mut out, table.name);
        out.extend_from_slice(b": [\n");
        for (r, row) in table.rows.iter().enumerate() {
            out.extend_from_slice(b"    ");
            fields(Format::Jsonl, table, row, false, &mut out);
            out.extend_from_slice(if r + 1 < table.rows.len() { b",\n" } else { b"\n" });
        }
        out.extend_from_slice(b"  ]");
        out.extend_from_slice(if t + 1 < tables.len() { b",\n" } else { b"\n" });
    }
    out.extend_from_slice(b"}\n");
    out
}

/// A SQL script that loads the tables in one transaction with `psql -v ON_ERROR_STOP=1 -f`;
/// `trailer` (the plant record) runs last inside it.
pub fn sql(tables: &[TableRows], header: &str, trailer: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 << 20);
    for line in header.lines() {
        out.extend_from_slice(b"-- ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nBEGIN;\n");
    for table in tables {
        for chunk in table.rows.chunks(INSERT_BATCH) {
            out.extend_from_slice(
                format!("\nINSERT INTO {} ({}) VALUES\n", table.name, table.columns.join(", ")).as_bytes(),
            );
            for (r, row) in chunk.iter().enumerate() {
                fields(Format::Sql, table, row, false, &mut out);
                out.extend_from_slice(if r + 1 < chunk.len() { b",\n" } else { b";\n" });
            }
        }
    }
    out.push(b'\n');
    out.extend_from_slice(trailer.as_bytes());
    out.extend_from_slice(b"\nCOMMIT;\n");
    out
}

/// CSV rows (no header) for `COPY table (columns) FROM STDIN (FORMAT csv)`.
pub fn csv(table: &TableRows) -> Vec<u8> {
    let mut out = Vec::with_capacity(table.rows.len() * 160);
    for row in &table.rows {
        fields(Format::Csv, table, row, false, &mut out);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn sample() -> Vec<TableRows> {
        vec![TableRows {
            name: "customers",
            columns: &["customer_id", "customer_name", "annual_volume_estimate"],
            rows: vec![
                vec!["CUST-000001".into(), "O'Brien, \"Motors\"".into(), Value::Int(5)],
                vec!["CUST-000002".into(), Value::Null, Value::dec(1.5, 2)],
            ],
        }]
    }

    #[test]
    fn json_parses_back_with_one_key_per_table() {
        let text = json(&sample());
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["customers"][0]["customer_name"], "O'Brien, \"Motors\"");
        assert_eq!(v["customers"][1]["customer_name"], serde_json::Value::Null);
        assert_eq!(v["customers"][1]["annual_volume_estimate"], 1.5);
    }

    #[test]
    fn sql_quotes_and_wraps_in_a_transaction() {
        let text = String::from_utf8(sql(&sample(), "test", "")).unwrap();
        assert!(text.contains("('CUST-000001', 'O''Brien, \"Motors\"', 5)"), "{text}");
        assert!(text.contains("('CUST-000002', NULL, 1.50);"), "{text}");
        assert!(text.contains("BEGIN;") && text.trim_end().ends_with("COMMIT;"));
    }

    #[test]
    fn csv_quotes_commas_and_quotes() {
        assert_eq!(csv(&sample()[0]), b"CUST-000001,\"O'Brien, \"\"Motors\"\"\",5\nCUST-000002,,1.50\n");
    }
}
