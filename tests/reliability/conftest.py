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

"""Fixtures of the reliability suite.

One stack is shared by the glance-api tests: the simulator, a ``Gate`` on
a fixed port in front of it (outages are modes of the gate; vCenter
restarts are restarts of the simulator on its own port) and a glance-api
under uwsgi with 4 workers, configured from ``etc/glance-api.conf`` with
every store option it does not set at its default.

Figures are printed (run with ``-s``) and collected into
``reports/reliability.txt``.  ``--full`` or ``GSV_RELIABILITY_FULL=1``
selects the long soak.
"""

import os
import time

import pytest

from tests.functional.conftest import test_ca  # noqa: F401
from tests.functional.conftest import vcsim_build  # noqa: F401
from tests.glance_functional import glance_api
from tests.reliability import glance_http
from tests.reliability import net
from tests.vcsim import harness

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
REPORT = os.path.join(REPO_ROOT, 'reports', 'reliability.txt')
WORKERS = 4

_lines = []


def pytest_addoption(parser):
    parser.addoption('--full', action='store_true', default=False,
                     help='reliability suite: the long (1,000 cycle) soak')


def full_mode(config):
    return bool(config.getoption('--full')) or \
        os.environ.get('GSV_RELIABILITY_FULL') == '1'


def figure(text):
    """Print a line of figures and keep it for the report file."""
    for line in str(text).splitlines() or ['']:
        print('[reliability] ' + line, flush=True)
        _lines.append(line)


def pytest_runtest_logreport(report):
    if report.when == 'call' or report.outcome != 'passed':
        _lines.append('=> %s %s %s (%.1f s)' % (
            report.nodeid.split('::')[-1], report.when,
            report.outcome.upper(), report.duration))
        crash = getattr(report.longrepr, 'reprcrash', None)
        if report.failed and crash is not None:
            _lines.extend('   ' + line for line in
                          crash.message.splitlines()[:6])
        _lines.append('')


def pytest_sessionfinish(session):
    if not _lines:
        return
    os.makedirs(os.path.dirname(REPORT), exist_ok=True)
    with open(REPORT, 'w') as f:
        f.write('glance_store_vmware reliability suite, %s, %s mode\n\n'
                % (time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
                   'full' if full_mode(session.config) else 'quick'))
        f.write('\n'.join(_lines) + '\n')


class SimView:
    """The simulator as glance-api sees it: at the gate's address."""

    def __init__(self, sim, gate):
        self._sim = sim
        self._gate = gate

    @property
    def host(self):
        return self._gate.host

    @property
    def port(self):
        return self._gate.port

    def __getattr__(self, name):
        return getattr(self._sim, name)


class Stack:
    def __init__(self, sim, gate, api):
        self.sim = sim
        self.gate = gate
        self.api = api
        self.http = glance_http.Client(api)

    def image_dir(self, ds='LocalDS_0'):
        return os.path.join(self.sim.datastore_dir(ds), 'openstack_glance')

    def image_files(self, ds='LocalDS_0'):
        d = self.image_dir(ds)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def vcenter_up(self):
        """The simulator running and reachable through the gate."""
        if self.sim.pid is None:
            self.sim.resume()
        self.gate.set_mode('forward', upstream=(self.sim.host,
                                                self.sim.port))

    def works(self):
        data = os.urandom(4096)
        image_id = self.http.create()
        try:
            up = self.http.upload(image_id, data, 30)
            return up.ok and self.http.download(image_id, 30).data == data
        finally:
            self.http.delete(image_id, 30)

    def wait_workers(self, timeout=240):
        """Until uwsgi has WORKERS workers and glance-api answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.api.worker_pids()) >= self.api.processes and \
                    self.http.healthy():
                return
            time.sleep(0.5)
        raise AssertionError('glance-api workers did not come back within '
                             '%d s\n%s' % (timeout, self.api.log_tail()))


def start_simulator(build, ca, tmp_path_factory, **kw):
    sim = harness.Simulator(build, ca,
                            tmp_root=tmp_path_factory.getbasetemp(), **kw)
    sim.start()
    return sim


@pytest.fixture(scope='session')
def stack(vcsim_build, test_ca, tmp_path_factory):  # noqa: F811
    sim = start_simulator(vcsim_build, test_ca, tmp_path_factory)
    gate = net.Gate((sim.host, sim.port)).start()
    api = glance_api.GlanceAPI(tmp_path_factory.mktemp('glance-api'),
                               processes=WORKERS, documented_defaults=True)
    try:
        api.start(SimView(sim, gate), datastores=['LocalDS_0'])
        figure('shared glance-api: %d uwsgi workers x %d threads, started '
               'in %.1f s; store options: etc/glance-api.conf defaults'
               % (api.processes, api.threads, api.start_seconds))
        yield Stack(sim, gate, api)
    finally:
        api.stop()
        gate.stop()
        sim.stop()


@pytest.fixture
def healthy_stack(stack):
    """The shared stack with vCenter up and an upload and download that
    work; a glance-api that an earlier test left broken is restarted (and
    that is reported), so that tests do not fail for each other."""
    stack.vcenter_up()
    stack.wait_workers()
    if not stack.works():
        figure('(the shared glance-api does not work after the previous '
               'test: restarting it)')
        stack.api.stop(remove_workdir=False)
        stack.api.start(SimView(stack.sim, stack.gate),
                        datastores=['LocalDS_0'])
        stack.wait_workers()
        assert stack.works(), 'glance-api does not work even after a ' \
            'restart\n' + stack.api.log_tail()
    yield stack
    stack.vcenter_up()
