#!/usr/bin/env bash
# Runs every test target of the (already built) crate. Most integration suites spend their
# time waiting on real servers and real-time streams, so the longest one (evaluate) runs
# beside the others instead of after them; its output is printed when it ends. Exits
# non-zero when any test fails. Used by `make test` after `cargo test --no-run`.
set -uo pipefail
cargo=${CARGO:-cargo}
slow=evaluate
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$cargo" test --locked --test "$slow" >"$log" 2>&1 &
slow_pid=$!
others=(--bins)
for f in tests/*.rs; do
  name=$(basename "$f" .rs)
  [ "$name" = "$slow" ] || others+=(--test "$name")
done
"$cargo" test --locked "${others[@]}"
rc=$?
wait "$slow_pid"
slow_rc=$?
echo "---- tests/$slow.rs (ran beside the others) ----"
cat "$log"
[ "$rc" -eq 0 ] && [ "$slow_rc" -eq 0 ]
