#!/usr/bin/env bash
# The main job: the demo catalog through the whole pipeline, the page built, and the site on
# http://127.0.0.1:8000 (PORT=... or --port N to change it). With TMDB_ACCESS_TOKEN or
# TMDB_API_KEY set, --tmdb crawls three real pages and their posters first. A second run
# reuses what is built (delete out/demo to start over). Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PORT:-8000}"
tmdb=false
while (($#)); do
    case "$1" in
        --port) port="${2:?--port needs a number}"; shift 2 ;;
        --port=*) port="${1#*=}"; shift ;;
        --tmdb) tmdb=true; shift ;;
        -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

cargo build --release --quiet -p cinerec-trainer -p cinerec-site
trainer=target/release/cinerec-trainer
if $tmdb; then
    out=out/tmdb
    $trainer crawl --out "$out/movies.json" --end-page 3 --posters "$out/posters"
    $trainer pipeline --movies "$out/movies.json" --out "$out"
elif [[ -f out/demo/model.bin && -d out/demo/posters ]]; then
    out=out/demo
    echo "demo: reusing out/demo (delete it to train again)"
else
    out=out/demo
    $trainer pipeline --out "$out"
fi
./scripts/build-site.sh

url="http://127.0.0.1:$port"
cat <<INFO

cinerec is starting on $url (Ctrl-C stops it)

  open $url and click a few posters: the page re-ranks on your device at once;
  reload, or stop the server and reload: the history and the ranking stay.

  the API, ranked by the very same code:
    curl '$url/batch-predict?k=10'
    curl -X POST $url/batch-predict -H 'content-type: application/json' \\
         -d '{"k":5,"history":[{"content_id":$(sed -n 's/.*"id": *\([0-9][0-9]*\).*/\1/p' "$out/movies.json" | head -1),"watch_seconds":5400}]}'
    curl $url/healthz ; curl $url/model ; curl $url/metrics

  what was made: $out/ (model.bin, metrics.json, evaluation*.json, *.svg)

INFO
exec target/release/cinerec-site --model "$out/model.bin" --static site/static \
    --posters "$out/posters" --addr "127.0.0.1:$port"
