#!/usr/bin/env bash
# Runs every test: lint, unit, functional (against the vCenter simulator),
# a real glance-api, the real Nova driver and Nova's own VMware unit tests,
# the real Cinder VMDK driver and Cinder's own VMDK unit tests, the
# reliability suite (quick mode), the documentation and release notes
# builds, and the sdist and wheel (built and checked).  Installs
# what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh

# The simulator patches' own Go tests (tests/vcsim/simtest).
python3 -m tests.vcsim.build --go-test

# Tests of glance_store's in-tree driver need 127.0.0.1:443; here a busy
# port is a failure, not a skip.
export GSV_REQUIRE_PORT_443=1
rm -rf reports
.venv-tools/bin/tox -e pep8,py3,functional,glance-functional,nova-functional,cinder-functional,reliability,docs,releasenotes,dist "$@"
python3 tools/check_junit.py reports/functional.xml \
    reports/glance-functional.xml reports/nova-functional.xml \
    reports/cinder-functional.xml reports/reliability.xml
