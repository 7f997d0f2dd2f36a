#!/usr/bin/env bash
# The demo: the main job end to end on the embedded vCenter simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
# -qq: the demo's own output, without tox's summary lines.
exec .venv-tools/bin/tox -qq -e demo
