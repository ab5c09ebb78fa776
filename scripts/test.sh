#!/usr/bin/env bash
# Every test: formatting, lints, unit, property and integration tests, the wasm build of core.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p cinerec-core --target wasm32-unknown-unknown -- -D warnings
cargo build -p cinerec-core --target wasm32-unknown-unknown
cargo test --workspace
