#!/usr/bin/env bash
# Sets up everything the tests talk to, each step idempotent: PostgreSQL started if down;
# socat, openssl, mosquitto and chromium from Debian, the tansu broker, the Python test
# clients and the ml/ venv installed if missing. Used by `make services` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
scripts/ensure-tools.sh
scripts/ensure-tansu.sh >/dev/null
scripts/ensure-pytools.sh >/dev/null
scripts/ensure-ml.sh >/dev/null
