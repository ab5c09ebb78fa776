#!/usr/bin/env bash
# Criterion benches of core (training throughput, ranking latency), then the numpy
# yardstick for training when numpy is installed (pip install numpy).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p cinerec-core --bench core -- --noplot "$@"
if python3 -c 'import numpy' 2>/dev/null; then
    python3 scripts/bench_numpy.py
else
    echo "numpy not installed: skipping the numpy yardstick (pip install numpy)"
fi
