#!/usr/bin/env bash
# The whole pipeline on the built-in demo catalog: catalog, watch log, training, evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-out/demo}"
cargo run --release --quiet -p cinerec-trainer -- pipeline --out "$out"
echo
echo "outputs are in $out/ (model.bin, metrics.json, evaluation.json, training.svg, watch_log.svg)"
