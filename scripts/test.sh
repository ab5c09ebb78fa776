#!/usr/bin/env bash
# Every test: formatting, lints (native and wasm32), the workspace's tests, the page's tests
# in headless Chromium, and the whole product end to end. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh test
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p cinerec-core --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p cinerec-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo test --workspace
wasm-pack --quiet test --headless --chrome wasm
./scripts/build-site.sh
cargo build -p cinerec-trainer -p cinerec-site
cargo test -p cinerec-e2e -- --ignored
