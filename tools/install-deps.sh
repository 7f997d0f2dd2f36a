#!/usr/bin/env bash
# Installs what the tests and the demo need on a Debian machine: Go and
# govmomi's source for the vCenter simulator, and a virtualenv with tox.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(golang-go golang-github-vmware-govmomi-dev python3-venv qemu-utils)
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# tox, like every environment here, installs under the release's
# constraints; a venv made under other constraints is made again.
stamp=.venv-tools/constraints.sha256
want=$(sha256sum constraints/upper-constraints.txt | cut -d' ' -f1)
if [ ! -x .venv-tools/bin/tox ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf .venv-tools
    python3 -m venv .venv-tools
    .venv-tools/bin/pip install -qq --disable-pip-version-check \
        -c constraints/upper-constraints.txt tox
    echo "$want" >"$stamp"
fi
