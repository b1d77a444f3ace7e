#!/usr/bin/env bash
# Creates, once per machine, a Python virtual environment of independent clients the tests
# check genims's output with, and prints the path of its python. Idempotent; used by
# `make test`. Pinned versions; a change of the list rebuilds the environment.
#   prometheus-client  its OpenMetrics parser validates what /metrics serves
#   kafka-python       an independent Kafka client reads back what genims wrote over TLS
#   zstandard          its zstd codec (genims compresses with zstd by default)
#   PyYAML             parses the Kubernetes manifests the deployment tests check
#   pyarrow            reads back the Parquet files genims writes
#   duckdb             reads them again, as Hive-partitioned datasets (a second reader)
#   paho-mqtt          an independent MQTT client subscribes to what genims publishes
#   grpcio-tools       its protoc compiles the Sparkplug B .proto for the Python decoder
#   protobuf           decodes Sparkplug B payloads with that generated module
#   selenium           drives headless Chromium through the HTML report
#   asyncua            an independent OPC UA client browses, subscribes and reads history
set -euo pipefail
cache=${GENIMS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/genims}
packages="prometheus-client==0.21.1 kafka-python==2.2.15 zstandard==0.23.0 PyYAML==6.0.2 pyarrow==21.0.0 duckdb==1.3.2 paho-mqtt==2.1.0 protobuf==5.29.5 grpcio-tools==1.71.0 selenium==4.27.1 asyncua==2.1.0"
venv="$cache/py"
python="$venv/bin/python"
if [ -x "$python" ] && [ "$(cat "$venv/genims-packages" 2>/dev/null)" = "$packages" ]; then
  echo "$python"
  exit 0
fi
echo "ensure-pytools: creating $venv with $packages (once per machine)" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
# shellcheck disable=SC2086
"$venv/bin/pip" install --quiet --disable-pip-version-check $packages >&2
echo "$packages" > "$venv/genims-packages"
echo "$python"
