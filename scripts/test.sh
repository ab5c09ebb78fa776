#!/usr/bin/env bash
# Every test: formatting, lints (native and wasm32), the workspace's tests, the page's tests
# in headless Chromium, and the whole product end to end. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh test
cargo fmt --all -- --check
shellcheck scripts/*.sh
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p cinerec-core --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p cinerec-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo test --workspace
wasm-pack test --headless --chrome wasm
./scripts/build-site.sh
cargo build -p cinerec-trainer -p cinerec-site
cargo test -p cinerec-e2e -- --ignored the_page_ranks_on_the_device

# The deployment files: the systemd unit (against the binary just built) and the Dockerfile.
sed "s#/opt/cinerec/bin/cinerec-site#$PWD/target/debug/cinerec-site#" \
    site/deploy/cinerec-site.service >target/cinerec-site.service
systemd-analyze verify target/cinerec-site.service
if command -v hadolint >/dev/null; then hadolint site/deploy/Dockerfile; fi
