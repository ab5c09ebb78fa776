#!/usr/bin/env bash
# The README's model-quality table: `pipeline` on the demo catalog for seeds 0-4, the default
# way (viewers with taste, co-watch) and the original's way (`--original`), then the mean
# HitRate@10 and NDCG@10 of the model and its baselines, on the test viewers and on a log of
# viewers the model never saw. Writes into out/quality/; about 30 s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p cinerec-trainer
seeds=(0 1 2 3 4)
for mode in default original; do
    for seed in "${seeds[@]}"; do
        extra=()
        [[ $mode == original ]] && extra=(--original)
        # Quiet unless it fails: then its own message says why.
        if ! log=$(target/release/cinerec-trainer pipeline --seed "$seed" "${extra[@]}" \
            --out "out/quality/$mode/$seed" 2>&1); then
            echo "$log" >&2
            exit 1
        fi
    done
done

python3 - "${seeds[@]}" <<'PY'
import json, sys
seeds = sys.argv[1:]
def mean(values):
    return sum(values) / len(values)
print(f"mean over seeds {', '.join(seeds)}: HitRate@10 / NDCG@10")
print("| mode | measured on | model | co-visitation | popularity | random |")
print("| --- | --- | --- | --- | --- | --- |")
for mode in ["default", "original"]:
    for file, label in [("evaluation.json", "test viewers"),
                        ("evaluation_new_viewers.json", "new viewers")]:
        runs = [json.load(open(f"out/quality/{mode}/{s}/{file}")) for s in seeds]
        def cell(pick):
            if any(pick(r) is None for r in runs):
                return "–"
            return f"{mean([pick(r)['hit_rate_at_10'] for r in runs]):.3f} / " \
                   f"{mean([pick(r)['ndcg_at_10'] for r in runs]):.3f}"
        row = [cell(lambda r: r)] + [cell(lambda r, b=b: r["baselines"].get(b))
                                     for b in ["co_visitation", "popularity", "random"]]
        print(f"| {mode} | {label} | " + " | ".join(row) + " |")
PY
