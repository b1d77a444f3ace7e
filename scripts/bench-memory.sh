#!/usr/bin/env bash
# The stream's memory per machine (make bench step 8): `stream iot --sink null` in real
# time from 00:05 UTC (a day's state is largest just after midnight) and from
# 23:10 UTC, at each scale; RSS read after SECS seconds of real time (the first minute's
# catch-up included), and RSS per machine as the slope between the smallest scale and each
# larger one. The live console is off ([stream] console_minutes = 0: its memory is fixed
# and logged at start, 24 bytes per sensor and minute kept); GENIMS_BENCH_CONSOLE=60 keeps
# it on. With GENIMS_BASELINE=path/to/genims the same runs of that binary follow each of
# this tree's, for ratios measured in one run.
#   scripts/bench-memory.sh [SCALES] [SECS]     default "1 20 100" and 120
set -euo pipefail
cd "$(dirname "$0")/.."
scales=${1:-"1 20 100"}
secs=${2:-120}
bins=("${GENIMS_BIN:-target/release/genims}")
[ -n "${GENIMS_BASELINE:-}" ] && bins+=("$GENIMS_BASELINE")
work=$(mktemp -d "${TMPDIR:-/tmp}/genims-bench-mem.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# One run: prints "rss_kb hwm_kb".
measure() {
  local bin=$1 scale=$2 at=$3
  local cfg="$work/plant-$scale.toml"
  scripts/scaled-plant.sh "$scale" > "$cfg"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf '[stream]\nlisten = "127.0.0.1:%s"\nconsole_minutes = %s\n' "$port" "${GENIMS_BENCH_CONSOLE:-0}" >> "$cfg"
  rm -rf "$work/state"
  # --speed 1 follows the wall clock (a past --start catches up at full speed first); a
  # hair faster runs in real time from --start instead.
  GENIMS_CONFIG="$cfg" "$bin" stream iot --sink null --speed 1.0001 --start "2026-03-02T$at:00Z" \
    --state-dir "$work/state" 2> "$work/log" &
  pid=$!
  sleep "$secs"
  kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  local r h
  r=$(rss_kb "$pid"); h=$(hwm_kb "$pid")
  kill -TERM "$pid"; wait "$pid" || true; pid=
  echo "$r $h"
}

echo "| binary | UTC | scale | machines | RSS MB | peak RSS MB | KB per machine (slope from the smallest scale) |"
echo "|---|---|---:|---:|---:|---:|---:|"
first=${scales%% *}
for at in 00:05 23:10; do
  for bin in "${bins[@]}"; do
    base=
    for scale in $scales; do
      read -r r h < <(measure "$bin" "$scale" "$at")
      machines=$((228 * scale))
      per="–"
      if [ -z "$base" ]; then
        base=$r
      else
        per=$(awk -v a="$base" -v b="$r" -v n=$((228 * (scale - first))) 'BEGIN{printf "%.1f", (b - a) / n}')
      fi
      echo "| $bin | $at | ×$scale | $machines | $((r / 1024)) | $((h / 1024)) | $per |"
    done
  done
done
