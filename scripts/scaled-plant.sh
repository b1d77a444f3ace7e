#!/usr/bin/env bash
# Prints the [plant] section of the default plant scaled by $1: every count times the
# scale (products and customers are catalogues and stay). Scale 1 prints nothing (the
# embedded default). Used by the benchmarks.
set -euo pipefail
scale=${1:?usage: scaled-plant.sh SCALE}
[ "$scale" = 1 ] && exit 0
cat <<EOF
[plant]
factories = $((4 * scale))
lines = $((20 * scale))
machines = $((228 * scale))
sensors = $((1716 * scale))
employees = $((11948 * scale))
line_products = $((27 * scale))
EOF
