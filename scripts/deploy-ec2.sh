#!/usr/bin/env bash
# Deploys the site to an EC2 instance (or any systemd Linux reached over ssh):
#   ./scripts/deploy-ec2.sh [user@]HOST [DATA]
# DATA is the pipeline's output folder with model.bin and posters/ (default out/demo). Builds a
# static (musl) release binary and the page, copies binary, page, model and posters to
# /opt/cinerec, installs deploy/systemd/cinerec-site.service and restarts it. Needs ssh access
# with sudo, and rsync on both ends. Open port 8000 in the instance's security group.
set -euo pipefail
cd "$(dirname "$0")/.."

host="${1:?usage: scripts/deploy-ec2.sh [user@]HOST [DATA]}"
data="${2:-out/demo}"
[[ -f $data/model.bin && -d $data/posters ]] || {
    echo "deploy: no $data/model.bin or $data/posters: run ./scripts/demo.sh or the pipeline first" >&2
    exit 2
}

# musl: one static binary that runs whatever the instance's glibc.
rustup target list --installed | grep -qx x86_64-unknown-linux-musl ||
    rustup target add x86_64-unknown-linux-musl
cargo build --release -p cinerec-site --target x86_64-unknown-linux-musl
./scripts/build-site.sh

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
cp target/x86_64-unknown-linux-musl/release/cinerec-site "$stage/bin/"
cp -r site/static "$stage/static"
cp -r "$data/posters" "$stage/posters"
cp "$data/model.bin" "$stage/model.bin"
cp deploy/systemd/cinerec-site.service "$stage/"

rsync -az --delete "$stage/" "$host:cinerec-deploy/"
# shellcheck disable=SC2087 # expanded remotely on purpose: the heredoc is the remote script
ssh "$host" sudo bash -s <<'REMOTE'
set -euo pipefail
staged="$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)/cinerec-deploy"
id cinerec >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin cinerec
install -d -m 0755 /opt/cinerec /opt/cinerec/bin
install -m 0755 "$staged/bin/cinerec-site" /opt/cinerec/bin/cinerec-site
rsync -a --delete "$staged/static/" /opt/cinerec/static/
rsync -a --delete "$staged/posters/" /opt/cinerec/posters/
# The model is renamed into place: a running server swaps it in whole.
install -m 0644 "$staged/model.bin" /opt/cinerec/.model.bin.new
mv /opt/cinerec/.model.bin.new /opt/cinerec/model.bin
chmod -R a+rX /opt/cinerec
install -m 0644 "$staged/cinerec-site.service" /etc/systemd/system/cinerec-site.service
systemctl daemon-reload
systemctl enable cinerec-site >/dev/null
systemctl restart cinerec-site
systemctl --no-pager --lines=5 status cinerec-site
REMOTE
echo "deployed: http://${host#*@}:8000/"
