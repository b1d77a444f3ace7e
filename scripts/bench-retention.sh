#!/usr/bin/env bash
# Retention over a month (make bench step 6; alone: scripts/bench-retention.sh): the default
# plant streamed at top speed into PostgreSQL with daily partitions for GENIMS_RET_DAYS (30)
# simulated days keeping GENIMS_RET_KEEP (7), sampled every 2 s (simulated time, database
# size, partitions, RSS). The same stream without retention runs for KEEP + 3 days (at
# most DAYS) in the same run: the rows are the same, so the wall time each run takes from
# day KEEP to there (where the first one prunes; the second one's tables are larger) is the
# ratio of their speeds. Nothing else may run meanwhile. Needs about (KEEP + 4) × 4.2 GB of free disk (removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/genims
pg=${GENIMS_BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
days=${GENIMS_RET_DAYS:-30}
keep=${GENIMS_RET_KEEP:-7}
work=$(mktemp -d "${TMPDIR:-/tmp}/genims-bench-retention.XXXXXX")
db=genims_bench_retention_$$
cleanup() {
  psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --locked >&2
: > "$work/empty.toml"
export GENIMS_CONFIG="${GENIMS_RET_CONFIG:-$work/empty.toml}"   # the default plant
start_s=$(date -u -d 2026-03-01 +%s)
q() { psql -X -qAt -d "$pg/$db" -c "$1"; }

# Streams `$1` days with `$2` days of retention; writes "wall_s through_s db_bytes partitions
# rss_kb" samples to $work/samples-$2 and prints "wall_s peak_rss_mb rows".
run() {
  local span=$1 keep_days=$2 out="$work/samples-$2"
  psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
  "$bin" --postgres-url "$pg/$db" schema apply --partition daily >/dev/null 2>&1
  local end; end=$(date -u -d "2026-03-01 + $span days" +%Y-%m-%dT%H:%M:%SZ)
  local t0; t0=$(date +%s.%N)
  GENIMS_RETENTION_DAYS=$keep_days GENIMS_LISTEN="" "$bin" --postgres-url "$pg/$db" \
    stream all --sink postgres --speed max --start 2026-03-01T00:00:00Z --end "$end" \
    --state-dir "$work/state-$keep_days" 2> "$work/stream-$keep_days.log" &
  local pid=$! peak=0
  : > "$out"
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    local rss; rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    local hwm; hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
    local through; through=$(q "SELECT coalesce(extract(epoch FROM max(through))::bigint, 0) FROM genims_stream_progress" 2>/dev/null || echo 0)
    local size; size=$(q "SELECT pg_database_size(current_database())" 2>/dev/null || echo 0)
    local parts; parts=$(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sensor_data'::regclass" 2>/dev/null || echo 0)
    echo "$(echo "$(date +%s.%N) - $t0" | bc) $through $size $parts ${rss:-0}" >> "$out"
  done
  wait "$pid" || { tail -20 "$work/stream-$keep_days.log" >&2; exit 1; }
  local rows; rows=$(sed 's/\x1b\[[0-9;]*m//g' "$work/stream-$keep_days.log" | grep -o 'sent_rows=[0-9]*' | tail -1 | cut -d= -f2)
  echo "$(printf %.0f "$(echo "$(date +%s.%N) - $t0" | bc)") $((peak / 1024)) $rows"
}

# The wall seconds at which a run's samples first reached simulated day $2.
reached() { awk -v t=$((start_s + $2 * 86400)) '$2 >= t {print $1; exit}' "$1"; }

a=$keep; b=$((keep + 3 < days ? keep + 3 : days))
read -r wall_r rss_r rows_r < <(run "$days" "$keep")
read -r wall_n rss_n rows_n < <(run "$b" 0)
span_r=$(echo "$(reached "$work/samples-$keep" $b) - $(reached "$work/samples-$keep" $a)" | bc)
span_n=$(echo "$(reached "$work/samples-0" $b) - $(reached "$work/samples-0" $a)" | bc)
# The plateau: the largest database and partition count after the horizon first passed.
plateau=$(awk -v t=$((start_s + (keep + 1) * 86400)) '$2 >= t { if ($3 > m) m = $3; if ($4 > p) p = $4 } END { printf "%.1f GB, %d partitions", m / 1e9, p }' "$work/samples-$keep")
last=$(tail -1 "$work/samples-$keep" | awk '{ printf "%.1f GB", $3 / 1e9 }')

echo "| retention, default plant, stream all --speed max to PostgreSQL (daily partitions) | value |"
echo "|---|---|"
echo "| $days days keeping $keep: wall time, rows, rows/s | ${wall_r} s, $rows_r rows, $(echo "$rows_r / $wall_r" | bc) rows/s |"
echo "| database after the horizon (largest; at the end) | $plateau; $last |"
echo "| peak RSS with retention / without | $rss_r MB / $rss_n MB |"
echo "| days $a–$b (retention pruning in the first run): seconds with / without | $span_r / $span_n (ratio $(echo "scale=3; $span_n / $span_r" | bc)) |"
echo "| $b days without retention: wall time, rows/s | ${wall_n} s, $(echo "$rows_n / $wall_n" | bc) rows/s |"
cp "$work/samples-$keep" "${GENIMS_RET_SAMPLES:-/tmp/genims-retention-samples.txt}"
