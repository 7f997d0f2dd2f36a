#!/usr/bin/env bash
# The demo: the main job end to end on the embedded vCenter simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
exec .venv-tools/bin/tox -q -e demo
