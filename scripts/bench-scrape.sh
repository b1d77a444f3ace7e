#!/usr/bin/env bash
# What scraping /metrics costs the daemon: the same real-time stream (`stream iot --sink
# null`, plant scaled by SCALE, default 100) run twice, once scraped every second and once
# not, CPU share measured over the same steady interval after start-up. Prints a table row
# per run. Usage: scripts/bench-scrape.sh [SCALE] [SECONDS]
set -euo pipefail
scale=${1:-100}
secs=${2:-120}
bin=${GENIMS:-target/release/genims}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/scripts/scaled-plant.sh" "$scale" > "$work/config.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for mode in unscraped scraped; do
  (cd "$work" && exec "$here/$bin" stream iot --sink null --listen "127.0.0.1:$port" --state-dir "st-$mode" \
     >/dev/null 2>"$work/$mode.log") &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && grep -q "generated" "$work/$mode.log"; do sleep 1; done
  scraper=""
  if [ "$mode" = scraped ]; then
    (while :; do curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; sleep 1; done) &
    scraper=$!
  fi
  c0=$(cpu "$pid"); t0=$(date +%s.%N)
  sleep "$secs"
  c1=$(cpu "$pid"); t1=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status")
  [ -n "$scraper" ] && kill "$scraper"
  kill -INT "$pid"; wait "$pid" || true
  python3 -c "import sys; c0,c1,t0,t1,tk=map(float,sys.argv[1:6]); print(f'| ×$scale | $mode | {(c1-c0)/tk/(t1-t0)*100:.2f} | ${rss} |')" \
    "$c0" "$c1" "$t0" "$t1" "$ticks"
done
