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
# Suites are modules of the one integration binary (tests/integration.rs); a lane picks them
# by their module path.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run_lane() {
  local name=$1
  shift
  : >"$dir/$name.log"
  local rc=0
  while [ $# -gt 0 ]; do
    # One command per argument group, separated by `;`.
    local cmd=()
    while [ $# -gt 0 ] && [ "$1" != ";" ]; do cmd+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    "$cargo" test --locked --no-fail-fast "${cmd[@]}" >>"$dir/$name.log" 2>&1 || rc=1
  done
  echo $rc >"$dir/$name.rc"
}
run_lane a --test integration -- evaluate:: &
run_lane b --test integration -- backfill_db:: inject:: shards:: &
run_lane c --bins ";" --test integration -- --skip evaluate:: --skip backfill_db:: --skip inject:: --skip shards:: &
wait
rc=0
for lane in c b a; do
  echo "---- lane $lane ----"
  cat "$dir/$lane.log"
  [ "$(cat "$dir/$lane.rc")" = 0 ] || rc=1
done
exit $rc
