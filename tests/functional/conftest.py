# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Fixtures for tests against the vCenter simulator.

- ``vcsim``: a fresh simulator per test (no shared mutable state). Its
  topology can be changed with ``@pytest.mark.vcsim(datacenters=2, ...)``,
  which takes the keyword arguments of ``tests.vcsim.harness.Simulator``.
- ``vcsim_443``: the same on 127.0.0.1:443, for glance_store's in-tree
  driver, which cannot use another port. Tests using it must be marked
  ``port443`` and never run in parallel. They are skipped when the port is
  taken, unless GSV_REQUIRE_PORT_443=1 (CI), which makes that a failure.
- every test is checked for leaked ``govcsim-*`` directories and child
  processes.
"""

import errno
import glob
import logging
import os
import signal
import socket
import tempfile

import pytest

from tests.vcsim import harness

REQUIRE_PORT_443_ENV = 'GSV_REQUIRE_PORT_443'

_timings = []  # (test id, start seconds, stop seconds)


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'port443: uses a simulator on 127.0.0.1:443; must not run '
        'in parallel with another such test')
    config.addinivalue_line(
        'markers', 'vcsim(**topology): keyword arguments for the Simulator '
        'behind the vcsim / vcsim_443 fixtures')


@pytest.fixture(scope='session')
def vcsim_build():
    from tests.vcsim import build
    return build.build()


@pytest.fixture(scope='session')
def test_ca(tmp_path_factory):
    return harness.TestCA(tmp_path_factory.mktemp('test-ca'))


@pytest.fixture(scope='session')
def other_ca(tmp_path_factory):
    """A second CA that did not sign the simulator's certificate."""
    return harness.TestCA(tmp_path_factory.mktemp('other-ca'),
                          name='unrelated CA')


def _simulator(request, build, ca, tmp_path_factory, **overrides):
    marker = request.node.get_closest_marker('vcsim')
    kwargs = dict(marker.kwargs) if marker else {}
    kwargs.update(overrides)
    # Scratch directories of a killed run are then rotated away by pytest.
    kwargs.setdefault('tmp_root', tmp_path_factory.getbasetemp())
    sim = harness.Simulator(build, ca, **kwargs)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
        _timings.append((request.node.nodeid, sim.start_seconds,
                         sim.stop_seconds))


def _simulator_with_own_ca(request, build, tmp_path_factory, name,
                           **overrides):
    """``_simulator`` whose certificate a CA of its own (``name``)
    signed, as another vCenter's would be."""
    ca = harness.TestCA(tmp_path_factory.mktemp('own-ca'), name=name)
    yield from _simulator(request, build, ca, tmp_path_factory, **overrides)


@pytest.fixture
def vcsim(request, vcsim_build, test_ca, tmp_path_factory):
    yield from _simulator(request, vcsim_build, test_ca, tmp_path_factory)


def _port_443_unavailable():
    # SO_REUSEADDR as Go's listener uses it, so that connections of an
    # earlier simulator lingering in TIME_WAIT do not count as "in use".
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', 443))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return 'port 127.0.0.1:443 is in use'
            raise
    return None


@pytest.fixture
def vcsim_443(request, vcsim_build, test_ca, tmp_path_factory):
    if request.node.get_closest_marker('port443') is None:
        pytest.fail('tests using vcsim_443 must be marked port443')
    busy = _port_443_unavailable()
    if busy:
        if os.environ.get(REQUIRE_PORT_443_ENV) == '1':
            pytest.fail('%s and %s=1' % (busy, REQUIRE_PORT_443_ENV))
        pytest.skip('%s (glance_store in-tree driver tests need it; set %s=1 '
                    'to make this a failure)' % (busy, REQUIRE_PORT_443_ENV))
    yield from _simulator(request, vcsim_build, test_ca, tmp_path_factory,
                          port=443)


def _govcsim_dirs():
    roots = {'/tmp', tempfile.gettempdir()}
    return {d for root in roots
            for d in glob.glob(os.path.join(root, 'govcsim-*'))}


def _child_pids():
    me = str(os.getpid())
    children = set()
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue  # the process went away meanwhile
        if fields[1] == me:  # fields: state, ppid, ...
            children.add(int(stat.split('/')[2]))
    return children


class _FormatFirst(logging.Filter):
    """Formats a record before any handler takes its lock.

    suds logs objects whose ``str()`` logs again at DEBUG.  Formatted
    inside a handler's lock, that nested record takes the other handlers'
    locks in another order than a thread emitting concurrently, and
    pytest's two capture handlers deadlock (seen with the store's
    background sweeper running beside a test at DEBUG).  Logger filters
    run before the handlers.  Glance and Nova keep suds at INFO (oslo.log's
    default_log_levels), so only tests logging suds at DEBUG meet this.
    """

    def filter(self, record):
        try:
            record.msg, record.args = record.getMessage(), None
        except Exception:
            pass
        return True


_FORMAT_FIRST = _FormatFirst()


@pytest.fixture(autouse=True)
def suds_formats_before_handlers():
    import oslo_vmware.vim  # noqa: F401  (creates the suds loggers)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (name.split('.')[0] in ('suds', 'oslo_vmware')
                and isinstance(logger, logging.Logger)
                and _FORMAT_FIRST not in logger.filters):
            logger.addFilter(_FORMAT_FIRST)
    yield


@pytest.fixture(autouse=True)
def no_leftovers():
    """Fail a test that leaves simulator directories or child processes."""
    dirs_before, children_before = _govcsim_dirs(), _child_pids()
    yield
    leaked_dirs = sorted(_govcsim_dirs() - dirs_before)
    leaked_children = sorted(_child_pids() - children_before)
    # Our own leaked children are ended here, so that they do not outlive
    # the run. Leaked directories are only reported: another process may
    # own them, and the next test's snapshot already includes them.
    for pid in leaked_children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    assert not leaked_dirs, 'test left simulator directories: %s' % (
        leaked_dirs,)
    assert not leaked_children, 'test left child processes: %s' % (
        leaked_children,)


def pytest_terminal_summary(terminalreporter):
    if not _timings:
        return
    starts = [t[1] for t in _timings if t[1] is not None]
    stops = [t[2] for t in _timings if t[2] is not None]
    tr = terminalreporter
    tr.section('vcsim timings')
    if starts:
        tr.write_line('%d simulators; start mean %.2f s, max %.2f s; '
                      'stop mean %.2f s, max %.2f s'
                      % (len(starts), sum(starts) / len(starts), max(starts),
                         sum(stops) / max(len(stops), 1), max(stops or [0])))
    slow = [(t, s) for t, s, _ in _timings if s is not None and s > 1.5]
    for test_id, seconds in slow:
        tr.write_line('slow start (%.2f s > 1.5 s): %s' % (seconds, test_id))
