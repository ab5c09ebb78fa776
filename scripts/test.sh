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
cargo clippy -p cinerec-experiment --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p cinerec-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo test --workspace
wasm-pack test --headless --chrome wasm
./scripts/build-site.sh
# The page's download budget, gzipped: the .wasm under 60 KB, all the page loads but the
# posters and model.bin under 100 KB.
gz() { gzip -9c "$1" | wc -c; }
wasm_gz=$(gz site/static/pkg/cinerec_wasm_bg.wasm)
page_gz=0
for file in site/static/*.* site/static/pkg/*; do page_gz=$((page_gz + $(gz "$file"))); done
echo "page: .wasm $wasm_gz bytes gzipped, everything $page_gz bytes"
((wasm_gz < 60000 && page_gz < 100000)) || { echo "page: over its size budget" >&2; exit 1; }
# The end-to-end test runs the trainer and the server that `cargo test --workspace` just built
# into target/debug. Selecting the whole workspace again keeps cargo's feature resolution the
# same, so nothing is compiled twice (`-p cinerec-e2e` alone rebuilt half the tree, cold).
cargo test --workspace --test browser --test experiment -- --ignored the_page_ranks_on_the_device \
    the_page_ranks_with_its_arm

# The deployment files: the systemd unit (against the binary just built) and the Dockerfile.
sed "s#/opt/cinerec/bin/cinerec-site#$PWD/target/debug/cinerec-site#" \
    site/deploy/cinerec-site.service >target/cinerec-site.service
systemd-analyze verify target/cinerec-site.service
if command -v hadolint >/dev/null; then hadolint site/deploy/Dockerfile; fi
