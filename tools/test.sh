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
tox=.venv-tools/bin/tox
# Longest first, so that two at a time finish together.  Only the
# functional env binds port 443.
suites=nova-functional,cinder-functional,glance-functional,functional,install,py3,docs,pep8,releasenotes,dist
status=0
# Envs are built two at a time (downloads and wheel builds), then the suites
# run two at a time: the machines CI gets have two cores.  Envs built under
# other constraints are built again (tox does not look at the file).
recreate=()
stamp=.tox/constraints.sha256
want=$(sha256sum constraints/upper-constraints.txt | cut -d' ' -f1)
[ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || recreate=(-r)
if $tox p -p 2 --parallel-no-spinner -e "$suites,reliability" --notest "${recreate[@]}"; then
    echo "$want" >"$stamp"
else
    status=1
fi
# Every env holds exactly the pinned versions (tools/constraints.py).
python3 tools/constraints.py check || status=1
python3 tools/constraints.py verify .venv-tools/bin/python \
    $(for env in ${suites//,/ } reliability; do echo ".tox/$env/bin/python"; done) || status=1
$tox p -p 2 --parallel-no-spinner -e "$suites" "$@" || status=1
# The reliability suite measures how fast glance-api answers while vCenter
# is down: it runs alone, on an otherwise idle machine, as it is specified.
$tox -e reliability "$@" || status=1
# Last, so that the end of a long log says what failed.
python3 tools/check_junit.py reports/functional.xml \
    reports/glance-functional.xml reports/nova-functional.xml \
    reports/cinder-functional.xml reports/install.xml \
    reports/reliability.xml || status=1
exit $status
