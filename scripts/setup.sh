#!/usr/bin/env bash
# Installs what building and testing cinerec needs on a fresh Debian machine with rustup.
set -euo pipefail

# core must also build for the browser.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
