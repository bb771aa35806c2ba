# Everyday commands. CI (.ci/run) runs check-format, check-lint and test.
.PHONY: setup check-format format check-lint test demo demo18 bench package

setup:
	bash scripts/setup.sh

check-format:
	cargo fmt --check

format:
	cargo fmt

# Every target (tests included), warnings denied, for each supported major
# (the version-specific code in src/pg_compat.rs is compiled only for its own).
check-lint: setup
	cargo clippy --all-targets --no-default-features --features "pg15 pg_test" -- -D warnings
	cargo clippy --all-targets --no-default-features --features "pg16 pg_test" -- -D warnings
	cargo clippy --all-targets --no-default-features --features "pg18 pg_test" -- -D warnings

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

demo18:
	PG=18 bash scripts/demo.sh

bench:
	bash scripts/bench.sh

package:
	bash scripts/package.sh
