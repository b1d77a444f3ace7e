#!/usr/bin/env bash
# A large plant live on one host (make bench step 9): `stream all` of the default plant
# scaled by SCALE, in real time from 00:05 UTC (--speed 1.0001: --speed 1 follows the wall
# clock, catching up from a past --start first), to the null sink or to Kafka
# (a tansu broker of its own, memory storage). Reports start-up (launch to the first tick
# released: plant generation, engine set-up and the first minute), CPU share after it,
# RSS at the end and at its peak, and how far delivery trails the clock at the end (and at
# most over the run's second half).
#   scripts/bench-scale.sh [SCALE] [SECS] [null|kafka]     default 1000, 600, null
#   GENIMS_SCALE_START   the simulated start (default 2026-03-02T00:05:00Z; 00:58 to cross
#                        an hour's end, whose health rows make the largest tick)
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1000}
secs=${2:-600}
sink=${3:-null}
bin=${GENIMS_BIN:-target/release/genims}
work=$(mktemp -d "${TMPDIR:-/tmp}/genims-bench-scale.XXXXXX")
pid= broker=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$broker" ] && kill "$broker" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

cfg="$work/plant.toml"
scripts/scaled-plant.sh "$scale" > "$cfg"
port=$(free_port)
printf '[stream]\nlisten = "127.0.0.1:%s"\nstats_interval_s = 10\n' "$port" >> "$cfg"
env=(GENIMS_CONFIG="$cfg")
if [ "$sink" = kafka ]; then
  kport=$(free_port)
  "$(scripts/ensure-tansu.sh)" broker --listener-url "tcp://127.0.0.1:$kport" \
    --advertised-listener-url "tcp://127.0.0.1:$kport" --storage-engine memory://tansu/ >/dev/null 2>&1 &
  broker=$!
  sleep 1
  env+=(GENIMS_KAFKA_BROKERS="127.0.0.1:$kport")
fi
w0=$(date +%s.%N)
env "${env[@]}" "$bin" stream all --sink "$sink" --speed 1.0001 --start "${GENIMS_SCALE_START:-2026-03-02T00:05:00Z}" \
  --state-dir "$work/state" 2> "$work/log" &
pid=$!
# Start-up: until the first tick is released (the simulated clock leaves 0).
while :; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  sim=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '$1 == "genims_simulated_time_seconds" {print $2}' || true)
  [ -n "$sim" ] && [ "$sim" != 0 ] && break
  sleep 0.5
done
w1=$(date +%s.%N)
startup=$(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.1f", b - a}')
rss_start=$(kb "$pid" VmRSS)
t0=$(ticks "$pid")
sleep "$secs"
kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
t1=$(ticks "$pid"); w2=$(date +%s.%N)
rss=$(kb "$pid" VmRSS); hwm=$(kb "$pid" VmHWM)
kill -TERM "$pid"; wait "$pid" || true; pid=
cpu=$(awk -v a="$t0" -v b="$t1" -v s="$w1" -v e="$w2" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)/hz/(e-s)*100}')
# Lag at the end, and the largest over the run's second half (a backlog that grows shows in
# both; a tick released in parts reads 0-2 s depending on when the status line falls).
lags=$(grep -oE "$sink: [^;]*" "$work/log" | grep -oE 'lag [0-9]+s' | grep -oE '[0-9]+' || true)
lag=$(echo "$lags" | tail -1)
lag_max=$(echo "$lags" | awk '{v[NR] = $1} END {m = 0; for (i = int(NR / 2) + 1; i <= NR; i++) if (v[i] > m) m = v[i]; print m}')
echo "| ×$scale | $((228 * scale)) | $sink | $startup | $cpu | $((rss_start / 1024)) / $((rss / 1024)) / $((hwm / 1024)) | ${lag:-?} s (largest over the second half ${lag_max:-?} s) |"
