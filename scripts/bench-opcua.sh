#!/usr/bin/env bash
# What the OPC UA server costs the daemon: two identical real-time streams (`stream all
# --sink null`, plant scaled by SCALE, default 1) run side by side over the same interval,
# one serving OPC UA to CLIENTS sessions (default 10) each subscribed to every sensor
# (sampling interval 0), the other without a server. Prints each one's CPU share of a core
# and RSS, and the difference. With SCALE 1 it then measures HistoryRead of one
# sensor-hour (a ×600 stream past its first hour). Usage:
# scripts/bench-opcua.sh [SCALE] [SECONDS] [CLIENTS]
set -euo pipefail
scale=${1:-1}
secs=${2:-120}
clients=${3:-10}
bin=${GENIMS:-target/release/genims}
here=$(cd "$(dirname "$0")/.." && pwd)
python=$("$here/scripts/ensure-pytools.sh")
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
"$here/scripts/scaled-plant.sh" "$scale" > "$work/plant.toml"
port=$(free_port)
cp "$work/plant.toml" "$work/closed.toml"
{ cat "$work/plant.toml"; printf '\n[opcua]\nlisten = "127.0.0.1:%s"\nanonymous = true\n' "$port"; } > "$work/open.toml"
(cd "$work" && GENIMS_CONFIG=closed.toml "$here/$bin" seed --out json --path master.json >/dev/null 2>&1)
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A pid
for mode in closed open; do
  (cd "$work" && GENIMS_LISTEN="" exec "$here/$bin" --config "$mode.toml" stream all --sink null --state-dir "st-$mode" \
     >/dev/null 2>"$work/$mode.log") &
  pid[$mode]=$!
  pids+=("$!")
done
until grep -q "serving the plant over OPC UA" "$work/open.log"; do sleep 1; done
"$python" "$here/tests/tools/opcua_load.py" subscribe "opc.tcp://127.0.0.1:$port/" "$work/master.json" \
  "$clients" "$((secs + 60))" > "$work/received" &
pids+=("$!")
load=$!
sleep 45  # every session subscribed, the first values out
c0o=$(cpu "${pid[open]}"); c0c=$(cpu "${pid[closed]}"); t0=$(date +%s.%N)
sleep "$secs"
c1o=$(cpu "${pid[open]}"); c1c=$(cpu "${pid[closed]}"); t1=$(date +%s.%N)
share() { awk -v a="$1" -v b="$2" -v t="$ticks" -v s="$3" 'BEGIN{printf "%.2f", (b - a) / t / s * 100}'; }
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')
closed=$(share "$c0c" "$c1c" "$wall")
open=$(share "$c0o" "$c1o" "$wall")
rss_open=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/${pid[open]}/status")
rss_closed=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/${pid[closed]}/status")
lag=$(sed 's/\x1b\[[0-9;]*m//g' "$work/open.log" | grep -o 'lag [0-9]*s' | tail -1 || true)
wait "$load" || true
echo "| OPC UA ×$scale, stream all --sink null, real time, ${secs} s | no server: ${closed} % of a core, RSS ${rss_closed} MB | $clients sessions × every sensor: ${open} % of a core, RSS ${rss_open} MB | difference $(awk -v a="$open" -v b="$closed" 'BEGIN{printf "%+.2f", a - b}') points | $(cat "$work/received") values received${lag:+, $lag} |"
kill "${pid[open]}" "${pid[closed]}" 2>/dev/null || true
# SIGTERM drains for up to [stream] shutdown_grace_s: the port is free once they are gone.
while kill -0 "${pid[open]}" 2>/dev/null || kill -0 "${pid[closed]}" 2>/dev/null; do sleep 0.5; done
[ "$scale" = 1 ] || exit 0
# HistoryRead of one sensor-hour: a ×600 stream whose first hour has passed.
{ cat "$work/open.toml"; printf 'history_minutes = 120\n'; } > "$work/h.toml"
(cd "$work" && GENIMS_LISTEN="" exec "$here/$bin" --config h.toml stream all --sink null --state-dir st-h \
   --start 2026-03-01T06:00:00Z --speed 600 >/dev/null 2>"$work/h.log") &
pids+=("$!")
until grep -q "serving the plant over OPC UA" "$work/h.log"; do sleep 0.5; done
sleep 8  # past 07:00 of simulated time (an hour is 6 s at ×600), within the 2 hours kept
read -r median worst n < <("$python" "$here/tests/tools/opcua_load.py" history "opc.tcp://127.0.0.1:$port/" \
  "$work/master.json" 2026-03-01T06:00:00Z 2026-03-01T07:00:00Z 20)
echo "| HistoryRead of one sensor-hour ($n values), 20 reads | median ${median} ms | largest ${worst} ms |"
