# Everyday commands. CI (.ci/run) runs check-format, check-lint and test.
.PHONY: setup check-format format check-lint test demo bench

setup:
	bash scripts/setup.sh

check-format:
	cargo fmt --check

format:
	cargo fmt

# Every target (tests included), warnings denied.
check-lint: setup
	cargo clippy --all-targets --no-default-features --features "pg15 pg_test" -- -D warnings

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

bench:
	bash scripts/bench.sh
