# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: demo test lint man deps build bench

demo:
	bash scripts/demo.sh

test:
	bash scripts/ensure-deps.sh
	cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

man:
	cargo run -q -p pgb-man

deps:
	bash scripts/ensure-deps.sh

build:
	cargo build --release -p pgb-dump -p pgb-verify -p pgb-prune -p pgb-check -p pgb-restore -p pgb-ship

# The benchmark against the plain tools (SCALE=1 is about 1 GB; see bench/bench.py).
SCALE ?= 1
ROUNDS ?= 3
bench: deps build
	python3 bench/bench.py --scale $(SCALE) --rounds $(ROUNDS)
