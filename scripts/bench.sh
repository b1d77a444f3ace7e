#!/usr/bin/env bash
# genims benchmark (make bench): throughput and memory of backfill on this machine, in
# release mode, with the PostgreSQL figure reported as a ratio against a server-side binary
# COPY of the same rows into the same indexed tables, measured in the same run.
# Prints a Markdown table for BENCHMARKS.md. Needs PostgreSQL on 127.0.0.1:5432 and about
# 25 GB of free disk for the 7-day CSV run (removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/genims
pg=${GENIMS_BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
work=$(mktemp -d "${TMPDIR:-/tmp}/genims-bench.XXXXXX")
db=genims_bench_$$
trap 'rm -rf "$work"; psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; rm -f /tmp/$db-*.bin' EXIT

cargo build --release --locked >&2
: > "$work/empty.toml"
export GENIMS_CONFIG="$work/empty.toml"   # the default plant, whatever ./config.toml says

# Runs a command under /usr/bin/time; prints "seconds peak_rss_mb" after its own output.
timed() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  read -r secs kb < "$work/time"
  echo "$secs $((kb / 1024))"
}
rows_of() { grep -E "^  $1 " "$work/stderr" | awk '{print $2}'; }

echo "| measurement | rows | seconds | rows/s | peak RSS MB |"
echo "|---|---:|---:|---:|---:|"

# 1. The engine alone: generate and encode one default day, write nothing.
read -r s mb < <(timed "$bin" backfill --start 2026-03-01 --end 2026-03-02 --out null)
n=$(rows_of sensor_data)
echo "| generation only, 1 day (sensor rows) | $n | $s | $(awk -v n="$n" -v s="$s" 'BEGIN{printf "%.0f", n/s}') | $mb |"

# 2. CSV files for a full 7-day default plant.
read -r s mb < <(timed "$bin" backfill --start 2026-03-01 --end 2026-03-08 --out csv --path "$work/csv")
total=$(grep -oE '[0-9]+ rows \(' "$work/stderr" | grep -oE '^[0-9]+')
bytes=$(du -sb "$work/csv" | cut -f1)
echo "| --out csv, 7 days, all tables ($((bytes / 1000000000)) GB) | $total | $s | $(awk -v n="$total" -v s="$s" 'BEGIN{printf "%.0f", n/s}') | $mb |"
rm -rf "$work/csv"

# 2b. Parquet files for the same 7-day window, beside the CSV figures.
read -r s mb < <(timed "$bin" backfill --start 2026-03-01 --end 2026-03-08 --out parquet --path "$work/parquet")
total=$(grep -oE '[0-9]+ rows \(' "$work/stderr" | grep -oE '^[0-9]+')
bytes=$(du -sb "$work/parquet" | cut -f1)
echo "| --out parquet, 7 days, all tables ($((bytes / 1000000)) MB) | $total | $s | $(awk -v n="$total" -v s="$s" 'BEGIN{printf "%.0f", n/s}') | $mb |"
rm -rf "$work/parquet"

# 3. PostgreSQL: genims binary COPY of a 3-hour window (into empty tables: load-then-index,
# see 4b) vs server-side COPY of the same rows into the indexed tables.
psql -X -q -d "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
url="$pg/$db"
"$bin" --postgres-url "$url" schema apply 2>/dev/null
"$bin" --postgres-url "$url" seed --out db 2>/dev/null
read -r s mb < <(timed "$bin" --postgres-url "$url" backfill --start 2026-03-01T00:00:00Z --end 2026-03-01T03:00:00Z --out db)
total=$(grep -oE '[0-9]+ rows \(' "$work/stderr" | grep -oE '^[0-9]+')
echo "| --out db, 3 hours, all tables, into empty tables | $total | $s | $(awk -v n="$total" -v s="$s" 'BEGIN{printf "%.0f", n/s}') | $mb |"
genims_secs=$s
for t in sensor_data scada_machine_data sensor_health; do
  psql -X -q -d "$url" -c "COPY $t TO '/tmp/$db-$t.bin' (FORMAT binary)"
done
psql -X -q -d "$url" -c "TRUNCATE sensor_data, scada_machine_data, sensor_health"
start=$(date +%s.%N)
for t in sensor_data scada_machine_data sensor_health; do
  psql -X -q -d "$url" -c "COPY $t FROM '/tmp/$db-$t.bin' (FORMAT binary)"
done
end=$(date +%s.%N)
ceiling=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b-a}')
big=$(psql -X -At -d "$url" -c "SELECT (SELECT count(*) FROM sensor_data) + (SELECT count(*) FROM scada_machine_data) + (SELECT count(*) FROM sensor_health)")
echo "| server-side COPY FROM file (binary), same rows, same indexed tables | $big | $ceiling | $(awk -v n="$big" -v s="$ceiling" 'BEGIN{printf "%.0f", n/s}') | – |"

# 3b. The same load over TLS against plaintext (the local server has ssl = on), same run.
for mode in disable require; do
  psql -X -q -d "$url" -c "TRUNCATE sensor_data, scada_machine_data, sensor_health, machine_faults, maintenance_events, production_runs, fault_labels, data_quality_labels"
  read -r s mb < <(timed "$bin" --postgres-url "$url?sslmode=$mode" backfill --start 2026-03-01T00:00:00Z --end 2026-03-01T03:00:00Z --out db)
  eval "pg_$mode=$s"
  echo "| --out db, 3 hours, sslmode=$mode | $total | $s | $(awk -v n="$total" -v s="$s" 'BEGIN{printf "%.0f", n/s}') | $mb |"
