#!/usr/bin/env bash
# genims benchmark against a baseline build, in one run on one machine (make bench-compare):
# every figure is a ratio of this tree's release binary to the baseline's, measured
# back to back (each measurement twice, in both orders, best time kept), so the machine's
# mood cancels out. Also the stream's cost against backfill, and start-up at large scales.
#
#   GENIMS_BASELINE=path/to/genims      a baseline binary, or
#   GENIMS_BASELINE_REF=<git ref>       a ref to build one from (default: origin/main, else HEAD~1)
#   GENIMS_BENCH_PG                     PostgreSQL server URL (default postgresql://postgres@127.0.0.1:5432)
#
# Needs PostgreSQL, about 45 GB of free disk for the two 7-day CSV runs (removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
new=target/release/genims
pg=${GENIMS_BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
work=$(mktemp -d "${TMPDIR:-/tmp}/genims-cmp.XXXXXX")
db=genims_cmp_$$
trap 'rm -rf "$work"; psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS ${db}_a WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${db}_b WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

cargo build --release --locked >&2
old=${GENIMS_BASELINE:-}
if [ -z "$old" ]; then
  ref=${GENIMS_BASELINE_REF:-$(git rev-parse --verify -q origin/main || git rev-parse HEAD~1)}
  git worktree add -q --detach "$work/base" "$ref"
  cargo build --release --locked --manifest-path "$work/base/Cargo.toml" --target-dir "$work/base-target" >&2
  old="$work/base-target/release/genims"
  git worktree remove --force "$work/base"
fi
: > "$work/empty.toml"
export GENIMS_CONFIG="$work/empty.toml"   # the default plant, whatever ./config.toml says

# Runs a command under /usr/bin/time; prints "seconds peak_rss_mb cpu_seconds".
timed() {
  /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$@" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  read -r secs kb user sys < "$work/time"
  echo "$secs $((kb / 1024)) $(awk -v u="$user" -v s="$sys" 'BEGIN{print u + s}')"
}
best() { awk -v a="$1" -v b="$2" 'BEGIN{print (a < b ? a : b)}'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN{print (a > b ? a : b)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }

# One measurement for both binaries: $1 label, $2 setup command (run before each, may be
# ":"), then the arguments (the binary is prepended). Prints a table row: times, ratio of
# throughputs (baseline time / this time), peak RSS of each.
compare() {
  local label=$1 setup=$2; shift 2
  local so=() sn=() mo=0 mn=0 co=() cn=()
  # Round 2 runs them in the other order, so neither always goes first (on a quiet machine).
  for order in "old new" "new old"; do
    for which in $order; do
      local bin=$old; [ "$which" = new ] && bin=$new
      eval "$setup"
      read -r s mb cpu < <(timed "$bin" "$@")
      if [ "$which" = old ]; then
        so+=("$s"); co+=("$cpu"); mo=$(max "$mo" "$mb")
      else
        sn+=("$s"); cn+=("$cpu"); mn=$(max "$mn" "$mb")
      fi
    done
  done
  local o n c d
  o=$(best "${so[0]}" "${so[1]}"); n=$(best "${sn[0]}" "${sn[1]}")
  c=$(best "${co[0]}" "${co[1]}"); d=$(best "${cn[0]}" "${cn[1]}")
  echo "| $label | $o | $n | **$(ratio "$o" "$n")** | $c | $d | $(ratio "$c" "$d") | $mo | $mn |"
}

echo "| measurement (default plant) | baseline s | this s | speed ratio | baseline CPU s | this CPU s | CPU ratio | baseline peak RSS MB | this peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
compare "backfill --out null, 1 day (generation + CSV encoding)" ":" backfill --start 2026-03-01 --end 2026-03-02 --out null
compare "backfill --out csv, 7 days" "rm -rf $work/csv; sync" backfill --start 2026-03-01 --end 2026-03-08 --out csv --path "$work/csv"
rm -rf "$work/csv"
for d in a b; do
  psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS ${db}_$d WITH (FORCE)" -c "CREATE DATABASE ${db}_$d" >/dev/null
  "$new" --postgres-url "$pg/${db}_$d" schema apply 2>/dev/null
  "$new" --postgres-url "$pg/${db}_$d" seed --out db 2>/dev/null
done
truncate_db="psql -X -q -d $pg/${db}_a -c 'TRUNCATE sensor_data, scada_machine_data, sensor_health, machine_faults, maintenance_events, production_runs, fault_labels, data_quality_labels' >/dev/null"
compare "backfill --out db, 3 hours, indexed" "$truncate_db" --postgres-url "$pg/${db}_a" backfill --start 2026-03-01T00:00:00Z --end 2026-03-01T03:00:00Z --out db
compare "stream all --sink stdout --speed max, 2 hours" "rm -rf $work/state" stream all --sink stdout --speed max --start 2026-03-01T23:00:00Z --end 2026-03-02T01:00:00Z --state-dir "$work/state"

# The stream against backfill, this binary only: records/s over the same day.
echo
echo "| this binary, one default day | seconds | records/s | peak RSS MB |"
echo "|---|---:|---:|---:|"
rows=$("$new" backfill --start 2026-03-01 --end 2026-03-02 --out null 2>&1 | grep -oE '[0-9]+ rows \(' | grep -oE '^[0-9]+')
read -r sj mbj _ < <(timed "$new" backfill --start 2026-03-01 --end 2026-03-02 --out jsonl --path "$work/jsonl")
rm -rf "$work/jsonl"
echo "| backfill --out jsonl | $sj | $(awk -v n="$rows" -v s="$sj" 'BEGIN{printf "%.0f", n/s}') | $mbj |"
for sink in null stdout; do
  rm -rf "$work/state"
  read -r s mb _ < <(timed "$new" stream all --sink "$sink" --speed max --start 2026-03-01T00:00:00Z --end 2026-03-02T00:00:00Z --state-dir "$work/state")
  rate=$(awk -v n="$rows" -v s="$s" 'BEGIN{printf "%.0f", n/s}')
  vs=$(ratio "$sj" "$s")
  echo "| stream all --sink $sink --speed max | $s | $rate (${vs} x backfill jsonl) | $mb |"
done

# Start-up at scale: plant generation, engine set-up and the first minute of every machine
# (backfill --out null of one minute; the baseline only where its size limits allow).
echo
echo "| scale | machines | sensors | set-up + first minute, s: baseline | this | this peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|"
for scale in 100 1000; do
  cfg="$work/plant-$scale.toml"
  scripts/scaled-plant.sh "$scale" > "$cfg"
  one_minute=(backfill --start 2026-03-01T12:00:00Z --end 2026-03-01T12:01:00Z --out null)
  read -r s mb _ < <(GENIMS_CONFIG="$cfg" timed "$new" "${one_minute[@]}")
  base="– (beyond its size limits)"
  if [ "$scale" = 100 ]; then
    read -r base _ _ < <(GENIMS_CONFIG="$cfg" timed "$old" "${one_minute[@]}")
  fi
  echo "| ×$scale | $((228 * scale)) | $((1716 * scale)) | $base | $s | $mb |"
done
