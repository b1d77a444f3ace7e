"""Reads genims's Hive-partitioned Parquet datasets with DuckDB (a second independent
reader, beside pyarrow) as one table each, and the CSV of the same window with DuckDB's CSV
reader, and compares them per table and day: row counts, time range, and the sum of every
numeric column. Also counts the files DuckDB reads for a one-day query (partition pruning).
Prints one JSON object. Usage: parquet_duckdb.py PARQUET_DIR CSV_DIR DAY"""

import json
import math
import os
import sys

import duckdb

pdir, cdir, day = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
report = {"tables": {}, "mismatches": [], "pruned": None}
TIME = ("timestamp", "fault_start_time", "scheduled_start", "run_start_time", "created_at")


def summary(source, time_col, numeric, by_day):
    key = f"strftime(CAST({time_col} AS TIMESTAMP), '%Y-%m-%d')" if by_day else "'all'"
    sums = "".join(f", sum(TRY_CAST({c} AS DOUBLE))" for c in numeric)
    return con.execute(
        f"SELECT {key} AS k, count(*), min(CAST({time_col} AS TIMESTAMP)), max(CAST({time_col} AS TIMESTAMP)){sums} "
        f"FROM {source} GROUP BY 1 ORDER BY 1"
    ).fetchall()


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


for table in sorted(os.listdir(pdir)):
    if not os.path.isdir(os.path.join(pdir, table)):
        continue
    split = any(d.startswith("date=") for d in os.listdir(os.path.join(pdir, table)))
    files = os.path.join(pdir, table, "*", "*.parquet") if split else os.path.join(pdir, table, "*.parquet")
    parquet = f"read_parquet('{files}', hive_partitioning = {str(split).lower()})"
    csv_files = os.path.join(cdir, f"{table}_*.csv" if split else f"{table}.csv")
    csv = f"read_csv('{csv_files}', header = true, all_varchar = true)"
    kinds = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {parquet})").fetchall())
    numeric = [c for c, k in kinds.items() if k in ("DOUBLE", "INTEGER", "BIGINT")]
    time_col = next((c for c in TIME if c in kinds), None) or next(c for c, k in kinds.items() if k.startswith("TIMESTAMP"))
    got, want = summary(parquet, time_col, numeric, split), summary(csv, time_col, numeric, split)
    report["tables"][table] = {
        "rows": sum(r[1] for r in got),
        "csv_rows": sum(r[1] for r in want),
        "days": len(got) if split else 0,
        "columns": list(kinds),
        "date_type": kinds.get("date"),
    }
    equal = len(got) == len(want) and all(all(same(a, b) for a, b in zip(g, w)) for g, w in zip(got, want))
    if not equal:
        report["mismatches"].append({"table": table, "parquet": [list(map(str, r)) for r in got][:2], "csv": [list(map(str, r)) for r in want][:2]})
    if table == "sensor_data":
        one_day = f"FROM {parquet} WHERE date = DATE '{day}'"
        # Pruning: the files a one-day query reads, by the file name DuckDB sees.
        read = con.execute(f"SELECT count(DISTINCT filename) FROM read_parquet('{files}', hive_partitioning = true, filename = true) WHERE date = DATE '{day}'").fetchone()[0]
        plan = "\n".join(str(r[-1]) for r in con.execute(f"EXPLAIN ANALYZE SELECT count(*) {one_day}").fetchall())
        report["pruned"] = {"rows": con.execute(f"SELECT count(*) {one_day}").fetchone()[0], "files": read, "plan": plan}

json.dump(report, sys.stdout, default=str)
