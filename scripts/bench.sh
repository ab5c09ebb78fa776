#!/usr/bin/env bash
# Benchmarks, on this machine: core's ranking and decoding and learn's training (criterion),
# the same training in numpy at its best (when numpy is installed), and the site under wrk
# beside a bare warp server (when wrk is installed). Figures move between machines: compare
# only ratios from one run, and say which CPU they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(uptime | sed 's/.*load/load/')"
cargo bench -p cinerec-core --bench core -- --noplot "$@"
cargo bench -p cinerec-learn --bench train -- --noplot "$@"
if python3 -c 'import numpy' 2>/dev/null; then
    # The machines here force OpenBLAS's older kernels; numpy at its best runs without them.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 scripts/bench_numpy.py
else
    echo "numpy not installed: skipping the numpy yardstick (pip install numpy threadpoolctl)"
fi

# The ranking in the shipped page, in Chromium (needs the built site: scripts/build-site.sh).
if command -v chromedriver >/dev/null && [[ -f site/static/pkg/cinerec_wasm_bg.wasm ]]; then
    cargo build --quiet -p cinerec-trainer -p cinerec-site
    cargo test --quiet -p cinerec-e2e -- --ignored the_shipped_page_ranking_speed --nocapture |
        grep 'shipped page'
fi

command -v wrk >/dev/null || { echo "wrk not installed: skipping the HTTP benchmark"; exit 0; }
cargo build --release --quiet -p cinerec-site -p cinerec-trainer --bins --example bare
[[ -f out/demo/model.bin ]] || target/release/cinerec-trainer pipeline --out out/demo >/dev/null
site=127.0.0.1:18180 bare=127.0.0.1:18181
target/release/cinerec-site --model out/demo/model.bin --static site/static \
    --posters out/demo/posters --addr $site 2>/dev/null &
site_pid=$!
target/release/examples/bare $bare &
bare_pid=$!
trap 'kill $site_pid $bare_pid 2>/dev/null' EXIT
sleep 1
ids=$(curl -s "http://$site/batch-predict?k=20" | sed 's/.*"recommended_content_id":\[\([0-9,]*\)\].*/\1/')
history=$(echo "$ids" | tr ',' '\n' | awk '{printf "%s{\"content_id\":%s,\"watch_seconds\":%d}", (NR>1?",":""), $1, 300*NR}')
export WRK_BODY="{\"k\":10,\"history\":[$history]}"

run() { # name url [post|unseen]: prints one line, and leaves requests/s in $rps
    local extra=() line
    [[ ${3:-} == post ]] && extra=(-s scripts/wrk-post.lua)
    [[ ${3:-} == unseen ]] && extra=(-s scripts/wrk-post-unseen.lua)
    line=$(wrk -t2 -c64 -d"${WRK_SECONDS:-10}s" --latency "${extra[@]}" "$2" | awk -v name="$1" '
        /Requests\/sec/ {rps = $2}
        /^ +50%/ {p50 = $2}
        /^ +99%/ {p99 = $2}
        /Non-2xx|Socket errors/ {errors = errors $0}
        END {printf "%-34s %10s req/s  p50 %-8s p99 %-8s errors: %s\n", name, rps, p50, p99, (errors == "" ? "none" : errors)}')
    echo "$line"
    rps=$(sed 's| req/s.*||; s|.* ||' <<<"$line")
}
# The two servers share the machine with wrk, and a run's figures move by a fifth from one
# minute to the next: so each pair runs back to back, three rounds, and the ratio reported is
# the median of the rounds' ratios.
echo "wrk, ${WRK_SECONDS:-10} s each, 2 threads, 64 connections, three rounds:"
get_ratios=() post_ratios=()
for round in 1 2 3; do
    echo "round $round"
    run "site GET /batch-predict?k=10" "http://$site/batch-predict?k=10"; site_rps=$rps
    run "bare warp GET" "http://$bare/"; get_ratios+=("$(awk -v a="$site_rps" -v b="$rps" 'BEGIN {printf "%.2f", a / b}')")
    run "site POST /batch-predict, 20 events" "http://$site/batch-predict" post; site_rps=$rps
    run "bare warp POST" "http://$bare/" post; post_ratios+=("$(awk -v a="$site_rps" -v b="$rps" 'BEGIN {printf "%.2f", a / b}')")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
echo "site / bare: GET ${get_ratios[*]} (median $(median "${get_ratios[@]}"), goal 0.6); POST ${post_ratios[*]} (median $(median "${post_ratios[@]}"), goal 0.5)"
# The rounds above repeat one history, so the server takes every event's output from its
# cache; here every request's events are new (random watch times, drawn by wrk in Lua).
echo "every event unseen (wrk's Lua slows both sides):"
run "site POST, 20 unseen events" "http://$site/batch-predict" unseen; site_rps=$rps
run "bare warp POST, same script" "http://$bare/" unseen
echo "site / bare with unseen events: $(awk -v a="$site_rps" -v b="$rps" 'BEGIN {printf "%.2f", a / b}')"
