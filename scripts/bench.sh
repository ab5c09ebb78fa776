#!/usr/bin/env bash
# Criterion benches of core: training throughput and ranking latency.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p cinerec-core --bench core -- --noplot "$@"
