# genims — the two commands a newcomer needs:
#   make run    generate the master data and operational history as files (no server)
#   make test   install/start what the tests need, then run every test
.PHONY: run test services build release bench clean

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

# Starts PostgreSQL if it is down and installs the tansu broker if missing (cached outside
# the repository), then runs unit and integration tests against the real services.
services:
	@scripts/ensure-postgres.sh
	@scripts/ensure-tansu.sh >/dev/null

test: services
	GENIMS_TANSU="$$(scripts/ensure-tansu.sh)" $(CARGO) test --locked --all-targets

# Throughput and memory on this machine; paste the table into BENCHMARKS.md.
bench: services
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf genims-data
