"""Reads every Parquet file genims wrote in one directory with pyarrow (an independent
reader) and compares it with the CSV file of the same window in another directory: row
counts and columns always, and every value of a sample of rows (all rows of small files;
the first and last 1,000 and every 97th row of large ones — the whole of a day's
sensor_data takes minutes in Python). Prints one JSON object: per file its row count,
rows compared, row-group sizes, column-chunk codecs and Arrow schema, and the first
mismatches (none when equal). The Parquet directory may be laid out flat (as the CSV) or
as Hive-partitioned datasets (`sensor_data/date=2026-03-04/part-0.parquet`); files are
reported under their flat names. Usage: parquet_check.py PARQUET_DIR CSV_DIR"""

import csv
import datetime
import json
import math
import os
import sys

import pyarrow.parquet as pq

pdir, cdir = sys.argv[1], sys.argv[2]
csv.field_size_limit(1 << 30)


def spelled(v):
    """A Parquet value as CSV spells it (floats are compared as numbers)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        assert v.tzinfo is not None, "timestamps must be UTC-adjusted"
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, datetime.time):
        return v.strftime("%H:%M:%S")
    return str(v)


def same(p, c):
    if isinstance(p, float):
        return c != "" and math.isclose(p, float(c), rel_tol=1e-12, abs_tol=1e-9)
    return spelled(p) == c


def flat_name(rel):
    """`sensor_data/date=2026-03-04/part-0.parquet` -> `sensor_data_20260304.parquet`."""
    parts = rel.split(os.sep)
    if len(parts) == 1:
        return rel
    day = [p[len("date="):].replace("-", "") for p in parts[1:-1] if p.startswith("date=")]
    return "_".join([parts[0]] + day) + ".parquet"


found = {}
for top, _dirs, files in os.walk(pdir):
    for f in files:
        if f.endswith(".parquet"):
            rel = os.path.relpath(os.path.join(top, f), pdir)
            found[flat_name(rel)] = os.path.join(pdir, rel)

report = {"files": {}, "mismatches": []}
for name in sorted(found):
    path = found[name]
    meta = pq.ParquetFile(path).metadata
    table = pq.ParquetFile(path).read()  # the file alone: no partition column from its path
    with open(os.path.join(cdir, name[: -len(".parquet")] + ".csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    codecs = sorted({meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)})
    report["files"][name] = {
        "rows": table.num_rows,
        "csv_rows": len(rows),
        "row_groups": [meta.row_group(g).num_rows for g in range(meta.num_row_groups)],
        "codecs": codecs,
        "columns": table.column_names,
        "csv_columns": header,
        "schema": {f.name: str(f.type) for f in table.schema},
    }
    if table.column_names != header or table.num_rows != len(rows):
        continue
    n = len(rows)
    sample = [r for r in range(n) if n <= 20000 or r < 1000 or r >= n - 1000 or r % 97 == 0]
    report["files"][name]["compared"] = len(sample)
    picked = table.take(sample).to_pylist()
    for r, p_row in zip(sample, picked):
        for i, c in enumerate(rows[r]):
            p = p_row[header[i]]
            if not same(p, c) and len(report["mismatches"]) < 10:
                report["mismatches"].append({"file": name, "row": r, "column": header[i], "parquet": spelled(p), "csv": c})
json.dump(report, sys.stdout)
