"""Features per machine and step (an hour, or ten minutes), aggregated in DuckDB from a
genims Parquet backfill.

A plant is one directory of `genims backfill --out parquet` (Hive layout) plus the plant's
master data (`genims seed --out json`). Only what a plant's own systems observe goes into
the model's features: each sensor's measured value (by role: the sensor's name, "Spindle
Bearing Vibration"), whether it is beyond the role's warning limits (`is_above_warning`,
`is_below_warning`: the value against the alarm limits a PLC is configured with), and the
machine's SCADA state. Columns genims derives from its own knowledge (anomaly_score,
is_anomaly, status) are left to the leakage checks.

Per machine, step and sensor role:
- mean, standard deviation, lowest and highest of the readings in the step, their slope
  within it (per hour), and the mean of its last sixth (ten minutes of an hour);
- the share of the step's readings above, and below, the role's warning limits (the same
  scale on every machine type, where a role's values are not);
- the mean and slope of the step means over the last 6 and 24 hours;
- the step's mean and 6-hour slope minus the median of the same line's machines then.
Per machine and step: the share of the step's SCADA minutes in each machine state, and the
sensor furthest from its own last 24 hours (`_worst_sensor`), whatever its role.
A step's label is the phase over its last instant, when its features are complete
(`phase_holds_at_end`).

The step is an hour (`HOUR`) for every pattern; the patterns whose episodes last a few
hours are scored on ten-minute steps as well (`FINE`, chosen in `__main__`), where an
hour holds too few labelled instants to learn or cut on. The column `hour` and
`Plant.hour` hold the step's start whatever its length.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb
import numpy as np

WINDOWS = (6, 24)  # hours
HOUR, FINE = 3600, 600  # the steps, in seconds
TAIL_SHARE = 6  # a step's last sixth (an hour's last ten minutes), where a fast fault shows first
# The raw columns the static threshold reads, all a fine-step plant aggregates.
STATIC_COLUMNS = ("sensor_data.is_above_warning", "sensor_data.is_below_warning")
STATES = ("running", "idle", "setup", "fault", "maintenance", "stopped", "starved", "blocked")
# DuckDB's threads. On more than one, its parallel aggregates add floats in an order that
# varies from run to run, and the boosted models amplify the last bits into ±0.05-0.15 F1
# between two runs of the same data; on one, the same Parquet gives the same features, so
# a change to genims or to the models is measured against a repeatable run (at about twice
# the time of the features).
DUCKDB_THREADS = 1


@dataclass
class Plant:
    """One plant's machine-steps: identity columns, features, and per-pattern labels."""

    name: str
    machine: np.ndarray  # machine_id per row
    hour: np.ndarray  # the step's start, epoch seconds
    context: dict[str, np.ndarray]  # machine_type, line_id, hour of day, day of week
    features: np.ndarray  # rows × len(feature_names), NaN where a machine has no such sensor
    feature_names: list[str]
    columns: dict[str, dict[str, np.ndarray]]  # each raw column's hourly aggregate per role (or 'machine'), for the ablation
    labels: dict[str, np.ndarray]  # pattern -> 0/1 per row (warning or critical phase)
    episodes: list[dict]  # fault_labels rows: machine, pattern, warning, fault (epoch s)
    fault_rate: float = 0.0  # the backfill's --fault-rate, a shortcut feature
    step: int = HOUR  # seconds per row

    @property
    def negatives(self) -> float:
        """The share of its negative rows a model fits on: as many rows as an hourly plant
        has, whatever the step (`models.fit_rows`)."""
        return self.step / HOUR


def _floats(x) -> np.ndarray:
    """A DuckDB result column as floats, NULL as NaN."""
    if isinstance(x, np.ma.MaskedArray):
        return np.ma.filled(x.astype(float), np.nan)
    return np.asarray(x, dtype=float)


def _dataset(dir_: str, table: str) -> str:
    split = os.path.isdir(os.path.join(dir_, table)) and any(
        d.startswith("date=") for d in os.listdir(os.path.join(dir_, table))
    )
    pattern = os.path.join(dir_, table, "*", "*.parquet") if split else os.path.join(dir_, table, "*.parquet")
    return f"read_parquet('{pattern}', hive_partitioning = {str(split).lower()})"


