#!/usr/bin/env bash
# make test: formatting, lints, the test build and every test, against real services.
#
# The services the tests talk to (PostgreSQL started if down; socat, openssl, mosquitto and
# chromium from Debian, the tansu broker, the Python test clients and the ml/ venv installed
# if missing) are set up while the crate compiles: on a fresh machine they wait on the
# network and the package manager, the build on the cores. Their output is printed once the
# build is done; the tests start when both are.
#
# Everything compiles into a target directory every checkout on the machine shares
# (GENIMS_TARGET_DIR, default ~/.cache/genims/target), so a fresh clone reuses the compiled
# dependencies; clippy checks first, in the same directory (the build reuses its build
# scripts' outputs and proc macros).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo=${CARGO:-cargo}
export CARGO_TARGET_DIR=${GENIMS_TARGET_DIR:-$HOME/.cache/genims/target}
log=$(mktemp)
trap 'wait; rm -f "$log"' EXIT  # a lint failure leaves no installer half-way
scripts/ensure-services.sh >"$log" 2>&1 &
services=$!

"$cargo" fmt --check
"$cargo" clippy --locked --all-targets -- -D warnings
"$cargo" test --locked --all-targets --no-run

if ! wait "$services"; then
  cat "$log" >&2
  echo "make test: the test services could not be set up (the lines above say why)" >&2
  exit 1
fi
cat "$log" >&2
GENIMS_TANSU=$(scripts/ensure-tansu.sh) GENIMS_PYTHON=$(scripts/ensure-pytools.sh) \
  GENIMS_ML_PYTHON=$(scripts/ensure-ml.sh) CARGO=$cargo scripts/run-tests.sh
