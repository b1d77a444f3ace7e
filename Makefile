# genims — the two commands a newcomer needs:
#   make run    generate the master data and operational history as files (no server)
#   make test   install/start what the tests need, then run every test
.PHONY: run test lint services build release bench bench-compare soak stream ml clean

CARGO ?= cargo
GENIMS := target/release/genims

release:
	$(CARGO) build --release --locked

build:
	$(CARGO) build --locked

run: release
	$(GENIMS) seed --out json
	$(GENIMS) seed --out sql
	$(GENIMS) backfill --days 1 --out csv
	@echo "master data and one day of operational data written under ./genims-data/"

# Both live streams in real time, logs on the terminal (Ctrl-C stops them cleanly). Sinks
# come from config.toml [stream] sinks, or set them: make stream SINKS=postgres,kafka
SINKS ?=
stream: release
	@trap 'kill -INT $$iot $$scada 2>/dev/null; wait' INT TERM; \
	$(GENIMS) stream iot $(if $(SINKS),--sink $(SINKS)) > genims-iot.jsonl & iot=$$!; \
	$(GENIMS) stream scada --listen 127.0.0.1:9873 $(if $(SINKS),--sink $(SINKS)) > genims-scada.jsonl & scada=$$!; \
	echo "streaming (stdout sinks write genims-iot.jsonl, genims-scada.jsonl); Ctrl-C stops"; \
	wait

# Starts PostgreSQL if it is down, installs socat/openssl, the tansu broker and the Python
# test clients if missing (cached outside the repository); `make test` does the same.
services:
	@scripts/ensure-services.sh

# `make test` (scripts/test.sh) sets up the services above while the crate compiles, then
# runs every test. It compiles into a cache every checkout on this machine shares (like the
# tools above), so a fresh clone reuses the compiled dependencies. GENIMS_TARGET_DIR
# chooses the cache.
GENIMS_TARGET_DIR ?= $(HOME)/.cache/genims/target

test:
	CARGO=$(CARGO) GENIMS_TARGET_DIR="$(GENIMS_TARGET_DIR)" scripts/test.sh

# Formatting and lints alone (rustfmt.toml sets the width); `make test` runs both first.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Retention in compressed time at full length: 10 simulated days into PostgreSQL keeping 2
# (daily partitions and unpartitioned; `make test` runs 4 and 3 days keeping 1).
soak: services
	CARGO_TARGET_DIR="$(GENIMS_TARGET_DIR)" GENIMS_SOAK_DAYS=10 GENIMS_SOAK_KEEP=2 \
	  $(CARGO) nextest run --test integration -E 'test(retention::)' --no-capture

# Learnable, not trivial: three default plants backfilled as Parquet (two to train on, one
# to test on), the ml/ pipeline's models and leakage checks; writes ml/REPORT.md.
ml: services
	scripts/ml.sh

# Throughput and memory on this machine; paste the table into BENCHMARKS.md.
bench: services
	scripts/bench.sh

# This tree against a baseline build (GENIMS_BASELINE=binary or GENIMS_BASELINE_REF=ref), in one run.
bench-compare: services
	scripts/bench-compare.sh

clean:
	$(CARGO) clean
	rm -rf genims-data genims-state genims-iot.jsonl genims-scada.jsonl
