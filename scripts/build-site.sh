#!/usr/bin/env bash
# Builds the page's WebAssembly package into site/static/pkg/ (git-ignored): release (the page
# for size, core's ranking for speed), then wasm-opt. With model.bin and the posters, site/static
# is the whole site.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh build
wasm-pack --quiet build wasm --target web --profile wasm-release --no-opt --no-typescript --no-pack \
    --out-dir ../site/static/pkg --out-name cinerec_wasm
rm -f site/static/pkg/.gitignore
wasm_opt=.cache/binaryen/node_modules/.bin/wasm-opt
if [[ -x $wasm_opt ]]; then
    # -O3, not -Oz: the same size here (56 KB gzipped) and a tenth faster ranking; the same
    # bits either way (the browser tests run on this optimised file).
    "$wasm_opt" -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
        site/static/pkg/cinerec_wasm_bg.wasm -o site/static/pkg/cinerec_wasm_bg.wasm
else
    echo "build-site: no wasm-opt (npm missing): the package is larger but works" >&2
fi
