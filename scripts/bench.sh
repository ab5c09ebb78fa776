#!/usr/bin/env bash
# Benchmarks, on this machine: core's ranking and decoding and learn's training (criterion),
# the same training in numpy at its best and the whole training job against numpy's on a
# 1,000,000-row log (when numpy is installed), training on a 9,742-movie catalog, the page's
# ranking in Chromium (the demo's and the large catalog's), and the site under wrk beside a
# bare warp server (when wrk is installed). Figures move between machines: compare only ratios from one
# run, and say which CPU they ran on (every figure line ends with it). Arguments go to
# criterion (a filter, say).
set -euo pipefail
cd "$(dirname "$0")/.."

# Every figure line ends with the CPU it was measured on: Intel cores slow down on subnormal
# floats where AMD's barely do, so a figure means little without its vendor and model.
cpu_field() { lscpu | sed -n "s/^$1: *//p" | head -1; }
cpu="$(cpu_field 'Vendor ID') $(cpu_field 'Model name') (family $(cpu_field 'CPU family'), model $(cpu_field 'Model'))"
tag() { awk -v cpu="$cpu" '{print $0 "   [" cpu "]"}'; }
echo "machine: $cpu, $(nproc) cores; $(uptime | sed 's/.*load/load/')"
mkdir -p target/bench

# criterion's verbose report goes to target/bench/; one line per figure here.
criterion() { # package bench [criterion args]
    cargo bench -p "$1" --bench "$2" -- --noplot "${@:3}" 2>&1 | tee "target/bench/$2.log" | awk '
        /^after one epoch/ {print}
        /%/ {next} # the change since the last run
        /time:/ {name = ($1 == "time:") ? previous : $1; sub(/.*\[/, ""); sub(/\].*/, ""); split($0, t, " ")
                 printf "criterion %s: %s %s (%s %s to %s %s)\n", name, t[3], t[4], t[1], t[2], t[5], t[6]}
        /thrpt:/ {sub(/.*\[/, ""); sub(/\].*/, ""); split($0, t, " "); printf "criterion %s: %s %s\n", name, t[3], t[4]}
        {previous = $1}' | tag || { echo "bench $2 failed: see target/bench/$2.log" >&2; return 1; }
}
criterion cinerec-core core "$@"
criterion cinerec-learn train "$@"

if python3 -c 'import numpy' 2>/dev/null; then
    # The machines here force OpenBLAS's older kernels; numpy at its best runs without them.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 scripts/bench_numpy.py | tag

    # The whole job (issue 23): CSV to model, one epoch, ~1,000,000 rows, 200 classes.
    catalog=target/bench/catalog.json log=target/bench/watch_log.csv
    python3 scripts/bench_catalog.py "$catalog"
    cargo build --release --quiet -p cinerec-trainer
    target/release/cinerec-trainer preprocess --movies "$catalog" --out "$log" --users 100000 --seed 1 | tag
    start=$(date +%s.%N)
    target/release/cinerec-trainer train --watch-log "$log" --movies "$catalog" \
        --out target/bench/model --objective item --epochs 1 2>&1 >/dev/null | tag
    job=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
    # fit's time: the split, the scaler, the epoch with its validation pass, the test metrics.
    loop=$(sed -n 's/.*"training_seconds": \([0-9.e+-]*\).*/\1/p' target/bench/model/metrics.json)
    echo "cinerec whole job (train --objective item --epochs 1): $job s wall, of which fit $loop s" | tag
    numpy_csv() { # [env assignments]: runs the numpy job on the log, leaves "job loop" in $seconds
        local out
        out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@" python3 scripts/bench_numpy.py --csv "$log")
        grep -v '^seconds:' <<<"$out" | tag
        seconds=$(sed -n 's/^seconds: job \([0-9.]*\) loop \([0-9.]*\)$/\1 \2/p' <<<"$out")
    }
    numpy_csv
    read -r numpy_job numpy_loop <<<"$seconds"
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
    echo "speed cinerec/numpy: whole job $(ratio "$numpy_job" "$job")×, loop $(ratio "$numpy_loop" "$loop")× (goals 2× and 1.5×)" | tag
    # numpy spared subnormal arithmetic too: flush-to-zero for its whole process (x86-64).
    if [[ $(uname -m) == x86_64 ]] && command -v cc >/dev/null; then
        cc -O2 -shared -fPIC -o target/ftz_preload.so scripts/ftz_preload.c
        echo "numpy under LD_PRELOAD=target/ftz_preload.so (flush-to-zero):"
        numpy_csv LD_PRELOAD="$PWD/target/ftz_preload.so"
        read -r _ numpy_ftz_loop <<<"$seconds"
        echo "speed cinerec/numpy-with-flush-to-zero: loop $(ratio "$numpy_ftz_loop" "$loop")× (goal 1.5×)" | tag
    fi
else
    echo "numpy not installed: skipping the numpy yardstick (pip install numpy threadpoolctl pandas)"
fi

# A large catalog (issue 22): 9,742 synthetic movies (MovieLens latest-small's size) and about
# 100,000 watches of 10,000 viewers with taste; `train` with the defaults, its wall time, and
# the size of the model the page downloads.
large=target/bench/large
mkdir -p "$large/model/posters"
python3 scripts/bench_catalog.py "$large/movies.json" --movies 9742
cargo build --release --quiet -p cinerec-trainer
target/release/cinerec-trainer preprocess --taste --movies "$large/movies.json" \
    --out "$large/watch_log.csv" --users 10000 --seed 1 | tag
start=$(date +%s.%N)
target/release/cinerec-trainer train --watch-log "$large/watch_log.csv" \
    --movies "$large/movies.json" --out "$large/model" >/dev/null 2>&1
wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
echo "large catalog: train with defaults $wall s wall (goal 180); model.bin $(wc -c <"$large/model/model.bin") bytes, $(gzip -9c "$large/model/model.bin" | wc -c) gzipped (goal 2,000,000)" | tag

# The ranking in the shipped page, in Chromium (needs the built site: scripts/build-site.sh):
# the demo model, then the large catalog's (whose answer is also checked against the server's
# POST /batch-predict, ids and score bits).
if command -v chromedriver >/dev/null && [[ -f site/static/pkg/cinerec_wasm_bg.wasm ]]; then
    cargo build --quiet -p cinerec-trainer -p cinerec-site
    cargo test --quiet -p cinerec-e2e -- --ignored the_shipped_page_ranking_speed --nocapture |
        grep 'shipped page' | tag
    CINEREC_BENCH_DATA="$PWD/$large/model" cargo test --quiet -p cinerec-e2e -- --ignored \
        the_shipped_page_ranking_speed --nocapture | grep 'shipped page' | tag
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
    tag <<<"$line"
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
echo "site / bare: GET ${get_ratios[*]} (median $(median "${get_ratios[@]}"), goal 0.6); POST ${post_ratios[*]} (median $(median "${post_ratios[@]}"), goal 0.5)" | tag
# The rounds above repeat one history, so the server takes every event's output from its
# cache; here every request's events are new (random watch times, drawn by wrk in Lua).
echo "every event unseen (wrk's Lua slows both sides):"
run "site POST, 20 unseen events" "http://$site/batch-predict" unseen; site_rps=$rps
run "bare warp POST, same script" "http://$bare/" unseen
echo "site / bare with unseen events: $(awk -v a="$site_rps" -v b="$rps" 'BEGIN {printf "%.2f", a / b}')" | tag
