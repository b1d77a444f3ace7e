#!/usr/bin/env bash
# genims stream benchmark (part of make bench): the live daemon in real time, to PostgreSQL
# and Kafka together, at the default plant size and scaled up. Reports CPU (share of one
# core over the steady part of the run, after the first minute's catch-up), peak and final
# RSS, rows delivered, and how far delivery trails the clock at the end.
#   GENIMS_BENCH_STREAM_SECS  seconds of real time per run (default 240)
#   GENIMS_BENCH_SCALES       plant scale factors to run (default "1 100")
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/genims
pg=${GENIMS_BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
secs=${GENIMS_BENCH_STREAM_SECS:-240}
scales=${GENIMS_BENCH_SCALES:-"1 100"}
work=$(mktemp -d "${TMPDIR:-/tmp}/genims-bench-stream.XXXXXX")
db=genims_bench_stream_$$
broker=
cleanup() {
  [ -n "$broker" ] && kill "$broker" 2>/dev/null || true
  psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --locked >&2
tansu=$(scripts/ensure-tansu.sh)
hz=$(getconf CLK_TCK)

# CPU ticks (user + system) of a process.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

echo "| stream all, real time, postgres + kafka | machines | sensors | rows/s delivered | CPU (% of one core) | RSS MB (steady / peak) | lag at end |"
echo "|---|---:|---:|---:|---:|---:|---|"
for scale in $scales; do
  cfg="$work/plant-$scale.toml"
  scripts/scaled-plant.sh "$scale" > "$cfg"
  cat >> "$cfg" <<EOF
[stream]
stats_interval_s = 10
EOF
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >/dev/null 2>&1 &
  broker=$!
  psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
  url="$pg/$db"
  GENIMS_CONFIG="$cfg" "$bin" --postgres-url "$url" schema apply 2>/dev/null
  sleep 1
  GENIMS_CONFIG="$cfg" GENIMS_STATE_DIR="$work/state-$scale" GENIMS_KAFKA_BROKERS="127.0.0.1:$port" \
    "$bin" --postgres-url "$url" stream all --sink postgres,kafka 2> "$work/stream-$scale.log" &
  pid=$!
  sleep 60   # start-up and the current minute's catch-up
  t0=$(ticks "$pid"); w0=$(date +%s.%N)
  steady=0
  for _ in $(seq 1 $(( (secs - 60) / 10 ))); do
    sleep 10
    kill -0 "$pid" 2>/dev/null || { cat "$work/stream-$scale.log" >&2; exit 1; }
    r=$(rss_mb "$pid"); [ "$r" -gt "$steady" ] && steady=$r
  done
  t1=$(ticks "$pid"); w1=$(date +%s.%N)
  peak=$(hwm_mb "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  kill "$broker"; wait "$broker" 2>/dev/null || true; broker=
  cpu=$(awk -v a="$t0" -v b="$t1" -v s="$w0" -v e="$w1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz/(e-s)*100}')
  rows=$(psql -X -At -d "$url" -c "SELECT (SELECT count(*) FROM sensor_data) + (SELECT count(*) FROM scada_machine_data)")
  span=$(psql -X -At -d "$url" -c "SELECT extract(epoch FROM max(timestamp) - min(timestamp)) FROM sensor_data")
  rate=$(awk -v n="$rows" -v s="$span" 'BEGIN{printf "%.0f", (s > 0 ? n/s : 0)}')
  lag=$(grep -oE 'postgres: [^;]*' "$work/stream-$scale.log" | tail -1 | grep -oE 'lag [0-9]+s' || echo "?")
  machines=$((228 * scale)); sensors=$((1716 * scale))
  echo "| ×$scale | $machines | $sensors | $rate | $cpu | $steady / $peak | ${lag:-?} (postgres) |"
done