done

# 4. Kafka: a 3-hour window into a private tansu broker (memory storage) on a free port,
# once per compression codec; bytes sent are the loopback interface's during the run.
tansu=$(scripts/ensure-tansu.sh)
for codec in none lz4 zstd; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >/dev/null 2>&1 &
  broker=$!
  sleep 1
  mkdir -p "$work/kafka-$codec"
  printf '[kafka]\ncompression = "%s"\n' "$codec" > "$work/kafka-$codec/config.toml"
  tx0=$(cat /sys/class/net/lo/statistics/tx_bytes)
  read -r s mb < <(GENIMS_KAFKA_BROKERS="127.0.0.1:$port" timed "$bin" --config "$work/kafka-$codec/config.toml" \
    backfill --start 2026-03-01T00:00:00Z --end 2026-03-01T03:00:00Z --out kafka)
  tx1=$(cat /sys/class/net/lo/statistics/tx_bytes)
  kill "$broker"
  total=$(grep -oE '[0-9]+ rows \(' "$work/stderr" | grep -oE '^[0-9]+')
  echo "| --out kafka, compression $codec (tansu, memory storage), 3 hours, all tables, $(( (tx1 - tx0) >> 20 )) MiB sent | $total | $s | $(awk -v n="$total" -v s="$s" 'BEGIN{printf "%.0f", n/s}') | $mb |"
done

# 4c. MQTT: a 1-hour window into a private Mosquitto (no persistence, no subscriber) on a free
# port, per payload mode and QoS; bytes are the broker's count ($SYS), and so are messages in
# Sparkplug mode (UNS: one message per row; Mosquitto's count leaves retained ones out).
for mode in uns sparkplug; do
  for qos in 0 1; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$work/mqtt-$mode-$qos"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nsys_interval 1\nuser %s\n' "$port" "$(id -un)" > "$work/mqtt-$mode-$qos/mosquitto.conf"
    mosquitto -c "$work/mqtt-$mode-$qos/mosquitto.conf" >/dev/null 2>&1 &
    broker=$!
    sleep 0.5
    printf '[mqtt]\nurl = "mqtt://127.0.0.1:%s"\nmode = "%s"\nqos = %s\n' "$port" "$mode" "$qos" > "$work/mqtt-$mode-$qos/config.toml"
    read -r s mb < <(timed "$bin" --config "$work/mqtt-$mode-$qos/config.toml" \
      backfill --start 2026-03-01T00:00:00Z --end 2026-03-01T01:00:00Z --out mqtt)
    sleep 2
    msgs=$(mosquitto_sub -p "$port" -t '$SYS/broker/publish/messages/received' -C 1 -W 5)
    bytes=$(mosquitto_sub -p "$port" -t '$SYS/broker/bytes/received' -C 1 -W 5)
    kill "$broker"
    total=$(grep -oE '[0-9]+ rows \(' "$work/stderr" | grep -oE '^[0-9]+')
    [ "$mode" = uns ] && msgs=$total
    echo "| --out mqtt, $mode, QoS $qos (Mosquitto), 1 hour, all tables: $msgs messages ($(awk -v m="$msgs" -v s="$s" 'BEGIN{printf "%.0f", m/s}') msgs/s), $((bytes >> 20)) MiB | $total | $s | $(awk -v n="$total" -v s="$s" 'BEGIN{printf "%.0f", n/s}') | $mb |"
  done
done
echo
echo "ratio genims --out db / server-side COPY ceiling (time of the same load): $(awk -v g="$genims_secs" -v c="$ceiling" 'BEGIN{printf "%.2f", c/g}')"
echo "ratio --out db over TLS / plaintext (speed): $(awk -v t="$pg_require" -v p="$pg_disable" 'BEGIN{printf "%.2f", p/t}')"

# 4b. PostgreSQL bulk loads against the load-then-index ceiling, both layouts.
echo
GENIMS_BIN="$bin" scripts/bench-db.sh

# 5. The live daemon: real time to PostgreSQL and Kafka, default size and scaled up.
echo
scripts/bench-stream.sh

# 6. Retention over a month: the default plant into daily partitions, 30 days keeping 7.
echo
scripts/bench-retention.sh

# 7. The live console: daemon CPU with the page open in Chromium against no client, side by
# side in real time; the console's memory at ×1 and ×10.
echo
scripts/bench-console.sh 1 300
scripts/bench-console.sh 10 120

# 8. The stream's memory per machine in real time, from 00:05 and 23:10 UTC, ×1/×20/×100.
echo
scripts/bench-memory.sh "1 20 100" 120

# 9. A ×1000 plant live on one host: start-up, CPU, RSS and lag over 10 minutes of real time.
echo
echo "| scale | machines | sink | start-up s | CPU % of a core | RSS MB (after start-up / end / peak) | lag at end |"
echo "|---|---:|---|---:|---:|---|---|"
scripts/bench-scale.sh 1000 600 null

# 10. The OPC UA server: daemon CPU and RSS with 10 sessions subscribed to every sensor,
# against no server, side by side in real time (×1, and ×10: whether it keeps up), and
# HistoryRead of one sensor-hour.
echo
scripts/bench-opcua.sh 1 120 10
scripts/bench-opcua.sh 10 120 2
