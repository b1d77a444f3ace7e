#!/usr/bin/env bash
# What the live console costs the daemon: two identical real-time streams (`stream all
# --sink null`, plant scaled by SCALE, default 1) run side by side over the same interval,
# one with the console open in headless Chromium on a machine's page (in real time the page
# polls /api/plant every 5 s and the machine's series every 10 s), the other with no client.
# Prints each one's CPU share of a core, the difference, and the console's memory (from the
# start-up line). Usage: scripts/bench-console.sh [SCALE] [SECONDS]
set -euo pipefail
scale=${1:-1}
secs=${2:-300}
bin=${GENIMS:-target/release/genims}
here=$(cd "$(dirname "$0")/.." && pwd)
python=$("$here/scripts/ensure-pytools.sh")
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
"$here/scripts/scaled-plant.sh" "$scale" > "$work/config.toml"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A port pid
for mode in closed open; do
  port[$mode]=$(free_port)
  (cd "$work" && exec "$here/$bin" stream all --sink null --listen "127.0.0.1:${port[$mode]}" --state-dir "st-$mode" \
     >/dev/null 2>"$work/$mode.log") &
  pid[$mode]=$!
  pids+=("$!")
done
for mode in closed open; do
  until curl -sf "http://127.0.0.1:${port[$mode]}/readyz" >/dev/null 2>&1 && grep -q "generated" "$work/$mode.log"; do sleep 1; done
done
machine=$(curl -sf "http://127.0.0.1:${port[open]}/api/plant" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["factories"][0]["lines"][0]["machines"][0]["id"])')
GENIMS_HERE="$here" "$python" - "http://127.0.0.1:${port[open]}/#$machine" "$((secs + 30))" <<'EOF' &
import os, sys, time
sys.path.insert(0, os.path.join(os.environ.get("GENIMS_HERE", "."), "tests/tools"))
from console_check import browser
d = browser()
d.get(sys.argv[1])
time.sleep(float(sys.argv[2]))
d.quit()
EOF
pids+=("$!")
sleep 15  # the page is loaded and polling
c0o=$(cpu "${pid[open]}"); c0c=$(cpu "${pid[closed]}"); t0=$(date +%s.%N)
sleep "$secs"
c1o=$(cpu "${pid[open]}"); c1c=$(cpu "${pid[closed]}"); t1=$(date +%s.%N)
share() { awk -v a="$1" -v b="$2" -v t="$ticks" -v s="$3" 'BEGIN{printf "%.2f", (b - a) / t / s * 100}'; }
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')
closed=$(share "$c0c" "$c1c" "$wall")
open=$(share "$c0o" "$c1o" "$wall")
mib=$(sed 's/\x1b\[[0-9;]*m//g' "$work/open.log" | grep -o 'mib="[0-9.]*"' | head -1 | tr -dc '0-9.')
rss_open=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/${pid[open]}/status")
rss_closed=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/${pid[closed]}/status")
echo "| console ×$scale, stream all --sink null, real time, ${secs} s | no client: ${closed} % of a core, RSS ${rss_closed} MB | console open in Chromium: ${open} % of a core, RSS ${rss_open} MB | difference $(awk -v a="$open" -v b="$closed" 'BEGIN{printf "%+.2f", a - b}') points | console memory ${mib} MiB |"
