#!/usr/bin/env bash
# PostgreSQL bulk loads against the load-then-index ceiling (make bench; issue "Bulk
# PostgreSQL loads at the ceiling"): for each layout (unpartitioned, daily partitions) and
# window (GENIMS_BENCH_DB_DAYS, default "1 7"; GENIMS_BENCH_DB_LAYOUTS, default "none daily"), a `backfill --out db` of the default plant
# into empty tables, then the ceiling on the same server in the same run: the same rows
# copied out, the tables emptied and unindexed, server-side binary COPY back in, and the
# same indexes and keys built. Prints Markdown rows and the ratio ceiling time / genims time.
# (A partitioned parent's index definitions read `ON ONLY`, which would build no partition's
# index: the ceiling builds them on the parent, which builds every partition's.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GENIMS_BIN:-target/release/genims}
pg=${GENIMS_BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
days_list=${GENIMS_BENCH_DB_DAYS:-1 7}
layouts=${GENIMS_BENCH_DB_LAYOUTS:-none daily}
work=$(mktemp -d "${TMPDIR:-/tmp}/genims-benchdb.XXXXXX")
db=genims_benchdb_$$
dump=/tmp/$db
trap 'rm -rf "$work"; psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; rm -f $dump-*.bin' EXIT
: > "$work/empty.toml"
export GENIMS_CONFIG="$work/empty.toml"
big="sensor_data scada_machine_data"
all="sensor_data scada_machine_data sensor_health machine_faults maintenance_events production_runs fault_labels data_quality_labels"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$pg/$db" -c "$1"; }
seconds() { date +%s.%N; }

echo "| --out db, default plant | rows | genims s | ceiling s | ratio (ceiling / genims) |"
echo "|---|---:|---:|---:|---:|"
for layout in $layouts; do
  for days in $days_list; do
    psql -X -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    "$bin" --postgres-url "$pg/$db" schema apply --partition "$layout" >/dev/null 2>&1
    "$bin" --postgres-url "$pg/$db" seed --out db >/dev/null 2>&1
    end=2026-03-08T00:00:00Z
    t0=$(seconds)
    "$bin" --postgres-url "$pg/$db" backfill --out db --days "$days" --end "$end" 2> "$work/err" >/dev/null || { cat "$work/err" >&2; exit 1; }
    t1=$(seconds)
    rows=$(grep -oE '[0-9]+ rows \(' "$work/err" | grep -oE '^[0-9]+')
    # The ceiling: the same rows, out to files and back through server-side COPY into
    # unindexed tables, then the same indexes and keys.
    defs=$(q "SELECT string_agg(d, ';' ORDER BY k) FROM (
               SELECT 0 AS k, 'ALTER TABLE ' || conrelid::regclass || ' ADD CONSTRAINT ' || quote_ident(conname) || ' ' || pg_get_constraintdef(oid) AS d
               FROM pg_constraint WHERE conrelid IN ('sensor_data'::regclass, 'scada_machine_data'::regclass) AND contype IN ('p','u')
               UNION ALL
               SELECT 1, replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') FROM pg_index i
               WHERE i.indrelid IN ('sensor_data'::regclass, 'scada_machine_data'::regclass)
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)) x")
    drops=$(q "SELECT string_agg(d, ';') FROM (
               SELECT 'ALTER TABLE ' || conrelid::regclass || ' DROP CONSTRAINT ' || quote_ident(conname) AS d
               FROM pg_constraint WHERE conrelid IN ('sensor_data'::regclass, 'scada_machine_data'::regclass) AND contype IN ('p','u')
               UNION ALL
               SELECT 'DROP INDEX ' || i.indexrelid::regclass FROM pg_index i
               WHERE i.indrelid IN ('sensor_data'::regclass, 'scada_machine_data'::regclass)
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)) x")
    for t in $all; do q "COPY (SELECT * FROM $t) TO '$dump-$t.bin' (FORMAT binary)"; done
    q "TRUNCATE $(echo $all | tr ' ' ',')"
    q "$drops"
    t2=$(seconds)
    for t in $all; do q "COPY $t FROM '$dump-$t.bin' (FORMAT binary)"; done
    q "SET maintenance_work_mem = '512MB'; $defs"
    t3=$(seconds)
    rm -f $dump-*.bin
    awk -v l="$layout" -v d="$days" -v n="$rows" -v g="$t0" -v h="$t1" -v a="$t2" -v b="$t3" \
      'BEGIN{gs=h-g; cs=b-a; printf "| %s, %d day(s) | %d | %.1f | %.1f | %.2f |\n", (l=="none"?"unpartitioned":"daily partitions"), d, n, gs, cs, cs/gs}'
  done
done
