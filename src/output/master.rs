//! Encoders for the master data: one JSON document (SPEC §1 shape), a psql-loadable SQL
//! file, and CSV for `COPY ... FROM STDIN`.

use crate::plant::tables::TableRows;
use crate::value::{write_csv_row, write_json_string, write_json_value, write_sql_literal};

/// Rows per INSERT statement in the SQL file.
const INSERT_BATCH: usize = 500;

/// `{"factories": [{...}, ...], ...}`: one key per table, one object per row and line,
/// timestamps as `YYYY-MM-DD HH:MM:SS`.
pub fn json(tables: &[TableRows]) -> String {
    let mut out = String::with_capacity(8 << 20);
    out.push_str("{\n");
    for (t, table) in tables.iter().enumerate() {
        out.push_str("  ");
        write_json_string(&mut out, table.name);
        out.push_str(": [\n");
        for (r, row) in table.rows.iter().enumerate() {
            out.push_str("    {");
            for (i, (col, v)) in table.columns.iter().zip(row).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_string(&mut out, col);
                out.push_str(": ");
                write_json_value(&mut out, v, false);
            }
            out.push('}');
            out.push_str(if r + 1 < table.rows.len() { ",\n" } else { "\n" });
        }
        out.push_str("  ]");
        out.push_str(if t + 1 < tables.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

/// A SQL script that loads the tables in one transaction with `psql -v ON_ERROR_STOP=1 -f`.
pub fn sql(tables: &[TableRows], header: &str) -> String {
    let mut out = String::with_capacity(8 << 20);
    for line in header.lines() {
        out.push_str("-- ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nBEGIN;\n");
    for table in tables {
        for chunk in table.rows.chunks(INSERT_BATCH) {
            out.push_str("\nINSERT INTO ");
            out.push_str(table.name);
            out.push_str(" (");
            out.push_str(&table.columns.join(", "));
            out.push_str(") VALUES\n");
            for (r, row) in chunk.iter().enumerate() {
                out.push('(');
                for (i, v) in row.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_sql_literal(&mut out, v);
                }
                out.push_str(if r + 1 < chunk.len() { "),\n" } else { ");\n" });
            }
        }
    }
    out.push_str("\nCOMMIT;\n");
    out
}

/// CSV rows (no header) for `COPY table (columns) FROM STDIN (FORMAT csv)`.
pub fn csv(table: &TableRows) -> String {
    let mut out = String::with_capacity(table.rows.len() * 160);
    for row in &table.rows {
        write_csv_row(&mut out, row);
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
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["customers"][0]["customer_name"], "O'Brien, \"Motors\"");
        assert_eq!(v["customers"][1]["customer_name"], serde_json::Value::Null);
        assert_eq!(v["customers"][1]["annual_volume_estimate"], 1.5);
    }

    #[test]
    fn sql_quotes_and_wraps_in_a_transaction() {
        let text = sql(&sample(), "test");
        assert!(text.contains("('CUST-000001', 'O''Brien, \"Motors\"', 5)"), "{text}");
        assert!(text.contains("('CUST-000002', NULL, 1.50);"), "{text}");
        assert!(text.contains("BEGIN;") && text.trim_end().ends_with("COMMIT;"));
    }

    #[test]
    fn csv_quotes_commas_and_quotes() {
        assert_eq!(csv(&sample()[0]), "CUST-000001,\"O'Brien, \"\"Motors\"\"\",5\nCUST-000002,,1.50\n");
    }
}
