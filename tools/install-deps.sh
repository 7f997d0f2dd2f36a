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

if [ ! -x .venv-tools/bin/tox ]; then
    python3 -m venv .venv-tools
    .venv-tools/bin/pip install -q --disable-pip-version-check 'tox>=4'
fi