def _bucket(step: int, column: str = "timestamp") -> str:
    """The epoch second at which a step of `step` seconds holding `column` starts."""
    return f"epoch(time_bucket(INTERVAL '{step} seconds', {column}))::BIGINT"


def _in_tail(step: int, column: str = "timestamp") -> str:
    """True for an instant in the last sixth of its step."""
    return f"epoch({column}) - {_bucket(step, column)} >= {step - step // TAIL_SHARE}"


def load(
    dir_: str, master: str, name: str, con: duckdb.DuckDBPyConnection | None = None,
    step: int = HOUR, raw: tuple[str, ...] | None = None,
) -> Plant:
    """Reads one plant on steps of `step` seconds: its features, the raw columns' aggregates
    per step (those in `raw`, or every one), and its labels. Features of an hourly plant are
    float64, of a finer one float32 (six times the rows)."""
    con = con or duckdb.connect(config={"threads": DUCKDB_THREADS})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    sensors, scada, labels = _dataset(dir_, "sensor_data"), _dataset(dir_, "scada_machine_data"), _dataset(dir_, "fault_labels")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE master_sensors AS
        SELECT s.sensor_id, s.sensor_name AS role, s.measurement_range_min AS range_min,
               s.measurement_range_max AS range_max FROM (
          SELECT unnest(sensors) AS s FROM read_json('{master}', maximum_object_size = 1000000000))"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE master_machines AS
        SELECT m.machine_id, m.machine_type, m.line_id FROM (
          SELECT unnest(machines) AS m FROM read_json('{master}', maximum_object_size = 1000000000))"""
    )
    # One row per machine, step and role; readings averaged over a machine's sensors of a role.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE hourly AS
        SELECT d.machine_id, any_value(d.line_id) AS line_id,
               {_bucket(step, "d.timestamp")} AS hour, r.role,
               avg(d.measurement_value) AS mean, stddev_samp(d.measurement_value) AS sd,
               regr_slope(d.measurement_value, epoch(d.timestamp) / 3600.0) AS slope,
               min(d.measurement_value) AS low, max(d.measurement_value) AS high,
               avg(d.measurement_value) FILTER (WHERE {_in_tail(step, "d.timestamp")}) AS tail,
               avg(d.is_above_warning::INT) AS above_warning, avg(d.is_below_warning::INT) AS below_warning
        FROM {sensors} d JOIN master_sensors r USING (sensor_id)
        GROUP BY d.machine_id, hour, r.role"""
    )
    rolled = ", ".join(
        f"avg(mean) OVER w{w} AS mean_{w}h, regr_slope(mean, hour / 3600.0) OVER w{w} AS slope_{w}h" for w in WINDOWS
    )
    windows = ", ".join(
        f"w{w} AS (PARTITION BY machine_id, role ORDER BY hour RANGE BETWEEN {w * 3600 - step} PRECEDING AND CURRENT ROW)"
        for w in WINDOWS
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE rolled AS SELECT *, {rolled} FROM hourly WINDOW {windows}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE stats AS
        SELECT *, mean - median(mean) OVER (PARTITION BY line_id, role, hour) AS mean_vs_line,
               slope_6h - median(slope_6h) OVER (PARTITION BY line_id, role, hour) AS slope_6h_vs_line
        FROM rolled"""
    )
    stats = [
        "mean", "sd", "slope", "low", "high", "tail",
        "mean_6h", "slope_6h", "mean_24h", "slope_24h", "mean_vs_line", "slope_6h_vs_line",
        "above_warning", "below_warning",
    ]
    roles = [r[0] for r in con.execute("SELECT DISTINCT role FROM stats ORDER BY role").fetchall()]
    # The rows: every machine-step with readings.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE rows AS
        SELECT DISTINCT h.machine_id, h.hour, m.machine_type, m.line_id
        FROM hourly h JOIN master_machines m USING (machine_id) ORDER BY h.machine_id, h.hour"""
    )
    base = con.execute("SELECT machine_id, hour, machine_type, line_id FROM rows ORDER BY machine_id, hour").fetchnumpy()
    n = len(base["hour"])
    index = {(m, h): i for i, (m, h) in enumerate(zip(base["machine_id"], base["hour"]))}
    dtype = np.float64 if step == HOUR else np.float32
    names: list[str] = []
    blocks: list[np.ndarray] = []
    data = con.execute(f"SELECT machine_id, hour, role, {', '.join(stats)} FROM stats").fetchnumpy()
    where = np.array([index[(m, h)] for m, h in zip(data["machine_id"], data["hour"])], dtype=np.int64)
    role_of = data["role"]
    for role in roles:
        pick = role_of == role
        for s in stats:
            col = np.full(n, np.nan, dtype=dtype)
            col[where[pick]] = _floats(data[s])[pick]
            names.append(f"{role}: {s}")
            blocks.append(col)
    for feature, col in _state_shares(con, scada, index, n, step).items():
        names.append(feature)
        blocks.append(col.astype(dtype))
    for feature, col in _worst_sensor(con, sensors, index, n, step).items():
        names.append(feature)
        blocks.append(col.astype(dtype))
    features = np.column_stack(blocks) if blocks else np.zeros((n, 0), dtype=dtype)
    del blocks
    columns = _raw_columns(con, sensors, scada, index, n, step, raw)
    episodes = con.execute(
        f"""SELECT machine_id, pattern, epoch(warning_time)::BIGINT AS warning, epoch(fault_time)::BIGINT AS fault,
                   epoch(onset_time)::BIGINT AS onset
        FROM {labels}"""
    ).fetchnumpy()
    episode_list = [
        {"machine": m, "pattern": p, "warning": int(w), "fault": int(f), "onset": int(o)}
        for m, p, w, f, o in zip(episodes["machine_id"], episodes["pattern"], episodes["warning"], episodes["fault"], episodes["onset"])
    ]
    label = _labels(base["machine_id"], base["hour"], episode_list, step)
    hours = base["hour"].astype(np.int64)
    context = {
        "machine_id": base["machine_id"],
        "machine_type": base["machine_type"],
        "line_id": base["line_id"],
        "hour_of_day": (hours % 86400) // 3600,
        "day_of_week": ((hours // 86400) + 3) % 7,  # 1970-01-01 was a Thursday
    }
    return Plant(name, base["machine_id"], hours, context, features, names, columns, label, episode_list, step=step)


def _state_shares(con, scada: str, index: dict, n: int, step: int) -> dict[str, np.ndarray]:
    """Per machine-step, the share of its SCADA minutes in each machine state."""
    state = con.execute(
        f"""SELECT machine_id, {_bucket(step)} AS hour, machine_state, count(*) AS minutes
        FROM {scada} GROUP BY ALL"""
    ).fetchnumpy()
    where = np.array([index.get((m, h), -1) for m, h in zip(state["machine_id"], state["hour"])], dtype=np.int64)
    keep = where >= 0
    minutes = _floats(state["minutes"])
    totals = np.zeros(n)
    np.add.at(totals, where[keep], minutes[keep])
    seen = np.zeros(n, dtype=bool)
    seen[where[keep]] = True
    out = {}
    for st in STATES:
        col = np.where(seen, 0.0, np.nan)
        pick = keep & (state["machine_state"] == st)
        np.add.at(col, where[pick], minutes[pick] / totals[where[pick]])
        out[f"state: {st}"] = col
    return out


def _worst_sensor(con, sensors: str, index: dict, n: int, step: int) -> dict[str, np.ndarray]:
    """Per machine-hour, the sensor furthest from its own last 24 hours, whatever its role.

    Each sensor's hour is held against the same sensor's previous 24 hours (the hours before,
    not this one): its mean in units of its usual within-hour spread, its spread and range
    against their usual size, and its count of readings against its usual count (a historian
    sees a gap as readings that never came). Over a machine's sensors, the largest of each
    (and the smallest for spread and count). Over the last 24 hours, to this hour's end: the
    share of each sensor's readings that never came (against the historian's usual count per
    hour) beyond its machine's median share (a gateway's gap loses every sensor's), its
    readings beyond its measurement range (master data), and its hours without a change.
    And the largest share of a sensor's readings beyond its warning limits, in the hour
    and over the last 24 hours. A fault of one sensor, on any role of any machine
    type, so moves the same few features, and a model learns it from every episode at once
    rather than role by role."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE sensor_hours AS
        SELECT machine_id, sensor_id, {_bucket(step)} AS hour, count(*) AS n,
               avg(measurement_value) AS mean, stddev_samp(measurement_value) AS sd,
               max(measurement_value) - min(measurement_value) AS span,
               avg(measurement_value) FILTER (WHERE {_in_tail(step)}) AS tail,
               count(*) FILTER (WHERE measurement_value < r.range_min OR measurement_value > r.range_max) AS beyond,
               avg((is_above_warning OR is_below_warning)::INT) AS beyond_warning
        FROM {sensors} JOIN master_sensors r USING (sensor_id) GROUP BY ALL"""
    )
    # The historian's nominal readings per sensor-hour: the most common count.
    nominal = con.execute("SELECT mode(n) FROM sensor_hours").fetchone()[0] or 1
    before = f"(PARTITION BY sensor_id ORDER BY hour RANGE BETWEEN 86400 PRECEDING AND {step} PRECEDING)"
    day = f"(PARTITION BY sensor_id ORDER BY hour RANGE BETWEEN {86400 - step} PRECEDING AND CURRENT ROW)"
    data = con.execute(
        f"""WITH usual AS (
          SELECT *, avg(mean) OVER w AS mean_24h, avg(sd) OVER w AS sd_24h, avg(span) OVER w AS span_24h,
                 max(n) OVER w AS n_24h,
                 1 - sum(n) OVER d / (count(*) OVER d * {nominal}) AS lost_24h,
                 sum(beyond) OVER d AS beyond_24h, count(*) FILTER (WHERE sd = 0) OVER d AS flat_hours_24h,
                 avg(beyond_warning) OVER d AS beyond_warning_24h
          FROM sensor_hours WINDOW w AS {before}, d AS {day}),
        machine AS (SELECT *, median(lost_24h) OVER (PARTITION BY machine_id, hour) AS machine_lost_24h FROM usual)
        SELECT machine_id, hour,
               max(abs(mean - mean_24h) / (sd_24h + 1e-9)) AS worst_mean_z,
               max(abs(tail - mean_24h) / (sd_24h + 1e-9)) AS worst_tail_z,
               max(sd / (sd_24h + 1e-9)) AS widest_sd_ratio,
               min(sd / (sd_24h + 1e-9)) AS narrowest_sd_ratio,
               max(span / (span_24h + 1e-9)) AS widest_span_ratio,
               min(n / n_24h) AS fewest_readings_ratio,
               median(n / n_24h) AS median_readings_ratio,
               count(*) FILTER (WHERE sd = 0) AS stuck_sensors,
               max(lost_24h - machine_lost_24h) AS lossiest_24h_vs_machine,
               max(beyond_24h) AS most_beyond_range_24h,
               max(flat_hours_24h) AS most_flat_hours_24h,
               max(beyond_warning) AS most_beyond_warning,
               max(beyond_warning_24h) AS most_beyond_warning_24h
        FROM machine GROUP BY ALL"""
    ).fetchnumpy()
    where = np.array([index.get((m, h), -1) for m, h in zip(data["machine_id"], data["hour"])], dtype=np.int64)
    keep = where >= 0
    out = {}
    for c in data:
        if c in ("machine_id", "hour"):
            continue
        col = np.full(n, np.nan)
        col[where[keep]] = _floats(data[c])[keep]
        out[f"any sensor: {c}"] = col
    return out


def phase_holds_at_end(end: np.ndarray, episode: dict) -> np.ndarray:
    """Whether steps ending at `end` end inside the episode's warning or critical phase:
    warning_time < end <= fault_time. The phase holds over the step's last instant, which its
    readings cover (readings at `end` belong to the next step)."""
    return (end > episode["warning"]) & (end <= episode["fault"])


def _labels(machines: np.ndarray, hours: np.ndarray, episodes: list[dict], step: int) -> dict[str, np.ndarray]:
    """Per pattern: 1 where the machine is in the episode's warning or critical phase at the
    step's last instant: warning_time < end <= fault_time, for the step [start, end). Its
    readings are complete then and none is of the fault (a reading at fault_time is the
    next step's). A step ending at warning_time holds no reading of the phase; one ending
    at fault_time holds its last critical minute (`phase_holds_at_end`)."""
    out: dict[str, np.ndarray] = {}
    by_machine: dict[str, np.ndarray] = {}
    for m in np.unique(machines):
        by_machine[m] = np.flatnonzero(machines == m)
    for e in episodes:
        y = out.setdefault(e["pattern"], np.zeros(len(hours), dtype=np.int8))
        rows = by_machine.get(e["machine"])
        if rows is None:
            continue
        h = hours[rows]
        y[rows[phase_holds_at_end(h + step, e)]] = 1
    return out


def _raw_columns(
    con, sensors: str, scada: str, index: dict, n: int, step: int, only: tuple[str, ...] | None
) -> dict[str, dict[str, np.ndarray]]:
    """Every column of sensor_data and scada_machine_data (or those in `only`, as
    `table.column`) reduced per machine-step, for the
    column ablation: numbers averaged, flags as the share true, text as the share of rows
    that differ from the column's most common value. A sensor_data column is one value per
    sensor role (rows × roles, as the model's own features are), so that each is held
    against the readings' own value role by role; a SCADA column is one value per row."""
    out: dict[str, dict[str, np.ndarray]] = {}
    skip = {"sensor_data_id", "scada_id", "machine_id", "line_id", "factory_id", "sensor_id", "timestamp", "created_at", "date"}
    for table, source in (("sensor_data", sensors), ("scada_machine_data", scada)):
        exprs = _column_aggregates(con, source, skip, table, only)
        if not exprs:
            continue
        by_role = table == "sensor_data"
        source_sql = f"{source} d JOIN master_sensors r USING (sensor_id)" if by_role else source
        role = ", r.role" if by_role else ""
        data = con.execute(
            f"SELECT machine_id, {_bucket(step)} AS hour{role}, {', '.join(exprs)} "
            f"FROM {source_sql} GROUP BY ALL"
        ).fetchnumpy()
        where = np.array([index.get((m, h), -1) for m, h in zip(data["machine_id"], data["hour"])], dtype=np.int64)
        roles = sorted(set(data["role"])) if by_role else [None]
        slot = {r: k for k, r in enumerate(roles)}
        col_of = np.array([slot[r] for r in data["role"]], dtype=np.int64) if by_role else np.zeros(len(where), dtype=np.int64)
        keep = where >= 0
        for c in data:
            if c in ("machine_id", "hour", "role"):
                continue
            values = _floats(data[c])
            per_role = {}
            for r, k in slot.items():
                col = np.full(n, np.nan)
                pick = keep & (col_of == k)
                col[where[pick]] = values[pick]
                per_role[r or "machine"] = col
            out[f"{table}.{c}"] = per_role
    return out


def _column_aggregates(con, source: str, skip: set[str], table: str, only: tuple[str, ...] | None) -> list[str]:
    """One aggregate per column of `source` (those of `only`), as _raw_columns describes."""
    kinds = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall())
    exprs = []
    for c, k in kinds.items():
        if c in skip or (only is not None and f"{table}.{c}" not in only):
            continue
        q = f'"{c}"'
        if k in ("DOUBLE", "INTEGER", "BIGINT"):
            exprs.append(f"avg({q}) AS {q}")
        elif k == "BOOLEAN":
            exprs.append(f"avg({q}::INT) AS {q}")
        elif k.startswith("TIMESTAMP"):
            exprs.append(f"avg(epoch({q})) AS {q}")
        elif k == "VARCHAR":
            mode = con.execute(f"SELECT mode({q}) FROM {source}").fetchone()[0]
            mode_sql = "NULL" if mode is None else "'" + str(mode).replace("'", "''") + "'"
            exprs.append(f"avg(({q} IS DISTINCT FROM {mode_sql})::INT) AS {q}")
    return exprs
