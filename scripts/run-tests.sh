#!/usr/bin/env bash
# Runs every test target of the (already built) crate. Used by `make test` after
# `cargo test --no-run`. Most integration suites spend their time waiting on real servers and
# real-time streams, so several tests run at once.
#
# With cargo-nextest (installed on this project's machines; `cargo install --locked
# cargo-nextest` elsewhere) each test runs in a process of its own, scheduled across every
# suite as .config/nextest.toml says: four at a time, the longest first. Without it, cargo's
# own runner goes in three lanes: the evaluate suite (the longest) alone, the long database
# and injection suites, and everything else (unit tests included); each lane's output is
# printed when all have ended. Either way every test runs even after one fails, so a
# failure never hides another, and the exit status is non-zero when any test failed.
set -uo pipefail
cargo=${CARGO:-cargo}
if "$cargo" nextest --version >/dev/null 2>&1; then
  exec "$cargo" nextest run --locked --all-targets
fi
lane_a=(evaluate)
lane_b=(backfill_db inject shards)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
others=()
for f in tests/*.rs; do
  name=$(basename "$f" .rs)
  [[ " ${lane_a[*]} ${lane_b[*]} " == *" $name "* ]] || others+=("$name")
done
run_lane() {
  local name=$1
  shift
  local args=()
  for t in "$@"; do
    if [ "$t" = "--bins" ]; then args+=(--bins); else args+=(--test "$t"); fi
  done
  "$cargo" test --locked --no-fail-fast "${args[@]}" >"$dir/$name.log" 2>&1
  echo $? >"$dir/$name.rc"
}
run_lane a "${lane_a[@]}" &
run_lane b "${lane_b[@]}" &
run_lane c --bins "${others[@]}" &
wait
rc=0
for lane in c b a; do
  echo "---- lane $lane ----"
  cat "$dir/$lane.log"
  [ "$(cat "$dir/$lane.rc")" = 0 ] || rc=1
done
exit $rc
