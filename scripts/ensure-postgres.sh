#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432, starting the local cluster if
# it is down. Idempotent; used by `make test`.
set -euo pipefail
host=127.0.0.1 port=5432
if pg_isready -q -h "$host" -p "$port"; then exit 0; fi
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
if [ -z "$version" ]; then
  echo "ensure-postgres: no PostgreSQL cluster under /etc/postgresql and nothing answers on $host:$port" >&2
  exit 1
fi
echo "ensure-postgres: starting PostgreSQL $version cluster 'main'" >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
  if pg_isready -q -h "$host" -p "$port"; then exit 0; fi
  sleep 1
done
echo "ensure-postgres: PostgreSQL did not come up on $host:$port" >&2
exit 1
